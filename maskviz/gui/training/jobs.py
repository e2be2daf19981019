"""The contract training uses to run model work on the viewer's worker, and a stand-in until it lands.

The contract (:class:`JobRunner`) is the viewer controller's: ``run_job(lane, fn) -> id`` runs ``fn()``
on the worker; when ``fn()`` returns a generator, one ``next()`` runs per scheduling slot, so work of
higher lanes (a reconstruction the user waits for) goes between its steps. Yielded values come back
as ``jobStep(lane, id, value)``, the return value as ``jobDone(lane, id, value)``, an error as
``jobFailed(lane, id, message)``; ``cancel_job(lane)`` drops the lane's pending work and stops a
running generator at its next step.

:class:`WorkerJobs` provides exactly that on today's :class:`~maskviz.gui.worker.ModelWorker`
(``submit_steps`` / ``cancel``). Once ``Controller.run_job`` exists, the window passes its controller
instead and this class goes; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal, SignalInstance


class JobRunner(Protocol):
    jobStep: SignalInstance  # noqa: N815 - Qt signal names
    jobDone: SignalInstance  # noqa: N815
    jobFailed: SignalInstance  # noqa: N815

    def run_job(self, lane: str, fn: Callable[[], Any]) -> int: ...

    def cancel_job(self, lane: str) -> None: ...


class _Done:
    """The last step of a wrapped job carries its return value."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _steps(fn: Callable[[], Any]) -> Generator[Any, None, None]:
    """``fn()`` on the worker thread; a generator it returns runs one step per turn; the result last."""
    value = fn()
    if isinstance(value, Generator):
        value = yield from value
    yield _Done(value)


class WorkerJobs(QObject):
    """:class:`JobRunner` on a :class:`~maskviz.gui.worker.ModelWorker` (until the controller provides it)."""

    jobStep = Signal(str, int, object)
    jobDone = Signal(str, int, object)
    jobFailed = Signal(str, int, str)

    def __init__(self, worker: Any, parent: QObject | None = None) -> None:  # noqa: ANN401 - ModelWorker
        super().__init__(parent)
        self._worker = worker
        self._lanes: dict[int, str] = {}  # ids of running jobs → lane
        worker.curveStep.connect(self._on_step)  # every generator lane's steps, by id
        worker.failed.connect(self._on_failed)

    def run_job(self, lane: str, fn: Callable[[], Any]) -> int:
        job_id = self._worker.submit_steps(lane, _steps(fn))  # a newer job in a lane supersedes the older
        self._lanes = {i: name for i, name in self._lanes.items() if name != lane}
        self._lanes[job_id] = lane
        return job_id

    def cancel_job(self, lane: str) -> None:
        self._worker.cancel(lane)
        self._lanes = {i: name for i, name in self._lanes.items() if name != lane}

    def _on_step(self, job_id: int, value: Any) -> None:
        lane = self._lanes.get(job_id)
        if lane is None:
            return
        if isinstance(value, _Done):
            del self._lanes[job_id]
            self.jobDone.emit(lane, job_id, value.value)
        else:
            self.jobStep.emit(lane, job_id, value)

    def _on_failed(self, lane: str, job_id: int, message: str) -> None:
        if self._lanes.pop(job_id, None) is not None:
            self.jobFailed.emit(lane, job_id, message)
