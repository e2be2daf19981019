"""Base model vs fine-tuned model on the viewer's image and mask: did training help *this* picture?

:func:`compare_run` is plain Python (it runs on a background thread): it loads the run's checkpoint,
rebuilds the run's starting model from its saved recipe (the same weights the run began with, even
for a model trained from scratch, because the recipe's seed fixed them) and reconstructs the same
image under the same mask with both. :class:`ComparisonView` shows the two side by side with one
shared error colour scale, so a darker heatmap really means a smaller error.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from maskviz.figures import PIXEL_UNIT, error_image, error_scales
from maskviz.masks import parse_mask_spec
from maskviz.reconstruct import Reconstruction, reconstruct
from maskviz.train import RunDir, TrainError

CELL = 150  # largest shown size of each picture, px; they shrink to fit a narrow dock
MIN_CELL = 48
COLUMNS = ("masked input", "reconstruction + visible", "error")


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


def result_checkpoint(run: RunDir) -> Path | None:
    """The run's best checkpoint (lowest validation loss), else its latest; None before the first save."""
    return next((p for p in (run.best, run.last) if p.exists()), None)


def compare_run(run_dir: str | Path, context: ViewerContext) -> Comparison:
    """Reconstruct the viewer's image and mask with the run's base model and its result."""
    from maskviz.checkpoints import load_model
    from maskviz.train.loop import build_model

    run = RunDir(run_dir)
    config, plan = run.read()
    checkpoint = result_checkpoint(run)
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
    return Comparison(base_result, tuned_result, f"base: {start.name if start.exists() else plan.base_model}",
                      f"fine-tuned: {checkpoint.name}{at}", checkpoint, note)


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
    return f"loss {r.loss:.4f} · PSNR {psnr}"


def to_pixmap(rgb: np.ndarray, size: int = CELL) -> QPixmap:
    """A float [0, 1] or uint8 RGB array as a pixmap ``size`` px wide (blocky when enlarged: patches stay crisp)."""
    if rgb.dtype != np.uint8:
        rgb = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    mode = Qt.TransformationMode.FastTransformation if w < size else Qt.TransformationMode.SmoothTransformation
    return QPixmap.fromImage(image).scaledToWidth(size, mode)


class ComparisonView(QWidget):
    """Two rows (base, fine-tuned) of masked input, reconstruction and error, and a switch button."""

    useRequested = Signal(str)  # checkpoint path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.comparison: Comparison | None = None
        self._arrays: list[list[np.ndarray]] = []  # per row: the pictures, kept to re-scale on resize
        self.hint = QLabel("Open a run's result in the viewer to compare the base and the fine-tuned model "
                           "on the viewer's image and mask.", self)
        self.hint.setWordWrap(True)
        self.grid = QGridLayout()
        self.titles = [QLabel(self), QLabel(self)]
        self.pictures = [[QLabel(self) for _ in COLUMNS] for _ in range(2)]
        self._build_grid()
        self.use_button = QPushButton("Use fine-tuned model in viewer", self)
        self.use_button.setEnabled(False)
        self.use_button.clicked.connect(self._use)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addLayout(self.grid)
        layout.addWidget(self.use_button)
        layout.addStretch(1)

    def _build_grid(self) -> None:
        for col, name in enumerate(COLUMNS):
            head = QLabel(name, self)
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            head.setWordWrap(True)
            self.grid.addWidget(head, 0, col)
        for row in range(2):
            self.titles[row].setWordWrap(True)
            self.grid.addWidget(self.titles[row], 1 + 2 * row, 0, 1, len(COLUMNS))
            for col, label in enumerate(self.pictures[row]):
                label.setAlignment(Qt.AlignmentFlag.AlignCenter)
                label.setMinimumSize(MIN_CELL, MIN_CELL)
                self.grid.addWidget(label, 2 + 2 * row, col)

    @property
    def shown(self) -> int:
        """How many reconstructions are on screen (0 or 2)."""
        return 0 if self.comparison is None else 2

    def show_comparison(self, comparison: Comparison) -> None:
        self.comparison = comparison
        rows = (comparison.base, comparison.tuned)
        vmax = error_scales(rows)[PIXEL_UNIT]  # the figures' rule: one scale, from the hidden pixels
        for row, (r, label) in enumerate(zip(rows, (comparison.base_label, comparison.tuned_label), strict=True)):
            self.titles[row].setText(f"<b>{html.escape(label)}</b> — {summary_text(r)}")
        self._arrays = [[r.masked_input, r.pasted, error_image(r, vmax)] for r in rows]
        self._render()
        note = f"{comparison.note}. " if comparison.note else ""
        self.hint.setText(f"{note}Error colours share one scale (0 – {vmax:g}), so the rows compare directly.")
        self.use_button.setEnabled(True)

    def cell_size(self) -> int:
        """Picture width: three to a row across the view, between MIN_CELL and CELL."""
        spacing = self.grid.horizontalSpacing() * (len(COLUMNS) - 1)
        margins = self.contentsMargins().left() + self.contentsMargins().right() + 24
        return max(MIN_CELL, min(CELL, (self.width() - spacing - margins) // len(COLUMNS)))

    def _render(self) -> None:
        size = self.cell_size()
        for labels, arrays in zip(self.pictures, self._arrays, strict=False):
            for label, array in zip(labels, arrays, strict=True):
                label.setPixmap(to_pixmap(array, size))

    def resizeEvent(self, event) -> None:  # noqa: ANN001 - QResizeEvent
        super().resizeEvent(event)
        if self._arrays:
            self._render()

    def _use(self) -> None:
        if self.comparison is not None:
            self.useRequested.emit(str(self.comparison.checkpoint))
