"""TrainingPanel: the Train dock, built from the training state, its controller and their views.

Fine-tune (or pre-train) the viewer's model on a folder of images and watch it learn. The work
happens elsewhere so the window never waits (see :mod:`~maskviz.gui.training.controller`); this
module lays out the views (form, buttons, monitor, curves, log, before/after), keeps the actions'
enabled state in step with the state, and shows a refused command as one dialog.

"Current run" is the run in the curves (the last one started, one picked in the *Runs* list or opened
with *Open run…*, or one found still training when the panel opens: its lock names a live process, and
the panel follows it again); Stop, Resume and Open in viewer act on it. The *Run folder* field is where
the next Start creates a run (in :func:`maskviz.paths.runs_dir`), and shows the run being resumed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGridLayout,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from maskviz.gui.training.before_after import BeforeAfterView
from maskviz.gui.training.controller import TrainingController
from maskviz.gui.training.curves import TrainCurves
from maskviz.gui.training.form import TrainForm
from maskviz.gui.training.jobs import JobRunner
from maskviz.gui.training.log_view import RunLog
from maskviz.gui.training.monitor import RunMonitor
from maskviz.gui.training.process import TrainProcess
from maskviz.gui.training.state import TrainingState
from maskviz.paths import runs_dir
from maskviz.train.runs import result_checkpoint

ACTIONS = (  # name, text, tooltip
    ("start", "Start", "Launch 'maskviz train' as a separate process"),
    ("stop", "Stop", "Stop after the current step and save (forced after a timeout)"),
    ("resume", "Resume", "Continue the current run exactly where it stopped"),
    ("open_run", "Open run…", "Show an earlier run's curves, to resume it or open its result"),
    ("open_result", "Open in viewer", "Compare the base and the fine-tuned model on the viewer's image and mask"),
)


def scrolled(widget: QWidget, parent: QWidget, horizontal: bool = True) -> QScrollArea:
    """``widget`` in a frameless scroll area: a tall page must not set the dock's minimum size."""
    area = QScrollArea(parent)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    if not horizontal:
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setWidget(widget)
    return area


class TrainingPanel(QWidget):
    """The form, Start/Stop/Resume/Open run/Open in viewer, progress, curves, log and before/after.

    ``viewer`` is the viewer's :class:`~maskviz.gui.state.ViewerState` (the base model, the image and
    mask a result is compared on); ``jobs`` runs model work on the viewer's worker (see
    :mod:`~maskviz.gui.training.jobs`).
    """

    def __init__(self, viewer: Any, jobs: JobRunner, settings: QSettings | None = None,  # noqa: ANN401
                 runs_root: str | Path | None = None, process: TrainProcess | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = TrainingState(Path(runs_root) if runs_root is not None else runs_dir(), self)
        self.controller = TrainingController(self.state, viewer, jobs, process, settings, self)
        self.actions_by_name: dict[str, QAction] = {}
        self.buttons: dict[str, QPushButton] = {}
        self._build()
        self._connect()
        self._draw_actions()

    def _build(self) -> None:
        s, c = self.state, self.controller
        slots = {"start": c.start, "stop": c.stop, "resume": c.resume, "open_run": self.open_run_dialog,
                 "open_result": c.open_result}
        for name, text, tip in ACTIONS:
            action = self.actions_by_name[name] = QAction(text, self, toolTip=tip)
            action.triggered.connect(lambda _=False, slot=slots[name]: slot())
            button = self.buttons[name] = QPushButton(text, self, toolTip=tip)
            button.clicked.connect(action.trigger)
        self.form = TrainForm(s, c, self)
        self.monitor = RunMonitor(s, self)
        self.curves = TrainCurves(s, self)
        self.log = RunLog(s, self)
        self.before_after = BeforeAfterView(s, c, self)
        # One page at a time under the buttons and the status: a short dock (1024x700) shows all of
        # a page, and the form, which is disabled during a run, gives its room to the curves.
        self.tabs = QTabWidget(self)
        self.setup_page = scrolled(self.form, self, horizontal=False)
        self.tabs.addTab(self.setup_page, "Setup")
        self.tabs.addTab(self.curves, "Curves")
        self.tabs.addTab(self.log, "Log")
        self.compare_page = scrolled(self.before_after, self)  # two rows of pictures: the page scrolls
        self.tabs.addTab(self.compare_page, "Compare")
        buttons = QGridLayout()
        for i, (name, _, _) in enumerate(ACTIONS):
            buttons.addWidget(self.buttons[name], i // 3, i % 3, 1, 1 + (name == "open_result"))
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.monitor)
        layout.addWidget(self.tabs, 1)

    def _connect(self) -> None:
        s = self.state
        for signal in (s.folderChanged, s.baseChanged, s.runChanged, s.phaseChanged, s.historyChanged):
            signal.connect(self._draw_actions)
        s.runChanged.connect(lambda: s.shown is not None and self.tabs.setCurrentWidget(self.curves))
        s.crashChanged.connect(lambda: s.crash and self.tabs.setCurrentWidget(self.log))
        s.comparisonChanged.connect(self._on_comparison)
        self.controller.refused.connect(self._show_refusal)

    def _draw_actions(self) -> None:
        s = self.state
        shown, live = s.shown, s.live
        enabled = {
            "start": not live and s.folder is not None and s.base is not None,
            "stop": live and shown.phase != "stopping",
            "resume": not live and shown is not None and shown.run.config.exists() and shown.phase != "done",
            "open_run": not live,
            "open_result": shown is not None and result_checkpoint(shown.run) is not None,
        }
        for name, on in enabled.items():
            self.actions_by_name[name].setEnabled(on)
            self.buttons[name].setEnabled(on)

    def _on_comparison(self) -> None:
        c = self.state.comparison
        if c.busy or c.result is not None:
            self.tabs.setCurrentWidget(self.compare_page)

    def _show_refusal(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, f"{title}: {message}")

    def open_run_dialog(self) -> None:
        if path := QFileDialog.getExistingDirectory(self, "Open a training run", str(self.state.runs_root)):
            self.controller.open_run(path)
