"""The tiles and native views' work: the whole picture, reconstructed on the worker's ``tiles`` lane.

In the ``tiles`` view a job (:func:`maskviz.whole.stream.tiles_job`) runs one batch of tiles per
step: each step's progress goes into ``state.progress`` and, at most every quarter second, the
picture so far into ``state.result`` (pending tiles show the masked input, unscored), until the
stitched whole is written with the inputs it came from. The tile runner keeps finished tiles
(keyed by their pixels and mask cells), so a brush stroke re-runs only the tiles it touched and an
undo none. A newer request replaces the running job within one transformer block (the worker's
preemption points), background work never delays it (it is the first background lane), and
:meth:`WholeJobs.cancel` stops it keeping what finished. The ``native`` view is one forward.

:meth:`WholeJobs.set_view` changes the view: a size the view cannot take is refused with the
reason (for ``native`` the memory plan's) and nothing changes; a size it can take is cut or resampled
on the worker (lane ``picture``), and the view changes when that picture arrives, so the UI thread
never resamples a photo. Masks live on the view's grid, so a new grid gets the last pattern made
again for it, or the session's mask being restored when it fits (:meth:`Controller.fill_new_grid`).
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, QTimer

from maskviz.gui.controller import Controller
from maskviz.gui.state import Inputs, ViewerState
from maskviz.gui.worker import ReconOutcome
from maskviz.whole.view import View, ViewError

LANE = "tiles"
PICTURE_LANE = "picture"
GUI_BATCH = 4  # tiles per step: a large picture fills in while it is computed
#: Seconds between two pictures while tiles stream in: each is uploaded to five panels on the UI thread.
PICTURE_EVERY_S = 0.5


def progress_text(view: str, done: int, total: int, computed: int) -> str:
    """``"tiles 1024x768 px: 7 of 20 tiles (5 from the cache)"``."""
    cached = done - computed
    return f"{view}: {done} of {total} tiles" + (f" ({cached} from the cache)" if cached else "")


class WholeJobs(QObject):
    """View, image, model, mask or option changed → one whole-picture job; its steps → the state."""

    def __init__(self, state: ViewerState, controller: Controller, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state, self.controller = state, controller
        self.task_id = 0
        self._picture_id = 0  # the job making a whole view's picture (0: none)
        self.running = False
        self._inputs: Inputs | None = None  # what the newest job computes
        self._submitted = 0.0
        self._runner: Any = None  # maskviz.whole.TileRunner for (model, unnormalize, precision)
        self._runner_key: tuple | None = None
        self._grid = state.paint.grid
        state.pictureChanged.connect(self._on_picture)
        state.imageChanged.connect(self.request)
        state.modelChanged.connect(self.request)
        state.maskChanged.connect(lambda final: final and self.request())
        state.optionsChanged.connect(lambda name: name in ("unnormalize", "precision") and self.request())
        controller.jobStep.connect(self._on_step)
        controller.jobDone.connect(self._on_done)
        controller.jobFailed.connect(self._on_failed)

    # ------------------------------------------------------------------ the view

    def set_view(self, name: str, size: int | None = None) -> bool:
        """Work in view ``name`` at working size ``size`` (None: the image's own); False (and one
        error naming why) when this image or model cannot be shown so.

        The checks run here, from the sizes alone; the picture of a whole view is cut or resampled on
        the worker (lane ``picture``: a 12 MP photo takes ~90 ms to resample) and the view changes
        when it arrives, unless the image or model changed meanwhile."""
        s = self.state
        self.controller.cancel_job(PICTURE_LANE, "replaced")
        self._picture_id = 0
        try:
            view = View(name, None if name == "model" else size)
            if view.name == "model" or s.model is None or s.image is None or view == s.picture_view:
                s.set_picture_view(view)
                return True
            from maskviz.whole import check_view, prepare_view

            target = check_view(s.model.model, s.image.size, view)
        except ViewError as exc:  # the dialog comes after the caller has shown the view still in use
            title, message = f"Cannot show the {name} view", str(exc)
            QTimer.singleShot(0, lambda: self.controller.error.emit(title, message))
            return False
        model, image = s.model.model, s.image
        self._picture_id = self.controller.run_job(PICTURE_LANE, lambda: prepare_view(model, image, view))
        s.set_progress(None, f"{view.name} view: preparing the {target[0]}×{target[1]} px picture…")
        return True

    @property
    def preparing(self) -> bool:
        """A whole view's picture is being made on the worker."""
        return self._picture_id != 0

    def _on_prepared(self, vimg: Any) -> None:
        self._picture_id = 0
        s = self.state
        s.set_progress(None)
        try:
            s.set_picture_view(vimg.view, vimg)
        except (ViewError, ValueError) as exc:  # not this image's picture, or refused now: the view stays
            self.controller.error.emit(f"Cannot show the {vimg.view.name} view", str(exc))

    def _on_picture(self, note: str) -> None:
        if note:
            self.controller.notice.emit(note)
        if self.state.model is not None and (self.state.paint.grid != self._grid or self.controller.restoring):
            self.controller.fill_new_grid()  # the painting was for the old grid; a session's mask may be for this
        self._grid = self.state.paint.grid
        self.request()

    # ------------------------------------------------------------------ jobs

    def request(self) -> int:
        """Submit the state's inputs in the tiles or native view (the newest wins); returns the job id."""
        s = self.state
        inputs = s.inputs()
        if s.picture is None or inputs is None:
            if self.running:
                self.cancel("stopped: the model view is shown")
            return 0
        if inputs == self._inputs and (self.running or s.result_is_current()):
            return self.task_id
        self._inputs = inputs
        vimg, mask = s.picture, inputs.patch_mask().copy()
        model, unnormalize, precision = s.model.model, inputs.unnormalize, inputs.precision
        if vimg.view.name == "tiles":
            from maskviz.whole.stream import tiles_job
            from maskviz.whole.tiles import tile_layout

            runner = self._tile_runner(model, unnormalize, precision)  # used on the worker thread only
            job: Any = lambda: tiles_job(runner, vimg, mask, PICTURE_EVERY_S)  # noqa: E731 - the worker calls it
            total = len(tile_layout(model, vimg).tiles)
        else:
            from maskviz.whole.stream import native_job

            job, total = (lambda: native_job(model, vimg, mask, unnormalize, precision)), 1
        self.task_id = self.controller.run_job(LANE, job, stale_on=())  # this class decides what is stale
        self.running, self._submitted = True, time.perf_counter()
        s.set_progress((0, total), f"{vimg.label}: computing…")
        return self.task_id

    def _tile_runner(self, model: Any, unnormalize: str, precision: str) -> Any:
        from maskviz.whole import TileRunner

        key = (id(model), unnormalize, precision)
        if key != self._runner_key:
            self._runner = TileRunner(model, unnormalize=unnormalize, precision=precision, batch=GUI_BATCH)
            self._runner_key = key
        return self._runner

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the running job at its next module call; finished tiles stay for the next run."""
        if self.running:
            self.controller.cancel_job(LANE, reason)

    def _on_step(self, lane: str, task_id: int, step: Any) -> None:
        if lane != LANE or task_id != self.task_id:
            return
        self.state.set_progress((step.done, step.total), progress_text(step.view, step.done, step.total,
                                                                        step.computed))
        if step.picture is not None:
            outcome = ReconOutcome(task_id, step.picture, self._seconds(), view=step.view,
                                   progress=(step.done, step.total))
            self.state.set_result(outcome, None)  # not current: hover and exports wait for the whole

    def _on_done(self, lane: str, task_id: int, value: Any) -> None:
        if lane == PICTURE_LANE and task_id == self._picture_id:
            self._on_prepared(value)
            return
        if lane != LANE or task_id != self.task_id:
            return
        self.running = False
        self.state.set_progress(None)
        self.state.set_message("")
        self.state.set_result(ReconOutcome(task_id, value.whole, self._seconds(), view=value.view, view_result=value),
                              self._inputs)
        self.controller.resultShown.emit(task_id)

    def _on_failed(self, lane: str, task_id: int, message: str) -> None:
        if lane == PICTURE_LANE and task_id == self._picture_id:
            self._picture_id = 0  # the image or model changed (or the picture failed): the view stays
            self.state.set_progress(None, "" if message.startswith(("replaced", "stopped")) else message)
            if not message.startswith(("cancelled", "replaced", "stopped")):
                self.controller.error.emit("Cannot show the view", message)
            return
        if lane != LANE or task_id != self.task_id:
            return
        self.running, self._inputs = False, None  # not finished: the next change runs it again
        done = self.state.progress
        if message.startswith(("cancelled", "stopped")):
            where = f" after {done[0]} of {done[1]} tiles (kept for the next run)" if done and done[1] > 1 else ""
            self.state.set_progress(None, f"{message}{where}")
            return
        self.state.set_progress(None)
        self.state.set_message(f"reconstruction failed: {message}")
        self.controller.error.emit("Could not reconstruct", message)

    def _seconds(self) -> float:
        return time.perf_counter() - self._submitted
