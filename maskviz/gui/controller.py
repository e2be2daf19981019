"""Controller: turns :class:`~maskviz.gui.state.ViewerState` changes into worker jobs, results back into it.

It is the only client of :class:`~maskviz.gui.worker.ModelWorker`. It runs the viewer's own jobs
(model loads, reconstructions, baseline fills) and lends the worker to every other feature through
one job API (the loss curve, the Compare dock, a training run's before/after):

``run_job(lane, fn) -> id``
    ``fn()`` runs on the worker in a background lane (``tiles``, ``explain``, ``before-after``, ``curve``,
    ``compare``), ``baseline`` or ``picture`` (a view's photo, cut or resampled). A value comes back as
    ``jobDone(lane, id, value)``; a generator is run one ``next()`` per turn, each value as
    ``jobStep(lane, id, value)`` (``None``: a turn without news) and its return value as ``jobDone``.
    Errors, cancels and jobs replaced by a newer one in their lane end with ``jobFailed(lane, id,
    message)``: every job ends with exactly one of the two. A job should make each step at most one
    model forward.
``cancel_job(lane)``
    stops the lane's job at its next module call (within one transformer block).
``run_compare(job)`` / ``cancel_compare()``
    the Compare dock's table, lane ``compare`` (:mod:`maskviz.compare_jobs`).

Scheduling policy (issue 24): background lanes start no step while a stroke is drawn and until the
newest reconstruction is on screen, nor while a model loads; a reconstruction runs inside a
background forward at its next block (see the worker); a model or image change cancels every job
that depends on it; a lane whose view is off screen is held (:meth:`set_lane_shown`).

Live policy: a reconstruction is requested on every stroke end, pattern, undo/redo, image, model or
option change, and during a stroke only when the last one took under :data:`LIVE_SECONDS`. Each
result is written into the state with the :class:`~maskviz.gui.state.Inputs` it came from; a
result whose request is no longer the newest is dropped (:attr:`Controller.stale_dropped`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from maskviz.errors import MaskvizError
from maskviz.gui.garbage import collect_on_gui_thread
from maskviz.gui.opening import OpenedImage, read_image
from maskviz.gui.state import Inputs, Provenance, ViewerState
from maskviz.gui.worker import BACKGROUND, ModelWorker, ReconOutcome, ReconRequest
from maskviz.masks import MaskSpec, parse_mask_spec

log = logging.getLogger("maskviz.gui")

LIVE_SECONDS = 0.05  # reconstruct during strokes only when the model answers faster than this
DEFAULT_PATTERN = "random:0.75,seed=0"
COMPARE_LANE = "compare"
JOB_LANES = ("image", "picture", "baseline", *BACKGROUND)


def describe_source(source: str | None) -> str:
    """``the default model``, ``photo.jpg`` or ``sample coffee``: how messages name a source."""
    if source is None:
        return "the default model"
    if source.startswith("sample:"):
        return f"sample {source.removeprefix('sample:')}"
    return Path(source).name or source


def naming(source: str | os.PathLike, message: str) -> str:
    """The reason, prefixed with the path unless the reason already names it."""
    return message if str(source) in message else f"{source}: {message}"


@dataclass
class _Job:
    lane: str
    stale_on: frozenset[str]
    reason: str = "replaced by a newer job"


class Controller(QObject):
    """State changes → worker jobs; results → state. Errors come out as one ``error`` per problem."""

    error = Signal(str, str)  # title, message: the window shows one dialog
    notice = Signal(str)  # a passing note for the status bar (e.g. the last session's image is gone)
    resultShown = Signal(int)  # id of the reconstruction just written into the state
    modelReady = Signal(object)  # the LoadedModel now in use
    loadingChanged = Signal(str)  # "loading x…" while a load or device move runs, "" after
    busyChanged = Signal(bool)  # a model load, a view's picture or a reconstruction is running or queued
    jobStep = Signal(str, int, object)  # lane, id, a generator job's value
    jobDone = Signal(str, int, object)  # lane, id, value
    jobFailed = Signal(str, int, str)  # lane, id, plain message

    def __init__(self, state: ViewerState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        collect_on_gui_thread()  # before any worker thread starts: Qt objects must die on this thread
        self.worker = ModelWorker(self)
        self.last_seconds: float | None = None  # the model's speed: the fastest of its last few answers
        self._timings: list[float] = []
        self.stale_dropped = 0
        self.default_spec: MaskSpec = parse_mask_spec(DEFAULT_PATTERN)  # used when a new grid needs a mask
        self._requests: dict[int, Inputs] = {}
        self._last_key: Inputs | None = None
        self._jobs: dict[int, _Job] = {}
        self._loads: dict[int, tuple[str | None, tuple, bool]] = {}  # id → source, fallbacks, quiet
        self._reads: dict[int, str] = {}  # image reads (lane image): id → source
        self._restore: tuple[np.ndarray, MaskSpec | None] | None = None
        self._error_shown = ""
        self._connect()

    def _connect(self) -> None:
        s, w = self.state, self.worker
        s.imageChanged.connect(lambda: self._inputs_changed("image"))
        s.modelChanged.connect(lambda: self._inputs_changed("model"))
        s.maskChanged.connect(self._on_mask_changed)
        s.optionsChanged.connect(self._on_option)
        s.provenanceChanged.connect(self._on_provenance)
        s.patternRequested.connect(self.apply_spec)
        s.pictureChanged.connect(lambda _note: self._inputs_changed("view"))
        w.stepped.connect(self._on_stepped)
        w.done.connect(self._on_done)
        w.failed.connect(self._on_failed)
        w.dropped.connect(self._on_dropped)
        w.busyChanged.connect(lambda *_: self.busyChanged.emit(self.busy))
        self.jobDone.connect(self._on_read)
        self.jobFailed.connect(self._read_failed)

    @property
    def busy(self) -> bool:
        return any(self.worker.is_busy(lane) for lane in ("load", "image", "picture", "recon"))

    @property
    def loading(self) -> bool:
        return self.worker.is_busy("load")

    def shutdown(self) -> None:
        self.worker.shutdown()

    # ================================================================== the job API

    def run_job(self, lane: str, fn: Callable[[], Any], *, stale_on: Iterable[str] = ("model", "image")) -> int:
        """Run ``fn()`` on the worker in ``lane`` (see the module doc); returns the job's id.

        ``stale_on``: the viewer changes ("model", "image") that cancel the job."""
        if lane not in JOB_LANES or lane == COMPARE_LANE:
            hint = " (the Compare dock's lane: see run_compare)" if lane == COMPARE_LANE else ""
            raise ValueError(f"no job lane {lane!r}{hint}; lanes: {', '.join(JOB_LANES[:-1])}")
        return self._submit(lane, fn, stale_on)

    def _submit(self, lane: str, fn: Callable[[], Any], stale_on: Iterable[str]) -> int:
        task_id = self.worker.submit(lane, fn)
        self._jobs[task_id] = _Job(lane, frozenset(stale_on))
        return task_id

    def cancel_job(self, lane: str, reason: str = "cancelled") -> None:
        """Stop the lane's job (pending or running); it ends with ``jobFailed(lane, id, reason)``."""
        for job in self._jobs.values():
            if job.lane == lane:
                job.reason = reason
        self.worker.cancel(lane)

    def run_compare(self, job: Any, folder: bool = False) -> int:
        """Run a :class:`maskviz.compare_jobs.CompareJob` in lane ``compare``; a folder run survives a
        new viewer image (not a new model)."""
        from maskviz.compare_jobs import compare_steps

        return self._submit(COMPARE_LANE, lambda: compare_steps(job), ("model",) if folder else ("model", "image"))

    def cancel_compare(self, reason: str = "cancelled") -> None:
        self.cancel_job(COMPARE_LANE, reason)

    def set_lane_shown(self, lane: str, shown: bool) -> None:
        """A lane whose view is off screen starts no step (its job waits, it is not lost)."""
        self.worker.hold([lane], "hidden", not shown)

    def _inputs_changed(self, kind: str) -> None:
        for lane in JOB_LANES:  # the old model's or image's work is dropped, running or queued
            job = self._jobs.get(self.worker.latest_id(lane))
            if job is not None and kind in job.stale_on:
                self.cancel_job(lane, f"stopped: the viewer's {kind} changed")
        self._last_key = None
        self.request_reconstruction()

    def _on_stepped(self, lane: str, task_id: int, value: object) -> None:
        if task_id in self._jobs:
            self.jobStep.emit(lane, task_id, value)

    def _on_done(self, lane: str, task_id: int, value: object, _seconds: float) -> None:
        if lane == "recon":
            self._on_reconstructed(task_id, value)
        elif lane == "load":
            self._on_model_loaded(task_id, value)
        elif self._jobs.pop(task_id, None) is not None:
            self.jobDone.emit(lane, task_id, value)

    def _on_failed(self, lane: str, task_id: int, message: str) -> None:
        if lane == "load":
            self._load_failed(task_id, message)
        elif lane == "recon":
            self._recon_failed(task_id, message)
        elif self._jobs.pop(task_id, None) is not None:
            self.jobFailed.emit(lane, task_id, message)

    def _on_dropped(self, lane: str, task_id: int) -> None:
        if lane == "recon":
            self.stale_dropped += 1
            self._release_result_hold()
        elif lane == "load":
            self._loads.pop(task_id, None)
        elif (job := self._jobs.pop(task_id, None)) is not None:
            self.jobFailed.emit(lane, task_id, job.reason)

    # ================================================================== opening

    def open_image(self, source: str | os.PathLike, quiet: bool = False) -> bool:
        """Load an image (path or ``sample:NAME``) now, on this thread (start-up, scripts); on failure
        nothing changes and one error names it. The app's menus and drops use :meth:`read_image`."""
        try:
            opened = read_image(source, self.state.model, self.state.picture_view)
        except MaskvizError as exc:
            if quiet:
                self.notice.emit(f"Could not reopen the last image: {exc}")
            else:
                self.error.emit("Could not open the image", naming(source, str(exc)))
            return False
        self._use_image(opened)
        return True

    def read_image(self, source: str | os.PathLike) -> int:
        """Open an image in the background: decoded, fitted to the model and (tiles, native) its view's
        picture made on the worker (lane ``image``: a 12 MP JPEG takes ~110 ms to decode and ~90 ms
        more to resample), then put in the state at once; returns the task id. A failure: one error
        naming it, and nothing changes. A newer image replaces one still being read."""
        loaded, view = self.state.model, self.state.picture_view
        self.notice.emit(f"Opening {describe_source(str(source))}…")
        task_id = self.run_job("image", lambda: read_image(source, loaded, view), stale_on=())
        self._reads[task_id] = str(source)
        return task_id

    def _use_image(self, opened: OpenedImage) -> None:
        """Put an opened image in the state, with what was made for it when the model and view still match."""
        s = self.state
        same = opened.model is s.model and opened.view == s.picture_view
        s.set_image(opened.image, opened.source, opened.fitted if same else None, opened.picture if same else None)

    def _on_read(self, lane: str, task_id: int, value: object) -> None:
        if lane == "image" and self._reads.pop(task_id, None) is not None:
            self.notice.emit("")
            self._use_image(value)

    def _read_failed(self, lane: str, task_id: int, message: str) -> None:
        source = self._reads.pop(task_id, None) if lane == "image" else None
        if source is not None and not message.startswith(("replaced", "cancelled")):
            self.error.emit("Could not open the image", naming(source, message))

    def open_model(self, source: str | os.PathLike | None,
                   fallback: bool | Sequence[str | os.PathLike | None] = False, quiet: bool = False) -> int:
        """Load a checkpoint (None = bundled default) on the worker; returns the task id.

        ``fallback`` (start-up): if it fails and no model is in use yet, load these instead, in turn
        (``True``: the default). ``quiet``: a failure is a status note, not a dialog."""
        from maskviz.checkpoints import load_default_model, load_model

        device, path = self.state.options.device, None if source is None else str(source)
        fallbacks = (None,) if fallback is True else tuple(fallback or ())

        def load() -> Any:
            return load_default_model(device) if path is None else load_model(path, device=device)

        return self._load(f"loading {describe_source(path)}…", load, path, fallbacks, quiet)

    def _load(self, text: str, fn: Callable[[], Any], source: str | None, fallbacks: tuple = (),
              quiet: bool = False) -> int:
        self.loadingChanged.emit(text)
        self.worker.hold(BACKGROUND, "load")  # no step for the old model between the load and its use
        task_id = self.worker.submit("load", fn)
        self._loads[task_id] = (source, fallbacks, quiet)
        return task_id

    def restore_mask(self, mask: np.ndarray | None, spec: str | None) -> None:
        """Use this mask (and the pattern it came from) with the next model, on the grid the view then
        has (the model's, or the tiles or native picture's), if it fits that grid (None: don't)."""
        if mask is None:
            self._restore = None
            return
        try:
            parsed = parse_mask_spec(spec) if spec else None
        except MaskvizError:
            parsed = None
        self._restore = (np.asarray(mask, dtype=bool), parsed)

    def use_model(self, loaded: Any, source: str | None = None) -> None:
        """Put a loaded model in the state with a mask for its grid: a restored one, the old one when
        the grid is unchanged, else the current pattern regenerated for the new grid."""
        grid = tuple(loaded.model.grid_size)
        mask, provenance = self._mask_for(loaded, grid)
        self.last_seconds, self._timings = None, []  # measure the new model before painting live
        self._last_key = None
        self.state.set_result(None, None)  # the old model's picture and numbers are not this model's
        self.state.set_model(loaded, source, mask, provenance)  # a whole view's grid: see fill_new_grid
        self._restore = None  # used on this model's grid, or not at all
        self.loadingChanged.emit("")
        self.worker.hold(BACKGROUND, "load", False)
        self.modelReady.emit(loaded)

    def _mask_for(self, loaded: Any, grid: tuple[int, int]) -> tuple[np.ndarray | None, Provenance | None]:
        if (restored := self._restored(loaded, grid)) is not None:
            return restored
        if self.state.model is not None and grid == self.state.paint.grid:
            return None, None  # same grid: the painting stays as it is
        spec = self.state.provenance.spec or self.default_spec
        mask = self._generate(spec, loaded, grid)
        return (mask, Provenance(spec, mask)) if mask is not None else (None, None)

    def _restored(self, loaded: Any, grid: tuple[int, int]) -> tuple[np.ndarray, Provenance] | None:
        """The mask to restore, if it fits ``grid``, with its pattern's provenance (kept until the model is in use)."""
        if self._restore is None or self._restore[0].shape != grid:
            return None
        mask, spec = self._restore
        return mask, Provenance(spec, self._generate(spec, loaded, grid)) if spec is not None else Provenance()

    def fill_new_grid(self) -> None:
        """A view's new patch grid (a tiles or native picture): the mask being restored when it fits
        the grid (a session's, as the model arrives), else the last pattern made again for it."""
        restored = self._restored(self.state.model, self.state.paint.grid)
        if restored is not None:
            self._restore = None
            self.state.restore_mask(*restored)
        else:
            self.apply_spec(self.default_spec)

    @property
    def restoring(self) -> bool:
        """Whether a mask waits for the next model's grid (see :meth:`restore_mask`)."""
        return self._restore is not None

    @staticmethod
    def _generate(spec: MaskSpec, loaded: Any, grid: tuple[int, int]) -> np.ndarray | None:
        try:
            return spec.generate(grid, loaded.model.patch_size, defaults=loaded.mask_defaults())
        except MaskvizError:
            return None

    def apply_spec(self, spec: MaskSpec | str) -> str:
        """Make a pattern's mask for the current model (with the model's defaults) and put it in the
        state; returns the error (also the state's ``pattern_error``) or ''."""
        try:
            parsed = parse_mask_spec(spec) if isinstance(spec, str) else spec
            model = self.state.model
            grid, patch = self.state.paint.grid, self.state.paint.patch_size
            mask = parsed.generate(grid, patch, defaults=model.mask_defaults() if model is not None else None)
            self.state.apply_pattern(parsed, mask)
        except MaskvizError as exc:
            self.state.set_pattern_error(str(exc))
            return str(exc)
        self.state.set_pattern_error("")
        return ""

    def _on_model_loaded(self, task_id: int, loaded: Any) -> None:
        source, *_ = self._loads.pop(task_id, (None, (), False))
        if task_id == self.worker.latest_id("load"):
            self.use_model(loaded, source)

    def set_device(self, name: str) -> None:
        """Move the model to another device on the worker (it may take a moment)."""
        from maskviz.device import resolve_device

        try:
            device = resolve_device(name)
        except MaskvizError as exc:
            self.error.emit("Cannot use that device", str(exc))
            self.state.optionsChanged.emit("device")  # views show the device still in use
            return
        if device.type == "cpu":
            self.state.set_option("precision", "fp32")
        self.state.set_option("device", device.type)
        loaded = self.state.model
        if loaded is None:
            return

        def move() -> Any:
            loaded.model.to(device)
            return loaded

        self._load(f"moving the model to {device.type}…", move, self.state.model_source)

    def _load_failed(self, task_id: int, message: str) -> None:
        source, fallbacks, quiet = self._loads.pop(task_id, (None, (), False))
        if task_id != self.worker.latest_id("load"):
            return
        self.loadingChanged.emit("")
        self.worker.hold(BACKGROUND, "load", False)
        reason = naming(source or "the default model", message)
        if quiet:
            self.notice.emit(f"Could not reopen the model: {reason}")
        else:
            self.error.emit("Could not open the model", reason)
        if fallbacks and self.state.model is None:  # start-up: the last session's model, then the default
            self.open_model(fallbacks[0], fallback=fallbacks[1:], quiet=True)

    # ================================================================== reconstruction

    def _on_option(self, name: str) -> None:
        if name in ("unnormalize", "precision"):
            self.request_reconstruction()

    def _on_provenance(self) -> None:
        if self.state.provenance.spec is not None:
            self.default_spec = self.state.provenance.spec

    @property
    def live(self) -> bool:
        """Whether strokes update the panels while the button is still down (fast models only)."""
        return self.last_seconds is not None and self.last_seconds < LIVE_SECONDS

    def _on_mask_changed(self, final: bool) -> None:
        # A stroke's result must not queue behind a background step: none starts from the stroke's
        # first move until its result is on screen (the "result" hold takes over at the end).
        self.worker.hold(BACKGROUND, "stroke", not final)
        if final or self.live:
            self.request_reconstruction()

    def request_reconstruction(self) -> int:
        """Submit the state's inputs; the newest request wins. Returns its id (0: nothing to compute)."""
        inputs = self.state.inputs()
        if inputs is None or self.state.picture is not None:
            return 0  # the tiles and native views run as jobs (maskviz.gui.viewer.whole_jobs)
        latest = self.worker.latest_id("recon")
        if inputs == self._last_key and latest:
            return latest  # same input as the newest request: nothing to redo
        self._last_key = inputs
        s = self.state
        request = ReconRequest(s.model.model, s.model_image, inputs.patch_mask(), inputs.unnormalize,
                               inputs.precision)
        self.worker.hold(BACKGROUND, "result")
        task_id = self.worker.reconstruct(request)
        self._requests = {i: v for i, v in self._requests.items() if i >= latest}  # forget superseded ones
        self._requests[task_id] = inputs
        return task_id

    def _release_result_hold(self) -> None:
        if not self.worker.is_busy("recon"):
            self.worker.hold(BACKGROUND, "result", False)

    def _on_reconstructed(self, task_id: int, outcome: ReconOutcome) -> None:
        inputs = self._requests.pop(task_id, None)
        if task_id != self.worker.latest_id("recon") or inputs is None:
            self.stale_dropped += 1  # superseded while it ran: showing it would flash an old mask
            self._release_result_hold()
            return
        self._timings = [*self._timings[-2:], outcome.seconds]  # one slow answer (a busy CPU) is not the model
        self.last_seconds = min(self._timings)
        self._error_shown = ""
        self.state.set_message("")
        self.state.set_result(outcome, inputs)  # its baseline fill is asked for here, before the hold ends
        self.resultShown.emit(task_id)
        self._release_result_hold()

    def _recon_failed(self, task_id: int, message: str) -> None:
        self._release_result_hold()
        if task_id != self.worker.latest_id("recon"):
            return
        self.state.set_message(f"reconstruction failed: {message}")
        if message != self._error_shown:  # one dialog per problem, not one per mouse move
            self._error_shown = message
            self.error.emit("Could not reconstruct", message)
