"""ResultPanels: the reconstruction pictures, side by side, zoomed and panned together.

One ``GraphicsLayoutWidget`` holds five plots (original, masked input, reconstruction,
reconstruction + visible, error heatmap), plus a sixth, "baseline: <fill> + visible", while a
non-learned baseline (:mod:`maskviz.baselines`) is chosen. Their views are linked to each other and to the mask
canvas, so a patch inspected in one panel is the same patch everywhere.

Linking is done by :class:`ViewLinker`, not ``ViewBox.setXLink/setYLink``: pyqtgraph's links copy
one axis at a time, and with aspect-locked views of different shapes (the canvas is taller than a
panel, the heatmap narrower) each view's aspect correction is copied back to the others, so the
views drifted to ranges several times the image. The linker instead gives every view the same
*region* to fit, once per user zoom or pan. Images are uploaded
row-major with fixed levels (pyqtgraph skips its auto-level pass, ux-anchors §3), and the heatmap's
colour range stays fixed while the user paints: levels that jumped on every stroke would make two
masks impossible to compare by eye.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QVBoxLayout, QWidget

from maskviz.figures import nice_ceiling

PANELS = (
    ("original", "original"),
    ("masked", "masked input"),
    ("prediction", "reconstruction"),
    ("pasted", "reconstruction + visible"),
    ("error", "error"),
)
HEATMAP_MODES = ("pixel", "patch")
UNNORMALIZE_LABELS = {"true-patch": "true-patch statistics", "visible": "visible-patch statistics"}
COLORMAP = "inferno"
HOVER_HINT = "hover a panel or the canvas<br>to see a patch's index and loss"


def hover_lines(result, x: int, y: int) -> list[str]:  # noqa: ANN001 - Reconstruction
    """``["patch (row 3, col 5) #47", "loss 0.412", "hidden", "pixel (45, 30)"]``; [] outside the image."""
    if result is None or x < 0 or y < 0:
        return []
    gh, gw = result.mask.shape
    p = result.original.shape[0] // gh
    row, col = y // p, x // p
    if not (0 <= row < gh and 0 <= col < gw):
        return []
    state = "hidden (predicted)" if result.mask[row, col] else "visible (given to the model)"
    return [f"patch (row {row}, col {col}) #{row * gw + col}", f"loss {result.patch_loss[row, col]:.4g}", state,
            f"pixel ({x}, {y})"]


class ViewLinker(QObject):
    """Keeps aspect-locked ViewBoxes showing the same image region, whatever their shapes."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.views: list[pg.ViewBox] = []
        self._syncing = False

    def add(self, view: pg.ViewBox) -> None:
        self.views.append(view)
        view.sigRangeChangedManually.connect(lambda *_: self.follow(view))

    def follow(self, source: pg.ViewBox) -> None:
        """Show the region the user just zoomed or panned ``source`` to in every other view."""
        if not self._syncing:
            self.show_region(source.targetRect(), skip=source)

    def show_region(self, rect: QRectF, skip: pg.ViewBox | None = None) -> None:
        # setRange never emits sigRangeChangedManually, so this cannot echo; the flag is a guard.
        self._syncing = True
        try:
            for view in self.views:
                if view is not skip:
                    view.setRange(rect=QRectF(rect), padding=0)
        finally:
            self._syncing = False


class ResultPanels(QWidget):
    """The result views plus a hover readout and (for norm-pix models) the un-normalisation choice."""

    hovered = Signal(int, int, int)  # patch row, col, flat index (-1s outside)
    unnormalizeChanged = Signal(str)
    heatmapModeChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = None  # the Reconstruction shown
        self.baseline = None  # the baseline's Reconstruction shown in the baseline panel (None: blank)
        self.result_id = 0
        self._heatmap_mode = "pixel"
        self._levels: dict[str, tuple[float, float]] = {}
        self._readout = ""
        self.layout_widget = pg.GraphicsLayoutWidget(self)
        self.layout_widget.setBackground("w")
        self.plots: dict[str, pg.PlotItem] = {}
        self.images: dict[str, pg.ImageItem] = {}
        self.linker = ViewLinker(self)
        self._build_plots()
        self.unnormalize_box = QComboBox(self)
        for mode, label in UNNORMALIZE_LABELS.items():
            self.unnormalize_box.addItem(f"norm-pix display: {label}", mode)
        self.unnormalize_box.setToolTip(
            "This model predicts per-patch normalised pixels. 'true-patch' restores each hidden patch with its "
            "true mean and variance (the usual demo convention; it leaks information the model never saw). "
            "'visible' uses statistics of the visible patches only (honest, approximate).")
        self.unnormalize_box.currentIndexChanged.connect(
            lambda _i: self.unnormalizeChanged.emit(self.unnormalize_box.currentData()))
        self.unnormalize_box.setVisible(False)
        self._layout_widgets()
        self.layout_widget.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)

    def _build_plots(self) -> None:
        # Two columns read in pairs: what the model got | what it was shown, what it predicted | pasted
        # back, where it erred | the hover readout. Square images fill 2-wide cells better than 3-wide.
        positions = {"original": (0, 0), "masked": (0, 1), "prediction": (1, 0), "pasted": (1, 1), "error": (2, 0)}
        for key, title in PANELS:
            row, col = positions[key]
            plot = pg.PlotItem(title=title)
            self.layout_widget.addItem(plot, row=row, col=col)
            self.plots[key], self.images[key] = plot, self._image_view(plot)
        # Built once, in the layout only while a baseline is chosen (see set_baseline_visible); kept out
        # of ``plots`` so exports, hover and the five-panel layout stay as they were when it is off.
        self.baseline_plot = pg.PlotItem(title="baseline")
        self.baseline_image = self._image_view(self.baseline_plot)
        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=COLORMAP, interactive=True, width=14,
                                        label="squared error")
        self.colorbar.setImageItem(self.images["error"], insert_in=self.plots["error"])
        self.colorbar.sigLevelsChangeFinished.connect(self._remember_levels)
        # The free cell of the grid shows what the pointer is over, next to the pictures.
        self.info = self.layout_widget.addLabel(HOVER_HINT, row=2, col=1, justify="left", size="10pt",
                                                color="#333")

    def _image_view(self, plot: pg.PlotItem) -> pg.ImageItem:
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setAspectLocked(True)
        plot.invertY(True)  # image row 0 at the top, as the canvas shows it
        plot.setDefaultPadding(0.02)
        image = pg.ImageItem(axisOrder="row-major")
        plot.addItem(image)
        self.linker.add(plot.getViewBox())
        return image

    def _layout_widgets(self) -> None:
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(self.unnormalize_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.layout_widget, 1)
        layout.addLayout(bottom)

    # ------------------------------------------------------------------ linking and view

    def link_view(self, view_box: pg.ViewBox) -> None:
        """Zoom and pan ``view_box`` (e.g. the mask canvas) together with the panels."""
        self.linker.add(view_box)

    def reset_view(self) -> None:
        """Fit the whole image in every linked view (the canvas included)."""
        if self.result is not None:
            h, w = self.result.original.shape[:2]
            pad = 0.02 * max(h, w)
            self.linker.show_region(QRectF(-pad, -pad, w + 2 * pad, h + 2 * pad))

    # ------------------------------------------------------------------ showing results

    def show_result(self, result, result_id: int = 0) -> None:  # noqa: ANN001 - Reconstruction
        """Upload every panel from one core Reconstruction (nothing is recomputed here)."""
        first = self.result is None or self.result.original.shape != result.original.shape
        self.result, self.result_id = result, result_id
        for key, array in (("original", result.original), ("masked", result.masked_input),
                           ("prediction", result.prediction), ("pasted", result.pasted)):
            self.images[key].setImage(np.ascontiguousarray(array), levels=(0.0, 1.0), autoLevels=False)
        self._show_heatmap()
        self._update_titles()
        if first:
            self.reset_view()

    # ------------------------------------------------------------------ baseline panel

    @property
    def baseline_visible(self) -> bool:
        return self.baseline_plot.scene() is not None

    def set_baseline_visible(self, on: bool) -> None:
        """Add the baseline panel beside the error heatmap (the hover readout moves below) or take it away."""
        if on == self.baseline_visible:
            return
        layout = self.layout_widget
        layout.removeItem(self.info)
        if on:
            layout.addItem(self.baseline_plot, row=2, col=1)
            layout.addItem(self.info, row=3, col=0, colspan=2)
            self.info.setMaximumHeight(80)
            source = self.plots["pasted"].getViewBox()  # show the region the other panels show
            self.baseline_plot.getViewBox().setRange(rect=QRectF(source.targetRect()), padding=0)
        else:
            layout.removeItem(self.baseline_plot)
            self.info.setMaximumHeight(1e6)
            layout.addItem(self.info, row=2, col=1)
            self.show_baseline(None)

    def show_baseline(self, result, label: str = "") -> None:  # noqa: ANN001 - Reconstruction | None
        """Show a baseline's ``pasted`` image titled with its fill; None blanks the panel (``label`` says why)."""
        self.baseline = result
        if result is None:
            self.baseline_image.clear()
            self.baseline_plot.setTitle(label or "baseline")
            return
        self.baseline_image.setImage(np.ascontiguousarray(result.pasted), levels=(0.0, 1.0), autoLevels=False)
        self.baseline_plot.setTitle(f"baseline: {label} + visible")

    def clear_levels(self) -> None:
        """Forget the heatmap range, so the next result sets a fresh one (new image or model)."""
        self._levels.clear()

    def _heatmap_values(self) -> np.ndarray:
        r = self.result
        if self._heatmap_mode == "patch":
            p = r.original.shape[0] // r.mask.shape[0]
            values = np.kron(r.patch_loss, np.ones((p, p), dtype=np.float32))
        else:
            values = r.error_map
        return np.ascontiguousarray(np.nan_to_num(values, nan=0.0), dtype=np.float32)

    def heatmap(self) -> tuple[str, np.ndarray, float, float] | None:
        """``(title, values, vmin, vmax)`` as shown, the form ``render_panel`` takes for its heatmap."""
        if self.result is None:
            return None
        lo, hi = self._levels.get(self._heatmap_mode, (0.0, 1.0))
        return self.plots["error"].titleLabel.text, self._heatmap_values(), lo, hi

    def _show_heatmap(self) -> None:
        if self.result is None:
            return
        values = self._heatmap_values()
        levels = self._levels.get(self._heatmap_mode)
        if levels is None:
            levels = (0.0, nice_ceiling(float(np.percentile(values, 99))))
            self._levels[self._heatmap_mode] = levels
        self.images["error"].setImage(values, levels=levels, autoLevels=False)
        self.colorbar.setLevels(levels)
        label = "per-patch loss (model's own)" if self._heatmap_mode == "patch" else "per-pixel squared error"
        self.colorbar.getAxis("left").setLabel(label)  # a vertical bar labels its left axis

    def _remember_levels(self, bar: pg.ColorBarItem) -> None:
        self._levels[self._heatmap_mode] = tuple(float(v) for v in bar.levels())

    def _update_titles(self) -> None:
        r = self.result
        recon = "reconstruction"
        if r is not None and r.norm_pix:
            recon += f" (norm-pix, {UNNORMALIZE_LABELS.get(r.unnormalize, r.unnormalize)})"
        self.plots["prediction"].setTitle(recon)
        heat = "error per patch (model's loss)" if self._heatmap_mode == "patch" else "error per pixel"
        self.plots["error"].setTitle(heat)

    # ------------------------------------------------------------------ options

    @property
    def heatmap_mode(self) -> str:
        return self._heatmap_mode

    def set_heatmap_mode(self, mode: str) -> None:
        """``pixel`` shows the squared error of each pixel; ``patch`` the model's loss per patch."""
        if mode not in HEATMAP_MODES:
            raise ValueError(f"heatmap mode must be one of {HEATMAP_MODES}")
        if mode != self._heatmap_mode:
            self._heatmap_mode = mode
            self._show_heatmap()
            self._update_titles()
            self.heatmapModeChanged.emit(mode)

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

    def _on_scene_mouse_moved(self, pos: QPointF) -> None:
        plots = [*self.plots.values(), self.baseline_plot] if self.baseline_visible else self.plots.values()
        for plot in plots:
            if plot.sceneBoundingRect().contains(pos):
                point = plot.getViewBox().mapSceneToView(pos)
                self.show_hover(math.floor(point.x()), math.floor(point.y()))
                return
        self.show_hover(-1, -1)

    @property
    def readout(self) -> str:
        """The hover readout as plain text (one line per fact, joined by ' · ')."""
        return self._readout

    def show_hover(self, x: int, y: int) -> None:
        """Show (and emit) the patch under image pixel (x, y); the canvas calls this too."""
        lines = hover_lines(self.result, x, y)
        self._readout = " · ".join(lines)
        self.info.setText("<br>".join(lines) if lines else HOVER_HINT)
        if lines:
            gw = self.result.mask.shape[1]
            p = self.result.original.shape[0] // self.result.mask.shape[0]
            row, col = y // p, x // p
            self.hovered.emit(row, col, row * gw + col)
        else:
            self.hovered.emit(-1, -1, -1)
