"""MaskCanvas driven like a user: mouse events on the viewport at image coordinates, key presses."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from maskviz import masks
from maskviz.errors import MaskError
from maskviz.gui.viewer.canvas import MaskCanvas

B = Qt.MouseButton
M = Qt.KeyboardModifier
E = QEvent.Type


def _image(size: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] / (size - 1)
    return np.stack([xx, yy, 1 - xx], axis=-1)


@pytest.fixture
def canvas(qtbot) -> MaskCanvas:
    c = MaskCanvas()
    qtbot.addWidget(c)
    c.resize(400, 440)
    c.set_image(_image(64), 8)
    c.show()
    qtbot.waitExposed(c)
    QApplication.processEvents()
    return c


def _widget_pos(c: MaskCanvas, x: float, y: float) -> QPointF:
    """Image coordinates → viewport pixels, through the ViewBox (the inverse of what the canvas does)."""
    return QPointF(c.view.mapFromScene(c.view_box.mapViewToScene(QPointF(x, y))))


def _mouse(c: MaskCanvas, kind: QEvent.Type, x: float, y: float, button=B.LeftButton, buttons=None,
           mods=M.NoModifier) -> None:
    """Send a real QMouseEvent: QTest's mouseMove cannot carry held buttons."""
    vp = c.view.viewport()
    pos = _widget_pos(c, x, y)
    held = buttons if buttons is not None else (button if kind != E.MouseButtonRelease else B.NoButton)
    QApplication.sendEvent(vp, QMouseEvent(kind, pos, vp.mapToGlobal(pos), button, held, mods))


def _drag(c: MaskCanvas, points, mods=M.NoModifier) -> None:
    _mouse(c, E.MouseButtonPress, *points[0], mods=mods)
    for p in points[1:]:
        _mouse(c, E.MouseMove, *p, button=B.NoButton, buttons=B.LeftButton, mods=mods)
    _mouse(c, E.MouseButtonRelease, *points[-1], mods=mods)


def _click(c: MaskCanvas, x: float, y: float, button=B.LeftButton) -> None:
    _mouse(c, E.MouseButtonPress, x, y, button=button)
    _mouse(c, E.MouseButtonRelease, x, y, button=button)


def test_stroke_paints_interpolated_and_signals_live_then_final(canvas):
    events: list[bool] = []
    canvas.state.maskChanged.connect(events.append)
    canvas.state.view.set_brush_size(3)
    _drag(canvas, [(4.5, 4.5), (60.5, 4.5), (60.5, 40.5)])
    mask = canvas.pixel_mask
    assert mask[3:6, 4:61].all() and mask[4:41, 59:62].all()  # whole segments, not just the events
    assert events[-1] is True and events.count(True) == 1 and False in events[:-1]
    assert canvas.undo_stack.count() == 1


def test_undo_redo_shortcuts(canvas, qtbot):
    _drag(canvas, [(4.5, 4.5), (40.5, 30.5)])
    painted = canvas.pixel_mask
    with qtbot.waitSignal(canvas.state.maskChanged, check_params_cb=lambda final: final):
        qtbot.keyClick(canvas, Qt.Key.Key_Z, M.ControlModifier)
    assert not canvas.pixel_mask.any()
    qtbot.keyClick(canvas, Qt.Key.Key_Z, M.ControlModifier | M.ShiftModifier)
    np.testing.assert_array_equal(canvas.pixel_mask, painted)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, M.ControlModifier)
    qtbot.keyClick(canvas, Qt.Key.Key_Y, M.ControlModifier)
    np.testing.assert_array_equal(canvas.pixel_mask, painted)


@pytest.mark.parametrize(("key", "tool"), [
    (Qt.Key.Key_E, "eraser"), (Qt.Key.Key_M, "rectangle"), (Qt.Key.Key_L, "polygon"), (Qt.Key.Key_3, "polygon"),
    (Qt.Key.Key_F, "fill"), (Qt.Key.Key_1, "eraser"),
])
def test_tool_keys(canvas, qtbot, key, tool):
    seen: list[str] = []
    view = canvas.state.view
    view.toolChanged.connect(lambda: seen.append(view.tool))
    qtbot.keyClick(canvas, key)
    assert view.tool == tool and seen == [tool]
    qtbot.keyClick(canvas, Qt.Key.Key_B)
    assert canvas.state.view.tool == "brush"
    qtbot.keyClick(canvas, key)
    qtbot.keyClick(canvas, Qt.Key.Key_P)
    assert canvas.state.view.tool == "brush"


def test_bracket_keys_resize_brush(canvas, qtbot):
    canvas.state.view.set_brush_size(5)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert canvas.state.view.brush_size == 6
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert canvas.state.view.brush_size == 4
    qtbot.keyClick(canvas, Qt.Key.Key_BraceRight, M.ShiftModifier)  # Shift+] on a US layout
    assert canvas.state.view.brush_size == 14
    for _ in range(3):
        qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft, M.ShiftModifier)
    assert canvas.state.view.brush_size == 1  # clamped


def test_readout_and_set_patch_mask_with_undo(canvas, qtbot):
    assert canvas.readout.text() == "masked 0/64 patches (0.0%)"
    pattern = masks.checkerboard_mask((8, 8))
    with qtbot.waitSignal(canvas.state.maskChanged, check_params_cb=lambda final: final):
        canvas.set_patch_mask(pattern, "Checkerboard")
    np.testing.assert_array_equal(canvas.patch_mask(), pattern)
    assert canvas.readout.text() == "masked 32/64 patches (50.0%)"
    assert canvas.undo_stack.undoText() == "Checkerboard"
    canvas.undo_stack.undo()
    assert not canvas.patch_mask().any() and canvas.readout.text().startswith("masked 0/64")


def test_rectangle_tool_fills_dragged_box_and_alt_reveals(canvas):
    canvas.state.view.set_tool("rectangle")
    _drag(canvas, [(8.5, 8.5), (20.5, 12.5), (23.5, 15.5)])
    expected = np.zeros((64, 64), bool)
    expected[8:16, 8:24] = True
    np.testing.assert_array_equal(canvas.pixel_mask, expected)
    np.testing.assert_array_equal(canvas.patch_mask()[1, :4], [False, True, True, False])
    _drag(canvas, [(8.5, 8.5), (15.5, 15.5)], mods=M.AltModifier)
    assert canvas.pixel_mask.sum() == 64 and canvas.undo_stack.count() == 2


def test_polygon_clicks_enter_right_click_and_escape(canvas, qtbot):
    canvas.state.view.set_tool("polygon")
    for x, y in [(8, 8), (40, 8), (50, 50), (40, 40)]:
        _click(canvas, x, y)
    _click(canvas, 40, 40, button=B.RightButton)  # drops the last vertex
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    mask = canvas.pixel_mask
    assert mask[10, 30] and mask[30, 40] and not mask[40, 20]  # the triangle (8,8)-(40,8)-(50,50)
    assert canvas.undo_stack.count() == 1
    _click(canvas, 2, 60)
    _click(canvas, 6, 60)
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    np.testing.assert_array_equal(canvas.pixel_mask, mask)


def test_polygon_double_click_finishes(canvas):
    canvas.state.view.set_tool("polygon")
    _click(canvas, 0.5, 0.5)
    _click(canvas, 16.5, 0.5)
    _mouse(canvas, E.MouseButtonPress, 16.5, 16.5)
    _mouse(canvas, E.MouseButtonRelease, 16.5, 16.5)
    _mouse(canvas, E.MouseButtonDblClick, 16.5, 16.5)
    assert canvas.pixel_mask[2, 10] and canvas.undo_stack.count() == 1


def test_fill_click_toggles_region(canvas, qtbot):
    canvas.state.view.set_tool("fill")
    qtbot.mouseClick(canvas.view.viewport(), B.LeftButton, pos=_widget_pos(canvas, 30, 30).toPoint())
    assert canvas.pixel_mask.all()
    _click(canvas, 5, 5)
    assert not canvas.pixel_mask.any()


def test_eraser_removes_paint(canvas):
    canvas.invert()
    canvas.state.view.set_tool("eraser")
    canvas.state.view.set_brush_size(1)
    _drag(canvas, [(0.5, 10.5), (63.5, 10.5)])
    mask = canvas.pixel_mask
    assert not mask[10].any() and mask[9].all() and mask[11].all()


def test_space_drag_pans_instead_of_painting(canvas, qtbot):
    before = canvas.view_box.viewRange()
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    _drag(canvas, [(20, 20), (25, 25), (40, 40), (50, 50)])
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert not canvas.pixel_mask.any()
    assert canvas.view_box.viewRange() != before


def test_right_button_opens_no_menu_zooms_nothing_paints_nothing(canvas):
    assert not canvas.view_box.menuEnabled()
    before = canvas.view_box.viewRange()
    _mouse(canvas, E.MouseButtonPress, 20, 20, button=B.RightButton)
    for x in (25, 35, 50):
        _mouse(canvas, E.MouseMove, x, x, button=B.NoButton, buttons=B.RightButton)
    _mouse(canvas, E.MouseButtonRelease, 50, 50, button=B.RightButton)
    assert not canvas.pixel_mask.any()
    assert canvas.view_box.viewRange() == before  # right-drag is not pyqtgraph's zoom here


def test_hover_puts_the_image_pixel_in_the_state(canvas, qtbot):
    seen: list[tuple[int, int]] = []
    canvas.state.view.hoverChanged.connect(lambda x, y: seen.append((x, y)))
    _mouse(canvas, E.MouseMove, 12.5, 40.5, button=B.NoButton, buttons=B.NoButton)
    _mouse(canvas, E.MouseMove, 70, 20, button=B.NoButton, buttons=B.NoButton)
    assert seen == [(12, 40), (-1, -1)]


def test_invert_clear_grid_and_snap_keys(canvas, qtbot):
    qtbot.keyClick(canvas, Qt.Key.Key_I)
    assert canvas.pixel_mask.all()
    qtbot.keyClick(canvas, Qt.Key.Key_Backspace, M.ControlModifier)
    assert not canvas.pixel_mask.any() and canvas.undo_stack.count() == 2
    grid = canvas.state.view.grid_visible
    qtbot.keyClick(canvas, Qt.Key.Key_G)
    assert canvas.state.view.grid_visible is not grid
    canvas.state.view.set_brush_size(1)
    _click(canvas, 20.5, 20.5)  # one pixel: under any positive threshold, not a whole patch
    assert canvas.overlay_image()[20, 20, 3] > 0
    qtbot.keyClick(canvas, Qt.Key.Key_S)
    assert canvas.state.view.snap and canvas.overlay_image()[20, 20, 3] == 0


def test_threshold_controls_snapping(canvas):
    canvas.state.view.set_tool("rectangle")
    _drag(canvas, [(0.5, 0.5), (7.5, 1.5)])  # 16 of 64 pixels of patch (0, 0)
    assert not canvas.patch_mask()[0, 0]
    with_signal: list[bool] = []
    canvas.state.maskChanged.connect(with_signal.append)
    canvas.state.set_threshold(0.25)
    assert canvas.patch_mask()[0, 0] and with_signal == [True]
    assert canvas.readout.text() == "masked 1/64 patches (1.6%)"


def test_set_image_keeps_mask_for_same_size_and_resets_on_new_size(canvas):
    canvas.invert()
    canvas.set_image(_image(64)[::-1].copy(), 8)
    assert canvas.pixel_mask.all() and canvas.undo_stack.count() == 1
    canvas.set_image((_image(32) * 255).astype(np.uint8), 8)
    assert canvas.pixel_mask.shape == (32, 32) and not canvas.pixel_mask.any()
    assert canvas.patch_mask().shape == (4, 4) and canvas.undo_stack.count() == 0


def test_zoom_is_the_state_s_region_both_ways(canvas, qtbot):
    view = canvas.state.view
    _mouse(canvas, E.MouseMove, 32, 32, button=B.NoButton, buttons=B.NoButton)
    vp = canvas.view.viewport()
    pos = _widget_pos(canvas, 32, 32)
    QApplication.sendEvent(vp, QWheelEvent(pos, vp.mapToGlobal(pos), QPoint(), QPoint(0, 240), B.NoButton,
                                           M.NoModifier, Qt.ScrollPhase.NoScrollPhase, False))
    assert view.region == canvas.view_box.targetRect() and view.region.width() < 60  # the wheel zoomed in
    view.set_region(QRectF(10, 10, 10, 10))  # set elsewhere (another view): the canvas shows it
    x0, x1 = canvas.view_box.viewRange()[0]
    assert x0 <= 10.5 and x1 >= 19.5 and x1 - x0 < 30
    view.reset_region()
    assert canvas.view_box.viewRect().contains(QRectF(0, 0, 64, 64))


def test_many_quick_events_do_not_stall(qtbot):
    c = MaskCanvas()
    qtbot.addWidget(c)
    c.resize(500, 540)
    c.set_image(_image(224), 16)
    c.show()
    qtbot.waitExposed(c)
    events: list[bool] = []
    c.state.maskChanged.connect(events.append)
    t = np.linspace(0, 4 * np.pi, 200)
    points = list(zip(112 + 100 * np.cos(t) * t / t[-1], 112 + 100 * np.sin(t) * t / t[-1], strict=True))
    start = time.perf_counter()
    _drag(c, points)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"200 paint events took {elapsed:.2f} s"
    assert len(events) > 100 and events[-1] is True and c.undo_stack.count() == 1


def test_escape_aborts_a_stroke_in_progress(canvas, qtbot):
    _drag(canvas, [(4.5, 4.5), (10.5, 4.5)])
    painted = canvas.pixel_mask
    _mouse(canvas, E.MouseButtonPress, 30.5, 30.5)
    _mouse(canvas, E.MouseMove, 50.5, 50.5, button=B.NoButton, buttons=B.LeftButton)
    assert canvas.pixel_mask[40, 40]
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    _mouse(canvas, E.MouseButtonRelease, 50.5, 50.5)
    np.testing.assert_array_equal(canvas.pixel_mask, painted)
    assert canvas.undo_stack.count() == 1


def test_set_image_rejects_a_patch_size_that_does_not_divide_it(canvas):
    canvas.invert()
    with pytest.raises(MaskError):
        canvas.set_image(_image(60), 8)
    assert canvas.pixel_mask.shape == (64, 64) and canvas.pixel_mask.all()
