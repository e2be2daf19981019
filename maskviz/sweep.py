"""Loss against mask ratio for one image: how hard a model finds a pattern family as it hides more.

The GUI plots this next to the current mask, so a user can see whether their painted mask is easier
or harder than a random one of the same ratio. It is a plain generator (one ratio per step) so a
caller on a worker thread can show points as they come and abandon the sweep between steps.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from maskviz.masks import MaskSpec, mask_ratio, parse_mask_spec
from maskviz.models.base import MaskedImageModel
from maskviz.reconstruct import reconstruct

DEFAULT_RATIOS = tuple(round(r, 2) for r in np.linspace(0.1, 0.9, 9))
DEFAULT_SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class SweepPoint:
    """The model's own masked-region loss at one nominal ratio, one value per seed.

    ``hidden`` is the fraction each seed's mask really hid: coarse patterns (SimMIM cells, blocks)
    can hide more or less than asked, and a curve must be drawn against what was hidden.
    """

    ratio: float
    losses: tuple[float, ...]
    hidden: tuple[float, ...] = ()

    @property
    def actual(self) -> float:
        """The mean hidden fraction over the seeds (the nominal ratio when unknown)."""
        return float(np.mean(self.hidden)) if self.hidden else self.ratio

    @property
    def mean(self) -> float:
        return float(np.mean(self.losses))

    @property
    def std(self) -> float:
        return float(np.std(self.losses))

    @property
    def low(self) -> float:
        return float(np.min(self.losses))

    @property
    def high(self) -> float:
        return float(np.max(self.losses))


def sweep_spec(spec: str | MaskSpec | None) -> MaskSpec:
    """The family to sweep: the spec's own pattern when it has a ratio, otherwise random masking.

    Other parameters (e.g. block sizes) are kept; the seed and an inversion are dropped because the
    sweep sets both the ratio (the hidden fraction) and the seeds itself.
    """
    parsed = parse_mask_spec(spec) if isinstance(spec, str) else spec
    if parsed is None or parsed.pattern.param("ratio") is None:
        return MaskSpec("random")
    keep = {k: v for k, v in parsed.params.items() if k not in ("ratio", "seed")}
    order = parsed.pattern.keywords
    return MaskSpec(parsed.name, (), tuple(sorted(keep.items(), key=lambda kv: order.index(kv[0]))))


def with_ratio(spec: MaskSpec, ratio: float) -> MaskSpec:
    """``spec`` with its ratio parameter set (the spec must come from :func:`sweep_spec`)."""
    return spec.with_params(ratio=float(ratio))


def loss_sweep(
    model: MaskedImageModel,
    image: Image.Image | np.ndarray,
    spec: str | MaskSpec | None = None,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    precision: str = "fp32",
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[SweepPoint]:
    """Yield a :class:`SweepPoint` after every forward pass: the ratio's losses so far.

    One forward per step (not one batch per ratio) keeps each step short, so a caller that runs
    more urgent work between steps (the GUI's reconstructions) never waits for more than one
    forward. The last point yielded for a ratio holds all its seeds; ratios where nothing is
    hidden (no loss) are skipped.
    """
    family = sweep_spec(spec)
    for ratio in ratios:
        losses: list[float] = []
        hidden: list[float] = []
        for seed in seeds:
            mask = with_ratio(family, ratio).generate(model.grid_size, model.patch_size, seed=seed,
                                                      defaults=defaults)
            loss = reconstruct(model, image, [mask], precision=precision)[0].loss
            if loss is None:
                break
            losses.append(loss)
            hidden.append(mask_ratio(mask))
            yield SweepPoint(float(ratio), tuple(losses), tuple(hidden))


def final_points(points: Iterator[SweepPoint] | Sequence[SweepPoint]) -> list[SweepPoint]:
    """The complete point of each ratio from a :func:`loss_sweep` stream (the last one per ratio)."""
    by_ratio: dict[float, SweepPoint] = {}
    for point in points:
        by_ratio[point.ratio] = point
    return list(by_ratio.values())


def sweep_label(spec: str | MaskSpec | None) -> str:
    """What the plot calls the family, e.g. ``block (min_block=4)`` or ``random``."""
    family = sweep_spec(spec)
    extras = ", ".join(f"{k}={v}" for k, v in family.kwargs)
    return f"{family.name} ({extras})" if extras else family.name
