"""MaskCanvas: paint a patch mask over the image; the Qt view of :class:`maskviz.painting.PaintModel`.

The viewer state (:class:`~maskviz.gui.state.ViewerState`) owns the paint model, its undo stack and
the coverage threshold; this widget turns mouse and key events into paint-model edits, hands each
finished edit to the state as one undo step, and redraws one RGBA overlay whenever the state's mask
changes (an undo, a pattern, a file), whoever changed it. Painting happens
in image pixels; the readout and :meth:`MaskCanvas.patch_mask` give the patch mask the model sees.

Keymap (napari / Photoshop conventions); the main window routes these keys here whatever widget
has focus, except a text field (:meth:`MaskCanvas.handle_key`):

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
fires neither.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QRectF, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QMouseEvent, QPainterPath
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem, QLabel, QVBoxLayout, QWidget

from maskviz import masks
from maskviz.gui.state import ViewerState
from maskviz.painting import PaintAtom, PaintModel, Point, brush_radius

TOOLS = ("brush", "eraser", "rectangle", "polygon", "fill")
OVERLAY_RGBA = (255, 48, 48, 140)  # hidden pixels: translucent red, visible pixels: transparent

K = Qt.Key
_TOOL_KEYS = {K.Key_B: "brush", K.Key_P: "brush", K.Key_2: "brush", K.Key_E: "eraser", K.Key_1: "eraser",
              K.Key_M: "rectangle", K.Key_L: "polygon", K.Key_3: "polygon", K.Key_F: "fill", K.Key_4: "fill"}
_SIZE_KEYS = {K.Key_BracketLeft: -1, K.Key_BracketRight: 1, K.Key_BraceLeft: -10, K.Key_BraceRight: 10}
_UNDO_TEXT = {"brush": "Brush stroke", "eraser": "Erase stroke", "rectangle": "Rectangle",
              "polygon": "Polygon", "fill": "Fill"}
_MOUSE_EVENTS = (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick,
                 QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease)


class MaskCanvas(QWidget):
    """Image + translucent mask overlay + optional patch grid, with brush/shape tools and undo."""

    maskChanged = Signal(bool)  # final: False while a stroke is in progress, True otherwise
    hovered = Signal(int, int)  # image pixel (x, y) under the cursor, (-1, -1) outside
    toolChanged = Signal(str)
    brushSizeChanged = Signal(int)

    def __init__(self, state: ViewerState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else ViewerState(self)
        self._brush_size, self._tool = 10, "brush"
        self._snap = False
        self._drag: str | None = None  # "stroke" or "rectangle" while the left button paints
        self._rect_start: Point = (0.0, 0.0)
        self._polygon: list[Point] = []
        self._panning_key = False
        self._hover = (-1, -1)
        self._lut = np.array([(0, 0, 0, 0), OVERLAY_RGBA], dtype=np.uint8)
        self.undo_stack = self.state.undo_stack
        self._build_view()
        self.readout = QLabel(self)
        self.readout.setToolTip("Patches the model will see as hidden, at the current coverage threshold")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.readout)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._draw_grid()
        self._refresh_overlay()
        self.reset_view()
        self.state.maskChanged.connect(self._on_mask_changed)
        self.state.geometryChanged.connect(self._after_geometry_change)
        self.state.imageChanged.connect(self._show_state_image)
        self.state.modelChanged.connect(self._show_state_image)

    def _build_view(self) -> None:
        self.view = pg.GraphicsView(self)
        self.view_box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.02)
        self.view.setCentralItem(self.view_box)
        self._image = pg.ImageItem(axisOrder="row-major")
        self._overlay = pg.ImageItem(axisOrder="row-major")
        self._grid = QGraphicsPathItem()
        self._grid.setPen(pg.mkPen((255, 255, 255, 70), width=1))
        self._preview = QGraphicsPathItem()
        self._preview.setPen(pg.mkPen((255, 230, 0), width=1.5))
        self._cursor = QGraphicsEllipseItem()
        self._cursor.setPen(pg.mkPen((255, 255, 255, 220), width=1))
        for z, item in enumerate((self._image, self._overlay, self._grid, self._preview, self._cursor)):
            item.setZValue(z)
            self.view_box.addItem(item)
        self._cursor.hide()
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys reach the canvas, not the scene
        viewport = self.view.viewport()
        viewport.setMouseTracking(True)
        viewport.setCursor(Qt.CursorShape.CrossCursor)
        viewport.installEventFilter(self)

    # ------------------------------------------------------------------ public API

    @property
    def _model(self) -> PaintModel:
        return self.state.paint

    def _show_state_image(self) -> None:
        """The state's image as the model sees it (resized and cropped): canvas pixels are model pixels."""
        if self.state.model_image is not None:
            self._upload(np.asarray(self.state.model_image, dtype=np.uint8))

    def set_image(self, image: np.ndarray, patch_size: int) -> None:
        """Show ``image`` (H×W×3 or H×W, float in [0, 1] or uint8) already fitted to the model.

        The painting survives a new image of the same size; a new size starts an empty mask and
        history. ``maskChanged(True)`` fires only when the patch mask may have changed.
        """
        img = np.asarray(image)
        self.state.set_geometry(img.shape[:2], patch_size)
        self._upload(img)

    def _upload(self, img: np.ndarray) -> None:
        levels = (0, 255) if img.dtype == np.uint8 else (0.0, 1.0)
        data = img if img.dtype == np.uint8 else img.astype(np.float32)
        self._image.setImage(np.ascontiguousarray(data), levels=levels, autoLevels=False)

    def _after_geometry_change(self) -> None:
        self._drag = None
        self._polygon.clear()
        self._update_preview()
        self.reset_view()
        self.brush_size = self._brush_size  # re-clamp to the new image
        self._draw_grid()
        self._refresh_overlay()

    @property
    def pixel_mask(self) -> np.ndarray:
        """A copy of the painted pixel mask (H×W bool, True = hidden)."""
        return self._model.mask.copy()

    def patch_mask(self) -> np.ndarray:
        """The ``(gh, gw)`` mask the model receives, at the current coverage threshold."""
        return self.state.patch_mask()

    @property
    def patch_size(self) -> int:
        return self._model.patch_size

    def set_patch_mask(self, mask: np.ndarray, text: str = "Apply pattern") -> None:
        """Replace the painting with a patch mask (a pattern, a file), as one undo step."""
        self._cancel_interaction()
        self.state.set_patch_mask(mask, text)

    def clear(self) -> None:
        self._cancel_interaction()
        self.state.clear_mask()

    def invert(self) -> None:
        self._cancel_interaction()
        self.state.invert_mask()

    def reset_view(self) -> None:
        """Fit the whole image in the view (after zooming in too far)."""
        h, w = self._model.shape
        self.view_box.setRange(QRectF(0, 0, w, h), padding=0.02)

    @property
    def threshold(self) -> float:
        """Coverage (0..1) a patch needs to count as hidden; 0 means any painted pixel."""
        return self.state.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.state.set_threshold(value)

    @property
    def brush_size(self) -> int:
        return self._brush_size

    @brush_size.setter
    def brush_size(self, value: int) -> None:
        value = min(max(int(value), 1), max(self._model.shape))
        if value != self._brush_size:
            self._brush_size = value
            self._update_cursor()
            self.brushSizeChanged.emit(value)

    @property
    def tool(self) -> str:
        return self._tool

    @tool.setter
    def tool(self, name: str) -> None:
        if name not in TOOLS:
            raise ValueError(f"Unknown tool {name!r}; tools: {', '.join(TOOLS)}.")
        if name != self._tool:
            self._cancel_interaction()
            self._tool = name
            self._update_cursor()
            self.toolChanged.emit(name)

    @property
    def grid_visible(self) -> bool:
        return self._grid.isVisible()

    @grid_visible.setter
    def grid_visible(self, on: bool) -> None:
        self._grid.setVisible(bool(on))

    @property
    def snap_to_patches(self) -> bool:
        """Show the patch mask the model receives instead of the painted pixels."""
        return self._snap

    @snap_to_patches.setter
    def snap_to_patches(self, on: bool) -> None:
        self._snap = bool(on)
        self._refresh_overlay()

    # ------------------------------------------------------------------ edits and history

    def _push(self, atom: PaintAtom | None, text: str) -> None:
        self.state.push_edit(atom, text)

    def _abort_stroke(self) -> None:
        if self._model.in_stroke:
            self._drag = None
            self.state.abort_stroke()

    def _cancel_interaction(self) -> None:
        """Esc: drop whatever is half-drawn (stroke, rubber band, polygon)."""
        self._abort_stroke()
        self._drag = None
        self._polygon.clear()
        self._update_preview()

    def _on_mask_changed(self, final: bool) -> None:
        if final and self._drag == "stroke" and not self._model.in_stroke:
            self._drag = None  # an undo or a pattern ended the stroke under the brush
        self._refresh_overlay()
        self.maskChanged.emit(final)

    def _refresh_overlay(self) -> None:
        """Re-upload only the overlay (fixed LUT, no levels), and update the readout."""
        patch = self.patch_mask()
        shown = masks.to_pixel_mask(patch, self.patch_size) if self._snap else self._model.mask
        self._overlay.setImage(self._lut[shown.view(np.uint8)], levels=None, autoLevels=False)
        self.readout.setText(masks.describe(patch))

    # ------------------------------------------------------------------ drawing helpers

    def _draw_grid(self) -> None:
        h, w = self._model.shape
        p = self.patch_size
        path = QPainterPath()
        for x in range(0, w + 1, p):
            path.moveTo(x, 0)
            path.lineTo(x, h)
        for y in range(0, h + 1, p):
            path.moveTo(0, y)
            path.lineTo(w, y)
        self._grid.setPath(path)

    def _update_cursor(self) -> None:
        """Brush outline in image units: the exact disc that a click would paint."""
        x, y = self._hover
        show = self._tool in ("brush", "eraser") and x >= 0 and not self._panning_key
        self._cursor.setVisible(show)
        if show:
            r = brush_radius(self._brush_size)
            self._cursor.setRect(QRectF(x + 0.5 - r, y + 0.5 - r, 2 * r, 2 * r))

    def _update_preview(self, at: Point | None = None) -> None:
        path = QPainterPath()
        if self._drag == "rectangle" and at is not None:
            (x0, y0), (x1, y1) = (map(math.floor, p) for p in (self._rect_start, at))
            path.addRect(QRectF(min(x0, x1), min(y0, y1), abs(x1 - x0) + 1, abs(y1 - y0) + 1))
        elif self._polygon:
            points = self._polygon + ([at] if at is not None else [])
            path.moveTo(*points[0])
            for p in points[1:] + points[:1]:
                path.lineTo(*p)
        self._preview.setPath(path)

    # ------------------------------------------------------------------ mouse

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        """Take left/right-button events on the viewport; pass the rest (pan, zoom) to pyqtgraph."""
        if obj is self.view.viewport():
            if event.type() in _MOUSE_EVENTS:
                return self._mouse(event)
            if event.type() == QEvent.Type.Leave:
                self._set_hover(None)
        return super().eventFilter(obj, event)

    def _mouse(self, ev: QMouseEvent) -> bool:
        at = self._image_point(ev)
        kind = ev.type()
        if kind == QEvent.Type.MouseMove:
            return self._move(at)
        if kind == QEvent.Type.MouseButtonRelease:
            return self._release(ev, at)
        if ev.button() == Qt.MouseButton.RightButton:
            if self._tool == "polygon" and self._polygon and kind == QEvent.Type.MouseButtonPress:
                self._polygon.pop()
                self._update_preview(at)
            return True  # no pyqtgraph context menu or right-drag zoom over the canvas
        if ev.button() != Qt.MouseButton.LeftButton or self._panning_key:
            return False
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if kind == QEvent.Type.MouseButtonDblClick and self._tool == "polygon":
            self._finish_polygon(reveal=_alt(ev))
        elif kind == QEvent.Type.MouseButtonPress or self._tool != "fill":  # a double-click fills once
            self._press(at)
        return True

    def _image_point(self, ev: QMouseEvent) -> Point:
        scene = self.view.mapToScene(ev.position().toPoint())
        p = self._image.mapFromScene(scene)
        return p.x(), p.y()

    def _press(self, at: Point) -> None:
        tool = self._tool
        if tool in ("brush", "eraser"):
            self._drag = "stroke"
            if self._model.begin_stroke(at, self._brush_size, value=tool == "brush") is not None:
                self.state.stroke_changed()
        elif tool == "rectangle":
            self._drag, self._rect_start = "rectangle", at
            self._update_preview(at)
        elif tool == "polygon":
            self._polygon.append(at)
            self._update_preview(at)
        else:
            self._push(self._model.flood_fill(at), _UNDO_TEXT["fill"])

    def _move(self, at: Point) -> bool:
        self._set_hover(at)
        if self._drag == "stroke":
            if self._model.stroke_to(at) is not None:
                self.state.stroke_changed()
        elif self._drag == "rectangle" or self._polygon:
            self._update_preview(at)
        return self._drag is not None

    def _release(self, ev: QMouseEvent, at: Point) -> bool:
        if ev.button() == Qt.MouseButton.RightButton:
            return True
        if ev.button() != Qt.MouseButton.LeftButton or self._drag is None:
            return False
        drag, self._drag = self._drag, None
        if drag == "stroke":
            self._push(self._model.end_stroke(), _UNDO_TEXT[self._tool])
        else:
            self._update_preview()
            self._push(self._model.fill_rect(self._rect_start, at, value=not _alt(ev)), _UNDO_TEXT["rectangle"])
        return True

    def _finish_polygon(self, reveal: bool = False) -> None:
        vertices, self._polygon = self._polygon, []
        self._update_preview()
        self._push(self._model.fill_polygon(vertices, value=not reveal), _UNDO_TEXT["polygon"])

    def _set_hover(self, at: Point | None) -> None:
        h, w = self._model.shape
        x, y = (int(np.floor(at[0])), int(np.floor(at[1]))) if at is not None else (-1, -1)
        pixel = (x, y) if 0 <= x < w and 0 <= y < h else (-1, -1)
        if pixel != self._hover:
            self._hover = pixel
            self._update_cursor()
            self.hovered.emit(*pixel)

    # ------------------------------------------------------------------ keys

    def keyPressEvent(self, ev: QKeyEvent) -> None:
        if ev.key() == K.Key_Space:
            if not ev.isAutoRepeat():
                self._set_panning(True)
        elif not self._shortcut(ev):
            super().keyPressEvent(ev)

    def keyReleaseEvent(self, ev: QKeyEvent) -> None:
        if ev.key() == K.Key_Space and not ev.isAutoRepeat():
            self._set_panning(False)
        else:
            super().keyReleaseEvent(ev)

    def focusOutEvent(self, ev) -> None:
        self._set_panning(False)  # a Space released elsewhere must not leave pan mode stuck
        super().focusOutEvent(ev)

    def _set_panning(self, on: bool) -> None:
        self._panning_key = on
        shape = Qt.CursorShape.OpenHandCursor if on else Qt.CursorShape.CrossCursor
        self.view.viewport().setCursor(shape)
        self._update_cursor()

    def handle_key(self, ev: QKeyEvent) -> bool:
        """Act on one keymap entry sent from elsewhere (the window routes keys here); False if not one."""
        return self._shortcut(ev)

    def _shortcut(self, ev: QKeyEvent) -> bool:
        """Handle one keymap entry; False lets the key travel on to the parent."""
        key, mods = ev.key(), ev.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
        if ev.matches(QKeySequence.StandardKey.Undo):
            self.undo_stack.undo()
        elif ev.matches(QKeySequence.StandardKey.Redo) or (key, mods) in ((K.Key_Z, ctrl | shift), (K.Key_Y, ctrl)):
            self.undo_stack.redo()
        elif (key, mods) == (K.Key_Backspace, ctrl):
            self.clear()
        elif key in _SIZE_KEYS and not mods & ~shift:
            step = _SIZE_KEYS[key] * (10 if mods & shift and abs(_SIZE_KEYS[key]) == 1 else 1)
            self.brush_size = self._brush_size + step
        elif mods & ~(shift | Qt.KeyboardModifier.AltModifier):
            return False
        else:
            return self._plain_key(key, alt=bool(mods & Qt.KeyboardModifier.AltModifier))
        return True

    def _plain_key(self, key: int, alt: bool) -> bool:
        if key in (K.Key_Return, K.Key_Enter) and self._polygon:
            self._finish_polygon(reveal=alt)
        elif key == K.Key_Escape:
            self._cancel_interaction()
        elif alt:
            return False
        elif key in _TOOL_KEYS:
            self.tool = _TOOL_KEYS[key]
        elif key == K.Key_I:
            self.invert()
        elif key == K.Key_G:
            self.grid_visible = not self.grid_visible
        elif key == K.Key_S:
            self.snap_to_patches = not self._snap
        else:
            return False
        return True


def _alt(ev: QMouseEvent) -> bool:
    """Alt while finishing a shape reveals instead of hides (Photoshop's subtract-from-selection)."""
    return bool(ev.modifiers() & Qt.KeyboardModifier.AltModifier)
