"""Loss against the hidden amount: one sweep, one curve type, for the loss curve and Compare alike.

A sweep varies the parameter a mask pattern declares as its hidden amount (:data:`maskviz.masks.AMOUNT`:
``ratio`` for random, block and simmim masks, ``fraction`` for center masks) over a list of amounts,
under a few seeds. :func:`sweep_family` and :func:`sweep_points` define the points once;
:func:`loss_sweep` computes them on one model and image (one forward per step, so a caller on a
worker thread shows points as they come and can stop between steps); Compare
(:func:`maskviz.compare.sweep_strategies`) runs the same points batched across models and images.
Both end in a :class:`Curve`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PIL import Image

from maskviz.errors import MaskError
from maskviz.masks import MASK_PATTERNS, MaskSpec, mask_ratio, parse_mask_spec
from maskviz.models.base import MaskedImageModel
from maskviz.reconstruct import reconstruct

DEFAULT_RATIOS = tuple(round(r, 2) for r in np.linspace(0.1, 0.9, 9))
DEFAULT_SEEDS = (0, 1, 2)


# ------------------------------------------------------------------------------------------ statistics

# Two-sided 95 % Student t quantiles for 1..30 degrees of freedom (beyond: a series in 1/df).
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042)


def t95(df: int) -> float:
    """The 97.5 % quantile of Student's t (half-width factor of a 95 % confidence interval)."""
    if df < 1:
        return math.nan
    if df <= len(_T95):
        return _T95[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df)


def plain(value: Any) -> Any:
    """JSON/CSV-friendly: no infinities (written empty / null), fractions rounded."""
    if isinstance(value, float):
        return round(value, 8) if math.isfinite(value) else None
    return value


@dataclass(frozen=True)
class Stat:
    """Mean, standard deviation, count and 95 % confidence half-width of some values (NaN-free)."""

    mean: float
    std: float
    n: int
    ci95: float

    @staticmethod
    def of(values: Iterable[float | None]) -> Stat:
        v = np.array([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
        if not v.size:
            return Stat(math.nan, math.nan, 0, math.nan)
        std = float(v.std(ddof=1)) if v.size > 1 else 0.0
        ci = t95(v.size - 1) * std / math.sqrt(v.size) if v.size > 1 else math.nan
        return Stat(float(v.mean()), std, int(v.size), ci)

    def to_dict(self) -> dict[str, Any]:
        return {k: plain(getattr(self, k)) for k in ("mean", "std", "n", "ci95")}


# ------------------------------------------------------------------------------------------ points


@dataclass(frozen=True)
class SweepPoint:
    """The model's own masked-region loss at one nominal amount, one value per seed.

    ``hidden`` is the fraction each seed's mask really hid: coarse patterns (SimMIM cells, blocks)
    can hide more or less than asked, and a curve must be drawn against what was hidden.
    """

    ratio: float
    losses: tuple[float, ...]
    hidden: tuple[float, ...] = ()

    @property
    def actual(self) -> float:
        """The mean hidden fraction over the seeds (the nominal amount when unknown)."""
        return float(np.mean(self.hidden)) if self.hidden else self.ratio

    hidden_fraction = actual  # the name Compare's points use

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

    @property
    def loss(self) -> Stat:
        """The losses as a :class:`Stat` (what Compare's points carry)."""
        return Stat.of(self.losses)

    @property
    def images(self) -> int:
        return 1


@dataclass(frozen=True)
class Curve:
    """A loss-against-amount line: one model × one pattern family, as far as it got.

    ``points`` go by increasing amount. :func:`loss_sweep` gives :class:`SweepPoint` (the losses
    per seed); Compare gives :class:`maskviz.compare.Summary` (loss, MSE and PSNR statistics over
    seeds or images). Both have ``ratio``, ``hidden_fraction``, ``loss`` (a :class:`Stat`) and
    ``images``.
    """

    family: str = ""  # what the plot calls the family, e.g. "random" or "simmim (mask_patch=16)"
    spec: MaskSpec | None = None  # the family (amount and seed left out): a clicked point adds both
    points: tuple[Any, ...] = ()
    total: int = 0  # amounts the sweep will visit (0: unknown)
    seeds: tuple[int, ...] = ()
    status: str = ""  # "computing 3/9 ratios…", an error, or ""
    model: str = ""  # which model, where several are compared
    loss_name: str = ""  # the unit of the losses (the model's training loss)

    @property
    def complete(self) -> bool:
        return len(self.points) == self.total > 0 and all(len(p.losses) == len(self.seeds) for p in self.points)

    @property
    def label(self) -> str:
        return f"{self.model} · {self.family}" if self.model else self.family

    def with_point(self, point: SweepPoint) -> Curve:
        """This curve with ``point`` in place of the one at the same amount (points kept in order)."""
        points = {p.ratio: p for p in self.points} | {point.ratio: point}
        return replace(self, points=tuple(points[r] for r in sorted(points)))


# ------------------------------------------------------------------------------------------ the sweep


def sweep_family(spec: str | MaskSpec) -> MaskSpec:
    """The pattern family a sweep varies: ``spec`` without its hidden amount (other parameters kept).

    ``MaskError`` for patterns that declare no amount (``grid``, ``half``…).
    """
    parsed = parse_mask_spec(spec) if isinstance(spec, str) else spec
    if parsed.pattern.amount_param is None:
        swept = ", ".join(name for name, p in MASK_PATTERNS.items() if p.amount_param is not None)
        raise MaskError(f"{parsed.name} masks have no ratio to sweep; sweep {swept}.")
    return parsed.without_amount()


def sweep_points(family: MaskSpec, ratios: Sequence[float]) -> list[tuple[float, MaskSpec]]:
    """(amount, spec) of every point of a sweep of ``family``."""
    return [(float(r), family.with_amount(float(r))) for r in ratios]


def sweep_spec(spec: str | MaskSpec | None) -> MaskSpec:
    """The family the loss curve sweeps: the spec's own pattern when it has an amount, otherwise
    random masking. The seed and an inversion are dropped: the curve sets both the amount (what is
    hidden) and the seeds itself."""
    parsed = parse_mask_spec(spec) if isinstance(spec, str) else spec
    if parsed is None or parsed.pattern.amount_param is None:
        return MaskSpec("random")
    family = sweep_family(replace(parsed, invert=False))
    return MaskSpec(family.name, (), tuple((k, v) for k, v in family.kwargs if k != "seed"))


def with_ratio(spec: MaskSpec, ratio: float) -> MaskSpec:
    """``spec`` with its hidden amount set (the spec must come from :func:`sweep_spec`)."""
    return spec.with_amount(ratio)


def loss_sweep(
    model: MaskedImageModel,
    image: Image.Image | np.ndarray,
    spec: str | MaskSpec | None = None,
    ratios: Sequence[float] = DEFAULT_RATIOS,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    precision: str = "fp32",
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[SweepPoint]:
    """Yield a :class:`SweepPoint` after every forward pass: the amount's losses so far.

    One forward per step (not one batch per amount) keeps each step short, so a caller that runs
    more urgent work between steps (the GUI's reconstructions) never waits for more than one
    forward. The last point yielded for an amount holds all its seeds; amounts where nothing is
    hidden (no loss) are skipped.
    """
    for ratio, point in sweep_points(sweep_spec(spec), ratios):
        losses: list[float] = []
        hidden: list[float] = []
        for seed in seeds:
            mask = point.generate(model.grid_size, model.patch_size, seed=seed, defaults=defaults)
            loss = reconstruct(model, image, [mask], precision=precision)[0].loss
            if loss is None:
                break
            losses.append(loss)
            hidden.append(mask_ratio(mask))
            yield SweepPoint(ratio, tuple(losses), tuple(hidden))


def final_points(points: Iterator[SweepPoint] | Sequence[SweepPoint]) -> list[SweepPoint]:
    """The complete point of each amount from a :func:`loss_sweep` stream (the last one per amount)."""
    by_ratio: dict[float, SweepPoint] = {}
    for point in points:
        by_ratio[point.ratio] = point
    return list(by_ratio.values())


def sweep_curve(model: MaskedImageModel, image: Image.Image | np.ndarray, spec: str | MaskSpec | None = None,
                ratios: Sequence[float] = DEFAULT_RATIOS, seeds: Sequence[int] = DEFAULT_SEEDS,
                precision: str = "fp32", defaults: Mapping[str, Mapping[str, Any]] | None = None) -> Curve:
    """The whole loss curve at once (scripts, tests): :func:`loss_sweep` run to the end."""
    family = sweep_spec(spec)
    curve = Curve(sweep_label(family), family, total=len(ratios), seeds=tuple(seeds),
                  loss_name=model.config.loss_name)
    for point in loss_sweep(model, image, family, ratios, seeds, precision, defaults):
        curve = curve.with_point(point)
    return curve


def sweep_label(spec: str | MaskSpec | None) -> str:
    """What the plot calls the family, e.g. ``block (min_block=4)`` or ``random``."""
    family = sweep_spec(spec)
    extras = ", ".join(f"{k}={v}" for k, v in family.kwargs)
    return f"{family.name} ({extras})" if extras else family.name
