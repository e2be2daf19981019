"""Whole-picture runs as generator jobs: progress and the picture so far, then the finished result.

The GUI's worker steps a generator one ``next()`` per turn, and each turn here is at most one
batched model forward, so a newer request (a brush stroke) supersedes a running job within one
transformer block; the tiles it finished stay in the runner's cache and the next job reuses them.
Scripts can iterate the same generators (``for step in job: ...``; the result is the ``StopIteration``
value, or use :func:`run_to_end`).

* :func:`tiles_job` — the tiles view: one :class:`WholeStep` per batch of tiles (cached tiles come
  first, in one step), each with the stitched picture so far at most every ``every_s`` seconds
  (stitching a large picture costs a few tens of milliseconds; pending tiles show the masked input);
  it returns the same :class:`~maskviz.whole.reconstruct.ViewResult` as
  :func:`~maskviz.whole.reconstruct.reconstruct_view`.
* :func:`native_job` — the native view: one forward, no steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import numpy as np

from maskviz.models.base import MaskedImageModel
from maskviz.reconstruct import Reconstruction
from maskviz.whole.reconstruct import ViewResult, reconstruct_view
from maskviz.whole.tiles import TileResult, TileRunner
from maskviz.whole.view import ViewImage

#: The shortest time between two partial pictures: a picture stitched for every small batch would
#: cost more than the tiles themselves for a small model (and the UI would redraw for nothing).
PICTURE_EVERY_S = 0.25


@dataclass
class WholeStep:
    """How far a whole-picture run is, and (when one was stitched this step) the picture so far."""

    view: str  # the view's label, e.g. "tiles 1024x768 px"
    done: int  # tiles finished (computed or from the cache)
    total: int
    computed: int  # tiles run through the model so far (the rest came from the cache)
    tiles: tuple[int, ...]  # the tiles finished in this step
    picture: Reconstruction | None = None  # stitched so far: pending tiles show the masked input, unscored


def tiles_job(runner: TileRunner, vimg: ViewImage, mask: np.ndarray, every_s: float = PICTURE_EVERY_S,
              clock: Callable[[], float] = time.monotonic) -> Generator[WholeStep, None, ViewResult]:
    """The tiles view of ``mask`` on ``vimg``, a step per batch; returns the stitched result."""
    layout = runner.layout(vimg)
    found: dict[int, TileResult] = {}
    computed, last = 0, None
    for step in runner.steps(vimg, mask):
        found.update((r.tile.index, r) for r in step.results)
        computed += step.computed
        picture = None
        if len(found) < step.total and (last is None or clock() - last >= every_s):
            picture = runner.stitch(vimg, mask, list(found.values()), computed).whole
            last = clock()
        yield WholeStep(vimg.label, len(found), step.total, computed,
                        tuple(r.tile.index for r in step.results), picture)
    tiled = runner.stitch(vimg, mask, [found[t.index] for t in layout.tiles], computed)
    return ViewResult(vimg.label, tiled.whole, tiled.tiles)


def native_job(model: MaskedImageModel, vimg: ViewImage, mask: np.ndarray, unnormalize: str = "true-patch",
               precision: str = "fp32") -> ViewResult:
    """The native view of ``mask`` on ``vimg`` (one forward of the whole picture)."""
    (result,) = reconstruct_view(model, vimg, [mask], unnormalize, precision)
    return result


def run_to_end(job: Generator[Any, None, Any] | Any) -> Any:
    """The value a job returns (a generator is stepped to its end)."""
    if not isinstance(job, Generator):
        return job
    while True:
        try:
            next(job)
        except StopIteration as end:
            return end.value
