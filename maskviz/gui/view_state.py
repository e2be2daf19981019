"""ViewState: how the document is being looked at and edited (napari keeps these in ``ViewerModel``
as its cursor and camera): the pointer's image pixel, the image region every view shows, and the
active tool with its brush size, patch snapping and grid.

It is part of :class:`~maskviz.gui.state.ViewerState` (``state.view``). The canvas, the result
panels, the toolbar and the menus write it and redraw on its signals; none of them talks to another.
A region change names its source view, so that view need not be set to the range it just made.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QRectF, Signal

TOOLS = ("brush", "eraser", "rectangle", "polygon", "fill")
PADDING = 0.02  # the margin around the whole image when the views are reset


class ViewState(QObject):
    """Pointer, shown region and tool settings, with one signal each."""

    hoverChanged = Signal(int, int)  # image pixel (x, y) under the pointer in any view, (-1, -1) outside
    pointClicked = Signal(int, int)  # image pixel clicked in a result view (the Explain lens's target)
    regionChanged = Signal(object, object)  # QRectF in image pixels, the view that set it (or None)
    toolChanged = Signal()  # tool, brush_size, snap or grid_visible

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.hover = (-1, -1)
        self.region = QRectF(0, 0, 1, 1)
        self.tool = "brush"
        self.brush_size = 10
        self.snap = False
        self.grid_visible = False
        self._shape = (1, 1)

    def set_hover(self, x: int, y: int) -> None:
        h, w = self._shape
        pixel = (int(x), int(y)) if 0 <= x < w and 0 <= y < h else (-1, -1)
        if pixel != self.hover:
            self.hover = pixel
            self.hoverChanged.emit(*pixel)

    def click(self, x: int, y: int) -> None:
        """A click (not a drag) on the image in a result view; outside the image nothing happens."""
        h, w = self._shape
        if 0 <= x < w and 0 <= y < h:
            self.pointClicked.emit(int(x), int(y))

    def set_region(self, rect: QRectF, source: Any = None) -> None:
        """Show ``rect`` (image pixels) in every view; ``source`` is the view the user zoomed or panned."""
        self.region = QRectF(rect)
        self.regionChanged.emit(QRectF(rect), source)

    def reset_region(self) -> None:
        """The whole image with a small margin, in every view."""
        h, w = self._shape
        pad = PADDING * max(h, w)
        self.set_region(QRectF(-pad, -pad, w + 2 * pad, h + 2 * pad))

    def set_shape(self, shape: tuple[int, int]) -> None:
        """The image's size (called by the document): brush and hover stay inside it, the views reset."""
        self._shape = (int(shape[0]), int(shape[1]))
        self.set_brush_size(self.brush_size)
        self.set_hover(*self.hover)
        self.reset_region()

    def set_tool(self, name: str) -> None:
        if name not in TOOLS:
            raise ValueError(f"Unknown tool {name!r}; tools: {', '.join(TOOLS)}.")
        self._set(tool=name)

    def set_brush_size(self, value: int) -> None:
        """Clamped to 1 … the image's longer side."""
        self._set(brush_size=min(max(int(value), 1), max(self._shape)))

    def set_snap(self, on: bool) -> None:
        self._set(snap=bool(on))

    def set_grid_visible(self, on: bool) -> None:
        self._set(grid_visible=bool(on))

    def _set(self, **values: Any) -> None:
        if any(getattr(self, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(self, k, v)
            self.toolChanged.emit()
