"""ExplainController: the Explain lens's jobs, through the viewer controller's job API.

It makes an :class:`~maskviz.explain.jobs.ExplainJob` from the explain state and the viewer state,
runs it in lane :data:`EXPLAIN_LANE` with ``Controller.run_job`` and writes what comes back into the
explain state. Every change of the lens or the viewer asks for the map again; a newer job replaces
the running one in its lane (it stops within one transformer block).

* **Every view.** The job works on the viewer's picture: the model's input, or the whole picture in
  the tiles or native view (:mod:`maskviz.explain.views`); targets and maps are on that picture's grid.
* **Superseded by the viewer.** A new image or model (the viewer controller cancels the lane's job
  then), a mask at a stroke's end, a display option or another view drop the shown map and the kept
  forward: a map of another mask must not stay on screen as if it were this one's.
* **One forward, many targets.** Attention, rollout and features keep their forward (the outcome's
  ``base``) for the viewer's inputs (the view included); while the target follows the pointer, each new
  patch is answered from it on the UI thread, without a job: no model runs, and a map under the pointer
  must not wait behind a background forward (ViT-B and Swin-B: about 4 ms per patch, measured). In the
  tiles view attention keeps a capture per tile: entering a tile not captured yet runs its forward.
* **Off screen nothing runs.** While the dock is hidden (closed, or a tab behind another) no job is
  submitted and the lane is held; it catches up when shown.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QObject

from maskviz.errors import MaskvizError
from maskviz.explain.common import Step
from maskviz.explain.jobs import KEPT_FORWARD, PER_TARGET, ExplainJob, LensOutcome, explain_outcome
from maskviz.gui.controller import Controller
from maskviz.gui.explain.state import ExplainState
from maskviz.gui.state import ViewerState

EXPLAIN_LANE = "explain"
PROGRESS_TEXT = {"occlusion": "hiding each visible patch in turn", "spread": "reconstructing under each mask"}


class ExplainController(QObject):
    """Explain state + viewer state → lens jobs; outcomes → explain state."""

    def __init__(self, state: ExplainState, viewer: ViewerState, controller: Controller,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state, self.viewer, self.controller = state, viewer, controller
        self.task_id = 0
        self.shown = False
        self.outdated = True  # the outcome (if any) is not for the lens and viewer as they are now
        self._kept: tuple[Any, Any] | None = None  # (forward key, base) of the last forward
        self._job_key: Any = None  # the viewer inputs and lens of the running job
        viewer.imageChanged.connect(lambda: self.viewer_changed("image"))
        viewer.modelChanged.connect(lambda: self.viewer_changed("model"))
        viewer.pictureChanged.connect(lambda _note: self.viewer_changed("view"))
        viewer.maskChanged.connect(lambda final: final and self.viewer_changed("mask"))
        viewer.optionsChanged.connect(lambda name: name in ("unnormalize", "precision") and self.viewer_changed(name))
        viewer.view.hoverChanged.connect(self._on_hover)
        viewer.view.pointClicked.connect(self._on_click)
        state.lensChanged.connect(self.request)
        controller.jobStep.connect(self._on_step)
        controller.jobDone.connect(self._on_done)
        controller.jobFailed.connect(self._on_failed)
        controller.set_lane_shown(EXPLAIN_LANE, False)

    @property
    def is_running(self) -> bool:
        return self.task_id != 0

    # ------------------------------------------------------------------ following the viewer

    def set_shown(self, shown: bool) -> None:
        """The dock is on screen (or not): off screen nothing runs; shown again, it catches up."""
        self.shown = shown
        self.controller.set_lane_shown(EXPLAIN_LANE, shown)
        if shown and self.outdated:
            self.request()

    def viewer_changed(self, what: str) -> None:
        """The viewer's image, model, mask or options changed: the shown map and kept forward are stale."""
        self._kept = None
        if self.is_running:
            self.task_id = 0
            self.controller.cancel_job(EXPLAIN_LANE, f"stopped: the viewer's {what} changed")
        if self.state.outcome is not None:
            self.state.set_outcome(None)
        target, (gh, gw) = self.state.lens.target, self.viewer.paint.grid
        if target is not None and not (target[0] < gh and target[1] < gw):
            self.state.set_target(None)  # a patch of the last view's grid: this one's is picked anew
        self.request()

    def _on_hover(self, x: int, y: int) -> None:
        """Where one forward answers every target, the target follows the pointer (hidden patches only
        for the per-target methods)."""
        lens, paint = self.state.lens, self.viewer.paint
        if not self.state.follow or lens.method not in KEPT_FORWARD or x < 0 or self.viewer.model is None:
            return
        row, col = y // paint.patch_size, x // paint.patch_size
        gh, gw = paint.grid
        if not (0 <= row < gh and 0 <= col < gw):
            return
        if lens.method in PER_TARGET and not self.viewer.patch_mask()[row, col]:
            return
        self.state.set_target((row, col))

    def _on_click(self, x: int, y: int) -> None:
        """A click on a result panel or the dock's picture picks the target (while the dock is shown)."""
        if self.shown and self.viewer.model is not None:
            p = self.viewer.paint.patch_size
            self.pick(y // p, x // p)

    def pick(self, row: int, col: int) -> None:
        """A click on a patch: it becomes the target, pinned (the pointer no longer moves it)."""
        self.state.set_follow(False)
        self.state.set_target((row, col))

    # ------------------------------------------------------------------ running

    def inputs_key(self) -> tuple[Any, ...]:
        """The viewer inputs a forward depends on (the pattern too: spread draws more masks of it)."""
        return self.viewer.inputs(), self.viewer.pattern_spec

    def make_job(self) -> ExplainJob:
        v, lens = self.viewer, self.state.lens
        if v.model is None or v.model_image is None:
            raise MaskvizError("open an image and a model first")
        mask = v.patch_mask()
        base = None
        if self._kept is not None and self._kept[0] == (self.inputs_key(), lens.forward_key):
            base = self._kept[1]
        return ExplainJob(v.model.model, v.model_image, mask, lens, spec=self.mask_spec(), seed=None,
                          defaults=v.model.mask_defaults(), unnormalize=v.options.unnormalize, base=base,
                          picture=v.picture)

    def request(self) -> bool:
        """Ask for the lens's map for the viewer as it is now (off screen: later). False on bad input."""
        if not self.shown:
            self.outdated = True
            return False
        try:
            job = self.make_job()
        except MaskvizError as exc:
            self.state.set_run(running=False, status=str(exc))
            return False
        self.outdated = False
        key = (self.inputs_key(), job.lens)
        if not job.needs_forward:  # no forward: a few ms (ViT-B, Swin-B rollout ≈ 4 ms)
            self._drop_running()  # a job for another target is not wanted any more
            try:
                self._show(explain_outcome(job), key)
            except MaskvizError as exc:
                self.state.set_run(running=False, status=str(exc))
            return True
        if self.state.outcome is not None and self.state.outcome_key == key:
            if self.is_running:  # back to what is on screen
                self._drop_running()
                self.state.set_run(running=False, status=self.state.outcome.note)
            return True
        self._job_key = key
        self.task_id = self.controller.run_job(EXPLAIN_LANE, lambda: _steps(job))
        self.state.set_run(running=True, done=0, total=0, status="computing…")
        return True

    def _drop_running(self) -> None:
        if self.is_running:
            self.task_id = 0
            self.controller.cancel_job(EXPLAIN_LANE, "replaced")

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the running job within one forward; the map on screen (if any) stays."""
        if self.is_running:
            self.task_id, self.outdated = 0, True
            self.controller.cancel_job(EXPLAIN_LANE, reason)
            self.state.set_run(running=False, status=reason)

    def _on_step(self, lane: str, task_id: int, value: object) -> None:
        if lane == EXPLAIN_LANE and task_id == self.task_id and isinstance(value, Step):
            what = PROGRESS_TEXT.get(self.state.lens.method, "computing")
            count = f"{value.done}/{value.total}"
            if value.unit == "tile":  # the tiles view: every tile's forward counts (spread: masks × tiles)
                what, count = value.what, f"{count} tile forwards"
            self.state.set_run(running=True, done=value.done, total=value.total,
                               status=f"{what}: {count}" if value.total > 1 else "computing…")

    def _on_done(self, lane: str, task_id: int, value: object) -> None:
        if lane != EXPLAIN_LANE or task_id != self.task_id or not isinstance(value, LensOutcome):
            return
        self.task_id = 0
        self._show(value, self._job_key)

    def _show(self, outcome: LensOutcome, key: Any) -> None:
        """Put an outcome on screen and keep its forward for the next target."""
        lens = outcome.lens
        self._kept = ((key[0], lens.forward_key), outcome.base)
        self.state.set_outcome(outcome, key)
        status = outcome.note
        where = getattr(outcome.result, "params", {}).get("where")
        if not status and where:  # the tiles view: the target's reconstruction used only its tile
            status = f"computed on {where}"
        if not status and outcome.result is None and lens.method in PER_TARGET:
            hint = "hover" if lens.method in KEPT_FORWARD and self.state.follow else "click"
            status = f"{hint} a hidden patch to explain it"
        self.state.set_run(running=False, status=status)

    def _on_failed(self, lane: str, task_id: int, message: str) -> None:
        if lane == EXPLAIN_LANE and task_id == self.task_id:
            self.task_id, self.outdated = 0, True
            self.state.set_run(running=False, status=message)

    # ------------------------------------------------------------------ exports (the CLI's files)

    def mask_spec(self) -> str | None:
        """The pattern that made the viewer's mask, or None when it was painted or edited."""
        v = self.viewer
        p = v.provenance
        if p.spec is None or p.mask is None or not (p.mask == v.patch_mask()).all():
            return None
        return str(p.spec)

    def export(self, kind: str, path: str | os.PathLike) -> bool:
        """Write the shown map's ``figure`` (PNG/SVG/PDF) or ``json``, as ``maskviz explain`` writes them."""
        from maskviz import export

        out, v = self.state.outcome, self.viewer
        if out is None or out.result is None or self.state.outcome_key is None \
                or self.state.outcome_key[0] != self.inputs_key():
            self.state.set_run(status="nothing to export yet: the lens has no map for the viewer as it is")
            return False
        inputs = export.explain_inputs(v.model, v.image_source, self.mask_spec() or "painted", None,
                                        view=v.view_label, model_source=v.model_source)
        model = v.model.model
        try:
            if kind == "figure":
                export.check_outputs(path, None)
                export.write_explain_figure(out.result, path, out.original, model.patch_size, inputs,
                                            similarity=out.similarity, masked_colour=model.config.mean)
            else:
                export.write_explain_json(out.result, path, inputs, model_info=v.model.summary(),
                                          similarity=out.similarity, device=v.options.device, seconds=out.seconds)
        except (MaskvizError, OSError, ValueError) as exc:
            self.state.set_run(status=f"could not export: {exc}")
            return False
        self.state.set_run(status=f"exported {path}")
        return True


def _steps(job: ExplainJob) -> Any:  # noqa: ANN401 - the job's generator
    from maskviz.explain.jobs import explain_steps

    return explain_steps(job)
