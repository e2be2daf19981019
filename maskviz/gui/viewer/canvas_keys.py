"""The canvas keymap (napari / Photoshop conventions); the main window routes these keys to the
canvas whatever widget has focus, except a text field:

- ``B``/``P``/``2`` brush, ``E``/``1`` eraser, ``M`` rectangle (marquee), ``L``/``3`` polygon (lasso),
  ``F``/``4`` fill (flood fill that flips the clicked region);
- ``[``/``]`` brush size −/+1, with Shift ±10;
- ``I`` invert, ``Ctrl+Backspace`` clear, ``G`` patch grid, ``S`` show the snapped patch mask;
- ``Ctrl+Z`` undo, ``Ctrl+Shift+Z``/``Ctrl+Y`` redo;
- polygon: click adds a vertex, double-click or ``Enter`` finishes, right-click drops the last
  vertex, ``Esc`` cancels (``Esc`` also aborts a drag in progress);
- hold ``Alt`` while finishing a rectangle or polygon to reveal instead of hide;
- Space + drag or middle-drag pans, the wheel zooms; the right button never opens a menu.

Keys are handled in ``keyPressEvent``, not with ``QShortcut``: a main-window action bound to the
same key then simply takes precedence, whereas two shortcuts on one key are ambiguous and Qt
fires neither. Tool settings are written to the viewer state's ``view``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QKeySequence

K = Qt.Key
TOOL_KEYS = {K.Key_B: "brush", K.Key_P: "brush", K.Key_2: "brush", K.Key_E: "eraser", K.Key_1: "eraser",
             K.Key_M: "rectangle", K.Key_L: "polygon", K.Key_3: "polygon", K.Key_F: "fill", K.Key_4: "fill"}
SIZE_KEYS = {K.Key_BracketLeft: -1, K.Key_BracketRight: 1, K.Key_BraceLeft: -10, K.Key_BraceRight: 10}


def canvas_key(canvas: Any, ev: QKeyEvent) -> bool:  # noqa: ANN401 - MaskCanvas (it imports this module)
    """Handle one keymap entry for ``canvas``; False lets the key travel on to the parent."""
    view, stack = canvas.state.view, canvas.state.undo_stack
    key, mods = ev.key(), ev.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    if ev.matches(QKeySequence.StandardKey.Undo):
        stack.undo()
    elif ev.matches(QKeySequence.StandardKey.Redo) or (key, mods) in ((K.Key_Z, ctrl | shift), (K.Key_Y, ctrl)):
        stack.redo()
    elif (key, mods) == (K.Key_Backspace, ctrl):
        canvas.clear()
    elif key in SIZE_KEYS and not mods & ~shift:
        step = SIZE_KEYS[key] * (10 if mods & shift and abs(SIZE_KEYS[key]) == 1 else 1)
        view.set_brush_size(view.brush_size + step)
    elif mods & ~(shift | Qt.KeyboardModifier.AltModifier):
        return False
    else:
        return _plain_key(canvas, key, alt=bool(mods & Qt.KeyboardModifier.AltModifier))
    return True


def _plain_key(canvas: Any, key: int, alt: bool) -> bool:  # noqa: ANN401
    view = canvas.state.view
    if key in (K.Key_Return, K.Key_Enter) and canvas.finish_polygon(reveal=alt):
        return True
    if key == K.Key_Escape:
        canvas.cancel_interaction()
    elif alt:
        return False
    elif key in TOOL_KEYS:
        view.set_tool(TOOL_KEYS[key])
    elif key == K.Key_I:
        canvas.invert()
    elif key == K.Key_G:
        view.set_grid_visible(not view.grid_visible)
    elif key == K.Key_S:
        view.set_snap(not view.snap)
    else:
        return False
    return True
