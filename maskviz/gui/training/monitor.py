"""The run's progress bar, speed and ETA, status line (with the verdict) and warnings."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from maskviz.gui.training.state import TrainingState
from maskviz.train.monitor import progress_text

TONES = {"error": "color: #b00020;", "warn": "color: #a04000;", "good": "color: #1b5e20;", "": ""}


class RunMonitor(QWidget):
    """A view of the shown run's history and phase, and of the status line."""

    def __init__(self, state: TrainingState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.progress = QProgressBar(self)
        self.speed_label = QLabel(self)
        self.status = QLabel(self, wordWrap=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning_label = QLabel(self, wordWrap=True, styleSheet=TONES["warn"])
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.speed_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.warning_label)
        for signal in (state.runChanged, state.historyChanged, state.phaseChanged):
            signal.connect(self._draw_run)
        state.statusChanged.connect(self._draw_status)
        self._draw_run()
        self._draw_status()

    def _draw_run(self) -> None:
        shown = self.state.shown
        history = shown.history if shown is not None else None
        total = history.total_steps if history is not None else 0
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(history.step if history is not None else 0)
        self.speed_label.setText(progress_text(history.last, total, shown.live) if shown is not None else "")
        warnings = history.warnings if history is not None else []
        self.warning_label.setText("\n".join(f"⚠ {w}" for w in warnings))
        self.warning_label.setVisible(bool(warnings))

    def _draw_status(self) -> None:
        self.status.setText(self.state.status.text)
        self.status.setStyleSheet(TONES[self.state.status.tone])
