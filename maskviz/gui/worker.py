"""Model work off the UI thread: one long-lived ``QThread``, "latest wins" lanes, ids on every result.

Why one thread with lanes instead of a pool: a model must be used by one thread at a time (loading,
moving to a device and reconstructing all touch it), and on a 2-core machine two concurrent forwards
only slow each other down (performance-anchors: contention). So every task runs on one worker thread
in priority order:

``load`` (a model the user is waiting for) > ``recon`` (the picture under the brush) > ``baseline``
(a non-learned fill beside it) > ``compare`` (a training run against the viewer's model) > ``curve``
(the background loss sweep, one forward pass per step and held while a stroke is drawn, so a
reconstruction waits for at most one sweep forward, usually none) > ``table`` (the Compare view's
strategies × models table, one model × image per step).

Each lane holds at most one pending task: :meth:`ModelWorker.submit` *replaces* a pending, not yet
started task of the same lane, so a stale request never runs. A running torch call cannot be
interrupted, so a result can still arrive after a newer request was submitted; every result carries
its request id and the window shows it only when that id is the newest it submitted.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from maskviz.errors import MaskvizError

log = logging.getLogger("maskviz.gui")

LANES = ("load", "recon", "baseline", "compare", "curve", "table")  # highest priority first


def worker_threads(cpu_count: int | None = None) -> int:
    """Torch threads for the worker: all cores but one, so the UI thread always has a core.

    With one other busy thread a 2-thread ViT-B forward took 708 ms instead of 248 ms, but a
    1-thread forward only 385 ms (performance-anchors: contention); a stalled UI is worse.
    """
    return max(1, (cpu_count or os.cpu_count() or 1) - 1)


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


@dataclass
class ReconOutcome:
    """What came back for one request: the core's Reconstruction and how long the model took."""

    id: int
    result: Any  # maskviz.reconstruct.Reconstruction
    seconds: float
    request: ReconRequest | None = None


@dataclass
class _Task:
    lane: str
    id: int
    run: Callable[[], Any] | None = None  # one-shot task
    steps: Iterator[Any] | None = None  # generator task: one step per turn, cancellable between steps
    started: bool = field(default=False)


# ---------------------------------------------------------------------------------- the runner


class _Runner(QObject):
    """Lives on the worker thread (no parent, moved there) and drains the lanes in priority order."""

    done = Signal(str, int, object, float)  # lane, id, value, seconds
    step = Signal(str, int, object)  # lane, id, partial value of a generator task
    failed = Signal(str, int, str)  # lane, id, plain message
    started = Signal(str, int)
    dropped = Signal(str, int)  # a generator task superseded between steps
    wake = Signal()

    def __init__(self, threads: int) -> None:
        super().__init__()
        self._threads = threads
        self._lock = threading.Lock()
        self._pending: dict[str, _Task] = {}
        self._newest: dict[str, int] = {}  # a generator task keeps running only while it is the newest
        self._held: set[str] = set()  # lanes whose pending task waits (e.g. the curve during a stroke)
        self._stopping = False
        self.wake.connect(self._drain)

    @Slot()
    def init_thread(self) -> None:
        """Runs on the worker thread: torch's intra-op thread count is per calling thread (OpenMP)."""
        torch.set_num_threads(self._threads)

    def put(self, task: _Task) -> None:
        with self._lock:
            self._pending[task.lane] = task
            self._newest[task.lane] = task.id
        self.wake.emit()

    def drop(self, lane: str, newest: int) -> None:
        """Forget the pending task and stop a running generator task at its next step."""
        with self._lock:
            self._pending.pop(lane, None)
            self._newest[lane] = newest

    def hold(self, lane: str, on: bool) -> None:
        with self._lock:
            (self._held.add if on else self._held.discard)(lane)
        if not on:
            self.wake.emit()

    def is_held(self, lane: str) -> bool:
        with self._lock:
            return lane in self._held

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._pending.clear()

    def has_pending(self, lane: str) -> bool:
        with self._lock:
            return lane in self._pending

    def _take(self) -> _Task | None:
        with self._lock:
            if self._stopping:
                return None
            for lane in LANES:
                if lane in self._pending and lane not in self._held:
                    return self._pending.pop(lane)
        return None

    @Slot()
    def _drain(self) -> None:
        while (task := self._take()) is not None:
            self._run(task)

    def _run(self, task: _Task) -> None:
        if not task.started:
            task.started = True
            self.started.emit(task.lane, task.id)
        t0 = time.perf_counter()
        try:
            if task.steps is not None:
                self._run_step(task, t0)
            else:
                value = task.run()
                self.done.emit(task.lane, task.id, value, time.perf_counter() - t0)
        except MaskvizError as exc:
            self.failed.emit(task.lane, task.id, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the worker thread or reach the user raw
            log.exception("%s task %d failed", task.lane, task.id)
            self.failed.emit(task.lane, task.id, f"internal error ({type(exc).__name__}: {exc}); "
                                                 "details are in the log file")

    def _run_step(self, task: _Task, t0: float) -> None:
        try:
            value = next(task.steps)
        except StopIteration:
            self.done.emit(task.lane, task.id, None, time.perf_counter() - t0)
            return
        self.step.emit(task.lane, task.id, value)
        with self._lock:  # requeue unless superseded: a newer task in the lane cancels this one
            requeue = not self._stopping and self._newest.get(task.lane) == task.id
            if requeue:
                self._pending[task.lane] = task
        if not requeue:
            self.dropped.emit(task.lane, task.id)


# ---------------------------------------------------------------------------------- public facade


class ModelWorker(QObject):
    """The UI thread's handle on the worker thread: submit tasks, receive results with their ids."""

    reconstructed = Signal(int, object)  # id, ReconOutcome
    modelLoaded = Signal(int, object)  # id, LoadedModel
    curveStep = Signal(int, object)  # id, one step of a sweep (maskviz.sweep.SweepPoint)
    curveDone = Signal(int)
    finished = Signal(str, int, object)  # lane, id, value: every one-shot task (after the lane's own signal)
    failed = Signal(str, int, str)  # lane, id, message
    busyChanged = Signal(str, bool)  # lane, running

    def __init__(self, parent: QObject | None = None, threads: int | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._latest: dict[str, int] = {}
        self._running: dict[str, int | None] = {}
        self._thread = QThread()
        self._thread.setObjectName("maskviz-worker")
        self._runner = _Runner(threads or worker_threads())
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.init_thread)
        self._runner.started.connect(self._on_started)
        self._runner.done.connect(self._on_done)
        self._runner.step.connect(self._on_step)
        self._runner.failed.connect(self._on_failed)
        self._runner.dropped.connect(self._finish)
        app = QCoreApplication.instance()
        if app is not None:  # a running QThread destroyed at exit aborts the process: stop it first
            app.aboutToQuit.connect(self.shutdown)
        self._thread.start()

    # -------------------------------------------------------------- submitting

    def submit(self, request: ReconRequest) -> int:
        """Queue a reconstruction; it replaces a pending one. Returns the request's id."""
        from maskviz.reconstruct import reconstruct

        def run() -> ReconOutcome:
            t0 = time.perf_counter()
            result = reconstruct(request.model, request.image, [request.mask], request.unnormalize,
                                 request.precision)[0]
            return ReconOutcome(request.id, result, time.perf_counter() - t0, request)

        request.id = self._new_id("recon")
        self._runner.put(_Task("recon", request.id, run=run))
        return request.id

    def load_model(self, loader: Callable[[], Any]) -> int:
        """Load a model off the UI thread (a ViT-L checkpoint takes seconds)."""
        return self._put("load", run=loader)

    def run(self, lane: str, fn: Callable[[], Any]) -> int:
        """Run ``fn()`` on the worker in ``lane`` (replacing that lane's pending task); the value comes
        back through :attr:`finished`. Every torch job of the GUI goes through a lane like this."""
        if lane not in LANES:
            raise ValueError(f"unknown lane {lane!r}; lanes: {', '.join(LANES)}")
        return self._put(lane, run=fn)

    def submit_curve(self, steps: Iterator[Any]) -> int:
        """Run a generator one step per turn, lowest priority; a newer curve cancels this one."""
        return self._put("curve", steps=steps)

    def submit_steps(self, lane: str, steps: Iterator[Any]) -> int:
        """Run a generator in ``lane``, one step per turn; each step arrives as :attr:`curveStep` with
        the returned id, and a newer task in the lane (or :meth:`cancel`) stops it between steps."""
        if lane not in LANES:
            raise ValueError(f"unknown lane {lane!r}; lanes: {', '.join(LANES)}")
        return self._put(lane, steps=steps)

    def hold(self, lane: str, on: bool = True) -> None:
        """Keep a lane's pending task from starting (a running step still finishes) until released.

        The window holds the background curve while a stroke is drawn, so the reconstruction asked
        for at the stroke's end finds the worker free instead of behind a sweep step.
        """
        self._runner.hold(lane, on)

    def is_held(self, lane: str) -> bool:
        return self._runner.is_held(lane)

    def cancel(self, lane: str) -> None:
        """Forget a lane's pending task and make any running one stale."""
        self._runner.drop(lane, self._new_id(lane))

    def _new_id(self, lane: str) -> int:
        task_id = next(self._ids)
        self._latest[lane] = task_id
        return task_id

    def _put(self, lane: str, run: Callable[[], Any] | None = None, steps: Iterator[Any] | None = None) -> int:
        task_id = self._new_id(lane)
        self._runner.put(_Task(lane, task_id, run=run, steps=steps))
        return task_id

    # -------------------------------------------------------------- state

    def latest_id(self, lane: str) -> int:
        """The newest id submitted to a lane (0 if none): only its result is current."""
        return self._latest.get(lane, 0)

    def is_busy(self, lane: str | None = None) -> bool:
        """Whether a task of ``lane`` (any lane when None) is running or waiting."""
        lanes = LANES if lane is None else (lane,)
        return any(self._running.get(name) is not None or self._runner.has_pending(name) for name in lanes)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Drop pending work and stop the thread once the running step returns (idempotent)."""
        if not self._thread.isRunning():
            return
        self._runner.stop()
        self._thread.quit()
        if not self._thread.wait(timeout_ms):
            log.warning("worker thread did not stop within %d ms", timeout_ms)

    # -------------------------------------------------------------- results (UI thread)

    def _on_started(self, lane: str, task_id: int) -> None:
        self._running[lane] = task_id
        self.busyChanged.emit(lane, True)

    def _finish(self, lane: str, task_id: int) -> None:
        if self._running.get(lane) == task_id:
            self._running[lane] = None
            self.busyChanged.emit(lane, self._runner.has_pending(lane))

    def _on_done(self, lane: str, task_id: int, value: object, seconds: float) -> None:
        self._finish(lane, task_id)
        if lane == "recon":
            self.reconstructed.emit(task_id, value)
        elif lane == "load":
            self.modelLoaded.emit(task_id, value)
        elif lane == "curve":
            self.curveDone.emit(task_id)
        self.finished.emit(lane, task_id, value)

    def _on_step(self, lane: str, task_id: int, value: object) -> None:
        self.curveStep.emit(task_id, value)

    def _on_failed(self, lane: str, task_id: int, message: str) -> None:
        self._finish(lane, task_id)
        self.failed.emit(lane, task_id, message)
