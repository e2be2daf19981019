"""MaskCanvas: paint a patch mask over the image; the Qt view of :class:`maskviz.painting.PaintModel`.

The viewer state (:class:`~maskviz.gui.state.ViewerState`) owns the paint model, its undo stack and
the coverage threshold; this widget turns mouse and key events into paint-model edits, hands each
finished edit to the state as one undo step, and redraws one RGBA overlay whenever the state's mask
changes (an undo, a pattern, a file), whoever changed it. Painting happens
in image pixels; the readout and :meth:`MaskCanvas.patch_mask` give the patch mask the model sees.
The tool, brush size, snapping and grid, the pointer and the shown region live in ``state.view``
(:class:`~maskviz.gui.view_state.ViewState`): the canvas writes them and draws what they say.

Keys: see :mod:`maskviz.gui.viewer.canvas_keys`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QRectF, Qt, QTimer
from PySide6.QtGui import QKeyEvent, QMouseEvent, QPainterPath
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem, QLabel, QVBoxLayout, QWidget

from maskviz import masks
from maskviz.gui.state import ViewerState
from maskviz.gui.viewer.canvas_keys import canvas_key
from maskviz.painting import PaintModel, Point, brush_radius

OVERLAY_RGBA = (255, 48, 48, 140)  # hidden pixels: translucent red, visible pixels: transparent
TILE_RGBA = (255, 220, 0, 200)  # the tiles view's tile borders, with the patch grid

K = Qt.Key
_UNDO_TEXT = {"brush": "Brush stroke", "eraser": "Erase stroke", "rectangle": "Rectangle",
              "polygon": "Polygon", "fill": "Fill"}
_MOUSE_EVENTS = (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick,
                 QEvent.Type.MouseMove, QEvent.Type.MouseButtonRelease)


class MaskCanvas(QWidget):
    """Image + translucent mask overlay + optional patch grid, with brush/shape tools and undo."""

    def __init__(self, state: ViewerState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else ViewerState(self)
        self.view_state = self.state.view
        self._drag: str | None = None  # "stroke" or "rectangle" while the left button paints
        self._rect_start: Point = (0.0, 0.0)
        self._polygon: list[Point] = []
        self.panning_key = False
        self._over = False  # the pointer is over this canvas (the brush outline follows it here only)
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
        # One overlay upload per event-loop turn: a view change sizes the painting, clears it and
        # applies the pattern in one turn (three mask changes); a 1024 px overlay takes ~8 ms to upload.
        self._overlay_due = QTimer(self, singleShot=True, interval=0)
        self._overlay_due.timeout.connect(self._upload_overlay)
        self._draw_grid()
        self._refresh_overlay()
        self._connect_state()

    def _build_view(self) -> None:
        self.view = pg.GraphicsView(self)
        self.view_box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.02)
        self.view.setCentralItem(self.view_box)
        self._image = pg.ImageItem(axisOrder="row-major")
        self._overlay = pg.ImageItem(axisOrder="row-major")
        self._grid = QGraphicsPathItem()
        self._grid.setPen(pg.mkPen((255, 255, 255, 70), width=1))
        self._tiles = QGraphicsPathItem()  # the tiles view's model inputs, drawn with the grid
        self._tiles.setPen(pg.mkPen(TILE_RGBA, width=1.5, style=Qt.PenStyle.DashLine))
        self._preview = QGraphicsPathItem()
        self._preview.setPen(pg.mkPen((255, 230, 0), width=1.5))
        self._cursor = QGraphicsEllipseItem()
        self._cursor.setPen(pg.mkPen((255, 255, 255, 220), width=1))
        for z, item in enumerate((self._image, self._overlay, self._grid, self._tiles, self._preview, self._cursor)):
            item.setZValue(z)
            self.view_box.addItem(item)
        self._cursor.hide()
        self._grid.hide()
        self._tiles.hide()
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys reach the canvas, not the scene
        viewport = self.view.viewport()
        viewport.setMouseTracking(True)
        viewport.setCursor(Qt.CursorShape.CrossCursor)
        viewport.installEventFilter(self)

    def _connect_state(self) -> None:
        s, v = self.state, self.view_state
        s.maskChanged.connect(self._on_mask_changed)
        s.geometryChanged.connect(self._after_geometry_change)
        s.imageChanged.connect(self._show_state_image)
        s.modelChanged.connect(self._show_state_image)
        s.pictureChanged.connect(lambda _note: (self._show_state_image(), self._draw_grid()))
        v.toolChanged.connect(self._on_tool)
        v.hoverChanged.connect(lambda *_: self._update_cursor())
        v.regionChanged.connect(self._show_region)
        self.view_box.sigRangeChangedManually.connect(lambda *_: v.set_region(self.view_box.targetRect(),
                                                                             self.view_box))
        self._show_region(v.region, None)
        self._tool = v.tool

    # ------------------------------------------------------------------ the state, drawn

    @property
    def _model(self) -> PaintModel:
        return self.state.paint

    def _show_state_image(self) -> None:
        """The state's image as the model sees it (fitted to its input, or the tiles or native view's
        whole picture): canvas pixels are model pixels."""
        if self.state.working_image is not None:
            self._upload(np.asarray(self.state.working_image, dtype=np.uint8))

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
        self._draw_grid()
        self._refresh_overlay()

    def _show_region(self, rect: QRectF, source: Any) -> None:
        if source is not self.view_box:
            self.view_box.setRange(rect=QRectF(rect), padding=0)

    def _on_tool(self) -> None:
        v = self.view_state
        if v.tool != self._tool:
            self.cancel_interaction()  # a half-drawn polygon does not survive a tool change
            self._tool = v.tool
        self._grid.setVisible(v.grid_visible)
        self._tiles.setVisible(v.grid_visible)
        self._update_cursor()
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
        self.cancel_interaction()
        self.state.set_patch_mask(mask, text)

    def clear(self) -> None:
        self.cancel_interaction()
        self.state.clear_mask()

    def invert(self) -> None:
        self.cancel_interaction()
        self.state.invert_mask()

    # ------------------------------------------------------------------ edits

    def _push(self, atom, text: str) -> None:  # noqa: ANN001 - PaintAtom | None
        self.state.push_edit(atom, text)

    def cancel_interaction(self) -> None:
        """Esc: drop whatever is half-drawn (stroke, rubber band, polygon)."""
        if self._model.in_stroke:
            self.state.abort_stroke()
        self._drag = None
        self._polygon.clear()
        self._update_preview()

    def _on_mask_changed(self, final: bool) -> None:
        if final and self._drag == "stroke" and not self._model.in_stroke:
            self._drag = None  # an undo or a pattern ended the stroke under the brush
        self._refresh_overlay()

    def _refresh_overlay(self) -> None:
        """Update the readout now, and the overlay at the end of this event-loop turn."""
        self.readout.setText(masks.describe(self.patch_mask()))
        self._overlay_due.start()

    def _upload_overlay(self) -> None:
        """Re-upload only the overlay (fixed LUT, no levels)."""
        self._overlay_due.stop()
        shown = masks.to_pixel_mask(self.patch_mask(), self.patch_size) if self.view_state.snap else self._model.mask
        self._overlay.setImage(np.take(self._lut, shown.view(np.uint8), axis=0), levels=None, autoLevels=False)

    def overlay_image(self) -> np.ndarray:
        """The overlay as drawn (RGBA, H×W×4), brought up to date first."""
        if self._overlay_due.isActive():
            self._upload_overlay()
        return self._overlay.image

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
        self._draw_tiles()

    def _draw_tiles(self) -> None:
        """Each tile of the tiles view (a shifted last tile overlaps its neighbour: the dashes cross)."""
        from maskviz.whole.tiles import tile_layout

        path, picture, p = QPainterPath(), self.state.picture, self.patch_size
        if picture is not None and picture.view.name == "tiles" and self.state.model is not None:
            for t in tile_layout(self.state.model.model, picture).tiles:
                path.addRect(QRectF(t.left * p, t.top * p, t.cols * p, t.rows * p))
        self._tiles.setPath(path)

    def _update_cursor(self) -> None:
        """Brush outline in image units: the exact disc that a click would paint."""
        v = self.view_state
        x, y = v.hover
        show = self._over and v.tool in ("brush", "eraser") and x >= 0 and not self.panning_key
        self._cursor.setVisible(show)
        if show:
            r = brush_radius(v.brush_size)
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
        if ev.button() != Qt.MouseButton.LeftButton or self.panning_key:
            return False
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if kind == QEvent.Type.MouseButtonDblClick and self._tool == "polygon":
            self.finish_polygon(reveal=_alt(ev))
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
            if self._model.begin_stroke(at, self.view_state.brush_size, value=tool == "brush") is not None:
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

    def finish_polygon(self, reveal: bool = False) -> bool:
        """Close the polygon being drawn (Enter, double-click); False when there is none."""
        if not self._polygon:
            return False
        vertices, self._polygon = self._polygon, []
        self._update_preview()
        self._push(self._model.fill_polygon(vertices, value=not reveal), _UNDO_TEXT["polygon"])
        return True

    def _set_hover(self, at: Point | None) -> None:
        self._over = at is not None
        x, y = (math.floor(at[0]), math.floor(at[1])) if at is not None else (-1, -1)
        self.view_state.set_hover(x, y)
        self._update_cursor()

    # ------------------------------------------------------------------ keys

    def keyPressEvent(self, ev: QKeyEvent) -> None:
        if ev.key() == K.Key_Space:
            if not ev.isAutoRepeat():
                self._set_panning(True)
        elif not self.handle_key(ev):
            super().keyPressEvent(ev)

    def keyReleaseEvent(self, ev: QKeyEvent) -> None:
        if ev.key() == K.Key_Space and not ev.isAutoRepeat():
            self._set_panning(False)
        else:
            super().keyReleaseEvent(ev)

    def focusOutEvent(self, ev) -> None:  # noqa: ANN001
        self._set_panning(False)  # a Space released elsewhere must not leave pan mode stuck
        super().focusOutEvent(ev)

    def _set_panning(self, on: bool) -> None:
        self.panning_key = on
        shape = Qt.CursorShape.OpenHandCursor if on else Qt.CursorShape.CrossCursor
        self.view.viewport().setCursor(shape)
        self._update_cursor()

    def handle_key(self, ev: QKeyEvent) -> bool:
        """Act on one keymap entry (also sent from elsewhere: the window routes keys here); False if none."""
        return canvas_key(self, ev)


def _alt(ev: QMouseEvent) -> bool:
    """Alt while finishing a shape reveals instead of hides (Photoshop's subtract-from-selection)."""
    return bool(ev.modifiers() & Qt.KeyboardModifier.AltModifier)
