"""The baseline panel's work: a non-learned fill of the shown result's hidden patches, on the
``baseline`` lane (harmonic interpolation at 224 px takes a while). A fill for an older result or
another choice is never shown. It is asked for as soon as a result is on screen, before background
work may start again, so it does not wait behind a loss-curve step."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject

from maskviz.gui.controller import Controller
from maskviz.gui.state import ViewerState

LANE = "baseline"


class BaselineJobs(QObject):
    """Result or baseline choice changed → a fill job; its result → ``state.set_baseline_result``."""

    def __init__(self, state: ViewerState, controller: Controller, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state, self.controller = state, controller
        self._wanted: Any = None  # (baseline name, id of the result) the fill is for
        self._job: tuple[int, Any] = (0, None)
        state.resultChanged.connect(self.update)
        state.optionsChanged.connect(lambda name: name == "baseline" and self.update())
        controller.jobDone.connect(self._on_done)
        controller.jobFailed.connect(self._on_failed)

    def update(self) -> None:
        from maskviz.baselines import BASELINE_LABELS, baseline_reconstruction

        name, outcome = self.state.options.baseline, self.state.result
        if name == "none" or outcome is None:
            self._wanted = None
            if self.state.baseline_result is not None or self.state.baseline_status:
                self.state.set_baseline_result(None)
            return
        if outcome.partial:  # a whole picture still streaming in: fill the finished one
            self._wanted = None
            self.state.set_baseline_result(None, f"baseline: {BASELINE_LABELS[name]} (after the whole picture)")
            return
        r = outcome.result
        if self._wanted == (name, id(r)):
            return
        self._wanted = key = (name, id(r))
        self.state.set_baseline_result(None, f"baseline: {BASELINE_LABELS[name]} (computing…)")
        original, mask = r.original, r.mask
        patch = original.shape[0] // mask.shape[0]
        fill = self.controller.run_job(LANE, lambda: baseline_reconstruction(name, original, mask, patch),
                                       stale_on=())
        self._job = (fill, key)

    def _on_done(self, lane: str, task_id: int, value: object) -> None:
        if lane == LANE and (task_id, self._wanted) == self._job:
            self.state.set_baseline_result(value)

    def _on_failed(self, lane: str, task_id: int, message: str) -> None:
        if lane == LANE and (task_id, self._wanted) == self._job:
            self.state.set_baseline_result(None, f"baseline failed: {message}")
