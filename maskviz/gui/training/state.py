"""TrainingState: what the Train dock shows, in one place; its views redraw from it.

It holds the form (what the next Start asks for), the base model (the viewer's), the scanned image
folder, the run being shown (its folder, events folded into a :class:`~maskviz.train.monitor.RunHistory`,
its phase and how it ended), the child's output, the list of earlier runs, the before/after
comparison and one status line. Only :class:`~maskviz.gui.training.controller.TrainingController`
changes it; views read it and call the controller.

Signals
    ``formChanged(str)``     a form field changed (its name)
    ``baseChanged()``        the model the next run starts from
    ``folderChanged()``      the scanned folder (or the scan's error, or "scanning")
    ``runChanged()``         another run is shown, or the shown run started over (history reset)
    ``historyChanged()``     new events of the shown run
    ``phaseChanged()``       the run started, is stopping, or ended
    ``outputAdded(list)``    new lines of the child's output (``runChanged`` clears them)
    ``crashChanged()``       the error shown above the log
    ``runsChanged()``        the list of earlier runs
    ``comparisonChanged()``  the before/after comparison or its status
    ``statusChanged()``      the status line
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from maskviz.train.before_after import Comparison
from maskviz.train.launch import Ending, TrainForm
from maskviz.train.monitor import RunHistory
from maskviz.train.rundir import RunDir
from maskviz.train.runs import FolderSummary

LIVE_PHASES = ("running", "following", "stopping")
OUTPUT_LINES = 2000  # the newest lines of the child's output that are kept


@dataclass
class ShownRun:
    """The run in the monitor: the last one started, one picked or opened, or one found still training."""

    run: RunDir
    history: RunHistory = field(default_factory=RunHistory)
    phase: str = "new"  # one of LIVE_PHASES, or "done", "stopped", "killed", "error", "unfinished", "new"
    ending: Ending | None = None
    pid: int = 0  # the live process writing it

    @property
    def live(self) -> bool:
        return self.phase in LIVE_PHASES


@dataclass(frozen=True)
class Status:
    text: str = ""
    tone: str = ""  # "", "error", "warn" or "good"


@dataclass(frozen=True)
class ComparisonShown:
    """The before/after comparison: its result, or what it is doing or why it failed."""

    result: Comparison | None = None
    which: str = "last"
    status: str = ""
    busy: bool = False


class TrainingState(QObject):
    formChanged = Signal(str)
    baseChanged = Signal()
    folderChanged = Signal()
    runChanged = Signal()
    historyChanged = Signal()
    phaseChanged = Signal()
    outputAdded = Signal(list)
    crashChanged = Signal()
    runsChanged = Signal()
    comparisonChanged = Signal()
    statusChanged = Signal()

    def __init__(self, runs_root: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runs_root = runs_root
        self.form = TrainForm()
        self.base: Any = None  # the LoadedModel the next run starts from
        self.base_source: str | None = None  # what the viewer opened it from
        self.folder: FolderSummary | None = None
        self.folder_note = "choose a folder of images"
        self.folder_error = False
        self.shown: ShownRun | None = None
        self.output: list[str] = []  # the newest lines of the child's output
        self.crash = ""
        self.runs: list[tuple[RunDir, str]] = []  # earlier runs and their one-line summaries
        self.comparison = ComparisonShown()
        self.status = Status()

    # ------------------------------------------------------------------ the form

    def update_form(self, **changes: Any) -> None:
        """Change form fields (unknown names raise); each changed field is announced."""
        new = dataclasses.replace(self.form, **changes)
        changed = [f.name for f in dataclasses.fields(TrainForm) if getattr(new, f.name) != getattr(self.form, f.name)]
        self.form = new
        for name in changed:
            self.formChanged.emit(name)

    def set_base(self, loaded: Any, source: str | None) -> None:
        self.base, self.base_source = loaded, source
        self.baseChanged.emit()

    def set_folder(self, folder: FolderSummary | None, note: str, error: bool = False) -> None:
        self.folder, self.folder_note, self.folder_error = folder, note, error
        self.folderChanged.emit()

    # ------------------------------------------------------------------ the run

    @property
    def live(self) -> bool:
        """Whether the shown run is being written by a process this app started or follows."""
        return self.shown is not None and self.shown.live

    def show_run(self, shown: ShownRun | None) -> None:
        """Show another run (or none); its history, the log and the comparison start afresh."""
        self.shown, self.output, self.crash = shown, [], ""
        self.comparison = ComparisonShown()
        self.runChanged.emit()
        self.comparisonChanged.emit()
        self.crashChanged.emit()
        self.phaseChanged.emit()

    def add_events(self, events: list[Any], reset: bool) -> None:
        if self.shown is None:
            return
        if reset:
            self.shown.history = RunHistory()
        self.shown.history.add(events)
        self.historyChanged.emit()

    def set_phase(self, phase: str, ending: Ending | None = None, pid: int | None = None) -> None:
        if self.shown is None:
            return
        self.shown.phase = phase
        if ending is not None:
            self.shown.ending = ending
        if pid is not None:
            self.shown.pid = pid
        self.phaseChanged.emit()

    def add_output(self, lines: list[str]) -> None:
        self.output = (self.output + lines)[-OUTPUT_LINES:]
        self.outputAdded.emit(lines)

    def set_crash(self, message: str) -> None:
        self.crash = message
        self.crashChanged.emit()

    def set_runs(self, runs: list[tuple[RunDir, str]]) -> None:
        self.runs = runs
        self.runsChanged.emit()

    def set_comparison(self, comparison: ComparisonShown) -> None:
        self.comparison = comparison
        self.comparisonChanged.emit()

    def set_status(self, text: str, tone: str = "") -> None:
        self.status = Status(text, tone)
        self.statusChanged.emit()
