"""One result picture (:class:`PanelCell`) and the hover readout's text (:func:`hover_lines`).

A cell is a title (elided to the cell, whole in the tooltip), an aspect-locked image view and a
fixed strip under it; every cell has the same strip (the error cell's colour bar, blank elsewhere)
so that equal cells show the same image region at the same scale.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QSizePolicy, QWidget

from maskviz.gui.state import ViewerState

STRIP = 34  # the strip under every picture: the error cell's colour bar, blank elsewhere
TITLE = 22
TITLE_POINTS = 11.0  # the size pyqtgraph draws plot titles in
SMALL_TITLE_POINTS = 8.5


def hover_lines(state: ViewerState, x: int, y: int) -> list[str]:
    """``["patch (row 3, col 5) #47", "loss 0.412", "hidden (predicted)", "pixel (45, 30)"]`` for the
    state as it is now: the hidden/visible word from the current mask, the loss only from a result
    computed for exactly the current inputs. [] outside the image."""
    if state.model is None or x < 0 or y < 0:
        return []
    gh, gw = state.paint.grid
    p = state.paint.patch_size
    row, col = y // p, x // p
    if not (0 <= row < gh and 0 <= col < gw):
        return []
    hidden = bool(state.patch_mask()[row, col])
    if not state.result_is_current():
        loss = "loss: computing…" if state.model_image is not None else "loss: no image"
    elif hidden:
        loss = f"loss {state.result.result.patch_loss[row, col]:.4g}"
    else:
        loss = "no loss (visible patches are not scored)"
    where = "hidden (predicted)" if hidden else "visible (given to the model)"
    return [f"patch (row {row}, col {col}) #{row * gw + col}", loss, where, f"pixel ({x}, {y})"]


class PanelCell(pg.GraphicsLayoutWidget):
    """One picture: a title (elided to the cell, whole in the tooltip), an aspect-locked image view
    and a fixed strip under it. A title wider than the cell would widen the view and shift the picture."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.title, self._shorter = title, ()
        self.plot = pg.PlotItem(title=title)
        self.plot.titleLabel.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        for axis in ("left", "bottom"):
            self.plot.hideAxis(axis)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)  # image row 0 at the top, as the canvas shows it
        self.plot.setDefaultPadding(0.02)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.addItem(self.plot, row=0, col=0)
        self.ci.layout.setRowFixedHeight(1, STRIP)
        self.ci.layout.setContentsMargins(2, 2, 2, 2)

    def set_strip(self, item: pg.GraphicsObject) -> None:
        self.addItem(item, row=1, col=0)

    def set_title(self, text: str, shorter: tuple[str, ...] = ()) -> None:
        """Show ``text``, or the first of ``shorter`` that fits the cell (else ``text`` elided); the
        tooltip always has ``text`` whole."""
        self.title, self._shorter = text, shorter
        self.setToolTip(text)
        self._elide()

    def resizeEvent(self, ev) -> None:  # noqa: ANN001 - QResizeEvent
        super().resizeEvent(ev)
        if "plot" in self.__dict__:  # pyqtgraph resizes while constructing, before the plot exists
            self._elide()

    def _elide(self) -> None:
        points = TITLE_POINTS if self.width() >= 200 else SMALL_TITLE_POINTS  # small cells: smaller titles
        font = QFont(self.font())
        font.setPointSizeF(points)
        room = max(40, self.width() - 24)
        metrics = QFontMetrics(font)
        fits = [t for t in (self.title, *self._shorter) if metrics.horizontalAdvance(t) <= room]
        text = fits[0] if fits else metrics.elidedText(self.title, Qt.TextElideMode.ElideRight, room)
        self.plot.setTitle(text, size=f"{points:g}pt")
        # Re-fit: a shorter title must give its width back (Qt caches the layout's old minimum width).
        for item in (self.plot.titleLabel, self.plot, self.ci):
            item.updateGeometry()
        pg.GraphicsLayoutWidget.resizeEvent(self, None)
