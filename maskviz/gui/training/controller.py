"""TrainingController: the only code that starts, follows, stops and resumes training runs.

It turns the Train dock's commands into work: a folder scan on a background thread, a ``maskviz
train`` child through :class:`~maskviz.gui.training.process.TrainProcess`, the before/after comparison
as a job on the viewer's worker (the viewer controller's ``run_job``, lane ``before-after``, one model
forward per step, held while the dock is off screen). What comes back is written into the
:class:`~maskviz.gui.training.state.TrainingState`. A command that cannot go ahead leaves the state as
it was and emits ``refused(title, message)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal

from maskviz.errors import MaskvizError
from maskviz.gui.background import Background
from maskviz.gui.training.jobs import LANE, JobRunner
from maskviz.gui.training.process import TrainProcess
from maskviz.gui.training.settings import restored_form, save_form
from maskviz.gui.training.state import ComparisonShown, ShownRun, TrainingState
from maskviz.train.before_after import ViewerContext, comparison_steps
from maskviz.train.events import read_events
from maskviz.train.launch import TrainRequest, check_new_run, form_request
from maskviz.train.monitor import RunHistory, ending_text, idle_text, training_text
from maskviz.train.rundir import RunDir, TrainError, new_run_folder
from maskviz.train.runs import list_runs, result_checkpoint, run_summary, running_elsewhere


class TrainingController(QObject):
    refused = Signal(str, str)  # title, message: a command that cannot go ahead
    message = Signal(str)  # a one-line note for the window's status bar
    useModelRequested = Signal(str)  # a checkpoint the viewer should open

    def __init__(self, state: TrainingState, viewer: Any, jobs: JobRunner,  # noqa: ANN401 - ViewerState
                 process: TrainProcess | None = None, settings: QSettings | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state, self.viewer, self.jobs, self.settings = state, viewer, jobs, settings
        self.process = process or TrainProcess(self)
        self.scans = Background(self)
        self._scan_id = self._compare_id = 0
        self._connect()
        self._restore_settings()
        self.new_run_folder()
        self.refresh_runs()
        if viewer.model is not None:
            self._on_viewer_model()
        if not self.follow_live_run():
            self._idle_status()

    def _connect(self) -> None:
        p = self.process
        p.eventsArrived.connect(self._on_events)
        p.outputArrived.connect(self.state.add_output)
        p.stateChanged.connect(self._on_process_state)
        p.finished.connect(self._on_finished)
        self.scans.done.connect(self._on_scanned)
        self.scans.failed.connect(self._on_scan_failed)
        self.jobs.jobStep.connect(self._on_job_step)
        self.jobs.jobDone.connect(self._on_job_done)
        self.jobs.jobFailed.connect(self._on_job_failed)
        self.viewer.modelChanged.connect(self._on_viewer_model)
        self.viewer.imageChanged.connect(lambda: self._drop_comparison("image"))
        self.state.formChanged.connect(lambda _name: self.state.shown is None and self._idle_status())

    @property
    def running(self) -> bool:
        return self.process.running

    @property
    def stopping(self) -> bool:
        return self.process.state == "stopping"

    # ================================================================== the form

    def _on_viewer_model(self) -> None:
        """The viewer's model is what the next run starts from."""
        self.state.set_base(self.viewer.model, self.viewer.model_source)
        self._drop_comparison("model")
        if self.state.shown is None:
            self._idle_status()

    def _drop_comparison(self, what: str) -> None:
        """A comparison still computing is for the viewer's old model or image (and may hold that model):
        it is dropped, said so in the view (the viewer's controller stops its job too)."""
        if self.state.comparison.busy:
            self._cancel_comparison()
            self.state.set_comparison(ComparisonShown(None, self.state.comparison.which, f"The viewer's {what} "
                                                      "changed while comparing: press Open in viewer again."))

    def set_shown(self, shown: bool) -> None:
        """The dock is on screen (or not, a tab behind another included): off screen the comparison waits."""
        self.jobs.set_lane_shown(LANE, shown)

    def set_folder(self, path: str) -> None:
        """Scan the folder on a background thread; Start waits for the count."""
        path = path.strip()
        self.state.update_form(folder=path)
        current = self.state.folder
        if current is not None and path and Path(path).expanduser() == current.root:
            return
        if not path:
            self.state.set_folder(None, "choose a folder of images")
            return
        from maskviz.train.runs import summarize_folder

        self.state.set_folder(None, "looking for images…")
        self._scan_id = self.scans.run(lambda: summarize_folder(path), "maskviz-scan")

    def _on_scanned(self, task_id: int, summary: Any) -> None:
        if task_id == self._scan_id:
            self.state.set_folder(summary, summary.text())
            if self.state.shown is None:
                self._idle_status()

    def _on_scan_failed(self, task_id: int, message: str) -> None:
        if task_id == self._scan_id:
            self.state.set_folder(None, message, error=True)

    def new_run_folder(self) -> None:
        """A fresh ``<runs>/<timestamp>`` name for the next Start."""
        self.state.update_form(out=str(new_run_folder(self.state.runs_root)))

    def request(self) -> TrainRequest:
        """The form as it stands (placeholders where the folder or model is still missing): the
        command line the advanced options show."""
        s = self.state
        return form_request(s.form, s.folder.root if s.folder is not None else None, s.base, s.base_source,
                            s.runs_root)

    def checked_request(self) -> TrainRequest:
        """The form as a TrainRequest, or a TrainError that says what to fix."""
        s = self.state
        if self.running:
            raise TrainError("a training run is already going: stop it first")
        typed = s.form.folder.strip()
        if s.folder is not None and typed and Path(typed).expanduser() != s.folder.root:
            self.set_folder(typed)  # typed but not confirmed: look at it first
        if s.folder_error:
            raise TrainError(s.folder_note)
        if s.folder is None:
            raise TrainError("still looking for images in the folder: try again in a moment" if typed
                             else "choose a folder of training images first")
        if s.base is None:
            raise TrainError("no model is loaded in the viewer yet")
        check_new_run(s.form, s.runs_root)  # the same checks as maskviz train's
        return self.request()

    # ================================================================== commands

    def start(self) -> bool:
        """Start a new run from the form; False (and ``refused``) when something needs fixing."""
        try:
            request = self.checked_request()
            self.process.start(request)
        except MaskvizError as exc:
            self._refuse("Cannot start training", str(exc))
            return False
        self._save_settings()
        self._show_live(RunDir(request.out), "running", "Starting… (loading PyTorch takes a few seconds)")
        return True

    def stop(self, then: Callable[[], None] | None = None) -> None:
        """Graceful stop: the run saves after its current step (forced after a timeout); ``then`` runs
        once it has ended (at once when nothing runs)."""
        if not self.running:
            if then is not None:
                then()
            return
        self.process.stop(then)
        self.state.set_status("Stopping after the current step…")

    def resume(self) -> bool:
        """Continue the shown run where its last checkpoint left it."""
        shown = self.state.shown
        try:
            if shown is None:
                raise TrainError("no run to resume: start one, or open an earlier one with Open run…")
            run = shown.run
            run.read()
            if shown.phase == "done":
                raise TrainError(f"{run.path.name} already finished all its steps")
            if pid := running_elsewhere(run):
                raise TrainError(f"{run.path.name} is still training in process {pid}; it is followed here "
                                 "once opened, stop it first to resume it from here")
            self.process.resume(run.path)
        except MaskvizError as exc:
            self._refuse("Cannot resume", str(exc))
            return False
        self.state.update_form(out=str(run.path))  # the field names the run being written
        self._show_live(run, "running", f"Resuming {run.path.name}…")
        return True

    def detach(self) -> int:
        """Let the run go on after the app quits (its files keep recording it); returns its pid."""
        pid = self.process.detach()
        if pid:
            self.state.set_phase("unfinished")
            self.state.set_status(f"Left running in the background (process {pid}); open its run folder later.")
        return pid

    def open_run(self, path: str | Path) -> bool:
        """Show an existing run (curves, state) so it can be resumed or opened in the viewer; a run
        still being written by another process is followed live."""
        if self.running:
            self._refuse("Cannot open a run", "a training run is going: stop it first")
            return False
        run = RunDir(path)
        try:
            run.read()
        except MaskvizError as exc:
            self._refuse("Cannot open the run", str(exc))
            return False
        if pid := running_elsewhere(run):
            self._follow(run, pid)
            return True
        history = RunHistory.from_events(read_events(run.metrics)[0])
        end = history.end
        phase = end.reason if end is not None else "unfinished" if history.step else "new"
        self._show(ShownRun(run, history, phase))
        verdict = history.verdict().sentence()
        text = (ending_text(end.reason, end.message or "", end.step, history.total_steps) if end is not None
                else "no end recorded (it was killed or crashed); Resume continues from its last checkpoint.")
        self.state.set_status(f"Run {run.path.name}: {text}" + (f" {verdict}" if verdict else ""))
        return True

    def follow_live_run(self) -> bool:
        """Pick up a run still training (its lock names a live process here), e.g. after a restart."""
        for run in list_runs(self.state.runs_root):
            if pid := running_elsewhere(run):
                self._follow(run, pid)
                return True
        return False

    def _follow(self, run: RunDir, pid: int) -> None:
        self.state.update_form(out=str(run.path))  # the field names the run being written
        self._show_live(run, "following", f"Following {run.path.name}, still training in process {pid}…")
        self.state.set_phase("following", pid=pid)
        self.process.attach(run.path, pid)

    def refresh_runs(self) -> None:
        """The Runs list, newest first."""
        self.state.set_runs([(run, run_summary(run)[1]) for run in list_runs(self.state.runs_root)])

    # ================================================================== the result

    def open_result(self, which: str = "last") -> bool:
        """Compare the shown run's final (or best) model with its base on the viewer's image and mask,
        on the viewer's worker, one model forward per step."""
        shown, v = self.state.shown, self.viewer
        try:
            if shown is None or result_checkpoint(shown.run, which) is None:
                raise TrainError("the run has no checkpoint yet: it saves one when it validates, stops or ends")
            if v.image is None:
                raise TrainError("open an image in the viewer first")
        except MaskvizError as exc:
            self._refuse("Cannot open the result", str(exc))
            return False
        context = ViewerContext(v.model, v.model_source, v.image, v.patch_mask().copy(), v.options.unnormalize,
                                v.view_label)
        path = shown.run.path
        self.state.set_comparison(ComparisonShown(None, which, "Reconstructing with the base and the fine-tuned "
                                                               "model…", busy=True))
        self._compare_id = self.jobs.run_job(LANE, lambda: comparison_steps(path, context, which))
        return True

    def use_result(self) -> None:
        """Open the compared fine-tuned checkpoint in the viewer."""
        result = self.state.comparison.result
        if result is not None:
            self.useModelRequested.emit(str(result.checkpoint))

    def _on_job_step(self, lane: str, job_id: int, what: Any) -> None:
        if lane == LANE and job_id == self._compare_id:
            c = self.state.comparison
            self.state.set_comparison(ComparisonShown(None, c.which, f"Comparing: {what}…", busy=True))

    def _on_job_done(self, lane: str, job_id: int, comparison: Any) -> None:
        if lane == LANE and job_id == self._compare_id:
            self.state.set_comparison(ComparisonShown(comparison, self.state.comparison.which))

    def _on_job_failed(self, lane: str, job_id: int, message: str) -> None:
        """Said where the comparison would be and in the status line; no dialog, as the job API reports
        a quit's cancel the same way as an error."""
        if lane == LANE and job_id == self._compare_id:
            self._compare_id = 0
            self.state.set_comparison(ComparisonShown(None, self.state.comparison.which,
                                                      f"Could not compare: {message}"))
            self.state.set_status(f"Cannot open the result: {message}", "error")

    # ================================================================== following a run

    def _show(self, shown: ShownRun) -> None:
        """Another run in the monitor: a comparison still computing for the previous one is dropped."""
        self._cancel_comparison()
        self.state.show_run(shown)

    def _cancel_comparison(self) -> None:
        """Forget the comparison job first: the jobFailed its cancel brings is then not news."""
        if self._compare_id:
            self._compare_id = 0
            self.jobs.cancel_job(LANE)

    def _show_live(self, run: RunDir, phase: str, status: str) -> None:
        self._show(ShownRun(run, phase=phase))
        self.refresh_runs()
        self.state.set_status(status)

    def _on_events(self, events: list[Any], reset: bool) -> None:
        self.state.add_events(events, reset)
        shown = self.state.shown
        if shown is None or shown.phase not in ("running", "following") or shown.history.last is None:
            return
        following = shown.phase == "following"
        name = f"{shown.run.path.name} (process {shown.pid})" if following else shown.run.path.name
        self.state.set_status(training_text(name, shown.history, "Following" if following else "Training"),
                              "warn" if shown.history.verdict().bad else "")

    def _on_process_state(self, state: str) -> None:
        if state == "stopping" and self.state.live:
            self.state.set_phase("stopping")

    def _on_finished(self, reason: str, _exit_code: int, message: str) -> None:
        shown = self.state.shown
        if shown is None:
            return
        if Path(self.state.form.out).expanduser() == shown.run.path:
            self.new_run_folder()  # the next Start must not collide with this run
        history = shown.history
        text = ending_text(reason, message, history.step, history.total_steps)
        verdict = history.verdict()
        if verdict.text and reason != "error":
            text += f" {verdict.sentence()}"
        self.state.set_phase(reason, self.process.ending)
        self.refresh_runs()
        tone = "error" if reason == "error" else "warn" if verdict.bad else "good" if reason == "done" else ""
        self.state.set_status(text, tone)
        if reason == "error":
            self._show_crash(shown.run, message)
        self.message.emit(f"Training: {text}")

    def _show_crash(self, run: RunDir, message: str) -> None:
        """The plain error above the log tail; the log comes from train.log when the child said nothing."""
        if not any(line.strip() for line in self.state.output):
            try:
                lines = run.log.read_text(encoding="utf-8", errors="replace").splitlines()[-200:]
            except OSError:
                lines = []
            self.state.add_output(lines or ["(the run wrote no log)"])
        self.state.set_crash(message)

    def _refuse(self, title: str, message: str) -> None:
        """A command that cannot go ahead: the status says why, the window shows one dialog."""
        self.state.set_status(f"{title}: {message}", "error")
        self.refused.emit(title, message)

    def _idle_status(self) -> None:
        """What to do next, from what the form holds (a shown run speaks for itself)."""
        s = self.state
        s.set_status(idle_text(s.base is not None, s.folder.found if s.folder is not None else None,
                               bool(s.form.folder.strip()), s.form.steps))

    # ================================================================== settings

    def _save_settings(self) -> None:
        if self.settings is not None:
            save_form(self.settings, self.state.form)

    def _restore_settings(self) -> None:
        if self.settings is None:
            return
        changes, folder = restored_form(self.settings, self.state.form)
        self.state.update_form(**changes)
        if folder:
            self.set_folder(folder)
