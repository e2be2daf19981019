"""Base model vs fine-tuned model on the viewer's image and mask: did training help *this* picture?

:func:`compare_run` is plain Python (it runs on a background thread): it loads the run's checkpoint,
rebuilds the run's starting model from its saved recipe (the same weights the run began with, even
for a model trained from scratch, because the recipe's seed fixed them) and reconstructs the same
image under the same mask with both. :class:`ComparisonView` shows the two rows drawn by the shared
renderer (:mod:`maskviz.figures`: its panels, its dimmed hidden-patch error and its scale rule) with one
shared error colour scale, so a darker heatmap really means a smaller error. The final model is
compared by default: a best checkpoint picked by a handful of held-out images is offered, not imposed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from maskviz.figures import PIXEL_UNIT, error_image, error_scales, loss_unit, render_panel
from maskviz.masks import parse_mask_spec
from maskviz.reconstruct import Reconstruction, reconstruct
from maskviz.train import RunDir, TrainError

MIN_WIDTH = 240  # a row never shrinks below this (px): the dock scrolls instead
COLUMNS = ("masked input", "reconstruction + visible", "error")
CHECKPOINTS = {"last": "final model", "best": "best validation"}


@dataclass
class ViewerContext:
    """What the viewer shows now: its model (a LoadedModel or None), image, patch mask, display option."""

    loaded: Any
    image: Image.Image
    mask: np.ndarray
    unnormalize: str = "true-patch"


@dataclass
class Comparison:
    """The two reconstructions and what they came from."""

    base: Reconstruction
    tuned: Reconstruction
    base_label: str
    tuned_label: str
    checkpoint: Path
    note: str = ""


def result_checkpoint(run: RunDir, which: str = "last") -> Path | None:
    """The run's final (``last``) or ``best`` checkpoint, falling back to the other; None before the first save."""
    order = (run.best, run.last) if which == "best" else (run.last, run.best)
    return next((p for p in order if p.exists()), None)


def compare_run(run_dir: str | Path, context: ViewerContext, which: str = "last") -> Comparison:
    """Reconstruct the viewer's image and mask with the run's base model and its final (or best) result."""
    from maskviz.checkpoints import load_model
    from maskviz.train.loop import build_model

    run = RunDir(run_dir)
    config, plan = run.read()
    checkpoint = result_checkpoint(run, which)
    if checkpoint is None:
        raise TrainError(f"{run.path} has no checkpoint yet: it saves one when it stops, ends or validates")
    tuned_loaded = load_model(checkpoint)
    tuned = tuned_loaded.model
    # Always a private copy of the base: the viewer's model belongs to the viewer's worker thread
    # (which may be moving it to another device right now).
    base = build_model(config)[0].eval()
    start = Path(config.model)
    mask, note = _mask_for(context.mask, tuned, config.mask)
    base_result = reconstruct(base, context.image, [mask], context.unnormalize)[0]
    tuned_result = reconstruct(tuned, context.image, [mask], context.unnormalize)[0]
    steps = tuned_loaded.info.get("steps")
    at = f" (step {steps})" if isinstance(steps, int) else ""
    kind = "best" if checkpoint == run.best else "final"
    return Comparison(base_result, tuned_result, f"base: {start.name if start.exists() else plan.base_model}",
                      f"fine-tuned, {kind}{at}", checkpoint, note)


def _mask_for(mask: np.ndarray, model: Any, spec: str | None) -> tuple[np.ndarray, str]:
    """The viewer's mask when it fits the model's grid, else the run's mask spec (seed 0), said so."""
    grid = tuple(model.grid_size)
    if mask is not None and tuple(mask.shape) == grid and mask.any():
        return mask, ""
    spec = spec or "random:0.75"
    generated = parse_mask_spec(spec).generate(grid, model.patch_size, seed=0)
    return generated, f"the viewer's mask does not fit this model's {grid[0]}×{grid[1]} grid: showing {spec}"


def summary_text(r: Reconstruction) -> str:
    if r.loss is None:
        return "nothing hidden"
    psnr = "∞" if r.psnr == float("inf") else f"{r.psnr:.2f} dB"
    return f"{loss_unit(r)} loss {r.loss:.4f} · PSNR {psnr}"


def to_pixmap(rgb: np.ndarray, size: int) -> QPixmap:
    """A float [0, 1] or uint8 RGB array as a pixmap ``size`` px wide (blocky when enlarged: patches stay crisp)."""
    if rgb.dtype != np.uint8:
        rgb = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    mode = Qt.TransformationMode.FastTransformation if w < size else Qt.TransformationMode.SmoothTransformation
    return QPixmap.fromImage(image).scaledToWidth(size, mode)


def row_figure(r: Reconstruction, label: str, vmax: float) -> tuple[list[np.ndarray], np.ndarray]:
    """One model's row as the shared renderer draws it: masked input, pasted reconstruction and the
    error of the hidden patches (visible ones faded) on the figure's scale. Returns the three
    pictures and the rendered row."""
    pictures = [r.masked_input, r.pasted, error_image(r, vmax)]
    titles = [COLUMNS[0], COLUMNS[1], f"{COLUMNS[2]} (0 – {vmax:g})"]
    figure = render_panel(list(zip(titles, pictures, strict=True)), footer=f"{label} — {summary_text(r)}")
    return pictures, np.asarray(figure.convert("RGB"))


class ComparisonView(QWidget):
    """Two rendered rows (base, fine-tuned), a final/best choice and a switch button."""

    useRequested = Signal(str)  # checkpoint path
    checkpointChosen = Signal(str)  # "last" or "best": compare again with that one

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.comparison: Comparison | None = None
        self._figures: list[np.ndarray] = []  # kept to re-scale on resize
        self._arrays: list[list[np.ndarray]] = []  # each row's pictures, before layout
        self.hint = QLabel("Open a run's result in the viewer to compare the base and the fine-tuned model "
                           "on the viewer's image and mask.", self)
        self.hint.setWordWrap(True)
        self.which = QComboBox(self)
        for key, text in CHECKPOINTS.items():
            self.which.addItem(text, key)
        self.which.setToolTip("The final model is what the run ended with; 'best validation' is the checkpoint "
                              "with the lowest held-out loss (trust it only with enough held-out images)")
        self.which.activated.connect(lambda _i: self.checkpointChosen.emit(self.which.currentData()))
        self.rows = [QLabel(self), QLabel(self)]
        for label in self.rows:
            label.setAlignment(Qt.AlignmentFlag.AlignLeft)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.use_button = QPushButton("Use fine-tuned model in viewer", self)
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self._use)
        top = QHBoxLayout()
        top.addWidget(QLabel("Compare with", self))
        top.addWidget(self.which)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addLayout(top)
        for label in self.rows:
            layout.addWidget(label)
        layout.addWidget(self.use_button)
        layout.addStretch(1)

    @property
    def shown(self) -> int:
        """How many reconstructions are on screen (0 or 2)."""
        return 0 if self.comparison is None else 2

    def show_comparison(self, comparison: Comparison) -> None:
        self.comparison = comparison
        rows = (comparison.base, comparison.tuned)
        vmax = error_scales(rows)[PIXEL_UNIT]  # the figures' rule: one scale, from the hidden pixels
        drawn = [row_figure(r, label, vmax)
                 for r, label in zip(rows, (comparison.base_label, comparison.tuned_label), strict=True)]
        self._arrays = [pictures for pictures, _ in drawn]
        self._figures = [figure for _, figure in drawn]
        self._render()
        note = f"{comparison.note}. " if comparison.note else ""
        self.hint.setText(f"{note}Error colours share one scale (0 – {vmax:g}), so the rows compare directly.")
        self.use_button.setEnabled(True)

    def row_width(self) -> int:
        """Each rendered row as wide as the view allows (never below MIN_WIDTH, never above 2x its own size)."""
        margins = self.contentsMargins().left() + self.contentsMargins().right() + 24
        natural = max(f.shape[1] for f in self._figures) if self._figures else MIN_WIDTH
        return max(MIN_WIDTH, min(2 * natural, self.width() - margins))

    def _render(self) -> None:
        width = self.row_width()
        for label, figure in zip(self.rows, self._figures, strict=False):
            label.setPixmap(to_pixmap(figure, width))

    def resizeEvent(self, event) -> None:  # noqa: ANN001 - QResizeEvent
        super().resizeEvent(event)
        if self._figures:
            self._render()

    def _use(self) -> None:
        if self.comparison is not None:
            self.useRequested.emit(str(self.comparison.checkpoint))
