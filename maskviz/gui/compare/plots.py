"""The Compare dock's ratio sweep: loss and PSNR against the fraction hidden, one line per model ×
pattern family, with a band (spread over seeds, or 95 % interval over a folder's images) and
hoverable, clickable points. Items are updated in place while a run fills them in. The loss axis
names its unit (MSE, L1, norm-pix MSE); the legend is a caption under the plots, never over the curves."""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from maskviz.compare import Curve  # the Compare sweep's line type; one import to switch to the core's
from maskviz.figures import PALETTE, loss_unit

LABELS = {"loss": "loss", "psnr": "PSNR (dB, hidden pixels)"}


def loss_label(curves: list[Curve]) -> str:
    """``loss (MSE)``; with models of different losses, ``loss (MSE, L1: each model's own)``."""
    units = list(dict.fromkeys(loss_unit(c) for c in curves if c.loss_name))
    if not units:
        return "loss"
    return f"loss ({units[0]})" if len(units) == 1 else f"loss ({', '.join(units)}: each model's own)"


def legend_html(curves: list[Curve]) -> str:
    """One coloured line mark and label per curve, in the plots' colours; with models of different
    losses each label names its unit."""
    mixed = len({loss_unit(c) for c in curves if c.loss_name}) > 1

    def entry(i: int, c: Curve) -> str:
        r, g, b = PALETTE[i % len(PALETTE)]
        label = f"{c.label} ({loss_unit(c)})" if mixed else c.label
        return f"<span style='color:#{r:02x}{g:02x}{b:02x}'>━━</span>&nbsp;{html.escape(label)}"
    return " &nbsp; ".join(entry(i, c) for i, c in enumerate(curves))


class SweepPlots(QWidget):
    """Two plots side by side; ``clicked(strategy)`` is called for a clicked point."""

    def __init__(self, clicked: Callable[[str], Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._clicked = clicked
        self.plots = {name: pg.PlotWidget() for name in LABELS}
        self._labels: tuple[str, ...] = ()
        self._items: dict[tuple[str, str], tuple[Any, ...]] = {}
        row = QHBoxLayout()
        self.legend = QLabel("", self, wordWrap=True, textFormat=Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.addLayout(row, 1)
        layout.addWidget(self.legend)
        for name, plot in self.plots.items():
            plot.setBackground("w")
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("left", LABELS[name])
            plot.setLabel("bottom", "fraction of patches hidden")
            for axis in ("left", "bottom"):
                plot.getAxis(axis).enableAutoSIPrefix(False)  # plain units: no "(x0.001)"
            row.addWidget(plot)

    def draw(self, curves: list[Curve]) -> None:
        labels = tuple(c.label for c in curves)
        if labels != self._labels:  # new lines: start over (a new run or its first points)
            for plot in self.plots.values():
                plot.clear()
            self._items = {}
            self._labels = labels
            self.legend.setText(legend_html(curves))
        self.plots["loss"].setLabel("left", loss_label(curves))
        for i, curve in enumerate(curves):
            for metric, plot in self.plots.items():
                self._draw_curve(plot, metric, curve, pg.mkColor(*PALETTE[i % len(PALETTE)]))

    def _draw_curve(self, plot: pg.PlotWidget, metric: str, curve: Curve, colour: Any) -> None:  # noqa: ANN401
        folder = any(p.images > 1 for p in curve.points)
        pts = [(p, getattr(p, metric)) for p in curve.points if math.isfinite(getattr(p, metric).mean)]
        x = np.array([p.hidden_fraction for p, _ in pts])
        y = np.array([st.mean for _, st in pts])
        d = np.nan_to_num(np.array([st.ci95 if folder else st.std for _, st in pts]))
        spots = [{"pos": (xi, yi), "data": (curve.label, p.strategy), "size": 8}
                 for xi, yi, (p, _) in zip(x, y, pts, strict=True)]
        key = (metric, curve.label)
        if key not in self._items:
            self._items[key] = self._new_items(plot, metric, curve, colour)
        low, high, line, scatter = self._items[key]
        low.setData(x, y - d)
        high.setData(x, y + d)
        line.setData(x, y)
        scatter.setData(spots=spots)

    def _new_items(self, plot: pg.PlotWidget, metric: str, curve: Curve, colour: Any) -> tuple[Any, ...]:  # noqa: ANN401
        """A line, a band between two invisible bounds, and hoverable, clickable points."""
        unit = curve.loss_name if metric == "loss" else "dB"
        low, high = pg.PlotDataItem(), pg.PlotDataItem()
        fill = colour.lighter(170)
        fill.setAlpha(80)
        plot.addItem(pg.FillBetweenItem(low, high, brush=fill))
        line = plot.plot([], [], pen=pg.mkPen(colour, width=2), name=curve.label)

        def tip(x: float, y: float, data: tuple[str, str]) -> str:
            return f"{data[0]}\n{data[1]}\n{x:.1%} hidden: {y:.4g} ({unit})"

        scatter = pg.ScatterPlotItem(brush=pg.mkBrush(colour), pen=None, hoverable=True, tip=tip)
        scatter.sigClicked.connect(lambda _s, points, *_: len(points) and self._clicked(points[0].data()[1]))
        plot.addItem(scatter)
        return low, high, line, scatter
