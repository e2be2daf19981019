"""CompareController: the Compare dock's runs, through the viewer controller's job API.

It makes a :class:`~maskviz.compare_jobs.CompareJob` from the compare state and the viewer state
(the viewer's model is shared, never loaded again; added models are loaded by the run and kept in
the compare state), runs it with ``Controller.run_compare`` and writes what comes back into the
compare state.

Following the viewer: while the dock is on screen (:meth:`set_shown`, from the dock's visibility
signal), a change of the viewer's image, model, mask (at a stroke's end) or display cancels the
running table at once and starts a new one when the user pauses (:data:`FOLLOW_DELAY_MS`) if the
table takes at most :data:`AUTO_SECONDS`; a longer one waits for a click on Run, and the status line
says how long it would take. The estimate comes from one reconstruction's time; where it is not
clearly too long the run starts, measures its own pace and stops itself once it is clear that it
would take more than twice as long (the first forwards of a new model are slow, and a busy machine
makes any estimate rough). Off screen it
computes nothing. A folder run is only started by a click; a new viewer image does not stop it.

In the tiles and native views the table is the viewer's view (``maskviz compare --view``): each
image's whole picture, masks on its grid, a mask costing one forward per tile in the estimate.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from maskviz.compare import as_strategy, image_label, painted_strategy, parse_ratios, sweep_strategies
from maskviz.compare_jobs import CompareJob, ModelLoaded, Snapshot, TooLong, estimate_seconds
from maskviz.errors import MaskvizError
from maskviz.gui.compare.state import CompareState
from maskviz.gui.controller import COMPARE_LANE, Controller
from maskviz.gui.state import ViewerState
from maskviz.masks import MaskSpec
from maskviz.model_names import loaded_display_name

FOLLOW_DELAY_MS = 500  # "the user paused": no change of the viewer for this long
AUTO_SECONDS = 5.0  # a table expected to take longer waits for a click on Run
SURELY_LONGER = 4.0  # an estimate this many times the budget is not even tried
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}


def duration(seconds: float) -> str:
    """``"8 s"``, ``"3 min"``, ``"1 h 20 min"``: an estimate, said plainly."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes // 60} h {minutes % 60} min"


class CompareController(QObject):
    """Compare state + viewer state → comparison jobs; snapshots → compare state."""

    maskApplied = Signal(str)  # the strategy whose mask was put on the canvas

    def __init__(self, state: CompareState, viewer: ViewerState, controller: Controller,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state, self.viewer, self.controller = state, viewer, controller
        self.task_id = 0
        self.auto_seconds = AUTO_SECONDS  # the longest table that follows the viewer by itself
        self.shown = False
        self.outdated = True  # the snapshot (if any) is not for the viewer as it is now
        self._needs_timing = False  # following waits for a reconstruction's time to estimate with
        self._too_long: tuple[tuple, float] = ((), 0.0)  # (model and settings, seconds) an automatic run measured
        self._follow = QTimer(self, singleShot=True, interval=FOLLOW_DELAY_MS)
        self._follow.timeout.connect(self._follow_viewer)
        for signal in (viewer.imageChanged, viewer.modelChanged, state.settingsChanged, state.modelsChanged):
            signal.connect(self.viewer_changed)
        viewer.maskChanged.connect(lambda final: final and self.viewer_changed())
        viewer.pictureChanged.connect(lambda _note: self.viewer_changed())  # another view: another grid and picture
        viewer.optionsChanged.connect(lambda name: name == "unnormalize" and self.viewer_changed())
        controller.resultShown.connect(lambda _id: self._needs_timing and self._schedule())
        controller.jobStep.connect(self._on_step)
        controller.jobDone.connect(self._on_done)
        controller.jobFailed.connect(self._on_failed)
        controller.set_lane_shown(COMPARE_LANE, False)

    @property
    def is_running(self) -> bool:
        return self.task_id != 0

    # ------------------------------------------------------------------ following the viewer

    def set_shown(self, shown: bool) -> None:
        """The dock is on screen (or not, a tab behind another included): off screen nothing runs."""
        self.shown = shown
        self.controller.set_lane_shown(COMPARE_LANE, shown)
        if shown and self.outdated:
            self._schedule()

    def viewer_changed(self) -> None:
        """The next change: the running table is outdated (a folder run only by a model change)."""
        self.outdated = True
        if self.is_running and self.state.folder is None:
            self.cancel("outdated: the viewer changed")
        self._schedule()

    def _schedule(self) -> None:
        if not self.shown:
            return  # off screen nothing is estimated either (a 1024 px picture: ~2 ms a change); shown, it catches up
        estimate = self.estimate()
        self.state.set_run(estimate=estimate)
        if self.state.folder is None:
            if self.shown:
                self._follow.start()
        elif not self.is_running and estimate is not None:
            self.state.set_run(status=f"{self._folder_size()} images in {Path(self.state.folder).name}: a run "
                                      f"takes about {duration(estimate)}; press Run to start it")

    def _follow_viewer(self) -> None:
        if not self.shown or self.is_running or self.state.folder is not None:
            return
        estimate = self.estimate()
        self._needs_timing = estimate is None
        if estimate is None:
            return  # no reconstruction timed yet: resultShown tries again
        measured = self._too_long[0] == self._run_key()
        if measured:
            estimate = max(estimate, self._too_long[1])  # as the last automatic run measured it
        if estimate <= self.auto_seconds * SURELY_LONGER and not measured:
            self.state.set_run(automatic=True, estimate=estimate)
            self.run(budget=2 * self.auto_seconds)
        else:
            self._wait_for_click(estimate)

    def _wait_for_click(self, estimate: float) -> None:
        self.state.set_run(automatic=False, estimate=estimate,
                           status=f"this table would take about {duration(estimate)}: press Run to compute it")

    def _run_key(self) -> tuple:
        model = self.viewer.model
        return id(model.model) if model is not None else 0, self.state.settings, tuple(self.state.models.items())

    def estimate(self) -> float | None:
        """Seconds a run of the current settings would take (None: not known yet)."""
        seconds, loaded = self.controller.last_seconds, self.viewer.model
        if seconds is None or loaded is None:
            return None
        try:
            strategies = self._strategies(loaded.model)
        except MaskvizError:
            return None
        models = {"viewer": loaded.model} | {label: self._cached(source, loaded.model)
                                              for label, source in self.state.models.items()}
        images = self._folder_size() if self.state.folder else 1
        return estimate_seconds(models, strategies, self._seeds(), images, seconds * self._view_cost())

    def _view_cost(self) -> float:
        """Model inputs one mask costs in the viewer's view: its tiles, or (native) its share of patches."""
        picture, model = self.viewer.picture, self.viewer.model.model
        if picture is None:
            return 1.0
        if picture.view.name == "tiles":
            from maskviz.whole.tiles import tile_layout

            return float(len(tile_layout(model, picture).tiles))
        (gh, gw), (mh, mw) = picture.grid, model.grid_size
        return gh * gw / (mh * mw)

    def _cached(self, source: str, fallback: Any) -> Any:  # noqa: ANN401
        hit = self.state.loaded.get((source, self.viewer.options.device))
        return fallback if hit is None else hit.model

    def _folder_size(self) -> int:
        root = Path(self.state.folder)
        if not root.is_dir():
            return 1
        return sum(1 for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))

    # ------------------------------------------------------------------ running

    def _strategies(self, model: Any) -> list[Any]:  # noqa: ANN401
        viewer_mask = painted_strategy(self.viewer.patch_mask(), model.patch_size,
                                       f"viewer: {self.viewer.mask_label()}")
        specs = [as_strategy(s) for s in self.state.settings.specs.split()]
        ratios = self.state.settings.ratios.strip()
        sweepable = [s.spec for s in specs if s.ratio is not None]
        extra = sweep_strategies(sweepable, parse_ratios(ratios)) if ratios and sweepable else []
        return [viewer_mask, *specs, *extra]

    def _seeds(self) -> list[int]:
        return list(range(self.state.settings.seeds))

    def make_job(self, budget: float | None = None) -> CompareJob:
        """The run's inputs from the two states; bad specs or ratios raise MaskvizError."""
        v, c = self.viewer, self.state
        loaded = v.model
        if loaded is None or (c.folder is None and v.image is None):
            raise MaskvizError("open an image and a model first")
        model = loaded.model
        label = loaded_display_name(loaded, v.model_source)
        models, info, to_load = {label: model}, {label: loaded.summary()}, {}
        for name, source in c.models.items():
            while name in models or name in to_load:  # two models, one name: keep both, told apart
                name += "'"
            hit = c.loaded.get((source, v.options.device))
            if hit is None:
                to_load[name] = source
            else:
                models[name], info[name] = hit.model, hit.summary()
        from maskviz.device import model_device

        # In a whole view the job makes each model's picture from the image as the viewer did (same size,
        # same pixels), so the viewer's painted mask lands on the same patches.
        whole = v.picture is not None
        image = None if c.folder else {image_label(v.image_source): v.image if whole else v.model_image}
        s = c.settings
        return CompareJob(models=models, model_info=info, to_load=to_load, images=image, folder=c.folder,
                          strategies=self._strategies(model), seeds=self._seeds(), same_count=s.same_count,
                          unnormalize=v.options.unnormalize, heat=v.options.heatmap, show_all=s.show_all,
                          device=model_device(model), budget=budget, view=v.picture_view if whole else None)

    def run(self, budget: float | None = None) -> bool:
        """Start (or restart) the comparison; the previous run is cancelled. False on bad input.

        ``budget`` (seconds): an automatic run, which stops itself when the table would take longer."""
        self._follow.stop()
        try:
            job = self.make_job(budget)
        except MaskvizError as exc:
            self.state.set_run(status=str(exc))
            return False
        self.task_id = self.controller.run_compare(job)
        self.outdated = False
        self.state.set_run(running=True, status="comparing…")
        return True

    def cancel(self, reason: str = "cancelled") -> None:
        """Stop the run within one forward; what is done stays on screen and can be exported."""
        self._follow.stop()
        if self.is_running:
            self.task_id, self.outdated = 0, True  # what is on screen is not a table of the viewer as it is
            self.controller.cancel_compare(reason)
            self.state.set_run(running=False, status=f"{reason}: {self.done_text()}")

    def _on_step(self, lane: str, task_id: int, value: object) -> None:
        if lane != COMPARE_LANE or task_id != self.task_id:
            return
        if isinstance(value, ModelLoaded):
            self.state.keep_loaded(value.source, self.viewer.options.device, value.loaded)
        elif isinstance(value, Snapshot):
            self.state.set_snapshot(value)

    def _on_done(self, lane: str, task_id: int, value: object) -> None:
        if lane != COMPARE_LANE or task_id != self.task_id:
            return
        self.task_id = 0
        if isinstance(value, TooLong):  # measured: too long to follow by itself
            self._too_long, self.outdated = (self._run_key(), value.seconds), True
            self.state.set_snapshot(value.snapshot)
            self.state.set_run(running=False)
            self._wait_for_click(value.seconds)
            return
        self.state.set_snapshot(value)
        self.state.set_run(running=False, status=self.done_text())

    def _on_failed(self, lane: str, task_id: int, message: str) -> None:
        if lane == COMPARE_LANE and task_id == self.task_id:
            self.task_id = 0
            self.outdated = True
            text = message if message.startswith(("stopped", "cancelled")) else f"comparison failed: {message}"
            self.state.set_run(running=False, status=f"{text}: {self.done_text()}" if self.state.snapshot else text)

    def done_text(self) -> str:
        s = self.state.snapshot
        if s is None:
            return "nothing finished"
        images = len({r.image for r in s.table.rows})
        text = f"{images} image{'s' * (images != 1)} × {len(s.table.models)} model(s) done"
        notes = [*s.table.notes, *(f"skipped {x}" for x in s.skipped)]
        return "; ".join([text, *notes])

    # ------------------------------------------------------------------ click-through

    def apply_strategy(self, strategy: str) -> bool:
        """Put a compared mask (the first seed, on the viewer model's grid) on the canvas as one undoable
        edit, with the spec and seed that made it (the pattern panel shows them); a mask the spec alone
        does not make (same hidden count) is named by the comparison instead."""
        s, model = self.state.snapshot, self.viewer.model
        if s is None or model is None:
            return False
        rows = [r for r in s.table.rows if r.strategy == strategy and r.model == s.table.models[0]]
        if not rows or rows[0].mask is None:
            return False
        mask, seed = rows[0].mask, rows[0].seed
        if tuple(mask.shape) != tuple(self.viewer.paint.grid):
            self.state.set_run(status="the viewer's model or view changed since this comparison: run it again")
            return False
        spec = self._seeded_spec(strategy, seed)
        if spec is not None and np.array_equal(self._generate(spec), mask):
            self.viewer.apply_pattern(spec, mask.copy(), f"Compare: {strategy}")
        else:
            seeded = f", seed {seed}" if seed is not None and spec is not None and spec.pattern.seeded else ""
            self.viewer.set_patch_mask(mask.copy(), f"Compare: {strategy}", source=f"Compare: {strategy}{seeded}")
        self.maskApplied.emit(strategy)
        return True

    def _seeded_spec(self, strategy: str, seed: int | None) -> MaskSpec | None:
        spec = next((s.spec for s in self.state.snapshot.table.strategies if s.label == strategy), None)
        if spec is not None and spec.pattern.seeded and seed is not None:
            spec = spec.with_params(seed=seed)
        return spec

    def _generate(self, spec: MaskSpec) -> np.ndarray | None:
        """The spec's mask as the viewer makes it (with the model's defaults), to check a compared mask by."""
        loaded, paint = self.viewer.model, self.viewer.paint
        try:
            return spec.generate(paint.grid, paint.patch_size, defaults=loaded.mask_defaults())
        except MaskvizError:
            return None

    # ------------------------------------------------------------------ exports (the CLI's files)

    def export(self, kind: str, path: str | os.PathLike) -> bool:
        """Write ``grid``, ``sweep``, ``csv`` or ``json`` of the shown table; the status line says how it went."""
        from maskviz import compare_export as out

        s = self.state.snapshot
        if s is None:
            self.state.set_run(status="nothing to export yet: run a comparison first")
            return False
        write = {"grid": lambda: out.write_grid(s.table, path, s.heat, s.show_all),
                 "sweep": lambda: out.write_sweep(s.table, path),
                 "csv": lambda: out.write_metrics_csv(s.table, path),
                 "json": lambda: out.write_summary_json(s.table, path, s.model_info)}[kind]
        try:
            write()
        except (MaskvizError, ValueError) as exc:
            self.state.set_run(status=f"could not export: {exc}")
            return False
        self.state.set_run(status=f"exported {path}")
        return True
