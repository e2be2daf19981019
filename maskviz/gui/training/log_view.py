"""The run's output: the child's stdout and stderr (or its train.log after a crash), the error above it."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from maskviz.gui.training.state import OUTPUT_LINES, TrainingState

ERROR_STYLE = "color: #b00020;"


class RunLog(QWidget):
    def __init__(self, state: TrainingState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.crash_label = QLabel(self, wordWrap=True, styleSheet=ERROR_STYLE)
        self.log_view = QPlainTextEdit(self, readOnly=True)
        self.log_view.setMaximumBlockCount(OUTPUT_LINES)
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.crash_label)
        layout.addWidget(self.log_view, 1)
        state.runChanged.connect(self._draw)
        state.outputAdded.connect(self._append)
        state.crashChanged.connect(self._draw_crash)
        self._draw()

    def _draw(self) -> None:
        self.log_view.setPlainText("\n".join(self.state.output))
        self._follow_end()
        self._draw_crash()

    def _append(self, lines: list[str]) -> None:
        self.log_view.appendPlainText("\n".join(lines))
        self._follow_end()

    def _draw_crash(self) -> None:
        self.crash_label.setText(self.state.crash)
        self.crash_label.setVisible(bool(self.state.crash))

    def _follow_end(self) -> None:
        """Keep the newest line in view, from its start."""
        self.log_view.verticalScrollBar().setValue(self.log_view.verticalScrollBar().maximum())
        self.log_view.horizontalScrollBar().setValue(0)
