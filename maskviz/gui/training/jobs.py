"""What the training controller needs from the viewer's controller to run model work on its worker.

:class:`JobRunner` is the part of :class:`maskviz.gui.controller.Controller`'s job API that training
uses (the window passes its controller; tests may pass a fake): ``run_job(lane, fn) -> id`` runs
``fn()`` on the worker, a generator one ``next()`` per scheduling turn, each value as
``jobStep(lane, id, value)`` and the return value as ``jobDone(lane, id, value)``; an error, a
cancel or a newer job in the lane ends it with ``jobFailed(lane, id, message)`` (queued, never inside
the call that cancels). ``cancel_job(lane)`` stops the lane's job at its next module call;
``set_lane_shown(lane, shown)`` holds a lane whose view is off screen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import SignalInstance

LANE = "before-after"  # the viewer controller's lane for a training run's before/after


class JobRunner(Protocol):
    jobStep: SignalInstance  # noqa: N815 - Qt signal names
    jobDone: SignalInstance  # noqa: N815
    jobFailed: SignalInstance  # noqa: N815

    def run_job(self, lane: str, fn: Callable[[], Any]) -> int: ...

    def cancel_job(self, lane: str) -> None: ...

    def set_lane_shown(self, lane: str, shown: bool) -> None: ...
