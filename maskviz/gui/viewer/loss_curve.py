"""LossCurve: the model's masked-region loss against the fraction hidden, with the current mask marked.

It draws the state's :class:`~maskviz.gui.state.Curve` (filled in by the controller from
:func:`maskviz.sweep.loss_sweep`, one forward at a time) and the state's result: each seed as a dot,
the mean as a line, the min–max spread as a band, and a star at the current mask's (hidden
fraction, loss). The x axis is the fraction *really* hidden (a coarse pattern can hide more than it
was asked to), always 0–1 with room for a star at 1.0; the y axis is in plain units, like the status
line. Hovering shows the nearest point's numbers; clicking a dot applies that ratio and seed.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from maskviz import masks
from maskviz.figures import loss_unit
from maskviz.gui.state import ViewerState

MEAN_PEN = pg.mkPen((31, 119, 180), width=2)
BAND_BRUSH = pg.mkBrush(31, 119, 180, 60)
MARKER_BRUSH = pg.mkBrush(230, 60, 40)
X_MARGIN = 0.05  # room for a marker at 0 or 1
HOVER_PIXELS = 12  # how near the pointer must be to a point to show its numbers


class LossCurve(QWidget):
    """A pyqtgraph plot of loss vs hidden fraction that redraws on the state's signals."""

    pointClicked = Signal(float, int)  # the nominal ratio and seed of a clicked dot

    def __init__(self, state: ViewerState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else ViewerState(self)
        self.plot_widget = pg.PlotWidget(self, background="w")
        self.plot_widget.setMinimumSize(220, 160)
        plot = self.plot = self.plot_widget.getPlotItem()
        plot.setLabel("bottom", "fraction of patches hidden")
        plot.setLabel("left", "masked-region loss")
        for axis in ("left", "bottom"):
            plot.getAxis(axis).enableAutoSIPrefix(False)  # "0.6", as the status line says, not "600 (x0.001)"
        plot.showGrid(x=True, y=True, alpha=0.3)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        view = plot.getViewBox()
        view.setMouseEnabled(x=False, y=False)
        view.setXRange(-X_MARGIN, 1 + X_MARGIN, padding=0)
        view.enableAutoRange(x=False, y=True)
        self._low = pg.PlotCurveItem(pen=pg.mkPen(None))  # invisible edges; the band between them is the fill
        self._high = pg.PlotCurveItem(pen=pg.mkPen(None))
        self.band = pg.FillBetweenItem(self._low, self._high, brush=BAND_BRUSH)
        self.mean_curve = plot.plot([], [], pen=MEAN_PEN)
        self.seed_dots = pg.ScatterPlotItem(size=7, brush=pg.mkBrush(31, 119, 180, 150), pen=None, hoverable=True)
        self.marker_item = pg.ScatterPlotItem(size=16, symbol="star", brush=MARKER_BRUSH, pen=pg.mkPen("k"))
        for item in (self._low, self._high, self.seed_dots, self.marker_item):
            plot.addItem(item)
        plot.addItem(self.band, ignoreBounds=True)  # an empty band's (0, 0) bounds would pin the y axis to 0
        # A caption instead of a legend: a legend overlay hides points and is cut in a narrow dock.
        self.caption = QLabel("line: mean over seeds · band: min–max · dots: each seed (click one to use its "
                              "ratio and seed) · ★ current mask", self)
        self.caption.setWordWrap(True)
        self.hover_label = QLabel("", self)
        self.status = QLabel("", self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget, 1)
        layout.addWidget(self.hover_label)
        layout.addWidget(self.caption)
        layout.addWidget(self.status)
        self.seed_dots.sigClicked.connect(self._on_clicked)
        self.plot_widget.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.state.curveChanged.connect(self._redraw)
        self.state.modelChanged.connect(self._name_unit)
        self.state.resultChanged.connect(self._draw_marker)
        self.state.pictureChanged.connect(lambda _note: self._redraw())
        self._redraw()

    def _name_unit(self) -> None:
        """The loss axis names the model's loss (MSE, L1, norm-pix MSE), as every figure does."""
        model = self.state.model
        unit = "" if model is None else loss_unit(model.config.loss_name)
        self.plot.setLabel("left", f"masked-region loss ({unit})" if unit else "masked-region loss")

    # ------------------------------------------------------------------ reading the state

    @property
    def points(self) -> tuple:
        return self.state.curve.points

    @property
    def complete(self) -> bool:
        """Every ratio has all its seeds (what tests and the benchmark wait for)."""
        return self.state.curve.complete

    @property
    def marker(self) -> tuple[float, float] | None:
        """(hidden fraction, loss) of the result on screen; None when nothing is hidden, or when the
        result is a whole picture's (the curve is the model input's)."""
        outcome = self.state.result
        if outcome is None or outcome.view != "model" or outcome.result.loss is None:
            return None
        return masks.mask_ratio(outcome.result.mask), float(outcome.result.loss)

    def _redraw(self) -> None:
        c = self.state.curve
        where = " · model input" if self.state.picture is not None else ""  # the tiles/native views' is not swept
        self.plot.setTitle(f"{c.family} masks · {len(c.seeds)} seeds{where}" if c.family else "", size="9pt")
        pts = sorted(c.points, key=lambda p: p.actual)
        x = np.array([p.actual for p in pts], dtype=float)
        self.mean_curve.setData(x, np.array([p.mean for p in pts], dtype=float))
        self._low.setData(x, np.array([p.low for p in pts], dtype=float))
        self._high.setData(x, np.array([p.high for p in pts], dtype=float))
        spots = [{"pos": (hidden, loss), "data": (p.ratio, c.seeds[i] if i < len(c.seeds) else i, hidden, loss)}
                 for p in pts for i, (loss, hidden) in enumerate(zip(p.losses, p.hidden or (p.ratio,) * len(p.losses),
                                                                     strict=False))]
        self.seed_dots.setData(spots)
        self.status.setText(c.status)
        self.status.setVisible(bool(c.status))
        self._draw_marker()

    def _draw_marker(self) -> None:
        m = self.marker
        self.marker_item.setData([] if m is None else [m[0]], [] if m is None else [m[1]])

    # ------------------------------------------------------------------ hover and click

    def _on_mouse_moved(self, pos: QPointF) -> None:
        """The numbers of the point nearest the pointer (within a few pixels)."""
        best, best_d = None, HOVER_PIXELS
        for spot in self.seed_dots.points():
            scene = self.seed_dots.mapToScene(spot.pos())
            d = (scene - pos).manhattanLength()
            if d < best_d:
                best, best_d = spot, d
        self.hover_label.setText("" if best is None else self.describe(best.data()))

    @staticmethod
    def describe(data: tuple[float, int, float, float]) -> str:
        ratio, seed, hidden, loss = data
        asked = "" if abs(hidden - ratio) < 0.005 else f" (asked {ratio * 100:g} %)"
        return f"hides {hidden * 100:.1f} %{asked} · seed {seed} · loss {loss:.4f} · click to use this mask"

    def _on_clicked(self, _item: pg.ScatterPlotItem, points, _ev=None) -> None:  # noqa: ANN001
        if len(points):
            ratio, seed, _hidden, _loss = points[0].data()
            self.pointClicked.emit(float(ratio), int(seed))
