"""What every explain method shares: the checked inputs, the result types, progress steps, batch sizes.

Every long method is a generator: it yields a :class:`Step` after each forward (so a caller can show
progress, and cancel by no longer iterating) and *returns* its result, which :func:`run` hands back.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from maskviz.device import model_device
from maskviz.errors import MaskvizError
from maskviz.models.base import MaskedImageModel
from maskviz.reconstruct import MAX_BATCH as RECONSTRUCT_BATCH
from maskviz.reconstruct import prepare_input

R = TypeVar("R")
Steps = Generator["Step", None, R]


class ExplainError(MaskvizError):
    """An explain request that cannot be answered (target, mask or parameters), in plain words."""


@dataclass(frozen=True)
class Step:
    """Progress of a running method: ``done`` of ``total`` forwards (or batches, or tiles: ``unit``) finished."""

    done: int
    total: int
    what: str = ""
    unit: str = "batch"


def run(steps: Steps[R], on_step: Callable[[Step], None] | None = None) -> R:
    """Drive a method's generator to the end and return its result (``on_step`` sees each step)."""
    while True:
        try:
            step = next(steps)
        except StopIteration as stop:
            return stop.value
        if on_step is not None:
            on_step(step)


@dataclass(frozen=True)
class Prepared:
    """One image, mask and model, checked and prepared: what every method starts from.

    ``native``: the patch grid of a whole picture run as one sequence (the native view), None for the
    model's own input; every forward passes it on (:attr:`grid_kw`)."""

    model: MaskedImageModel
    original: np.ndarray  # (H, W, 3) float32 in [0, 1], as the model sees the image
    x: Tensor  # [1, C, H, W] normalised, on the model's device
    mask: np.ndarray  # (gh, gw) bool, True = hidden
    native: tuple[int, int] | None = None

    @property
    def grid(self) -> tuple[int, int]:
        return self.model.grid_size if self.native is None else self.native

    @property
    def grid_kw(self) -> dict[str, Any]:
        """What a forward takes besides image and mask: nothing on the model's input, ``grid`` natively."""
        return {} if self.native is None else {"grid": self.native}

    @property
    def grid_name(self) -> str:
        return grid_name(self.native)

    @property
    def mask_t(self) -> Tensor:
        """The mask as the models take it: ``[1, L]`` bool on the model's device."""
        return torch.from_numpy(self.mask.reshape(1, -1).copy()).to(self.x.device)


def grid_name(native: tuple[int, int] | None) -> str:
    """Whose grid a message talks about: the model's input, or the whole picture's (native, tiles)."""
    return "model's" if native is None else "picture's"


def prepare(model: MaskedImageModel, image: Image.Image | np.ndarray, mask: np.ndarray,
            grid: tuple[int, int] | None = None) -> Prepared:
    """The image fitted and normalised as ``reconstruct`` does it, and the mask checked against the grid.

    ``grid``: the native view, the image taken as it is, ``gh×gw`` patches as one sequence (a family
    that cannot run it is refused here, before any forward)."""
    mask = np.asarray(mask, dtype=bool)
    own = model.grid_size if grid is None else tuple(grid)
    if mask.shape != own:
        raise ExplainError(f"the mask is {mask.shape[0]}×{mask.shape[1]} patches but the {grid_name(grid)} grid is "
                           f"{own[0]}×{own[1]}")
    if grid is not None and own != model.grid_size and (why := model.native_refusal(own)):
        raise ExplainError(f"{why}; the tiles view runs any size")
    original, x = prepare_input(model, image, None if grid is None else own)
    return Prepared(model, original, x.to(model_device(model)), mask.copy(), None if grid is None else own)


def check_hidden_some(mask: np.ndarray) -> None:
    if not mask.any():
        raise ExplainError("the mask hides no patch (mask 'none'): there is no hidden patch to explain; "
                           "use a mask that hides some, e.g. random:0.75")


def check_target(mask: np.ndarray, target: Sequence[int], whose: str = "model's") -> tuple[int, int]:
    """``(row, col)`` of a hidden patch, or one clear error: no hidden patch, outside the grid, visible.
    ``whose`` names the grid in the message ("model's", or "picture's" in the tiles and native views)."""
    check_hidden_some(mask)
    gh, gw = mask.shape
    try:
        row, col = (int(v) for v in target)
    except (TypeError, ValueError):
        raise ExplainError(f"a target is a patch's row and column, got {target!r}") from None
    if not (0 <= row < gh and 0 <= col < gw):
        raise ExplainError(f"target patch ({row}, {col}) is outside the {whose} {gh}×{gw} patch grid "
                           f"(rows 0–{gh - 1}, columns 0–{gw - 1})")
    if not mask[row, col]:
        raise ExplainError(f"target patch ({row}, {col}) is visible under this mask: pick a hidden patch "
                           f"(the mask hides {int(mask.sum())} of {mask.size})")
    return row, col


@dataclass
class ExplainMap:
    """One value per patch of the model's grid for one target patch (NaN where the method defines none).

    ``unit`` says what a value is (for colour bars and the JSON); ``params`` holds the method's
    settings (layer, head, ...) and anything it reports beside the map.
    """

    method: str
    target: tuple[int, int]
    values: np.ndarray  # (gh, gw) float64
    mask: np.ndarray  # (gh, gw) bool, the mask it was computed for
    unit: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def grid(self) -> tuple[int, int]:
        return self.values.shape  # type: ignore[return-value]

    def rows(self) -> list[list[float | None]]:
        return to_rows(self.values)


def to_rows(values: np.ndarray) -> list[Any]:
    """An array as nested lists for JSON, ``None`` where a value is NaN (JSON has no NaN)."""
    arr = np.asarray(values, dtype=np.float64)
    obj = arr.astype(object)
    obj[~np.isfinite(arr)] = None
    return obj.tolist()


# ------------------------------------------------------------------------------------------- batches

#: Largest batch: ``predict``'s, so that one batch is one forward (progress and cancelling stay prompt).
MAX_BATCH = RECONSTRUCT_BATCH
#: Share of the free memory a batch may use, and the most it may use on a CPU.
MEMORY_SHARE = 0.25
CPU_BUDGET = 2 << 30


def memory_budget(device: torch.device) -> int:
    """Bytes a batch's activations may take: a share of the GPU's free memory, or of the free RAM."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * MEMORY_SHARE)
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: assume the cap is there
        free = CPU_BUDGET * 4
    return int(min(CPU_BUDGET, free * MEMORY_SHARE))


@dataclass(frozen=True)
class BlockRun:
    """One run of transformer blocks: tokens, width, heads and how many tokens each one attends to."""

    tokens: int
    width: int
    heads: int
    attended: int


def block_runs(model: MaskedImageModel, visible: int, grid: tuple[int, int] | None = None) -> list[BlockRun]:
    """The block runs one forward of ``model`` goes through, ``visible`` patches shown (MAE's encoder);
    ``grid``: a whole picture's (the native view)."""
    c = model.config
    n = c.num_patches if grid is None else grid[0] * grid[1]
    if c.family == "mae":
        return [BlockRun(visible + 1, c.embed_dim, c.num_heads, visible + 1),
                BlockRun(n + 1, c.decoder_embed_dim, c.decoder_num_heads, n + 1)]
    if hasattr(c, "depths"):  # Swin: windows of window² tokens at every stage
        runs = []
        for s in range(c.num_stages):
            window, _ = c.stage_window(s)
            res = c.stage_resolution(s) if grid is None else grid[0] // 2**s
            runs.append(BlockRun(res**2, c.embed_dim * 2**s, c.num_heads[s], window**2))
        return runs
    return [BlockRun(n + 1, c.embed_dim, c.num_heads, n + 1)]


def sample_bytes(model: MaskedImageModel, visible: int, grid: tuple[int, int] | None = None) -> int:
    """Peak activation bytes of one sample in an inference forward: the largest block's
    residual stream, q/k/v, attention weights and MLP hidden layer (float32), with headroom ×2."""
    mlp = getattr(model.config, "mlp_ratio", 4.0)
    runs = block_runs(model, visible, grid)
    peak = max(s.tokens * s.width * (5 + mlp) + s.heads * s.tokens * s.attended for s in runs)
    return int(peak * 4 * 2)


def plan_batch(model: MaskedImageModel, visible: int, budget: int | None = None,
               grid: tuple[int, int] | None = None) -> int:
    """How many samples one forward may take: what fits in ``budget`` bytes, 1 to :data:`MAX_BATCH`
    (``grid``: a whole picture's, the native view)."""
    if budget is None:
        budget = memory_budget(model_device(model))
    return max(1, min(MAX_BATCH, budget // max(1, sample_bytes(model, visible, grid))))


def chunks(items: Sequence[Any] | np.ndarray, size: int) -> Iterator[Any]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def steps_for(count: int, size: int) -> int:
    return math.ceil(count / size) if count else 0
