"""Run ``maskviz train`` as a child process and follow it through the files it writes.

Why a process and not a thread: training keeps every core and the GIL busy for hours, may run out
of memory, and must survive the window closing if the user asks. So the GUI launches
``python -m maskviz train ...`` (``sys.executable``, so no console script is needed) and learns
everything from files, never from pipes:

* ``RUN_DIR/metrics.jsonl`` — the events, tailed with :class:`maskviz.train.EventTail` every
  :data:`POLL_MS`;
* ``RUN_DIR/gui-output.log`` — the child's stdout and stderr (log lines and the CLI's
  ``maskviz: error: ...`` one-liner), appended to and tailed the same way. A file, not a pipe, because
  a child left running after the app quits would die on its next write to a closed pipe.

Stop protocol: :meth:`TrainProcess.stop` sends SIGTERM (``QProcess.terminate`` on POSIX); the trainer
finishes the current step, saves, writes an ``end`` event with reason ``stopped`` and exits with
128 + 15. If it has not exited after :attr:`TrainProcess.stop_timeout_ms` it is killed (reason
``killed``; a resume repeats the steps since the last save). On Windows ``terminate`` posts
WM_CLOSE, which a console program never receives, so there a stop is always the kill after the
timeout. Resume is simply ``maskviz train --resume RUN_DIR``.

Re-attaching: a run left going when the app closed (or started from a terminal) holds its folder's
lock (``run.lock``: pid + host). :meth:`TrainProcess.attach` follows such a run through the same
files, with no QProcess; it ends when the lock's holder is gone, and Stop signals that pid.

Cores: the child gets the cores nothing else keeps busy when it starts (every core on an idle machine,
as in a terminal; :func:`maskviz.train.launch.trainer_threads`) at a lower scheduling priority
(:func:`maskviz.train.launch.lower_priority`), so the app's UI and model worker still get a core when
they ask.

Only :class:`~maskviz.gui.training.controller.TrainingController` drives this class.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QIODevice, QObject, QProcess, QProcessEnvironment, QTimer, Signal

from maskviz.train.events import EventTail, TrainEvent
from maskviz.train.launch import (
    OUTPUT_NAME,
    Ending,
    TextTail,
    TrainRequest,
    child_environment,
    judge_ending,
    lower_priority,
    resume_arguments,
)
from maskviz.train.rundir import RunDir, TrainError
from maskviz.train.runs import running_elsewhere

POLL_MS = 250
STOP_TIMEOUT_MS = 15000


class _ChildProcess(QProcess):
    """A QProcess that can let go of its child: ``~QProcess`` kills a child it still thinks is running."""

    def forget(self) -> None:
        self.setProcessState(QProcess.ProcessState.NotRunning)


class TrainProcess(QObject):
    """Starts, follows, stops and resumes one ``maskviz train`` child at a time."""

    started = Signal(str)  # run folder
    eventsArrived = Signal(list, bool)  # new TrainEvents, reset (the file was rewritten: these are all of it)
    outputArrived = Signal(list)  # new lines of the child's stdout/stderr
    finished = Signal(str, int, str)  # reason, exit code, plain message
    stateChanged = Signal(str)  # "idle", "running", "stopping"

    def __init__(self, parent: QObject | None = None, command_prefix: list[str] | None = None,
                 stop_timeout_ms: int = STOP_TIMEOUT_MS) -> None:
        super().__init__(parent)
        self.stop_timeout_ms = stop_timeout_ms
        # What runs ``maskviz train`` (tests pass a fake trainer that starts in a blink).
        self.command_prefix = command_prefix or [sys.executable, "-m", "maskviz", "train"]
        self.run_dir: RunDir | None = None
        self.end_event: TrainEvent | None = None
        self.ending: Ending | None = None
        self.state = "idle"
        self._process: _ChildProcess | None = None
        self.attached_pid = 0  # a run followed through its files only (see attach)
        self._events: EventTail | None = None
        self._output: TextTail | None = None
        self._launched_at = 0.0
        self._stop_requested = self._killed = self._grace_given = False
        self._after_finish: list[Callable[[], None]] = []
        self.step_seconds = 0.0  # the last step's duration, from the events' times
        self._last_step_event: TrainEvent | None = None
        self._poll_timer = QTimer(self, interval=POLL_MS)
        self._poll_timer.timeout.connect(self.poll)
        self._kill_timer = QTimer(self, singleShot=True)
        self._kill_timer.timeout.connect(self._force)

    # -------------------------------------------------------------- state

    @property
    def running(self) -> bool:
        return self._process is not None or self.attached_pid > 0

    @property
    def output_lines(self) -> list[str]:
        """The bounded tail of this run's stdout/stderr."""
        return list(self._output.lines) if self._output is not None else []

    def pid(self) -> int:
        return int(self._process.processId()) if self._process is not None else self.attached_pid

    def _set_state(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)

    # -------------------------------------------------------------- starting

    def start(self, request: TrainRequest) -> None:
        """A new run in ``request.out`` (created here, so an unusable folder is reported before launch)."""
        self._launch(request.arguments(), RunDir(request.out))

    def resume(self, run_dir: str | os.PathLike) -> None:
        self._launch(resume_arguments(run_dir), RunDir(run_dir))

    def _launch(self, arguments: list[str], run: RunDir) -> None:
        if self.running:
            raise TrainError("a training run is already running; stop it first")
        try:
            run.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrainError(f"cannot create the run folder {run.path}: {exc.strerror or exc}") from None
        output = run.path / OUTPUT_NAME
        self.run_dir, self.end_event, self.ending = run, None, None
        self._events, self._output = EventTail(run.metrics), TextTail(output)
        self._stop_requested = self._killed = False
        self._launched_at = time.time()
        self._process = self._new_process(output, run.path)
        self._process.start(self.command_prefix[0], [*self.command_prefix[1:], *arguments])
        lower_priority(int(self._process.processId()))
        self._poll_timer.start()
        self._set_state("running")
        self.started.emit(str(run.path))

    def attach(self, run_dir: str | os.PathLike, pid: int) -> None:
        """Follow a run that another process (``pid``, holding its lock) is writing, from its files."""
        if self.running:
            raise TrainError("a training run is already running; stop it first")
        run = RunDir(run_dir)
        self.run_dir, self.end_event, self.ending = run, None, None
        self._events, self._output = EventTail(run.metrics), TextTail(run.path / OUTPUT_NAME, from_end=False)
        self._stop_requested = self._killed = False
        self._launched_at = 0.0  # its end event, whenever written, is this run's
        self.attached_pid = pid
        self._poll_timer.start()
        self._set_state("running")
        self.started.emit(str(run.path))
        self.poll()

    def _new_process(self, output: Path, workdir: Path) -> _ChildProcess:
        process = _ChildProcess(self)
        process.setWorkingDirectory(str(workdir))
        env = QProcessEnvironment()
        for key, value in child_environment(dict(os.environ)).items():
            env.insert(key, value)
        process.setProcessEnvironment(env)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.setStandardOutputFile(str(output), QIODevice.OpenModeFlag.Append)
        flag = getattr(QProcess.UnixProcessFlag, "CreateNewSession", None) if os.name == "posix" else None
        if flag is not None:  # Qt >= 6.7: Ctrl-C in the app's terminal is the app's, not the run's
            process.setUnixProcessParameters(flag)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        return process

    # -------------------------------------------------------------- following

    def poll(self) -> None:
        """Read new events and output lines (the timer calls this; tests may too)."""
        if self._events is None:
            return
        events, reset = self._events.poll()
        if reset:
            self.end_event = None
        for event in events:
            if event.event == "end" and event.time >= self._launched_at:  # older ends belong to earlier runs
                self.end_event = event
            if event.event == "step":
                self._note_step_time(event)
        if events or reset:
            self.eventsArrived.emit(events, reset)
        lines = self._output.poll() if self._output is not None else []
        if lines:
            self.outputArrived.emit(lines)
        if self.attached_pid and self.run_dir is not None and running_elsewhere(self.run_dir) != self.attached_pid:
            self._attached_ended()

    def _note_step_time(self, event: TrainEvent) -> None:
        last = self._last_step_event
        if last is not None and event.step > last.step:
            self.step_seconds = (event.time - last.time) / (event.step - last.step)
        self._last_step_event = event

    # -------------------------------------------------------------- stopping

    def kill_timeout_ms(self) -> int:
        """How long a stop may take: the current step must finish and be saved. A CPU fine-tune of
        ViT-B takes tens of seconds a step, so a fixed 15 s would kill nearly every graceful stop."""
        return max(self.stop_timeout_ms, int(3 * self.step_seconds * 1000))

    def stop(self, then: Callable[[], None] | None = None) -> None:
        """Ask the run to stop after its current step; kill it if it has not ended after the timeout.

        ``then`` runs once the process has ended (the window uses it to close after a stop).
        """
        if then is not None:
            self._after_finish.append(then)
        if not self.running or self._stop_requested:
            return
        self._stop_requested, self._grace_given = True, False
        if self.attached_pid:
            _signal(self.attached_pid, signal.SIGTERM)
        elif os.name == "posix":
            self._process.terminate()  # SIGTERM: the trainer saves and writes "stopped"
        self._kill_timer.start(self.kill_timeout_ms())  # Windows: terminate() never reaches a console child
        self._set_state("stopping")

    def _force(self) -> None:
        self.poll()
        if self.end_event is not None and not self._grace_given:
            # It has saved and said how it ended: it is only exiting (PyTorch's teardown takes seconds on a busy
            # machine). Killing it now would call a clean stop "killed"; give it one more timeout.
            self._grace_given = True
            self._kill_timer.start(self.stop_timeout_ms)
            return
        if self.attached_pid:
            self._killed = True
            _signal(self.attached_pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        elif self._process is not None:
            self._killed = True
            self._process.kill()

    def kill_now(self, wait_ms: int = 10000) -> None:
        """End the child at once and wait for it (teardown, tests)."""
        if self._process is not None:
            self._killed = True
            self._process.kill()
            self._process.waitForFinished(wait_ms)

    def detach(self) -> int:
        """Leave the run going on its own (the app is closing); returns its process id."""
        process, pid = self._process, self.pid()
        if process is None and not self.attached_pid:
            return 0
        if process is not None:
            process.finished.disconnect(self._on_finished)
            process.errorOccurred.disconnect(self._on_error)
            process.forget()
        self.attached_pid = 0
        self._poll_timer.stop()
        self._kill_timer.stop()
        self._process = None
        self._set_state("idle")
        return pid

    # -------------------------------------------------------------- ending

    def _on_error(self, error: QProcess.ProcessError) -> None:
        """A child that never started: reported from the event loop, since some platforms fail inside start()."""
        process = self._process
        if error == QProcess.ProcessError.FailedToStart and process is not None:
            ending = Ending("error", -1, f"could not start the training process ({process.errorString()})")
            QTimer.singleShot(0, self, lambda: self._process is process and self._finish(ending))

    def _on_finished(self, exit_code: int, status: QProcess.ExitStatus) -> None:
        self.poll()
        if self._output is not None and (rest := self._output.flush()):
            self.outputArrived.emit(rest)
        crashed = status == QProcess.ExitStatus.CrashExit
        self._finish(judge_ending(self.end_event, exit_code, crashed, self._stop_requested, self._killed,
                                  self._output.lines if self._output else [], self.stop_timeout_ms / 1000))

    def _attached_ended(self) -> None:
        """The followed run let go of its lock: it ended (its end event says how) or it was killed."""
        pid, self.attached_pid = self.attached_pid, 0  # poll once more without coming back here
        self.poll()
        self.attached_pid = pid
        if self._output is not None and (rest := self._output.flush()):
            self.outputArrived.emit(rest)
        code = 0 if self.end_event is not None and self.end_event.reason == "done" else -1
        self._finish(judge_ending(self.end_event, code, self.end_event is None, self._stop_requested,
                                  self._killed, self._output.lines if self._output else [],
                                  self.stop_timeout_ms / 1000))

    def _finish(self, ending: Ending) -> None:
        process, self._process = self._process, None
        self.attached_pid = 0
        self._poll_timer.stop()
        self._kill_timer.stop()
        if process is not None:
            process.deleteLater()
        self.ending = ending
        self._set_state("idle")
        self.finished.emit(ending.reason, ending.exit_code, ending.message)
        callbacks, self._after_finish = self._after_finish, []
        for callback in callbacks:
            callback()


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass  # already gone: the next poll sees its lock released
