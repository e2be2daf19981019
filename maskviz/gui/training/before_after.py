"""The before/after view: the base and the fine-tuned model on the viewer's image and mask.

A view of ``state.comparison`` (computed by :func:`maskviz.train.before_after.comparison_steps` on the
viewer's worker). The two rows are drawn by the shared renderer (:mod:`maskviz.figures`: its panels,
its dimmed hidden-patch error and its scale rule) with one error colour scale, so a darker heatmap
really means a smaller error.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from maskviz.figures import PIXEL_UNIT, error_image, error_scales, loss_unit, render_panel
from maskviz.gui.training.controller import TrainingController
from maskviz.gui.training.pixmaps import to_pixmap
from maskviz.gui.training.state import TrainingState
from maskviz.train.before_after import Comparison
from maskviz.train.runs import CHECKPOINT_KINDS

MIN_WIDTH = 240  # a row never shrinks below this (px): the dock scrolls instead
COLUMNS = ("masked input", "reconstruction + visible", "error")
HINT = ("Open a run's result in the viewer to compare the base and the fine-tuned model on the viewer's image "
        "and mask.")


def summary_text(r) -> str:  # noqa: ANN001 - Reconstruction
    if r.loss is None:
        return "nothing hidden"
    psnr = "∞" if r.psnr == float("inf") else f"{r.psnr:.2f} dB"
    return f"{loss_unit(r)} loss {r.loss:.4f} · PSNR {psnr}"


def row_figure(r, label: str, vmax: float) -> tuple[list[np.ndarray], np.ndarray]:  # noqa: ANN001
    """One model's row as the shared renderer draws it: masked input, pasted reconstruction and the
    error of the hidden patches (visible ones faded) on the figure's scale. Returns the three
    pictures and the rendered row."""
    pictures = [r.masked_input, r.pasted, error_image(r, vmax)]
    titles = [COLUMNS[0], COLUMNS[1], f"{COLUMNS[2]} (0 – {vmax:g})"]
    figure = render_panel(list(zip(titles, pictures, strict=True)), footer=f"{label} — {summary_text(r)}")
    return pictures, np.asarray(figure.convert("RGB"))


class BeforeAfterView(QWidget):
    """Two rendered rows (base, fine-tuned), a final/best choice and a button to use the fine-tuned model."""

    def __init__(self, state: TrainingState, controller: TrainingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._figures: list[np.ndarray] = []  # kept to re-scale on resize
        self.pictures: list[list[np.ndarray]] = []  # each row's pictures, before layout
        self.hint = QLabel(HINT, self, wordWrap=True)
        self.which = QComboBox(self)
        for key, text in CHECKPOINT_KINDS.items():
            self.which.addItem(text, key)
        self.which.setToolTip("The final model is what the run ended with; 'best validation' is the checkpoint "
                              "with the lowest held-out loss (trust it only with enough held-out images)")
        self.which.activated.connect(lambda _i: controller.open_result(self.which.currentData()))
        self.rows = [QLabel(self), QLabel(self)]
        for label in self.rows:
            label.setAlignment(Qt.AlignmentFlag.AlignLeft)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.use_button = QPushButton("Use fine-tuned model in viewer", self, enabled=False)
        self.use_button.clicked.connect(controller.use_result)
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
        state.comparisonChanged.connect(self._draw)
        state.runChanged.connect(self._draw)
        self._draw()

    @property
    def shown(self) -> int:
        """How many reconstructions are on screen (0 or 2)."""
        return 2 if self._figures else 0

    def _draw(self) -> None:
        c = self.state.comparison
        self.which.setCurrentIndex(max(0, self.which.findData(c.which)))
        self.which.setEnabled(self.state.shown is not None and not c.busy)
        if c.result is None:
            self._figures, self.pictures = [], []
            for label in self.rows:
                label.clear()
            self.hint.setText(c.status or HINT)
            self.use_button.setEnabled(False)
            return
        self._show(c.result)

    def _show(self, comparison: Comparison) -> None:
        rows = (comparison.base, comparison.tuned)
        vmax = error_scales(rows)[PIXEL_UNIT]  # the figures' rule: one scale, from the hidden pixels
        drawn = [row_figure(r, label, vmax)
                 for r, label in zip(rows, (comparison.base_label, comparison.tuned_label), strict=True)]
        self.pictures = [pictures for pictures, _ in drawn]
        self._figures = [figure for _, figure in drawn]
        self._render()
        note = f"{comparison.note[:1].upper()}{comparison.note[1:]}. " if comparison.note else ""
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
