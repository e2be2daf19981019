"""Spread: how sure the model is, seen over many masks of the same kind.

K masks of the current pattern and ratio (seeds ``seed``, ``seed + 1``, ..., so the first is the
current mask) are reconstructed in batches; each pixel gets the mean of the reconstructions in which
it was hidden and their standard deviation (RMS over the colour channels of the per-channel standard
deviation, in display units [0, 1]). A pixel hidden by no mask has neither (NaN); one hidden once has
a mean but no spread (NaN): the counts say which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from maskviz.explain.common import ExplainError, Step, Steps, check_hidden_some, chunks, plan_batch, run, steps_for
from maskviz.masks import MaskSpec, make_mask, parse_mask_spec, to_pixel_mask
from maskviz.models.base import MaskedImageModel
from maskviz.reconstruct import reconstruct

DEFAULT_MASKS = 16


@dataclass
class SpreadLens:
    """Per-pixel mean and spread of the reconstructions over ``k`` masks, and what went in."""

    masks: list[np.ndarray]  # the k patch masks
    original: np.ndarray  # (H, W, 3) the image as the model sees it
    mean: np.ndarray  # (H, W, 3) mean reconstruction where hidden, NaN where never hidden
    std: np.ndarray  # (H, W) spread where hidden at least twice, else NaN
    count: np.ndarray  # (gh, gw) how many masks hid each patch

    @property
    def k(self) -> int:
        return len(self.masks)

    @property
    def mask(self) -> np.ndarray:
        """The first mask: with :func:`spread_masks`, the current one."""
        return self.masks[0]

    @property
    def never_hidden(self) -> np.ndarray:
        return self.count == 0


def check_count(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ExplainError(f"spread needs at least 2 masks to compare, got {k!r}")
    return int(k)


def spread_masks(spec: str | MaskSpec, grid: tuple[int, int], patch_size: int, k: int = DEFAULT_MASKS,
                 seed: int | None = 0, defaults: Mapping[str, Mapping[str, Any]] | None = None) -> list[np.ndarray]:
    """``k`` masks of ``spec``'s pattern and parameters, seeds ``seed`` … ``seed + k - 1`` (a seed
    written in the spec is the first). A pattern without randomness would give k equal masks: refused."""
    k = check_count(k)
    parsed = spec if isinstance(spec, MaskSpec) else parse_mask_spec(spec)
    if not parsed.pattern.seeded:
        raise ExplainError(f"mask '{parsed}' is the same every time: spread needs a random pattern "
                           "(random, block or simmim)")
    first = parsed.params.get("seed")
    first = (seed or 0) if first is None else first
    masks = [make_mask(parsed.with_params(seed=first + i), grid, patch_size, defaults=defaults) for i in range(k)]
    check_hidden_some(np.logical_or.reduce(masks))
    return masks


def iter_spread(model: MaskedImageModel, image: Image.Image | np.ndarray, masks: Sequence[np.ndarray],
                batch: int | None = None, unnormalize: str = "true-patch",
                precision: str = "fp32", grid: tuple[int, int] | None = None) -> Steps[SpreadLens]:
    """Reconstruct under every mask, in batches (one step each), then the per-pixel statistics.
    ``grid``: the native view's (the image as it is, one sequence)."""
    check_count(len(masks))
    masks = [np.asarray(m, dtype=bool) for m in masks]
    size = batch or plan_batch(model, int((~masks[0]).sum()), grid=grid)
    total = steps_for(len(masks), size)
    pictures, original = [], None
    for done, part in enumerate(chunks(masks, size), start=1):
        results = reconstruct(model, image, part, unnormalize, precision, grid=grid)
        pictures += [r.prediction for r in results]
        original = results[0].original
        yield Step(done, total, "spread")
    return spread_of(masks, pictures, original, model.patch_size)


def spread_of(masks: Sequence[np.ndarray], pictures: Sequence[np.ndarray], original: np.ndarray,
              patch: int) -> SpreadLens:
    """The per-pixel statistics of reconstructions ``pictures`` made under ``masks``."""
    hidden = np.stack([to_pixel_mask(m, patch) for m in masks])[..., None]  # [K, H, W, 1]
    n = hidden.sum(axis=0)
    stack = np.stack(pictures).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):  # never hidden: 0 / 0, NaN is the answer
        mean = (stack * hidden).sum(axis=0) / n
        var = (((stack - mean) ** 2) * hidden).sum(axis=0).mean(axis=-1) / n[..., 0]
    std = np.where(n[..., 0] >= 2, np.sqrt(var), np.nan)
    return SpreadLens(masks, original, mean, std, np.sum(masks, axis=0))


def spread_lens(model: MaskedImageModel, image: Image.Image | np.ndarray, masks: Sequence[np.ndarray],
                batch: int | None = None, unnormalize: str = "true-patch", precision: str = "fp32",
                grid: tuple[int, int] | None = None) -> SpreadLens:
    return run(iter_spread(model, image, masks, batch, unnormalize, precision, grid))

