"""A comparison as a background job: strategies × models on an image or a folder, in short steps.

:func:`compare_steps` is what the GUI's Compare dock runs on its worker: the same rows as
:func:`maskviz.compare.iter_compare` (built with its :func:`~maskviz.compare.plan_masks` and
:func:`~maskviz.compare.run_one`), but split by time rather than by model × image. A step runs
as many distinct masks as fit in :data:`STEP_SECONDS` at the model's measured speed, and always at
least one, so a step of a published-size model is one forward: whatever waits for the worker (a
reconstruction under the brush, a cancel, quitting) waits for one forward at most. Identical masks
(a fixed pattern under several seeds) are still computed once.

The generator yields a :class:`Snapshot` (a copy of the table so far, its statistics and the grid
picture) at most every :data:`SNAPSHOT_SECONDS`, ``None`` for steps in between (a turn without
news), and :class:`ModelLoaded` after loading each model that was asked for by path. Only the
pictures the grid shows are kept (the first readable image, plain strategies, the first seed): a
folder's other reconstructions are dropped as soon as their numbers are taken.

:func:`estimate_seconds` says beforehand how long a job will take from one forward's time; a job
with a ``budget`` (a run started by itself, not by a click) also measures its own pace and stops
early, returning :class:`TooLong`, once it is clear the table would take longer.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from maskviz.compare import (
    CompareRow,
    CompareTable,
    Curve,
    PlannedMask,
    Strategy,
    Summary,
    folder_images,
    new_table,
    on_grid,
    plan_masks,
    run_one,
    sweep_curves,
    view_pictures,
    view_text,
)
from maskviz.errors import MaskvizError

STEP_SECONDS = 0.05  # a step batches masks up to this much work (a fast model); never less than one mask
SNAPSHOT_SECONDS = 0.25  # the table and statistics are copied for the view at most this often
GRID_SECONDS = 2.0  # the grid picture is redrawn at most this often while a run goes on


@dataclass
class CompareJob:
    """What one run needs, gathered on the UI thread; models named by path are loaded by the job."""

    models: dict[str, Any]  # label → MaskedImageModel (the viewer's first: shared, never loaded again)
    model_info: dict[str, Any]  # label → LoadedModel.summary()
    to_load: dict[str, str]  # label → checkpoint source, loaded on the worker (first steps)
    images: dict[str, Any] | None  # label → image (the viewer's image)
    folder: str | None  # folder mode
    strategies: list[Strategy]
    seeds: list[int]
    same_count: bool = False
    unnormalize: str = "true-patch"
    heat: str = "pixel"
    show_all: bool = False
    device: Any = None  # where models named by path are loaded (the viewer model's device)
    budget: float | None = None  # seconds: stop early (TooLong) when the whole table would take longer
    view: Any = None  # maskviz.whole.View: tiles / native work on each image's whole picture (None: model)


@dataclass
class Snapshot:
    """The comparison as far as it got: a copy of the table plus what the view draws from it."""

    table: CompareTable
    summaries: list[Summary]
    curves: list[Curve]
    grid: np.ndarray | None  # the grid figure (RGB), as grid.png would be now
    done: int  # forwards done
    total: int  # forwards in all
    finished: bool = False
    model_info: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    heat: str = "pixel"  # how the grid draws errors (exports draw the same)
    show_all: bool = False


@dataclass(frozen=True)
class TooLong:
    """A job with a budget stopped early: at its measured pace the whole table takes ``seconds``."""

    seconds: float
    snapshot: Snapshot


@dataclass(frozen=True)
class ModelLoaded:
    """A model the job loaded from ``source`` (a LoadedModel): the caller may keep it for the next run."""

    label: str
    source: str
    loaded: Any


def mask_groups(plans: Sequence[PlannedMask], label: str) -> list[list[PlannedMask]]:
    """The plans of one model grouped by identical patch masks: one forward per group."""
    groups: dict[bytes, list[PlannedMask]] = {}
    for plan in plans:
        groups.setdefault(plan.masks[label].tobytes(), []).append(plan)
    return list(groups.values())


def estimate_seconds(models: Mapping[str, Any], strategies: Sequence[Strategy], seeds: Sequence[int],
                     images: int, seconds_per_forward: float) -> float:
    """How long a run takes, roughly: one forward per strategy and seed (one for a fixed pattern) and
    model and image, at one forward of the first model, scaled for the others by their parameter
    counts (a ViT-L forward takes about three ViT-B ones). Counted without making the masks: this
    runs on the UI thread at every change."""
    forwards = sum(len(seeds) if s.seeded else 1 for s in strategies)
    first = _parameters(next(iter(models.values())))
    return forwards * images * seconds_per_forward * sum(_parameters(m) / first for m in models.values())


def _parameters(model: Any) -> int:
    """The model's parameter count, counted once per model (ViT-B: ~7 ms a count, at every viewer change)."""
    try:
        return _PARAMETERS[model]
    except (KeyError, TypeError):
        count = max(1, sum(p.numel() for p in model.parameters()))
    with contextlib.suppress(TypeError):  # not weakly referable: count each time
        _PARAMETERS[model] = count
    return count


_PARAMETERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _OverBudget(Exception):  # noqa: N818 - a signal between the job's own functions
    pass


def compare_steps(job: CompareJob) -> Iterator[Snapshot | ModelLoaded | None]:
    """Run ``job`` in short steps (see the module doc); returns the finished snapshot, or
    :class:`TooLong` when a job with a budget would take longer."""
    from maskviz.checkpoints import load_model

    models, info = dict(job.models), dict(job.model_info)
    for label, source in job.to_load.items():  # one step per model
        loaded = load_model(source, device=job.device)
        models[label], info[label] = loaded.model, loaded.summary()
        yield ModelLoaded(label, source, loaded)
    from maskviz.whole.reconstruct import as_view

    images = folder_images(job.folder) if job.folder else dict(job.images or {})
    table = new_table(models, list(images.items()), job.strategies, job.seeds, job.same_count)
    view = as_view(job.view)
    table.view = view_text(view)
    if view.name == "model":
        plans = plan_masks(models, job.strategies, job.seeds, job.same_count)
        per_image = sum(len(mask_groups(plans, label)) for label in models)
    else:  # planned per image, on its whole picture's grid; counted without duplicates
        plans, per_image = [], len(models) * sum(len(job.seeds) if s.seeded else 1 for s in job.strategies)
    run = _Progress(table, job, info, total=len(images) * per_image)
    run.per_image = per_image
    try:
        yield from _images(run, models, images, view, plans)
    except _OverBudget:
        return TooLong(run.projected(), run.snapshot())
    table.complete = True
    run.render_grid()
    return run.snapshot(finished=True)


def _images(run: _Progress, models: dict[str, Any], images: dict[str, Any], view: Any,
            plans: list[PlannedMask]) -> Iterator[Snapshot | None]:
    from maskviz.images import load_image

    table, pictured = run.table, False
    for name, source in images.items():
        done_before = run.done
        try:
            image = load_image(source) if isinstance(source, str) or hasattr(source, "__fspath__") else source
            pictures = view_pictures(models, image, view)
        except MaskvizError as exc:  # unreadable, or a picture the view cannot take
            table.skipped.append((name, str(exc)))
            run.done += run.per_image
            continue
        if pictures:
            plans = plan_masks({k: on_grid(v) for k, v in pictures.items()}, run.job.strategies, run.job.seeds,
                               run.job.same_count)
        keep, pictured = not pictured, True
        for label, model in models.items():
            yield from _model_on_image(run, label, model, name, image, plans, mask_groups(plans, label), keep,
                                       pictures.get(label))
        run.done = done_before + run.per_image  # whatever duplicates this image's masks had


def _model_on_image(run: _Progress, label: str, model: Any, name: str, image: Any, plans: list[PlannedMask],
                    groups: list[list[PlannedMask]], keep: bool, picture: Any = None) -> Iterator[Snapshot | None]:
    """One model on one image, a few masks per step; the rows end up in plan order, as the CLI's."""
    job, start, per_mask = run.job, len(run.table.rows), None
    order = {(plan.strategy.label, plan.seed): i for i, plan in enumerate(plans)}
    while groups:
        count = 1 if per_mask is None else max(1, int(STEP_SECONDS / max(per_mask, 1e-6)))
        chunk, groups = groups[:count], groups[count:]
        t0 = time.perf_counter()
        rows = run_one(label, model, name, image, [p for g in chunk for p in g], keep, job.unnormalize,
                       picture=picture)
        per_mask = (time.perf_counter() - t0) / len(chunk)
        run.add(rows, len(chunk))
        if run.over_budget():
            raise _OverBudget
        yield run.snapshot_due()
    run.table.rows[start:] = sorted(run.table.rows[start:], key=lambda r: order[(r.strategy, r.seed)])
    yield run.snapshot_due()


class _Progress:
    """The table being filled and when the view last got a copy of it."""

    def __init__(self, table: CompareTable, job: CompareJob, info: dict[str, Any], total: int) -> None:
        self.table, self.job, self.info, self.total = table, job, info, total
        self.done = 0
        self.per_image = 0  # forwards an image counts for in ``done`` (duplicate masks run once)
        self.start = time.perf_counter()
        self.grid: np.ndarray | None = None
        self._grid_rows = 0  # shown rows the grid picture has
        self._last_snapshot = self._last_grid = 0.0

    def add(self, rows: list[CompareRow], forwards: int) -> None:
        for row in rows:
            if row.result is not None and (row.sweep or row.seed != self.job.seeds[0]):
                row.result = None  # the grid shows plain strategies at the first seed only
        self.table.rows.extend(rows)
        self.done += forwards

    def projected(self) -> float:
        """Seconds the whole table takes at the pace so far."""
        return (time.perf_counter() - self.start) * self.total / max(1, self.done)

    def over_budget(self) -> bool:
        """Past the first second (or a fifth of the budget) and on course to take longer than it."""
        budget = self.job.budget
        if budget is None or self.done >= self.total:
            return False
        return time.perf_counter() - self.start > min(1.0, budget / 5) and self.projected() > budget

    def snapshot_due(self) -> Snapshot | None:
        now = time.perf_counter()
        if now - self._last_snapshot < SNAPSHOT_SECONDS:
            return None
        self._last_snapshot = now
        if now - self._last_grid >= GRID_SECONDS:
            self.render_grid()
        return self.snapshot()

    def render_grid(self) -> None:
        from maskviz.compare_export import grid_figure
        from maskviz.figures import render_figure

        shown = sum(1 for r in self.table.rows if r.result is not None)
        if shown and shown != self._grid_rows:
            self.grid = np.asarray(render_figure(grid_figure(self.table, heat=self.job.heat,
                                                             show_all=self.job.show_all)))
            self._grid_rows, self._last_grid = shown, time.perf_counter()

    def snapshot(self, finished: bool = False) -> Snapshot:
        table = self.table
        copy = replace(table, rows=list(table.rows), skipped=list(table.skipped))
        return Snapshot(copy, copy.summaries(), sweep_curves(copy.rows), self.grid,
                        self.total if finished else self.done, self.total, finished, self.info,
                        [f"{image}: {why}" for image, why in copy.skipped], self.job.heat, self.job.show_all)
