"""The Runs list: earlier runs in the runs folder, newest first; picking one shows it."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QWidget

from maskviz.gui.training.controller import TrainingController
from maskviz.gui.training.state import TrainingState


class RunList(QComboBox):
    """A view of ``state.runs``; choosing a run asks the controller to open it (a live one is followed)."""

    def __init__(self, state: TrainingState, controller: TrainingController, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setToolTip(f"Runs in {state.runs_root}: pick one to see its curves, resume it or open its result "
                        "(a run still going is followed live)")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)  # long run names must not set the dock's width
        self.activated.connect(lambda _i: self.currentData() and controller.open_run(self.currentData()))
        state.runsChanged.connect(self._draw)
        self._draw()

    def _draw(self) -> None:
        runs, root = self.state.runs, self.state.runs_root
        self.clear()
        self.addItem(f"{len(runs)} run{'s' * (len(runs) != 1)} in {root}" if runs else f"no runs yet in {root}", "")
        for run, text in runs:
            self.addItem(text, str(run.path))
