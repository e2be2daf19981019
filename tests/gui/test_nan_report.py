"""NaN weights in the GUI: the model details warn, the reconstruction panel says what went wrong."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from maskviz.checkpoints import LoadedModel
from maskviz.gui.state import ViewerState
from maskviz.gui.viewer.model_panel import details_html
from maskviz.gui.viewer.panels import ResultPanels
from maskviz.gui.worker import ReconOutcome
from maskviz.models import create_model
from maskviz.reconstruct import NAN_PROBLEM, reconstruct


def test_model_details_show_load_warnings():
    html = details_html({"description": "m", "grid": (4, 4), "warnings": ["2 weight tensors hold NaN"]})
    assert "<b>warning:</b> 2 weight tensors hold NaN" in html


def test_prediction_panel_title_names_the_nan(qtbot):
    model = create_model("mae_vit_tiny_test").eval()
    with_nan = model.decoder_pred.bias.data
    with_nan[0] = float("nan")
    image = np.full((32, 32, 3), 120, np.uint8)
    result = reconstruct(model, image, [np.eye(4, dtype=bool)])[0]
    assert result.problem == NAN_PROBLEM
    state = ViewerState()
    state.set_model(LoadedModel(model, "tiny", "builtin"), None)
    state.set_image(Image.fromarray(image), None)
    panels = ResultPanels(state)
    qtbot.addWidget(panels)
    state.set_result(ReconOutcome(1, result, 0.01), state.inputs())
    assert NAN_PROBLEM in panels.title("prediction")
    state.set_result(ReconOutcome(2, dataclasses.replace(result, problem=None), 0.01), state.inputs())
    assert NAN_PROBLEM not in panels.title("prediction")


def test_a_bundled_model_s_source_is_its_name_not_the_install_path():
    from maskviz.bundled import bundled_model_paths

    path = str(bundled_model_paths()["mae_small"])
    shown = details_html({"description": "m", "grid": (8, 8), "source": path})
    assert "bundled:mae_small" in shown and path not in shown
    assert "/elsewhere/mine.pth" in details_html({"description": "m", "grid": (8, 8), "source": "/elsewhere/mine.pth"})
