"""Model work off the UI thread: one worker thread, priority lanes, ids on every result.

Why one thread with lanes instead of a pool: on a 2-core machine two concurrent forwards only slow
each other down (performance-anchors: contention), and a model must not be moved to another device
while another thread runs it. So every task runs on one worker thread in priority order:

``load`` (a model the user waits for) > ``image`` (an image being opened: decoded, fitted, its view's
picture made) > ``picture`` (a photo cut or resampled for the tiles or native view) > ``recon`` (the
picture under the brush) > ``tiles`` (the whole picture in the tiles or native view, streamed a batch
of tiles per step) > ``baseline`` (a non-learned fill beside it) > ``explain`` (the Explain lens's
map) > ``before-after`` (a training run's result against its base) > ``curve`` (the loss-vs-ratio
sweep) > ``compare`` (the Compare dock's table). ``tiles`` and the last four are
the :data:`BACKGROUND` lanes.

A task is ``fn()`` returning a value, or a generator: then one ``next()`` runs per turn and the
worker picks the most urgent lane again before the next one, so a background job holds the worker
for one step (the jobs make a step one model forward at most). Each lane holds at most one pending
task: a newer one replaces it, and a running task that is no longer its lane's newest (replaced or
:meth:`ModelWorker.cancel`\\ ed) stops at its next module call, not at the end of its forward:

* **Preemption points.** While the worker thread runs a task, a forward pre-hook on every module
  call checks two things: whether the task is stale (then :class:`Interrupted` ends it: cancel
  and quit free the worker within one transformer block), and, in a background task, whether a
  reconstruction is waiting (then it runs right there, nested, and the background forward goes on
  afterwards). A reconstruction therefore waits for one block of a background forward, not for
  the whole forward. Module forwards keep no state on the module, so the nesting is safe; it is
  skipped under autocast, which would leak into the nested call.
* **Holds.** :meth:`ModelWorker.hold` keeps lanes from starting their next step, for named reasons
  (a stroke being drawn, a model being loaded, a dock off screen); a running step finishes.

Results come back to the UI thread as queued signals carrying the lane and the task id, so a caller
can tell the newest result from a stale one. The thread is a daemon: quitting never waits for a
checkpoint read in C++ to return (:meth:`ModelWorker.shutdown`).
"""

from __future__ import annotations

import inspect
import itertools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal

from maskviz.errors import MaskvizError

log = logging.getLogger("maskviz.gui")

#: Highest first.
LANES = ("load", "image", "picture", "recon", "tiles", "baseline", "explain", "before-after", "curve", "compare")
BACKGROUND = ("tiles", "explain", "before-after", "curve", "compare")
PREEMPTING = "recon"  # the lane that may run inside a background task's forward
GIL_SWITCH_S = 0.001  # how long the UI thread may wait for the GIL the worker holds (see ModelWorker)
STOP_WAIT_S = 2.0  # shutdown waits this long for a task that cannot be interrupted (a checkpoint read)


def worker_threads(cpu_count: int | None = None) -> int:
    """Torch threads for the worker: all cores but one, so the UI thread always has a core.

    With one other busy thread a 2-thread ViT-B forward took 708 ms instead of 248 ms, but a
    1-thread forward only 385 ms (performance-anchors: contention); a stalled UI is worse.
    """
    return max(1, (cpu_count or os.cpu_count() or 1) - 1)


class Interrupted(BaseException):  # noqa: N818 - not an error: the task was stopped on purpose
    """Raised inside a stale task at a module call; a BaseException so no ``except Exception`` keeps it."""


# ---------------------------------------------------------------------------------- requests


@dataclass
class ReconRequest:
    """Everything one reconstruction needs; the mask is copied so later painting cannot change it."""

    model: torch.nn.Module
    image: Image.Image
    mask: np.ndarray
    unnormalize: str = "true-patch"
    precision: str = "fp32"
    id: int = 0  # set by submit

    def __post_init__(self) -> None:
        self.mask = np.array(self.mask, dtype=bool, copy=True)

    def run(self) -> ReconOutcome:
        from maskviz.reconstruct import reconstruct

        t0 = time.perf_counter()
        result = reconstruct(self.model, self.image, [self.mask], self.unnormalize, self.precision)[0]
        return ReconOutcome(self.id, result, time.perf_counter() - t0, self)


@dataclass
class ReconOutcome:
    """What came back for one request: the core's Reconstruction and how long the model took."""

    id: int
    result: Any  # maskviz.reconstruct.Reconstruction
    seconds: float
    request: ReconRequest | None = None
    view: str = "model"  # the view's label ("tiles 1024x768 px"): figures and exports name it
    progress: tuple[int, int] | None = None  # (done, total) tiles of a whole picture still streaming in
    view_result: Any = None  # the tiles or native view's maskviz.whole.ViewResult (per-tile metrics)

    @property
    def partial(self) -> bool:
        """A whole picture still streaming in: pending tiles show the masked input, unscored."""
        return self.progress is not None


@dataclass
class _Task:
    lane: str
    id: int
    fn: Callable[[], Any]
    steps: Any = None  # the generator fn() returned, stepped one next() per turn
    started: bool = False


# ---------------------------------------------------------------------------------- the facade


class ModelWorker(QObject):
    """The UI thread's handle on the worker thread: submit tasks, receive results with their ids.

    Every task ends with exactly one of ``done``, ``failed`` or ``dropped`` (replaced, cancelled or
    stopped by shutdown before it finished); a generator task also sends ``stepped`` per value
    (``None`` values are turns without news and are not sent).
    """

    started = Signal(str, int)
    stepped = Signal(str, int, object)  # lane, id, a generator's value
    done = Signal(str, int, object, float)  # lane, id, value (a generator's return value), seconds
    failed = Signal(str, int, str)  # lane, id, plain message
    dropped = Signal(str, int)
    busyChanged = Signal(str, bool)  # lane, running or waiting
    # emitted on the worker thread, delivered queued to the slots below on the UI thread
    _started = Signal(str, int)
    _stepped = Signal(str, int, object)
    _done = Signal(str, int, object, float)
    _failed = Signal(str, int, str)
    _dropped = Signal(str, int)

    def __init__(self, parent: QObject | None = None, threads: int | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._latest: dict[str, int] = {}
        self._running: dict[str, int | None] = {}
        self._open: dict[str, set[int]] = {lane: set() for lane in LANES}  # submitted, not yet ended
        queued = Qt.ConnectionType.QueuedConnection
        for private, slot in ((self._started, self._on_started), (self._stepped, self._on_stepped),
                              (self._done, self._on_done), (self._failed, self._on_failed),
                              (self._dropped, self._on_dropped)):
            private.connect(slot, queued)
        # The worker's Python (a hook at every module call, stitching tiles) holds the GIL between
        # torch kernels; at the default 5 ms switch interval the UI thread waited that long for it
        # after each numpy call of a redraw, and a 10 ms redraw took 40. 1 ms keeps redraws whole.
        sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_S))
        self._runner = _Runner(self, threads or worker_threads())
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # -------------------------------------------------------------- submitting

    def submit(self, lane: str, fn: Callable[[], Any]) -> int:
        """Run ``fn()`` in ``lane``, replacing that lane's pending task; returns the task's id.

        If ``fn()`` returns a generator, it is stepped one ``next()`` per turn (see the module doc)."""
        if lane not in LANES:
            raise ValueError(f"unknown lane {lane!r}; lanes: {', '.join(LANES)}")
        return self._queue(lane, next(self._ids), fn)

    def reconstruct(self, request: ReconRequest) -> int:
        """Queue a reconstruction (lane ``recon``); its outcome comes back through ``done``."""
        request.id = next(self._ids)  # before it is queued: the worker may run it at once
        return self._queue("recon", request.id, request.run)

    def _queue(self, lane: str, task_id: int, fn: Callable[[], Any]) -> int:
        self._latest[lane] = task_id
        self._open[lane].add(task_id)
        replaced = self._runner.put(_Task(lane, task_id, fn))
        if replaced is not None:
            self._dropped.emit(lane, replaced)
        self.busyChanged.emit(lane, True)
        return task_id

    def cancel(self, lane: str) -> None:
        """Forget the lane's pending task and stop its running one at its next module call or step
        (each ends with ``dropped``; a one-shot task that calls no module may still end ``done``)."""
        self._latest[lane] = next(self._ids)  # nothing submitted so far is the newest any more
        self._runner.cancel(lane, self._latest[lane])

    def hold(self, lanes: Iterable[str], reason: str, on: bool = True) -> None:
        """Keep ``lanes`` from starting a step while ``reason`` stands (a running step finishes)."""
        self._runner.hold(tuple(lanes), reason, on)

    def is_held(self, lane: str) -> bool:
        return self._runner.is_held(lane)

    # -------------------------------------------------------------- state

    def latest_id(self, lane: str) -> int:
        """The newest id submitted to a lane (0 if none): only its result is current."""
        return self._latest.get(lane, 0)

    def is_busy(self, lane: str | None = None) -> bool:
        """Whether a task of ``lane`` (any lane when None) has been submitted and has not ended yet
        (as the UI thread knows it: its end signal has been delivered)."""
        return any(self._open[name] for name in (LANES if lane is None else (lane,)))

    def is_alive(self) -> bool:
        return self._runner.thread.is_alive()

    def shutdown(self, wait_s: float = STOP_WAIT_S) -> bool:
        """Drop pending work, stop the running task at its next module call and end the thread.

        Waits at most ``wait_s`` (a checkpoint being read cannot be interrupted; the thread is a
        daemon and dies with the process). Idempotent; True when the thread has ended."""
        for lane, task_id in self._runner.stop():
            self._dropped.emit(lane, task_id)
        self._runner.thread.join(wait_s)
        if self._runner.thread.is_alive():
            log.warning("worker thread still busy after %.1f s; leaving it to end with the process", wait_s)
            return False
        return True

    # -------------------------------------------------------------- results (UI thread)

    def _on_started(self, lane: str, task_id: int) -> None:
        self._running[lane] = task_id
        self.started.emit(lane, task_id)

    def _finish(self, lane: str, task_id: int) -> None:
        if self._running.get(lane) == task_id:
            self._running[lane] = None
        self._open[lane].discard(task_id)
        self.busyChanged.emit(lane, self.is_busy(lane))

    def _on_stepped(self, lane: str, task_id: int, value: object) -> None:
        self.stepped.emit(lane, task_id, value)

    def _on_done(self, lane: str, task_id: int, value: object, seconds: float) -> None:
        self._finish(lane, task_id)
        self.done.emit(lane, task_id, value, seconds)

    def _on_failed(self, lane: str, task_id: int, message: str) -> None:
        self._finish(lane, task_id)
        self.failed.emit(lane, task_id, message)

    def _on_dropped(self, lane: str, task_id: int) -> None:
        self._finish(lane, task_id)
        self.dropped.emit(lane, task_id)


# ---------------------------------------------------------------------------------- the thread


class _Runner:
    """The worker thread's side: lanes, holds, the loop and the preemption points."""

    def __init__(self, facade: ModelWorker, threads: int) -> None:
        self._out = facade
        self._threads = threads
        self._cond = threading.Condition()
        self._pending: dict[str, _Task] = {}
        self._newest: dict[str, int] = {}  # a task runs on only while it is its lane's newest
        self._holds: dict[str, set[str]] = {}
        self._stopping = False
        self._current: _Task | None = None
        self._nested = False
        self._hook = torch.nn.modules.module.register_module_forward_pre_hook(self._preemption_point)
        self.thread = threading.Thread(target=self._loop, name="maskviz-worker", daemon=True)
        self.thread.start()

    # ---------------------------------------------------------- called from the UI thread

    def put(self, task: _Task) -> int | None:
        """Queue ``task``; returns the id of the pending task it replaced, if any."""
        with self._cond:
            old = self._pending.pop(task.lane, None)
            self._pending[task.lane] = task
            self._newest[task.lane] = task.id
            self._cond.notify()
        return None if old is None else old.id

    def cancel(self, lane: str, newest: int) -> None:
        with self._cond:
            pending = self._pending.pop(lane, None)
            self._newest[lane] = newest  # a running task of the lane is stale from now on
        if pending is not None:  # it never reaches the loop again: report it here
            self._out._dropped.emit(lane, pending.id)

    def hold(self, lanes: tuple[str, ...], reason: str, on: bool) -> None:
        with self._cond:
            for lane in lanes:
                reasons = self._holds.setdefault(lane, set())
                (reasons.add if on else reasons.discard)(reason)
            self._cond.notify()

    def is_held(self, lane: str) -> bool:
        with self._cond:
            return bool(self._holds.get(lane))

    def stop(self) -> list[tuple[str, int]]:
        """Stop taking tasks; returns the pending ones dropped."""
        with self._cond:
            self._stopping = True
            dropped = [(t.lane, t.id) for t in self._pending.values()]
            self._pending.clear()
            self._cond.notify()
        return dropped

    # ---------------------------------------------------------- the worker thread

    def _loop(self) -> None:
        torch.set_num_threads(self._threads)  # per calling thread (OpenMP): set on this one
        try:
            self._serve()
        finally:
            self._hook.remove()  # here, not from the UI thread: never while a module call reads the hooks

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (task := self._take()) is None:
                    self._cond.wait()
                if self._stopping:
                    return
                self._current = task
            try:
                self._run(task)
            finally:
                with self._cond:
                    self._current = None

    def _take(self, lanes: Iterable[str] = LANES) -> _Task | None:
        for lane in lanes:
            if lane in self._pending and not self._holds.get(lane):
                return self._pending.pop(lane)
        return None

    def _stale(self, task: _Task) -> bool:
        return self._stopping or self._newest.get(task.lane) != task.id

    def _run(self, task: _Task) -> None:
        out = self._out
        if not task.started:
            task.started = True
            out._started.emit(task.lane, task.id)
        t0 = time.perf_counter()
        try:
            if task.steps is None:
                value = task.fn()
                if not inspect.isgenerator(value):
                    out._done.emit(task.lane, task.id, value, time.perf_counter() - t0)
                    return
                task.steps = value
            self._step(task, t0)
        except Interrupted:
            out._dropped.emit(task.lane, task.id)
        except MaskvizError as exc:
            out._failed.emit(task.lane, task.id, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the worker thread or reach the user raw
            log.exception("%s task %d failed", task.lane, task.id)
            out._failed.emit(task.lane, task.id, f"internal error ({type(exc).__name__}: {exc}); "
                                                 "details are in the log file")

    def _step(self, task: _Task, t0: float) -> None:
        try:
            value = next(task.steps)
        except StopIteration as end:
            self._out._done.emit(task.lane, task.id, end.value, time.perf_counter() - t0)
            return
        if value is not None:
            self._out._stepped.emit(task.lane, task.id, value)
        with self._cond:  # back in line unless it was replaced or cancelled meanwhile
            requeue = not self._stale(task) and task.lane not in self._pending
            if requeue:
                self._pending[task.lane] = task
        if not requeue:
            task.steps.close()
            self._out._dropped.emit(task.lane, task.id)

    def _preemption_point(self, _module: Any, _args: Any) -> None:
        """Forward pre-hook on every module call in the process; acts only on the worker thread."""
        task = self._current
        if task is None or threading.current_thread() is not self.thread:
            return
        with self._cond:
            if self._stale(task):
                raise Interrupted
            urgent = None
            if not self._nested and task.lane in BACKGROUND and not _autocasting():
                urgent = self._take((PREEMPTING,))
            if urgent is not None:
                self._current, self._nested = urgent, True
        if urgent is not None:
            try:
                self._run(urgent)
            finally:
                with self._cond:
                    self._current, self._nested = task, False


def _autocasting() -> bool:
    return torch.is_autocast_enabled("cpu") or torch.is_autocast_enabled("cuda")
