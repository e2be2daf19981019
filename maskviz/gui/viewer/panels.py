"""ResultPanels: the reconstruction pictures, side by side, zoomed and panned together.

Six equal cells: original, masked input, reconstruction, reconstruction + visible, error heatmap,
and the baseline fill (empty, with a hint, while no baseline is chosen). Every cell is the same size
and has the same strip under its picture (the error cell's colour bar, blank elsewhere), so an
aspect-locked view shows the same image region in each. The cells fill the area in the arrangement
(3×2, 2×3, 6×1 or 1×6) that gives the largest pictures; they scale down before the area scrolls,
and it scrolls only vertically (one column) when even that is too small. The arrangement follows
the area's size, never an option. The hover readout sits below the grid, three lines high.

The error heatmap is coloured by :func:`maskviz.figures.heat_rgb` with the visible (unscored)
patches greyed out and the colour range of :func:`maskviz.figures.error_scales`: the picture the
CLI, the exports and Compare draw for the same result.

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
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from maskviz.figures import Heat, error_scales, error_values, heat_rgb, hidden_pixels, nice_ceiling
from maskviz.gui.state import ViewerState
from maskviz.gui.viewer.panel_cells import STRIP, TITLE, PanelCell, hover_lines

PANELS = (
    ("original", "original"),
    ("masked", "masked input"),
    ("prediction", "reconstruction"),
    ("pasted", "reconstruction + visible"),
    ("error", "error"),
)
ORDER = ("original", "masked", "prediction", "pasted", "error", "baseline")  # reading order in any arrangement
ARRANGEMENTS = ((3, 2), (2, 3), (6, 1), (1, 6))  # (rows, columns)
HEATMAP_MODES = ("pixel", "patch")
UNNORMALIZE_LABELS = {"true-patch": "true-patch statistics", "visible": "visible-patch statistics"}
COLORMAP = "inferno"
HOVER_HINT = "hover a panel or the canvas to see a patch's index, loss and state"
NOTHING_HIDDEN = "Nothing is hidden, so there is nothing to reconstruct: paint on the canvas or pick a pattern."
BASELINE_HINT = "baseline: none (View → Baseline)"
MIN_SIDE = 80  # the smallest picture worth showing; below it the grid scrolls (vertically)
READOUT_LINES = 3
BAR_LABEL_GAP = 8  # pixels between two colour-bar labels


def bar_tick_step(lo: float, hi: float, fits: Callable[[list[float], float], bool]) -> float:
    """The finest step of 1, 2, 2.5 or 5 × 10^k whose labels inside ``(lo, hi)`` (labels at the very
    ends do not fit the bar) ``fits(values, step)`` side by side; the widest with one label otherwise."""
    step = best = nice_ceiling(hi - lo)
    for _ in range(40):
        values = [k * step for k in range(math.ceil(lo / step), math.floor(hi / step) + 1) if lo < k * step < hi]
        if values and not fits(values, step):
            break
        if values:
            best = step
        mantissa = round(step / 10 ** math.floor(math.log10(step)), 1)
        step *= {5.0: 0.5, 2.5: 0.8, 2.0: 0.5}.get(mantissa, 0.5)  # 5 → 2.5 → 2 → 1 → 0.5 (× 10^k)
    return best


def best_arrangement(width: int, height: int, spacing: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((rows, cols), (cell width, cell height))`` of six equal cells in a ``width`` × ``height`` area.

    The arrangement with the largest picture (a square view above its title and strip) that is at
    least :data:`MIN_SIDE`; the cells share the whole area. When none fits, one column of
    :data:`MIN_SIDE` pictures (or the area's width, if narrower) that scrolls vertically.
    """
    best = None
    for rows, cols in ARRANGEMENTS:
        w = (width - (cols - 1) * spacing) // cols
        h = (height - (rows - 1) * spacing) // rows
        side = min(w, h - TITLE - STRIP)
        if side >= MIN_SIDE and (best is None or side > best[0]):
            best = side, (rows, cols), (w, h)
    if best is not None:
        return best[1], best[2]
    w = max(1, width)
    return (6, 1), (w, max(MIN_SIDE, min(w, 2 * MIN_SIDE)) + TITLE + STRIP)


class ResultPanels(QWidget):
    """The result views plus a hover readout and (for norm-pix models) the un-normalisation choice."""

    hovered = Signal(int, int, int)  # patch row, col, flat index (-1s outside)

    def __init__(self, state: ViewerState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else ViewerState(self)
        self._levels: dict[str, tuple[float, float]] = {}
        self._shown: dict[str, np.ndarray | None] = {}  # the arrays the picture panels were last given
        self._provisional: tuple[Any, tuple[float, float]] = (None, (0.0, 1.0))  # a streaming picture's range
        self._readout = ""
        self.cells: dict[str, PanelCell] = {}
        self._build_cells()
        self.plots = {key: self.cells[key].plot for key, _ in PANELS}
        self.images = {key: self.cells[key].image for key, _ in PANELS}
        self.baseline_plot, self.baseline_image = self.cells["baseline"].plot, self.cells["baseline"].image
        self.info = QLabel(HOVER_HINT, self)
        self.info.setWordWrap(True)
        self.info.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
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
        self.arrangement = ARRANGEMENTS[0]
        titles = dict(PANELS) | {"baseline": BASELINE_HINT}
        for i, key in enumerate(ORDER):
            cell = self.cells[key] = PanelCell(titles[key], self.grid_widget)
            cell.scene().sigMouseMoved.connect(lambda pos, c=cell: self._on_mouse_moved(c, pos))
            cell.scene().sigMouseClicked.connect(lambda ev, c=cell: self._on_mouse_clicked(c, ev))
            self.grid.addWidget(cell, *divmod(i, self.arrangement[1]))
            view = cell.plot.getViewBox()
            view.sigRangeChangedManually.connect(lambda *_, v=view: self.state.view.set_region(v.targetRect(), v))
            if key != "error":
                cell.set_strip(pg.LabelItem(""))
        # The bar only shows the range and lets the user drag it; the picture is coloured by heat_rgb.
        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=COLORMAP, interactive=True, width=12,
                                        orientation="horizontal")
        self.colorbar.sigLevelsChanged.connect(self._on_bar_levels)
        self.colorbar.sigLevelsChangeFinished.connect(self._remember_levels)
        self.cells["error"].set_strip(self.colorbar)
        self.scroll = QScrollArea(self)
        self.scroll.setWidget(self.grid_widget)
        self.scroll.setWidgetResizable(False)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
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
        s.pictureChanged.connect(lambda _note: self._on_new_inputs())  # another view: another picture
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
        """The picture side of the current arrangement (see :meth:`cell_size`)."""
        width, height = self.cell_size()
        return min(width, height - TITLE - STRIP)

    def cell_size(self) -> tuple[int, int]:
        """Each cell's (width, height) for the visible area; sets :attr:`arrangement`."""
        vp = self.scroll.viewport().size()
        self.arrangement, (width, height) = best_arrangement(vp.width(), vp.height(), self.grid.spacing())
        return width, height

    def natural_width(self) -> int:
        """The area's width at which the default 3×2 cells hold square pictures as tall as the height allows."""
        rows, cols = ARRANGEMENTS[0]
        spacing = self.grid.spacing()
        side = (self.scroll.viewport().height() - (rows - 1) * spacing) // rows - TITLE - STRIP
        margins = self.width() - self.scroll.viewport().width()
        return cols * max(MIN_SIDE, side) + (cols - 1) * spacing + margins

    def _fit_cells(self) -> None:
        width, height = self.cell_size()
        rows, cols = self.arrangement
        for i, key in enumerate(ORDER):
            cell = self.cells[key]
            if self.grid.getItemPosition(self.grid.indexOf(cell))[:2] != divmod(i, cols):
                self.grid.removeWidget(cell)
                self.grid.addWidget(cell, *divmod(i, cols))
            cell.setFixedSize(width, height)
        self.grid_widget.setFixedSize(cols * width + (cols - 1) * self.grid.spacing(),
                                      rows * height + (rows - 1) * self.grid.spacing())
        self._fit_bar_ticks()

    def _fit_bar_ticks(self) -> None:
        """As many colour-bar labels as fit side by side, at 1, 2 or 5 × 10^k: pyqtgraph's own spacing
        wants two intervals at least, and on a narrow cell "0.02 0.04 0.06 0.08" ran into each other."""
        lo, hi = self.colorbar.levels()
        axis = self.colorbar.axis
        metrics = QFontMetrics(axis.style["tickFont"] or axis.font())
        length = max(1, self.cells["error"].width() - 24)

        def fits(values: list[float], step: float) -> bool:
            widest = max(metrics.horizontalAdvance(t) for t in axis.tickStrings(values, 1.0, step))
            return widest + BAR_LABEL_GAP <= length * step / (hi - lo)

        if hi > lo:
            step = bar_tick_step(lo, hi, fits)
            axis.setTickSpacing(step, step / 2)

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
        self._levels.clear()  # a new image, model or view sets a fresh heatmap range
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
            elif array is not self._shown.get(key):  # streaming tiles: the original stays the same array
                self.images[key].setImage(np.ascontiguousarray(array), levels=(0.0, 1.0), autoLevels=False)
        self._shown = shown
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
        return np.ascontiguousarray(error_values(self.result, self.heatmap_mode), dtype=np.float32)

    def heatmap(self) -> Heat | None:
        """The error heatmap as shown: values, colour range and the greyed-out visible patches."""
        r = self.result
        if r is None or r.loss is None:
            return None
        lo, hi = self._range()
        return Heat(self._heatmap_values(), lo, hi, COLORMAP, self.title("error"), ~hidden_pixels(r))

    def _default_levels(self) -> tuple[float, float]:
        """The range ``maskviz reconstruct`` colours this result with (the hidden pixels' rounded 99th percentile)."""
        (top,) = error_scales([self.result], self.heatmap_mode).values()
        return 0.0, top

    def _range(self) -> tuple[float, float]:
        """The colour range: the one kept for this image, model and view, else this result's, kept from
        the first whole result on (a picture still streaming in is not scored everywhere)."""
        mode = self.heatmap_mode
        if mode in self._levels:
            return self._levels[mode]
        outcome = self.state.result  # a streaming run's pictures share one range (percentiles cost ~7 ms)
        key = (outcome.id, id(self.result) if not outcome.partial else "partial", mode)
        if self._provisional[0] != key:
            self._provisional = (key, self._default_levels())
        if not self.state.result.partial:
            self._levels[mode] = self._provisional[1]
        return self._provisional[1]

    def _show_heatmap(self) -> None:
        if self.result is None or self.result.loss is None:
            self.images["error"].clear()
            return
        levels = self._range()
        self.colorbar.blockSignals(True)  # the bar follows the state here; it redraws on a user's drag only
        self.colorbar.setLevels(levels)
        self.colorbar.blockSignals(False)
        self._fit_bar_ticks()
        self._draw_heatmap()

    def _draw_heatmap(self) -> None:
        heat = self.heatmap()
        if heat is not None:
            self.images["error"].setImage(heat_rgb(heat), levels=(0, 255), autoLevels=False)

    def _on_bar_levels(self, bar: pg.ColorBarItem) -> None:
        """A drag on the colour bar recolours the picture (the range is kept when the drag ends)."""
        if self.result is not None and self.result.loss is not None:
            self._levels[self.heatmap_mode] = tuple(float(v) for v in bar.levels())
            self._fit_bar_ticks()
            self._draw_heatmap()

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
        # Where "original · tiles 1024x768 px" does not fit, the view alone says more than "original".
        self.cells["original"].set_title("original" if view == "model" else f"original · {view}", (view,))
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

    def _on_mouse_clicked(self, cell: PanelCell, event: Any) -> None:  # noqa: ANN401 - MouseClickEvent
        if event.button() == Qt.MouseButton.LeftButton and cell.plot.sceneBoundingRect().contains(event.scenePos()):
            point = cell.plot.getViewBox().mapSceneToView(event.scenePos())
            self.state.view.click(math.floor(point.x()), math.floor(point.y()))

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
        if lines:  # three lines: where (patch and pixel), its loss, hidden or visible
            patch, loss, where, pixel = lines
            self.info.setText(f"{patch} · {pixel}\n{loss}\n{where}")
        elif self.result is not None and self.result.loss is None:
            self.info.setText(NOTHING_HIDDEN)
        else:
            self.info.setText(HOVER_HINT)
        return lines
