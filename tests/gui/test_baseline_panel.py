"""The baseline panel: a non-learned fill beside the model's reconstruction, for the mask on screen."""

from __future__ import annotations

import re

import numpy as np
import pytest
from guikit import WAIT_MS, settle

from maskviz.baselines import BASELINE_LABELS, BASELINES, baseline_reconstruction


def _expected(window, name: str):
    r = window.panels.result
    patch = window.state.model.model.patch_size
    return baseline_reconstruction(name, np.asarray(window.state.model_image), window.canvas.patch_mask(), patch), r


def _shown_for_current_mask(window) -> bool:
    b = window.state.baseline_result
    return (window.panels.baseline is not None and b is not None
            and np.array_equal(b.mask, window.canvas.patch_mask())
            and np.array_equal(window.panels.result.mask, window.canvas.patch_mask()))


def _wait_baseline(qtbot, window) -> None:
    settle(qtbot, window)
    qtbot.waitUntil(lambda: _shown_for_current_mask(window), timeout=WAIT_MS)


def _assert_panel_shows(window, name: str) -> None:
    expected, model = _expected(window, name)
    np.testing.assert_allclose(window.panels.baseline_image.image, expected.pasted, atol=1e-6)
    assert window.panels.title("baseline") == f"baseline: {BASELINE_LABELS[name]} + visible"
    if expected.psnr is not None:
        assert f"model {model.psnr:.2f} dB · {name} {expected.psnr:.2f} dB" in window.metrics.text()


def test_baseline_is_off_by_default_and_every_fill_is_offered(window):
    assert window.state.options.baseline == "none"
    assert not window.panels.baseline_visible
    assert list(window.baseline_actions) == ["none", *BASELINES]
    assert window.baseline_actions["none"].isChecked()
    assert not re.search(r"model [\d.∞]+ dB", window.metrics.text())


@pytest.mark.parametrize("name", list(BASELINES))
def test_choosing_a_baseline_shows_its_fill_for_the_current_mask(window, qtbot, name):
    assert window.canvas.patch_mask().any() and not window.canvas.patch_mask().all()
    window.baseline_actions[name].trigger()
    assert window.state.options.baseline == name and window.panels.baseline_visible
    _wait_baseline(qtbot, window)
    _assert_panel_shows(window, name)
    # linked like the other panels: same region after a reset
    window.state.view.reset_region()
    pasted = window.panels.plots["pasted"].getViewBox()
    assert window.panels.baseline_plot.getViewBox().targetRect() == pasted.targetRect()


def test_painting_and_inverting_update_the_baseline_panel(window, qtbot):
    window.state.set_option("baseline", "harmonic")
    _wait_baseline(qtbot, window)
    before = window.panels.baseline_image.image.copy()
    window.canvas.invert()
    _wait_baseline(qtbot, window)
    assert not np.array_equal(window.panels.baseline_image.image, before)
    _assert_panel_shows(window, "harmonic")
    mask = window.canvas.patch_mask().copy()
    mask[:] = False
    mask[1:3, 1:3] = True
    window.state.set_patch_mask(mask, "Paint")
    _wait_baseline(qtbot, window)
    np.testing.assert_array_equal(window.state.baseline_result.mask, mask)
    _assert_panel_shows(window, "harmonic")


def test_a_baseline_for_an_older_mask_is_never_shown(window, qtbot):
    window.state.set_option("baseline", "mean")
    _wait_baseline(qtbot, window)
    # a result for a new mask arrives: until its own fill is ready the panel is blank, not the old fill
    window.canvas.invert()
    settle(qtbot, window)
    shown = window.panels.baseline
    assert shown is None or np.array_equal(shown.mask, window.panels.result.mask)
    if shown is None:
        assert window.panels.baseline_image.image is None
        assert window.panels.title("baseline").endswith("(computing…)")
    _wait_baseline(qtbot, window)
    np.testing.assert_array_equal(window.state.baseline_result.mask, window.panels.result.mask)


def test_switching_back_to_none_hides_the_panel(window, qtbot):
    sizes = {key: cell.size() for key, cell in window.panels.cells.items()}
    window.state.set_option("baseline", "normconv")
    _wait_baseline(qtbot, window)
    assert "normconv" in window.metrics.text()
    window.baseline_actions["none"].trigger()
    assert window.state.options.baseline == "none" and not window.panels.baseline_visible
    assert window.panels.baseline is None and "normconv" not in window.metrics.text()
    assert set(window.panels.plots) == {"original", "masked", "prediction", "pasted", "error"}
    assert window.panels.baseline_image.image is None and "none" in window.panels.title("baseline")
    assert {key: cell.size() for key, cell in window.panels.cells.items()} == sizes  # nothing moved or resized
    window.canvas.invert()  # later results do not bring it back
    settle(qtbot, window)
    assert not window.panels.baseline_visible and window.state.baseline_result is None
