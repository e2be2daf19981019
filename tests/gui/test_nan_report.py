"""NaN weights in the GUI: the model details warn, the reconstruction panel says what went wrong."""

from __future__ import annotations

import dataclasses

import numpy as np

from maskviz.gui.model_panel import details_html
from maskviz.gui.panels import ResultPanels
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
    panels = ResultPanels()
    qtbot.addWidget(panels)
    panels.show_result(result)
    assert NAN_PROBLEM in panels.plots["prediction"].titleLabel.text
    panels.show_result(dataclasses.replace(result, problem=None))
    assert NAN_PROBLEM not in panels.plots["prediction"].titleLabel.text
