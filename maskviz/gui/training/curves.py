"""The training curves: train loss (EMA line over faint raw dots) and validation points against step.

A view of the shown run's :class:`~maskviz.train.monitor.RunHistory`: it redraws when new events
arrive or another run is shown. The starting model's validation is a dashed line; log scale on demand.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from maskviz.gui.training.state import TrainingState
from maskviz.train.monitor import RunHistory

TRAIN_PEN = pg.mkPen((31, 119, 180), width=2)
RAW_BRUSH = pg.mkBrush(31, 119, 180, 60)
VAL_PEN = pg.mkPen((230, 110, 20), width=2)
START_PEN = pg.mkPen((136, 136, 136), width=1, style=Qt.PenStyle.DashLine)


class TrainCurves(QWidget):
    def __init__(self, state: TrainingState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.plot_widget = pg.PlotWidget(self, background="w")
        self.plot_widget.setMinimumHeight(110)  # a short dock scrolls its form rather than hide the curves
        plot = self.plot = self.plot_widget.getPlotItem()
        plot.setLabel("bottom", "step")
        plot.setLabel("left", "loss")
        plot.showGrid(x=True, y=True, alpha=0.3)
        plot.setMenuEnabled(False)
        for axis in ("left", "bottom"):
            plot.getAxis(axis).enableAutoSIPrefix(False)  # "loss (x0.001)" reads worse than 0.3
        self.raw_item = plot.plot([], [], pen=None, symbol="o", symbolSize=3, symbolPen=None,
                                  symbolBrush=RAW_BRUSH, name="train loss (each step)")
        self.train_item = plot.plot([], [], pen=TRAIN_PEN, name="train loss (smoothed)")
        self.train_item.setClipToView(True)
        self.val_item = plot.plot([], [], pen=VAL_PEN, symbol="o", symbolSize=7, symbolBrush=(230, 110, 20),
                                  symbolPen=None, name="val loss")
        self.start_line = pg.InfiniteLine(angle=0, pen=START_PEN, movable=False)
        self.start_line.hide()
        plot.addItem(self.start_line)
        self.log_box = QCheckBox("log scale", self)
        self.log_box.setToolTip("Show the loss axis on a log scale (small late changes become visible)")
        self.log_box.toggled.connect(self._set_log)
        # A caption, not a legend: a legend box sits on top of the newest points.
        # Non-breaking spaces inside each entry: a narrow dock wraps between entries, never inside one.
        entries = (("#1f77b4", "━", "train (dots: each step)"), ("#e66e14", "●", "validation"),
                   ("#888", "┄", "starting model"))
        self.caption = caption = QLabel(" · ".join(f"<span style='color:{colour}'>{mark}</span>&nbsp;"
                                                   + text.replace(" ", "&nbsp;") for colour, mark, text in entries),
                                        self, wordWrap=True)
        caption.setToolTip("Train loss smoothed over ~20 steps (EMA); validation on the held-out images with "
                           "fixed crops and masks, from the starting model (step 0) on")
        row = QHBoxLayout()
        row.addWidget(caption, 1)
        row.addWidget(self.log_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot_widget, 1)
        layout.addLayout(row)
        state.runChanged.connect(self._draw)
        state.historyChanged.connect(self._draw)
        self._draw()

    def _set_log(self, on: bool) -> None:
        self.plot.setLogMode(y=on)
        self._draw()

    def _draw(self) -> None:
        shown = self.state.shown
        h = shown.history if shown is not None else RunHistory()
        xs = np.asarray(h.steps, float)
        self.raw_item.setData(xs, np.asarray(h.losses, float))
        self.train_item.setData(xs, np.asarray(h.smoothed, float))
        self.val_item.setData(np.asarray(h.val_steps, float), np.asarray(h.val_losses, float))
        start = h.start_val
        if start is not None:
            self.start_line.setValue(math.log10(start) if self.log_box.isChecked() else start)
        self.start_line.setVisible(start is not None)
