"""Controller: turns :class:`~maskviz.gui.state.ViewerState` changes into worker jobs, results back into it.

It is the only part of the GUI that talks to :class:`~maskviz.gui.worker.ModelWorker`. Every torch
job goes through the worker's lanes (load, recon, baseline, compare, curve), so a model is used by
one thread at a time and a new request supersedes a stale one.

Live policy: a reconstruction is requested on every stroke end, pattern, undo/redo, image, model or
option change. While a stroke is being drawn it is also requested on every mouse move, but only when
the last reconstruction took under :data:`LIVE_SECONDS` (a small model); the worker keeps one
request pending per lane, newer replacing older, so a slow model never builds a backlog. Requests
whose inputs equal the newest one are not sent again, and the background loss sweep is held while a
stroke is drawn so the stroke's result does not queue behind it.

Each result is written into the state together with the :class:`~maskviz.gui.state.Inputs` it was
computed from; a result whose request is no longer the newest is dropped (counted in
:attr:`Controller.stale_dropped`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from maskviz.errors import MaskvizError
from maskviz.gui.garbage import collect_on_gui_thread
from maskviz.gui.state import Curve, Inputs, Provenance, ViewerState
from maskviz.gui.worker import ModelWorker, ReconOutcome, ReconRequest
from maskviz.masks import MaskSpec, parse_mask_spec

log = logging.getLogger("maskviz.gui")

LIVE_SECONDS = 0.05  # reconstruct during strokes only when the model answers faster than this
CURVE_DELAY_MS = 300  # let a burst of changes settle before starting a background sweep
DEFAULT_PATTERN = "random:0.75,seed=0"


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


class LaneRunner(QObject):
    """A :class:`~maskviz.gui.background.Background` look-alike whose jobs run on one worker lane."""

    done = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, worker: ModelWorker, lane: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker, self._lane = worker, lane
        worker.finished.connect(lambda lane_, i, v: lane_ == self._lane and self.done.emit(i, v))
        worker.failed.connect(lambda lane_, i, m: lane_ == self._lane and self.failed.emit(i, m))

    def run(self, fn: Any, name: str = "") -> int:  # noqa: ARG002 - same signature as Background.run
        return self._worker.run(self._lane, fn)


class Controller(QObject):
    """State changes → worker jobs; results → state. Errors come out as one ``error`` per problem."""

    error = Signal(str, str)  # title, message: the window shows one dialog
    notice = Signal(str)  # a passing note for the status bar (e.g. the last session's image is gone)
    resultShown = Signal(int)  # id of the reconstruction just written into the state
    modelReady = Signal(object)  # the LoadedModel now in use
    loadingChanged = Signal(str)  # "loading x…" while a load or device move runs, "" after
    busyChanged = Signal(bool)  # a model load or reconstruction is running or queued

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
        self._curve_key: tuple | None = None
        self._load_sources: dict[int, tuple[str | None, bool]] = {}
        self._restore: tuple[np.ndarray, MaskSpec | None] | None = None
        self._baseline_for: Any = None
        self._error_shown = ""
        self._curve_timer = QTimer(self, singleShot=True, interval=CURVE_DELAY_MS)
        self._curve_timer.timeout.connect(self._start_curve)
        self._connect()

    def _connect(self) -> None:
        s, w = self.state, self.worker
        s.imageChanged.connect(self._on_inputs_changed)
        s.modelChanged.connect(self._on_inputs_changed)
        s.maskChanged.connect(self._on_mask_changed)
        s.optionsChanged.connect(self._on_option)
        s.resultChanged.connect(self._update_baseline)
        s.provenanceChanged.connect(self._on_provenance)
        w.reconstructed.connect(self._on_reconstructed)
        w.modelLoaded.connect(self._on_model_loaded)
        w.curveStep.connect(self._on_curve_step)
        w.curveDone.connect(self._on_curve_done)
        w.finished.connect(self._on_finished)
        w.failed.connect(self._on_failed)
        w.busyChanged.connect(lambda *_: self.busyChanged.emit(self.busy))

    @property
    def busy(self) -> bool:
        return self.worker.is_busy("recon") or self.worker.is_busy("load")

    def lane_runner(self, lane: str) -> LaneRunner:
        return LaneRunner(self.worker, lane, self)

    def shutdown(self) -> None:
        self.worker.shutdown()

    # ================================================================== opening

    def open_image(self, source: str | os.PathLike, quiet: bool = False) -> bool:
        """Load an image (path or ``sample:NAME``); on failure nothing changes and one error names it."""
        from maskviz.images import load_image

        try:
            image = load_image(source)
        except MaskvizError as exc:
            if quiet:
                self.notice.emit(f"Could not reopen the last image: {exc}")
            else:
                self.error.emit("Could not open the image", naming(source, str(exc)))
            return False
        self.state.set_image(image, str(source))
        return True

    def open_model(self, source: str | os.PathLike | None, fallback: bool = False) -> int:
        """Load a checkpoint (None = bundled default) on the worker; returns the task id.

        ``fallback``: if it fails and no model is in use yet, load the default instead (start-up)."""
        from maskviz.checkpoints import load_default_model, load_model

        device, path = self.state.options.device, None if source is None else str(source)

        def load() -> Any:
            return load_default_model(device) if path is None else load_model(path, device=device)

        self.loadingChanged.emit(f"loading {describe_source(path)}…")
        task_id = self.worker.load_model(load)
        self._load_sources[task_id] = (path, fallback)
        return task_id

    def restore_mask(self, mask: np.ndarray | None, spec: str | None) -> None:
        """Use this mask (and the pattern it came from) with the next model whose grid it fits (None: don't)."""
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
        self._last_key = self._curve_key = None
        self.state.set_result(None, None)  # the old model's picture and numbers are not this model's
        self.state.set_model(loaded, source, mask, provenance)
        self.loadingChanged.emit("")
        self.modelReady.emit(loaded)

    def _mask_for(self, loaded: Any, grid: tuple[int, int]) -> tuple[np.ndarray | None, Provenance | None]:
        restore, self._restore = self._restore, None
        if restore is not None and restore[0].shape == grid:
            mask, spec = restore
            return mask, Provenance(spec, self._generate(spec, loaded)) if spec is not None else Provenance()
        if self.state.model is not None and grid == self.state.paint.grid:
            return None, None  # same grid: the painting stays as it is
        spec = self.state.provenance.spec or self.default_spec
        mask = self._generate(spec, loaded)
        return (mask, Provenance(spec, mask)) if mask is not None else (None, None)

    @staticmethod
    def _generate(spec: MaskSpec, loaded: Any) -> np.ndarray | None:
        model = loaded.model
        try:
            return spec.generate(model.grid_size, model.patch_size, defaults=loaded.mask_defaults())
        except MaskvizError:
            return None

    def apply_spec(self, spec: MaskSpec | str) -> str:
        """Apply a pattern for the current model (with the model's defaults); returns an error or ''."""
        try:
            parsed = parse_mask_spec(spec) if isinstance(spec, str) else spec
            model = self.state.model
            grid, patch = self.state.paint.grid, self.state.paint.patch_size
            mask = parsed.generate(grid, patch, defaults=model.mask_defaults() if model is not None else None)
            self.state.apply_pattern(parsed, mask)
        except MaskvizError as exc:
            return str(exc)
        return ""

    def apply_curve_point(self, ratio: float, seed: int) -> str:
        """A click on the loss curve: the curve's pattern family at that ratio and seed."""
        from maskviz.sweep import with_ratio

        family = self.state.curve.spec
        if family is None:
            return "no curve yet"
        params = with_ratio(family, ratio).params
        pattern = family.pattern
        values = [params.get(p.name, p.default) for p in pattern.params]
        while len(values) > 1 and values[-1] == pattern.params[len(values) - 1].default:
            values.pop()  # the canonical form the pattern panel writes: positional, trailing defaults left out
        return self.apply_spec(MaskSpec(family.name, tuple(values), (("seed", int(seed)),)))

    def _on_model_loaded(self, task_id: int, loaded: Any) -> None:
        source, _ = self._load_sources.pop(task_id, (None, False))
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

        self.loadingChanged.emit(f"moving the model to {device.type}…")
        self._load_sources[self.worker.load_model(move)] = (self.state.model_source, False)

    # ================================================================== reconstruction

    def _on_inputs_changed(self) -> None:
        self._last_key = self._curve_key = None
        self.request_reconstruction()
        self.schedule_curve()

    def _on_option(self, name: str) -> None:
        if name in ("unnormalize", "precision"):
            self.request_reconstruction()
        if name == "precision":
            self.schedule_curve()
        if name == "baseline":
            self._update_baseline()

    def _on_provenance(self) -> None:
        if self.state.provenance.spec is not None:
            self.default_spec = self.state.provenance.spec
        self.schedule_curve()

    @property
    def live(self) -> bool:
        """Whether strokes update the panels while the button is still down (fast models only)."""
        return self.last_seconds is not None and self.last_seconds < LIVE_SECONDS

    def _on_mask_changed(self, final: bool) -> None:
        if not final:
            self.worker.hold("curve")  # the stroke's result must not wait behind a background sweep step
        if final or self.live:
            self.request_reconstruction()
        if final:
            self.worker.hold("curve", False)

    def request_reconstruction(self) -> int:
        """Submit the state's inputs; the newest request wins. Returns its id (0: nothing to compute)."""
        inputs = self.state.inputs()
        if inputs is None:
            return 0
        latest = self.worker.latest_id("recon")
        if inputs == self._last_key and latest:
            return latest  # same input as the newest request: nothing to redo
        self._last_key = inputs
        s = self.state
        request = ReconRequest(s.model.model, s.model_image, inputs.patch_mask(), inputs.unnormalize,
                               inputs.precision)
        task_id = self.worker.submit(request)
        self._requests = {i: v for i, v in self._requests.items() if i >= latest}  # forget superseded ones
        self._requests[task_id] = inputs
        return task_id

    def _on_reconstructed(self, task_id: int, outcome: ReconOutcome) -> None:
        inputs = self._requests.pop(task_id, None)
        if task_id != self.worker.latest_id("recon") or inputs is None:
            self.stale_dropped += 1  # superseded while it ran: showing it would flash an old mask
            return
        self._timings = [*self._timings[-2:], outcome.seconds]  # one slow answer (a busy CPU) is not the model
        self.last_seconds = min(self._timings)
        self._error_shown = ""
        self.state.set_message("")
        self.state.set_result(outcome, inputs)
        self.resultShown.emit(task_id)

    def _on_failed(self, lane: str, task_id: int, message: str) -> None:
        if lane == "load":
            self._load_failed(task_id, message)
        elif task_id != self.worker.latest_id(lane):
            return
        elif lane == "recon":
            self.state.set_message(f"reconstruction failed: {message}")
            if message != self._error_shown:  # one dialog per problem, not one per mouse move
                self._error_shown = message
                self.error.emit("Could not reconstruct", message)
        elif lane == "baseline":
            self.state.set_baseline_result(None, f"baseline failed: {message}")
        elif lane == "curve":
            self.state.set_curve(replace(self.state.curve, status=f"loss curve failed: {message}"))

    def _load_failed(self, task_id: int, message: str) -> None:
        source, fallback = self._load_sources.pop(task_id, (None, False))
        if task_id != self.worker.latest_id("load"):
            return
        self.loadingChanged.emit("")
        self.error.emit("Could not open the model", naming(source or "the default model", message))
        if fallback and self.state.model is None and source is not None:
            self.open_model(None)  # start-up with a broken checkpoint: fall back to the default

    # ================================================================== baseline

    def _update_baseline(self) -> None:
        """Fill the baseline for the result in the state, on the baseline lane (harmonic at 224 px
        takes a while); a fill for an older result or another choice is never shown."""
        from maskviz.baselines import BASELINE_LABELS, baseline_reconstruction

        name, outcome = self.state.options.baseline, self.state.result
        if name == "none" or outcome is None:
            self._baseline_for = None
            if self.state.baseline_result is not None or self.state.baseline_status:
                self.state.set_baseline_result(None)
            return
        r = outcome.result
        if self._baseline_for == (name, id(r)):
            return
        self._baseline_for = (name, id(r))
        self.state.set_baseline_result(None, f"baseline: {BASELINE_LABELS[name]} (computing…)")
        original, mask = r.original, r.mask
        patch = original.shape[0] // mask.shape[0]
        self.worker.run("baseline", lambda: (name, id(r), baseline_reconstruction(name, original, mask, patch)))

    def _on_finished(self, lane: str, task_id: int, value: Any) -> None:
        if lane != "baseline" or task_id != self.worker.latest_id("baseline"):
            return
        name, result_id, filled = value
        if self._baseline_for == (name, result_id):
            self.state.set_baseline_result(filled)

    # ================================================================== loss curve

    def schedule_curve(self) -> None:
        """Recompute the loss curve soon (debounced); unchanged inputs keep the current curve."""
        self._curve_timer.start()

    def _start_curve(self) -> None:
        from maskviz.sweep import DEFAULT_RATIOS, DEFAULT_SEEDS, loss_sweep, sweep_label, sweep_spec

        s = self.state
        if s.model is None or s.model_image is None:
            return
        family = sweep_spec(s.provenance.spec or self.default_spec)
        key = (id(s.model.model), id(s.model_image), str(family), s.options.precision)
        if key == self._curve_key:
            return
        self._curve_key = key
        total = len(DEFAULT_RATIOS)
        s.set_curve(Curve(sweep_label(family), family, (), total, DEFAULT_SEEDS, f"computing 0/{total} ratios…"))
        self.worker.submit_curve(loss_sweep(s.model.model, s.model_image, family, precision=s.options.precision,
                                            defaults=s.model.mask_defaults()))

    def _on_curve_step(self, task_id: int, point: Any) -> None:
        if task_id != self.worker.latest_id("curve"):
            return
        c = self.state.curve
        points = tuple(p for p in c.points if p.ratio != point.ratio) + (point,)
        status = f"computing: {len(points)}/{max(c.total, len(points))} ratios…"
        self.state.set_curve(replace(c, points=points, status=status))

    def _on_curve_done(self, task_id: int) -> None:
        if task_id == self.worker.latest_id("curve"):
            c = self.state.curve
            status = "" if c.points else "no points: nothing could be hidden"
            self.state.set_curve(replace(c, status=status))
