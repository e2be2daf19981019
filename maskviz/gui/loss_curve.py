"""LossCurve: the model's masked-region loss against mask ratio, with the current mask marked.

The numbers come from :func:`maskviz.sweep.loss_sweep`, run on the worker thread one ratio at a time;
this widget only draws them: each seed as a dot, the mean as a line, the min–max spread as a band
(``FillBetweenItem``), and a star at the current mask's (ratio, loss). The star answers the question
the curve exists for: is my painted mask easier or harder than a random one hiding as much?
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

MEAN_PEN = pg.mkPen((31, 119, 180), width=2)
BAND_BRUSH = pg.mkBrush(31, 119, 180, 60)
MARKER_BRUSH = pg.mkBrush(230, 60, 40)


class LossCurve(QWidget):
    """A pyqtgraph plot of loss vs ratio, filled in point by point as the sweep runs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list = []  # SweepPoint, one per ratio (the latest, with every seed done so far)
        self.marker: tuple[float, float] | None = None
        self._total, self._seeds = 0, 0
        self.plot_widget = pg.PlotWidget(self, background="w")
        plot = self.plot = self.plot_widget.getPlotItem()
        plot.setLabel("bottom", "mask ratio (fraction of patches hidden)")
        plot.setLabel("left", "masked-region loss")
        plot.showGrid(x=True, y=True, alpha=0.3)
        plot.setXRange(0, 1, padding=0.02)
        plot.setMenuEnabled(False)
        self._low = pg.PlotCurveItem(pen=pg.mkPen(None))  # invisible edges; the band between them is the fill
        self._high = pg.PlotCurveItem(pen=pg.mkPen(None))
        self.band = pg.FillBetweenItem(self._low, self._high, brush=BAND_BRUSH)
        self.mean_curve = plot.plot([], [], pen=MEAN_PEN, name="mean over seeds")
        self.seed_dots = pg.ScatterPlotItem(size=5, brush=pg.mkBrush(31, 119, 180, 150), pen=None)
        self.marker_item = pg.ScatterPlotItem(size=16, symbol="star", brush=MARKER_BRUSH, pen=pg.mkPen("k"))
        for item in (self._low, self._high, self.seed_dots, self.marker_item):
            plot.addItem(item)
        plot.addItem(self.band, ignoreBounds=True)  # an empty band's (0, 0) bounds would pin the y axis to 0
        # A caption instead of a legend: a legend overlay hides points, and pyqtgraph cannot draw a
        # FillBetweenItem's legend sample.
        self.caption = QLabel("line: mean over seeds · band: min–max · dots: each seed · ★ current mask", self)
        self.caption.setWordWrap(True)
        self.status = QLabel("", self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.caption)
        layout.addWidget(self.status)

    def reset(self, family: str, seeds: int, total: int) -> None:
        """Start a new sweep: clear the old one, which described another image/model/pattern."""
        self.points = []
        self._total, self._seeds = total, seeds
        self.plot.setTitle(f"{family} masks · {seeds} seeds", size="9pt")
        self._redraw()
        self.set_status(f"computing 0/{total} ratios…")

    def add_point(self, point) -> None:  # noqa: ANN001 - maskviz.sweep.SweepPoint
        """A new ratio, or more seeds of one already shown (the sweep yields after every forward)."""
        self.points = [p for p in self.points if p.ratio != point.ratio] + [point]
        self._redraw()
        self.set_status(f"computing: {len(self.points)}/{max(self._total, len(self.points))} ratios…")

    def finish(self) -> None:
        self.set_status("" if self.points else "no points: nothing could be hidden")

    @property
    def complete(self) -> bool:
        """Every ratio has all its seeds (what tests and the benchmark wait for)."""
        return (len(self.points) == self._total > 0
                and all(len(p.losses) == self._seeds for p in self.points))

    def set_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))

    def set_marker(self, ratio: float | None, loss: float | None) -> None:
        """Mark the current mask; hidden when nothing is hidden (its loss is undefined)."""
        self.marker = None if ratio is None or loss is None else (float(ratio), float(loss))
        self.marker_item.setData([] if self.marker is None else [self.marker[0]],
                                 [] if self.marker is None else [self.marker[1]])

    def _redraw(self) -> None:
        pts = sorted(self.points, key=lambda p: p.ratio)
        x = np.array([p.ratio for p in pts], dtype=float)
        self.mean_curve.setData(x, np.array([p.mean for p in pts], dtype=float))
        self._low.setData(x, np.array([p.low for p in pts], dtype=float))
        self._high.setData(x, np.array([p.high for p in pts], dtype=float))
        dots_x = [p.ratio for p in pts for _ in p.losses]
        dots_y = [loss for p in pts for loss in p.losses]
        self.seed_dots.setData(dots_x, dots_y)
