"""Every panel, readout and control agrees with the current image, model and mask.

One test (or a few) per defect once reported (issue 9); each failed on the window that kept its
own copies of the state.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from guikit import WAIT_MS, mouse, settle, stroke
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QDoubleSpinBox, QPlainTextEdit

from maskviz import masks
from maskviz.bundled import bundled_model_paths
from maskviz.gui.session import write_session
from maskviz.gui.viewer.panels import NOTHING_HIDDEN

SIMMIM = str(bundled_model_paths()["simmim_small"])
MAE = str(bundled_model_paths()["mae_small"])


def _wheel(widget, pos: QPointF, steps: int = 3) -> None:
    event = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120 * steps), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget.viewport(), event)


def _geometry(window) -> dict[str, tuple[int, int, int, int]]:
    """Where every result cell is, in window coordinates."""
    out = {}
    for key, cell in window.panels.cells.items():
        top_left = cell.mapTo(window, QPoint(0, 0))
        out[key] = (top_left.x(), top_left.y(), cell.width(), cell.height())
    return out


def _label_agrees(window) -> None:
    """The pattern panel's label is the state's, and a pattern label means the mask is that pattern's."""
    state = window.state
    assert window.patterns.mask_label.text().startswith(state.mask_label())
    spec, made = state.provenance.spec, state.provenance.mask
    if spec is not None and not state.mask_label().endswith(("+ edits", "painted")):
        np.testing.assert_array_equal(state.patch_mask(), made)


# ---------------------------------------------------------------------------- a bad image path at start


def test_bad_image_at_start_gives_one_dialog_and_keeps_the_session(open_window, photo, tiny_model_path,
                                                                      config_dir, dialogs):
    custom = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]], dtype=bool)
    write_session(config_dir, {"image": photo, "model": tiny_model_path, "mask": custom.astype(int).tolist(),
                               "pattern": "random:0.15,seed=3"})
    window = open_window("/nonexistent/photo.jpg")
    assert len(dialogs) == 1, dialogs  # one clear dialog, no internal error after it
    kind, title, text = dialogs[0]
    assert "/nonexistent/photo.jpg" in text and "no such file" in text
    assert window.state.image_source == photo  # the session's image, not a sample
    assert window.state.paint.grid == tuple(window.state.model.model.grid_size) == (4, 4)
    np.testing.assert_array_equal(window.state.patch_mask(), custom)  # the restored mask survives
    np.testing.assert_array_equal(window.panels.result.mask, custom)
    assert window.state.mask_label() == "random 15 % + edits"  # not "random 15 %": the mask is not that pattern's
    _label_agrees(window)


def test_bad_model_at_start_gives_one_dialog_naming_it(open_window, photo, tmp_path, dialogs):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"junk")
    window = open_window(photo, str(bad), restore=False)
    assert len(dialogs) == 1 and str(bad) in dialogs[0][2]
    assert window.state.model is not None and window.state.paint.grid == tuple(window.state.model.model.grid_size)


# ---------------------------------------------------------------------------- linked zoom, equal panels


def test_zoom_is_the_same_region_in_every_equal_panel_and_ctrl_0_resets(window, qtbot):
    panels = window.panels
    sizes = {cell.plot.getViewBox().size().toTuple() for cell in panels.cells.values()}
    assert len(sizes) == 1  # equal panel sizes
    cell = panels.widget_for("original")
    centre = cell.plot.getViewBox().mapViewToScene(QPointF(8, 8))
    _wheel(cell, cell.mapFromScene(centre))
    shown = {tuple(np.round(c.plot.getViewBox().viewRect().getRect(), 6)) for c in panels.cells.values()}
    assert len(shown) == 1  # the same image region everywhere
    region = next(iter(shown))
    assert region[2] < 30  # zoomed in on the 32-px image
    canvas = window.canvas.view_box.viewRect()
    assert canvas.contains(QPointF(region[0] + 1, region[1] + 1))
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    qtbot.keyClick(window.canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    for c in panels.cells.values():
        assert c.plot.getViewBox().viewRect().contains(QPointF(0.5, 0.5))
        assert c.plot.getViewBox().viewRect().contains(QPointF(31.5, 31.5))


# ---------------------------------------------------------------------------- nothing clipped, 1024×700


def test_the_window_fits_1024x700_and_every_panel_can_be_seen(window, qtbot):
    window.state.set_option("baseline", "mean")
    assert window.minimumSizeHint().width() <= 1024 and window.minimumSizeHint().height() <= 700
    window.resize(1024, 700)
    qtbot.wait(50)
    scroll = window.panels.scroll
    grid = window.panels.grid_widget
    for axis in ("width", "height"):
        overflow = getattr(grid.size(), axis)() - getattr(scroll.viewport().size(), axis)()
        bar = scroll.horizontalScrollBar() if axis == "width" else scroll.verticalScrollBar()
        assert overflow <= 0 or bar.maximum() >= overflow  # it fits, or a scroll bar reaches the rest
    for cell in window.panels.cells.values():  # the picture is inside its cell, not pushed out by a title
        rect = cell.plot.getViewBox().sceneBoundingRect()
        assert rect.right() <= cell.width() + 1 and rect.left() >= -1


def test_the_loss_curve_shows_0_to_1_with_room_for_the_star(window):
    (x0, x1), _ = window.curve.plot.getViewBox().viewRange()
    assert x0 < 0 and x1 > 1.0 + 0.02  # a star at 1.0 is drawn whole


# ---------------------------------------------------------------------------- no layout jumps


def test_patterns_heatmap_and_baseline_never_move_the_panels(window, qtbot):
    before = _geometry(window)
    for name in ("block", "grid", "none", "stripes", "random"):
        window.patterns.pattern_combo.setCurrentText(name)
        qtbot.wait(10)
        assert _geometry(window) == before, name
    for mode in ("patch", "pixel"):
        window.heatmap_actions[mode].trigger()
        assert _geometry(window) == before, mode
    window.state.set_option("baseline", "harmonic")
    assert _geometry(window) == before


# ---------------------------------------------------------------------------- readouts follow the state


def test_hover_readout_follows_undo_and_model_switch(window, qtbot, norm_pix_model_path):
    window.controller.apply_spec("none")
    settle(qtbot, window)
    window.state.view.set_brush_size(9)
    stroke(window.canvas, [(2, 2), (6, 6)])  # hides patch (0, 0)
    settle(qtbot, window)
    mouse(window.canvas, QEvent.Type.MouseMove, 3.5, 3.5, held=False)
    assert "hidden (predicted)" in window.panels.readout
    old_loss = window.panels.result.patch_loss[0, 0]
    window.state.undo_stack.undo()
    assert "visible" in window.panels.readout and "hidden" not in window.panels.readout  # at once, not later
    window.state.undo_stack.redo()
    settle(qtbot, window)
    window.controller.open_model(norm_pix_model_path)
    qtbot.waitUntil(lambda: window.state.model_source == norm_pix_model_path, timeout=WAIT_MS)
    assert f"loss {old_loss:.4g}" not in window.panels.readout  # never the old model's number
    settle(qtbot, window)
    new_loss = window.panels.result.patch_loss[0, 0]
    assert f"loss {new_loss:.4g}" in window.panels.readout


def test_pattern_label_follows_painting_and_undo(window, qtbot):
    window.controller.apply_spec("random:0.5,seed=4")
    assert window.patterns.mask_label.text() == "random 50 %"
    window.state.view.set_brush_size(40)
    stroke(window.canvas, [(1, 1), (30, 30)])
    assert window.patterns.mask_label.text() == "random 50 % + edits"
    window.state.undo_stack.undo()
    assert window.patterns.mask_label.text() == "random 50 %"
    for _ in range(40):
        window.state.undo_stack.undo()
    assert window.state.undo_stack.index() == 0
    _label_agrees(window)
    window.controller.apply_spec("none")
    stroke(window.canvas, [(1, 1), (30, 1)])
    assert window.patterns.mask_label.text() == "painted"  # on an empty mask, not "none + edits"
    window.canvas.clear()
    window.state.undo_stack.clear()
    settle(qtbot, window)
    _label_agrees(window)


# ---------------------------------------------------------------------------- pattern none


def test_nothing_hidden_clears_the_result_panels_and_says_why(window, qtbot):
    window.patterns.pattern_combo.setCurrentText("none")
    window.patterns.apply()
    settle(qtbot, window)
    for key in ("prediction", "pasted", "error"):
        assert window.panels.images[key].image is None, key
    assert window.panels.images["original"].image is not None
    assert window.panels.info.text() == NOTHING_HIDDEN
    assert "nothing to reconstruct" in window.metrics.text()
    window.controller.apply_spec("random:0.5,seed=1")
    settle(qtbot, window)
    assert window.panels.images["prediction"].image is not None


# ---------------------------------------------------------------------------- keys wherever focus is


def _focus(qtbot, window, widget) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT_MS)
    widget.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is widget, timeout=WAIT_MS)


def test_tool_keys_work_after_clicking_a_panel(window, qtbot):
    cell = window.panels.widget_for("pasted")
    _focus(qtbot, window, cell)
    qtbot.keyClick(cell, Qt.Key.Key_M)
    assert window.state.view.tool == "rectangle"
    qtbot.keyClick(cell, Qt.Key.Key_BracketRight)
    assert window.state.view.brush_size == 11


def test_menu_shortcuts_work_from_a_read_only_log_and_typing_stays_typing(window, qtbot):
    log = window.training.findChild(QPlainTextEdit)
    assert log is not None and log.isReadOnly()
    before = window.state.patch_mask().copy()
    _focus(qtbot, window, log)
    qtbot.keyClick(log, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)  # Edit → Invert mask
    np.testing.assert_array_equal(window.state.patch_mask(), ~before)
    qtbot.keyClick(log, Qt.Key.Key_L)
    assert window.state.view.tool == "polygon"
    seed = window.patterns.seed_spin
    _focus(qtbot, window, seed)
    qtbot.keyClick(seed, Qt.Key.Key_E)  # a letter typed in a field is the field's
    assert window.state.view.tool == "polygon"
    assert window.metrics.focusPolicy() == Qt.FocusPolicy.NoFocus  # the status line never takes the keys


# ---------------------------------------------------------------------------- numeric fields


def test_out_of_range_ratio_is_clamped_visibly_and_applied_once(window, qtbot):
    spin = window.patterns.editors["ratio"].findChild(QDoubleSpinBox)
    applied: list[str] = []
    window.patterns.patternRequested.connect(applied.append)
    _focus(qtbot, window, spin)
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "150")
    qtbot.wait(250)  # longer than the debounce: typing alone applies nothing
    assert applied == []
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert spin.value() == 100.0
    assert "out of range" in window.patterns.error_label.text()
    qtbot.waitUntil(lambda: bool(applied), timeout=WAIT_MS)
    qtbot.wait(250)
    assert applied == ["random:1.0,seed=0"]
    assert window.state.patch_mask().all()


# ---------------------------------------------------------------------------- defaults follow the model


def test_simmim_cells_follow_the_bundled_model(open_window, photo, qtbot):
    window = open_window(photo, SIMMIM, restore=False)
    window.patterns.pattern_combo.setCurrentText("simmim")
    assert window.patterns.editors["mask_patch"].value() == 16  # the cells it was trained with
    window.patterns.apply()
    settle(qtbot, window)
    hidden = masks.mask_ratio(window.state.patch_mask())
    assert hidden == pytest.approx(0.625)  # ceil(16 cells × 0.6) = 10 of 16, not 3 of 4 (75 %)
    assert "hides 62.5 % (asked 60 %)" in window.patterns.mask_label.text()
    qtbot.waitUntil(lambda: "simmim" in window.state.curve.family and window.curve.complete, timeout=60000)
    xs, _ = window.curve.mean_curve.getData()
    assert list(xs) == sorted(p.actual for p in window.curve.points)
    assert any(abs(p.actual - p.ratio) > 0.01 for p in window.curve.points)  # drawn where the masks really are


def test_cli_simmim_on_a_64_px_model_hides_what_it_says(tmp_path, capsys):
    from maskviz.cli import main

    out = tmp_path / "m.json"
    assert main(["reconstruct", "sample:coffee", "--model", SIMMIM, "--mask", "simmim:0.6", "--json", str(out)]) == 0
    text = json.dumps(json.loads(out.read_text()))
    assert "masked 40/64" in capsys.readouterr().out or '"masked_patches": 40' in text


# ---------------------------------------------------------------------------- the curve reads plainly


def test_curve_in_plain_units_with_hover_values_and_click_to_apply(window, qtbot):
    curve = window.curve
    qtbot.waitUntil(lambda: curve.complete, timeout=WAIT_MS)
    axis = curve.plot.getAxis("left")
    assert axis.autoSIPrefixScale == 1.0 and "x0.001" not in axis.labelString()
    spot = max(curve.seed_dots.points(), key=lambda s: s.pos().x())
    ratio, seed, hidden, loss = spot.data()
    scene = curve.seed_dots.mapToScene(spot.pos())
    curve._on_mouse_moved(scene)
    assert f"loss {loss:.4f}" in curve.hover_label.text() and f"seed {seed}" in curve.hover_label.text()
    curve.seed_dots.sigClicked.emit(curve.seed_dots, [spot], None)
    spec = window.state.provenance.spec
    assert spec.params["ratio"] == ratio and spec.params["seed"] == seed
    assert window.patterns.spec() == str(spec)  # the panel shows the clicked mask's pattern
    settle(qtbot, window)
    assert window.panels.result.masked_patches == round(hidden * 16)
