"""ExplainView: the Explain dock's widget, drawing an :class:`~maskviz.gui.explain.state.ExplainState`.

A method picker (attention, rollout, gradient, occlusion, features, spread) with its settings (layer
and head, number of masks), whether the target follows the pointer, the picture, progress with a
Cancel button, a status line and the exports. The picture is the last panel of the figure
``maskviz explain --out`` draws for the same inputs (the outcome's pixels, drawn as they are: the same
colour map and range), with the target boxed and the colour bar of its range beside it.

Moving over the picture moves the viewer's pointer (``state.view.hover``) and a click is the viewer's
click (``state.view.click``), as in the result panels: the controller makes the clicked patch the
target, pinned. The view keeps no result of its own.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGraphicsRectItem,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from maskviz.explain.jobs import KEPT_FORWARD, METHODS
from maskviz.gui.explain.controller import ExplainController
from maskviz.gui.explain.state import ExplainState
from maskviz.gui.state import ViewerState
from maskviz.gui.viewer.canvas import TILE_RGBA

LABELS = {"attention": "attention (one layer)", "rollout": "attention rollout", "gradient": "gradient",
          "occlusion": "occlusion", "features": "encoder features (PCA)", "spread": "spread over masks"}
HINTS = {"attention": "the target token's attention weights in one layer (hover a hidden patch)",
         "rollout": "attention rolled out through every layer to the visible patches (hover a hidden patch)",
         "gradient": "how much each visible patch's pixels move the target's loss (click a hidden patch)",
         "occlusion": "how much the target's prediction changes when each visible patch is hidden too "
                      "(click a hidden patch; one forward per visible patch)",
         "features": "the encoder's tokens as colours; hover a patch for its similarity to all others",
         "spread": "how much the reconstruction varies over K masks of the current pattern"}
MARKER = "#00e5ff"  # the figures' target box
STRIP = 44  # the colour bar under the picture, its ticks and their labels


class ExplainView(QWidget):
    """Controls, picture with colour bar, progress and exports, for one explain state."""

    def __init__(self, state: ExplainState, controller: ExplainController, viewer: ViewerState,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.controller, self.viewer = state, controller, viewer
        self._build()
        self._show_lens()
        self._show_outcome()
        self._show_run()
        state.lensChanged.connect(self._show_lens)
        state.outcomeChanged.connect(self._show_outcome)
        state.runChanged.connect(self._show_run)

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        s = self.state
        self.method_box = QComboBox(self)
        for method in METHODS:
            self.method_box.addItem(LABELS[method], method)
        self.method_box.activated.connect(lambda i: s.set_lens(method=self.method_box.itemData(i)))
        self.layer_box = QSpinBox(self, minimum=-1, maximum=99, toolTip="-1: the last layer the target passes")
        self.layer_box.valueChanged.connect(lambda v: s.set_lens(layer=v))
        self.head_box = QComboBox(self)
        self.head_box.addItem("mean of heads", None)
        self.head_box.activated.connect(lambda i: s.set_lens(head=self.head_box.itemData(i)))
        self.masks_box = QSpinBox(self, minimum=2, maximum=256, toolTip="K: how many masks of the pattern")
        self.masks_box.valueChanged.connect(lambda v: s.set_lens(masks=v))
        self.follow_box = QCheckBox("target follows the pointer", self)
        self.follow_box.toggled.connect(s.set_follow)
        self._build_picture()
        self.caption = QLabel(self, wordWrap=True)
        self.progress = QProgressBar(self, textVisible=False, maximumHeight=12)
        self.cancel_button = QPushButton("Cancel", self, enabled=False)
        self.cancel_button.clicked.connect(lambda: self.controller.cancel())
        self.status = QLabel(self, wordWrap=True)
        layout = QVBoxLayout(self)
        layout.addLayout(self._controls())
        layout.addWidget(self.picture, 1)
        layout.addWidget(self.caption)
        running = QHBoxLayout()
        running.addWidget(self.progress, 1)
        running.addWidget(self.cancel_button)
        layout.addLayout(running)
        layout.addWidget(self.status)
        layout.addLayout(self._exports())

    def _controls(self) -> QGridLayout:
        grid = QGridLayout()
        grid.addWidget(QLabel("Method", self), 0, 0)
        grid.addWidget(self.method_box, 0, 1, 1, 3)
        self.layer_label, self.head_label = QLabel("Layer", self), QLabel("Head", self)
        self.masks_label = QLabel("Masks", self)
        grid.addWidget(self.layer_label, 1, 0)
        grid.addWidget(self.layer_box, 1, 1)
        grid.addWidget(self.head_label, 1, 2)
        grid.addWidget(self.head_box, 1, 3)
        grid.addWidget(self.masks_label, 2, 0)
        grid.addWidget(self.masks_box, 2, 1)
        grid.addWidget(self.follow_box, 3, 0, 1, 4)
        grid.setColumnStretch(3, 1)
        return grid

    def _build_picture(self) -> None:
        self.picture = pg.GraphicsLayoutWidget(self)
        self.picture.setBackground("w")
        self.picture.setMinimumHeight(160)
        self.plot = pg.PlotItem()
        for axis in ("left", "bottom"):
            self.plot.hideAxis(axis)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(False, False)
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.marker = QGraphicsRectItem()
        pen = QPen(QColor(MARKER))
        pen.setCosmetic(True)
        pen.setWidthF(2.0)
        self.marker.setPen(pen)
        self.marker.setVisible(False)
        self.plot.addItem(self.marker)
        self.tile_outline = QGraphicsRectItem()  # tiles view: the model input the map was computed on
        self.tile_outline.setPen(pg.mkPen(TILE_RGBA, width=1.5, style=Qt.PenStyle.DashLine))
        self.tile_outline.setVisible(False)
        self.plot.addItem(self.tile_outline)
        self.picture.addItem(self.plot, row=0, col=0)
        self.picture.ci.layout.setContentsMargins(2, 2, 2, 2)
        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap="inferno", interactive=False, width=12,
                                        orientation="horizontal")
        self.picture.addItem(self.colorbar, row=1, col=0)
        self.picture.ci.layout.setRowFixedHeight(1, STRIP)
        scene = self.picture.scene()
        scene.sigMouseMoved.connect(self._on_mouse_moved)
        scene.sigMouseClicked.connect(self._on_mouse_clicked)

    def _exports(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addStretch(1)
        for text, kind, name in (("Export figure…", "figure", "explain.png"), ("Export JSON…", "json", "explain.json")):
            button = QPushButton(text, self)
            button.clicked.connect(lambda _=False, k=kind, n=name, t=text: self._ask_export(k, n, t))
            row.addWidget(button)
        return row

    # ------------------------------------------------------------------ drawing the state

    def _show_lens(self) -> None:
        lens = self.state.lens
        attention = lens.method == "attention"
        for widget in (self.layer_label, self.layer_box, self.head_label, self.head_box):
            widget.setVisible(attention)
        self.masks_label.setVisible(lens.method == "spread")
        self.masks_box.setVisible(lens.method == "spread")
        self.follow_box.setEnabled(lens.method in KEPT_FORWARD)
        for widget, setter, value in ((self.method_box, "setCurrentIndex", METHODS.index(lens.method)),
                                      (self.layer_box, "setValue", lens.layer),
                                      (self.masks_box, "setValue", lens.masks),
                                      (self.follow_box, "setChecked", self.state.follow)):
            widget.blockSignals(True)
            getattr(widget, setter)(value)
            widget.blockSignals(False)
        self._show_heads()
        self.method_box.setToolTip(HINTS[lens.method])

    def _show_heads(self) -> None:
        """The head picker lists the chosen layer's heads (known once a forward has run)."""
        out, lens = self.state.outcome, self.state.lens
        layers = out.layers if out is not None else []
        if layers:
            self.layer_box.blockSignals(True)
            self.layer_box.setRange(-len(layers), len(layers) - 1)
            self.layer_box.setValue(lens.layer)
            self.layer_box.blockSignals(False)
        heads = layers[lens.layer][1] if layers and -len(layers) <= lens.layer < len(layers) else 0
        self.head_box.blockSignals(True)
        if self.head_box.count() != heads + 1:
            self.head_box.clear()
            self.head_box.addItem("mean of heads", None)
            for h in range(heads):
                self.head_box.addItem(f"head {h}", h)
        index = self.head_box.findData(lens.head)
        self.head_box.setCurrentIndex(max(0, index))
        self.head_box.blockSignals(False)

    def _show_outcome(self) -> None:
        out = self.state.outcome
        if out is None:
            self.image.clear()
            self.marker.setVisible(False)
            self.tile_outline.setVisible(False)
            self.colorbar.setVisible(False)
            self.caption.setText("")
            return
        panel = out.panel
        self.image.setImage(out.picture, levels=(0, 255))
        tile = self.tile_rect(out)
        self.tile_outline.setVisible(tile is not None)
        if tile is not None:  # a tile of a large picture is a few pixels: show that model input, and around it
            self.tile_outline.setRect(tile)
            self.plot.setRange(tile.adjusted(-tile.width() / 2, -tile.height() / 2, tile.width() / 2,
                                             tile.height() / 2), padding=0)
        else:
            h, w = out.picture.shape[:2]
            self.plot.setRange(QRectF(0, 0, w, h), padding=0.02)
        markers = list(panel.markers)
        self.marker.setVisible(bool(markers))
        if markers:
            m = markers[0]
            self.marker.setRect(QRectF(m.x, m.y, m.width, m.height))
        heat = panel.heat
        self.colorbar.setVisible(heat is not None)
        if heat is not None:
            self.colorbar.setLevels((heat.vmin, heat.vmax))
            self.colorbar.setColorMap(pg.colormap.get(heat.cmap))
        self.caption.setText(self._caption(out))
        self._show_heads()

    @staticmethod
    def tile_rect(out) -> QRectF | None:  # noqa: ANN001 - LensOutcome
        """The tile (pixels of the picture) a tiles-view map was computed on; None for any other map."""
        params = getattr(out.result, "params", None) or {}
        if "tile_rows" not in params:
            return None
        p = out.picture.shape[1] // out.result.values.shape[1]
        (r0, r1), (c0, c1) = params["tile_rows"], params["tile_cols"]
        return QRectF(c0 * p, r0 * p, (c1 - c0 + 1) * p, (r1 - r0 + 1) * p)

    @staticmethod
    def _caption(out) -> str:  # noqa: ANN001 - LensOutcome
        heat = out.panel.heat
        if out.result is None:
            return out.panel.title
        target = getattr(out.result, "target", None) or (out.similarity.target if out.similarity else None)
        parts = [out.panel.title]
        if target is not None:
            parts.append(f"target patch (row {target[0]}, col {target[1]})")
        if heat is not None:
            parts.append(f"colour: {heat.unit}, {heat.vmin:g} – {heat.vmax:g}")
        finite = None if heat is None else heat.values[np.isfinite(heat.values)]
        if finite is not None and finite.size < heat.values.size:
            parts.append("grey: no value")
        return "; ".join(parts)

    def _show_run(self) -> None:
        s = self.state
        self.cancel_button.setEnabled(s.running)
        if s.running and s.total <= 1:
            self.progress.setRange(0, 0)  # busy: one forward, no steps to count
        else:
            self.progress.setRange(0, max(1, s.total))
            self.progress.setValue(s.done if s.running else 0)
        self.status.setText(s.status)

    # ------------------------------------------------------------------ the pointer and clicks

    def _pixel(self, scene_pos) -> tuple[int, int] | None:  # noqa: ANN001 - QPointF
        if self.state.outcome is None or not self.plot.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.plot.vb.mapSceneToView(scene_pos)
        h, w = self.state.outcome.picture.shape[:2]
        x, y = int(np.floor(p.x())), int(np.floor(p.y()))
        return (x, y) if 0 <= x < w and 0 <= y < h else None

    def _on_mouse_moved(self, pos) -> None:  # noqa: ANN001 - QPointF
        pixel = self._pixel(pos)
        self.viewer.view.set_hover(*(pixel or (-1, -1)))

    def _on_mouse_clicked(self, event) -> None:  # noqa: ANN001 - MouseClickEvent
        pixel = self._pixel(event.scenePos())
        if pixel is not None and event.button() == Qt.MouseButton.LeftButton:
            self.viewer.view.click(*pixel)

    def _ask_export(self, kind: str, name: str, text: str) -> None:
        filters = "Figures (*.png *.svg *.pdf)" if kind == "figure" else "JSON (*.json)"
        path, _ = QFileDialog.getSaveFileName(self, text.rstrip("…"), name, filters)
        if path:
            self.controller.export(kind, path)
