"""ResultPanels: the reconstruction pictures, side by side, zoomed and panned together.

Six equal cells in a 2×3 grid: original, masked input, reconstruction, reconstruction + visible,
error heatmap, and the baseline fill (empty, with a hint, while no baseline is chosen). Every cell
is the same size and has the same strip under its picture (the error cell's colour bar, blank
elsewhere), so an aspect-locked view shows the same image region in each; the grid never changes
shape when an option does, and when the area is too small for the smallest readable cell it
scrolls instead of clipping. The hover readout sits below the grid, a fixed number of lines high.

The panels draw :class:`~maskviz.gui.state.ViewerState` and nothing else: the result, the baseline,
the heatmap mode, the model's norm-pix choice, the pointer (``state.view.hover``) and the mask (for
the hover readout) come from it, on its signals.

Zoom and pan are the state's too (``state.view.region``), not ``ViewBox.setXLink/setYLink``:
pyqtgraph's links copy one axis at a time, and with aspect-locked views of different shapes each
view's aspect correction is copied back to the others, so views drifted to ranges several times
the image. A user zoom or pan in any view sets the region; every view (the canvas too) fits it.
Images are uploaded row-major with fixed levels, and the heatmap's colour range stays fixed while
the user paints: levels that jumped on every stroke would make two masks impossible to compare by eye.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from maskviz.figures import nice_ceiling
from maskviz.gui.state import ViewerState
from maskviz.gui.viewer.panel_cells import STRIP, TITLE, PanelCell, hover_lines

PANELS = (
    ("original", "original"),
    ("masked", "masked input"),
    ("prediction", "reconstruction"),
    ("pasted", "reconstruction + visible"),
    ("error", "error"),
)
CELLS = {"original": (0, 0), "masked": (0, 1), "prediction": (1, 0), "pasted": (1, 1), "error": (2, 0),
         "baseline": (2, 1)}
HEATMAP_MODES = ("pixel", "patch")
UNNORMALIZE_LABELS = {"true-patch": "true-patch statistics", "visible": "visible-patch statistics"}
COLORMAP = "inferno"
HOVER_HINT = "hover a panel or the canvas to see a patch's index, loss and state"
NOTHING_HIDDEN = "Nothing is hidden, so there is nothing to reconstruct: paint on the canvas or pick a pattern."
BASELINE_HINT = "baseline: none (View → Baseline)"
MIN_SIDE = 120  # the smallest picture worth showing; below it the grid scrolls
READOUT_LINES = 2


class ResultPanels(QWidget):
    """The result views plus a hover readout and (for norm-pix models) the un-normalisation choice."""

    hovered = Signal(int, int, int)  # patch row, col, flat index (-1s outside)

    def __init__(self, state: ViewerState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else ViewerState(self)
        self._levels: dict[str, tuple[float, float]] = {}
        self._readout = ""
        self.cells: dict[str, PanelCell] = {}
        self._build_cells()
        self.plots = {key: self.cells[key].plot for key, _ in PANELS}
        self.images = {key: self.cells[key].image for key, _ in PANELS}
        self.baseline_plot, self.baseline_image = self.cells["baseline"].plot, self.cells["baseline"].image
        self.info = QLabel(HOVER_HINT, self)
        self.info.setWordWrap(True)
        self.info.setFixedHeight(self.info.fontMetrics().lineSpacing() * READOUT_LINES + 6)
        self.unnormalize_box = QComboBox(self)
        for mode, label in UNNORMALIZE_LABELS.items():
            self.unnormalize_box.addItem(f"norm-pix display: {label}", mode)
        self.unnormalize_box.setToolTip(
            "This model predicts per-patch normalised pixels. 'true-patch' restores each hidden patch with its "
            "true mean and variance (the usual demo convention; it leaks information the model never saw). "
            "'visible' uses statistics of the visible patches only (honest, approximate).")
        self.unnormalize_box.activated.connect(
            lambda _i: self.state.set_option("unnormalize", self.unnormalize_box.currentData()))
        self.unnormalize_box.setVisible(False)
        self._lay_out()
        self._connect_state()

    def _build_cells(self) -> None:
        self.grid_widget = QWidget()
        self.grid = QGridLayout(self.grid_widget)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        titles = dict(PANELS) | {"baseline": BASELINE_HINT}
        for key, (row, col) in CELLS.items():
            cell = self.cells[key] = PanelCell(titles[key], self.grid_widget)
            cell.scene().sigMouseMoved.connect(lambda pos, c=cell: self._on_mouse_moved(c, pos))
            self.grid.addWidget(cell, row, col)
            view = cell.plot.getViewBox()
            view.sigRangeChangedManually.connect(lambda *_, v=view: self.state.view.set_region(v.targetRect(), v))
            if key != "error":
                cell.set_strip(pg.LabelItem(""))
        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=COLORMAP, interactive=True, width=12,
                                        orientation="horizontal")
        self.colorbar.setImageItem(self.cells["error"].image)
        self.colorbar.sigLevelsChangeFinished.connect(self._remember_levels)
        self.cells["error"].set_strip(self.colorbar)
        self.scroll = QScrollArea(self)
        self.scroll.setWidget(self.grid_widget)
        self.scroll.setWidgetResizable(False)
        self.scroll.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.scroll.viewport().installEventFilter(self)

    def _lay_out(self) -> None:
        bottom = QHBoxLayout()
        bottom.addWidget(self.info, 1)
        bottom.addWidget(self.unnormalize_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll, 1)
        layout.addLayout(bottom)

    def _connect_state(self) -> None:
        s = self.state
        s.resultChanged.connect(self._show_result)
        s.pictureChanged.connect(lambda _note: self._update_titles())
        s.baselineChanged.connect(self._show_baseline)
        s.optionsChanged.connect(self._on_option)
        s.maskChanged.connect(lambda _final: self._refresh_hover())
        s.imageChanged.connect(self._on_new_inputs)
        s.modelChanged.connect(self._on_new_inputs)
        s.modelChanged.connect(lambda: self.set_norm_pix(bool(s.model.config.norm_pix_loss)))
        s.view.hoverChanged.connect(self._on_hover)
        s.view.regionChanged.connect(self._show_region)
        self._show_region(s.view.region, None)

    # ------------------------------------------------------------------ sizes: equal cells, never clipped

    def eventFilter(self, obj: QObject, event) -> bool:  # noqa: ANN001 - QEvent
        if obj is self.scroll.viewport() and event.type() == event.Type.Resize:
            self._fit_cells()
        return super().eventFilter(obj, event)

    def cell_side(self) -> int:
        """The picture side that fits 2×3 cells in the visible area, never below :data:`MIN_SIDE`."""
        vp = self.scroll.viewport().size()
        spacing = self.grid.spacing()
        side = min((vp.width() - spacing) // 2, (vp.height() - 2 * spacing) // 3 - TITLE - STRIP)
        return max(MIN_SIDE, side)

    def _fit_cells(self) -> None:
        side = self.cell_side()
        for cell in self.cells.values():
            cell.setFixedSize(side, side + TITLE + STRIP)
        self.grid_widget.adjustSize()

    # ------------------------------------------------------------------ the shown region

    def _show_region(self, rect: QRectF, source: Any) -> None:
        for cell in self.cells.values():
            view = cell.plot.getViewBox()
            if view is not source:
                view.setRange(rect=QRectF(rect), padding=0)

    def title(self, key: str) -> str:
        """A panel's whole title (the one drawn may be elided to the cell)."""
        return self.cells[key].title

    def widget_for(self, key: str) -> PanelCell:
        """The widget that draws panel ``key`` (for tests and screenshots)."""
        return self.cells[key]

    # ------------------------------------------------------------------ drawing the state

    @property
    def result(self):  # noqa: ANN201 - Reconstruction | None
        """The Reconstruction on screen (the state's)."""
        return None if self.state.result is None else self.state.result.result

    @property
    def result_id(self) -> int:
        return 0 if self.state.result is None else self.state.result.id

    @property
    def baseline(self):  # noqa: ANN201 - Reconstruction | None
        return self.state.baseline_result

    @property
    def baseline_visible(self) -> bool:
        return self.state.options.baseline != "none"

    def _on_new_inputs(self) -> None:
        self._levels.clear()  # a new image or model sets a fresh heatmap range
        self._refresh_hover()

    def _on_option(self, name: str) -> None:
        if name == "heatmap":
            self._show_heatmap()
            self._update_titles()
        elif name == "baseline":
            self._show_baseline()
        elif name == "unnormalize":
            self.set_unnormalize(self.state.options.unnormalize)

    def _show_result(self) -> None:
        """Upload every panel from the state's Reconstruction (nothing is recomputed here)."""
        r = self.result
        nothing = r is None or r.loss is None
        shown = {"original": None if r is None else r.original, "masked": None if r is None else r.masked_input,
                 "prediction": None if nothing else r.prediction, "pasted": None if nothing else r.pasted}
        for key, array in shown.items():
            if array is None:
                self.images[key].clear()
            else:
                self.images[key].setImage(np.ascontiguousarray(array), levels=(0.0, 1.0), autoLevels=False)
        self._show_heatmap()
        self._update_titles()
        self._refresh_hover()

    def _show_baseline(self) -> None:
        """The baseline's ``pasted`` image titled with its fill; blank (with the reason) otherwise."""
        from maskviz.baselines import BASELINE_LABELS

        name, result = self.state.options.baseline, self.state.baseline_result
        if name == "none" or result is None or self.result is None or self.result.loss is None:
            self.baseline_image.clear()
            title = BASELINE_HINT if name == "none" else (self.state.baseline_status or f"baseline: {name}")
            self.cells["baseline"].set_title(title)
            return
        self.baseline_image.setImage(np.ascontiguousarray(result.pasted), levels=(0.0, 1.0), autoLevels=False)
        self.cells["baseline"].set_title(f"baseline: {BASELINE_LABELS.get(name, name)} + visible")

    @property
    def heatmap_mode(self) -> str:
        return self.state.options.heatmap

    def set_heatmap_mode(self, mode: str) -> None:
        """``pixel`` shows the squared error of each pixel; ``patch`` the model's loss per patch."""
        if mode not in HEATMAP_MODES:
            raise ValueError(f"heatmap mode must be one of {HEATMAP_MODES}")
        self.state.set_option("heatmap", mode)

    def clear_levels(self) -> None:
        """Forget the heatmap range, so the next result sets a fresh one (new image or model)."""
        self._levels.clear()

    def _heatmap_values(self) -> np.ndarray:
        r = self.result
        if self.heatmap_mode == "patch":
            p = r.original.shape[0] // r.mask.shape[0]
            values = np.kron(r.patch_loss, np.ones((p, p), dtype=np.float32))
        else:
            values = r.error_map
        return np.ascontiguousarray(np.nan_to_num(values, nan=0.0), dtype=np.float32)

    def heatmap(self) -> tuple[str, np.ndarray, float, float] | None:
        """``(title, values, vmin, vmax)`` as shown, the form ``render_panel`` takes for its heatmap."""
        if self.result is None or self.result.loss is None:
            return None
        lo, hi = self._levels.get(self.heatmap_mode, (0.0, 1.0))
        return self.title("error"), self._heatmap_values(), lo, hi

    def _show_heatmap(self) -> None:
        if self.result is None or self.result.loss is None:
            self.images["error"].clear()
            return
        values = self._heatmap_values()
        levels = self._levels.get(self.heatmap_mode)
        if levels is None:
            levels = (0.0, nice_ceiling(float(np.percentile(values, 99))))
            self._levels[self.heatmap_mode] = levels
        self.images["error"].setImage(values, levels=levels, autoLevels=False)
        self.colorbar.setLevels(levels)

    def _remember_levels(self, bar: pg.ColorBarItem) -> None:
        self._levels[self.heatmap_mode] = tuple(float(v) for v in bar.levels())

    def _update_titles(self) -> None:
        r = self.result
        recon, pasted = "reconstruction", "reconstruction + visible"
        if r is not None and r.norm_pix:
            recon += f" (norm-pix, {UNNORMALIZE_LABELS.get(r.unnormalize, r.unnormalize)})"
        if r is not None and r.problem:  # NaN weights: say so rather than show a silent black panel
            recon += f" — {r.problem}"
        heat = "error per patch (model's loss)" if self.heatmap_mode == "patch" else "error per pixel"
        view = self.state.view_label if self.state.result is None else self.state.result.view
        self.cells["original"].set_title("original" if view == "model" else f"original · {view}")
        if r is not None and self.state.result.partial:
            done, total = self.state.result.progress
            recon += f" ({done} of {total} tiles)"
        if r is not None and r.loss is None:
            recon, pasted, heat = (f"{t}: nothing hidden" for t in (recon, pasted, heat))
        self.cells["prediction"].set_title(recon)
        self.cells["pasted"].set_title(pasted)
        self.cells["error"].set_title(heat)
        self._show_baseline()

    # ------------------------------------------------------------------ options

    def set_norm_pix(self, norm_pix: bool) -> None:
        """Offer the un-normalisation choice only where it means something."""
        self.unnormalize_box.setVisible(norm_pix)

    @property
    def unnormalize(self) -> str:
        return self.unnormalize_box.currentData()

    def set_unnormalize(self, mode: str) -> None:
        index = self.unnormalize_box.findData(mode)
        if index >= 0:
            self.unnormalize_box.setCurrentIndex(index)

    # ------------------------------------------------------------------ hover

    def _on_mouse_moved(self, cell: PanelCell, pos: QPointF) -> None:
        if cell.plot.sceneBoundingRect().contains(pos):
            point = cell.plot.getViewBox().mapSceneToView(pos)
            self.state.view.set_hover(math.floor(point.x()), math.floor(point.y()))
        else:
            self.state.view.set_hover(-1, -1)

    @property
    def readout(self) -> str:
        """The hover readout as plain text (one line per fact, joined by ' · ')."""
        return self._readout

    def _on_hover(self, x: int, y: int) -> None:
        """The patch under the pointer (in any view) in the readout, and as ``hovered``."""
        if self._refresh_hover():
            p, gw = self.state.paint.patch_size, self.state.paint.grid[1]
            row, col = y // p, x // p
            self.hovered.emit(row, col, row * gw + col)
        else:
            self.hovered.emit(-1, -1, -1)

    def _refresh_hover(self) -> list[str]:
        """Redraw the readout for the pointer's patch from the state as it is now."""
        lines = hover_lines(self.state, *self.state.view.hover)
        self._readout = " · ".join(lines)
        if lines:
            self.info.setText(self._readout)
        elif self.result is not None and self.result.loss is None:
            self.info.setText(NOTHING_HIDDEN)
        else:
            self.info.setText(HOVER_HINT)
        return lines
