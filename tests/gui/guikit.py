"""Helpers for the GUI tests: waiting for the worker, and mouse events at image coordinates.

Imported as ``from guikit import ...`` (pytest puts this folder on ``sys.path``, as it does
``tests/`` for ``synthetic``).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

WAIT_MS = 15000


def settle(qtbot, window, timeout: int = WAIT_MS) -> None:
    """Wait until the result on screen is the one for the state's current inputs and nothing is queued."""
    state, controller = window.state, window.controller
    qtbot.waitUntil(lambda: state.model is not None and state.result_is_current() and not controller.busy,
                    timeout=timeout)


def canvas_pos(canvas, x: float, y: float) -> QPointF:
    """Image coordinates → canvas viewport pixels."""
    return QPointF(canvas.view.mapFromScene(canvas.view_box.mapViewToScene(QPointF(x, y))))


def mouse(canvas, kind: QEvent.Type, x: float, y: float, held: bool = True) -> None:
    """A real QMouseEvent on the canvas viewport (QTest's mouseMove cannot carry a held button)."""
    vp = canvas.view.viewport()
    pos = canvas_pos(canvas, x, y)
    left = Qt.MouseButton.LeftButton
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else left
    buttons = left if held and kind != QEvent.Type.MouseButtonRelease else Qt.MouseButton.NoButton
    QApplication.sendEvent(vp, QMouseEvent(kind, pos, vp.mapToGlobal(pos), button, buttons,
                                           Qt.KeyboardModifier.NoModifier))


def stroke(canvas, points, release: bool = True) -> None:
    """Press at the first point, drag through the rest, release (unless told not to)."""
    mouse(canvas, QEvent.Type.MouseButtonPress, *points[0])
    for p in points[1:]:
        mouse(canvas, QEvent.Type.MouseMove, *p)
    if release:
        mouse(canvas, QEvent.Type.MouseButtonRelease, *points[-1])


def mask_of(window) -> np.ndarray:
    return window.state.patch_mask()


def viewer_on(photo: str, model_path: str):  # noqa: ANN201 - (ViewerState, Controller)
    """A viewer state and its controller with the model at ``model_path`` and ``photo`` open: what a
    dock under test (Compare, Explain) is built on."""
    from PIL import Image

    from maskviz.checkpoints import load_model
    from maskviz.gui.controller import Controller
    from maskviz.gui.state import ViewerState

    viewer = ViewerState()
    controller = Controller(viewer)
    viewer.set_model(load_model(model_path), model_path)
    viewer.set_image(Image.open(photo).convert("RGB"), photo)
    return viewer, controller
