"""Attention: the model's real softmax weights from one explicit forward, per layer and as rollout.

One forward under :func:`~maskviz.models.blocks.record_attention` captures every layer's weights;
the maps of every hidden target then come from that one capture (hover in the GUI costs nothing).

*Layer maps* — the attention the target's token pays to every token of one layer, for one head or
the mean over heads. "Layers" are those in which the hidden target has a token of its own:

* MAE: the decoder's blocks (the encoder never sees a hidden patch); mask tokens are tokens too;
* SimMIM ViT: the encoder's blocks;
* SimMIM Swin: every block of every stage; at stage *s* the target's token is the one covering it,
  and each value is drawn over the 2ˢ × 2ˢ patches that token covers.

The class token's share is reported beside the map (``params["cls"]``, None for Swin, which has
none); the row sums to 1.

*Rollout* (Abnar & Zuidema 2020) — per layer ``Â = (A + I) / 2`` (``A`` the head mean, rows
renormalised), multiplied through the layers from the target down to the input:
``e_targetᵀ · Â_L ⋯ Â_1``. For MAE the chain runs through the decoder, then hands each decoder
token that came from the encoder (class token, visible patches) to that encoder token and runs
through the encoder; mask tokens carry no image information and end the paths that reach them.
Swin: each block's windowed attention is an exact ``N × N`` attention over its stage's grid
(zero outside the token's shifted window, and across the wrapped-around regions its mask forbids);
a patch merging concatenates four tokens into one, which the rollout hands back to the four in
equal shares (the linear reduction has no attention of its own to weigh them). The SimMIM decoder
reads exactly one last-stage token per target (a 1×1 convolution), where the chain starts.
At the input, the class token and hidden patches (mask tokens) are dropped and the rest renormalised
over the visible patches: the map says which visible patches the target's information came from;
``params["visible_share"]`` is the part of the rollout that reached them before renormalising.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from maskviz.explain.common import (
    ExplainError,
    ExplainMap,
    Prepared,
    Step,
    Steps,
    check_hidden_some,
    check_target,
    prepare,
    run,
)
from maskviz.models.base import MaskedImageModel
from maskviz.models.blocks import AttentionRecord, record_attention
from maskviz.models.mae import MAEViT
from maskviz.models.simmim import SimMIMSwin, SimMIMViT

#: Looks up the module that made a record (its name without the trailing ``.attn``).
Blocks = Callable[[str], nn.Module]

# ------------------------------------------------------------------------------------- token spaces


@dataclass(frozen=True)
class Space:
    """The tokens of one layer: how many, which one stands for each patch (-1: none), the class token."""

    size: int
    cells: np.ndarray  # (gh, gw) token index per patch
    cls: int | None = None


def _vit_space(grid: tuple[int, int]) -> Space:
    """Class token, then one token per patch in row-major order."""
    return Space(1 + grid[0] * grid[1], 1 + np.arange(grid[0] * grid[1]).reshape(grid), cls=0)


def _stage_space(grid: tuple[int, int], res: int) -> Space:
    """A Swin stage's ``res × res`` tokens, each covering a square of patches."""
    k = grid[0] // res
    return Space(res * res, np.arange(res * res).reshape(res, res).repeat(k, axis=0).repeat(k, axis=1))


# ------------------------------------------------------------------------------------------ layers


@dataclass
class Layer:
    """One attention call: its recorded weights and the tokens they mix (``mix(r)`` is ``r · A`` for rows)."""

    name: str
    space: Space
    weights: Tensor = field(repr=False)  # as recorded (float32), heads on axis ``head_axis``
    head_axis: ClassVar[int] = 0

    @property
    def heads(self) -> int:
        return self.weights.shape[self.head_axis]

    @cached_property
    def mean(self) -> Tensor:
        """The head mean (float32), rows renormalised; computed once, every target reuses it."""
        return _rows_to_one(self.weights.float().mean(dim=self.head_axis))

    def attention(self, head: int | None) -> Tensor:
        return self.mean if head is None else _rows_to_one(self.weights.select(self.head_axis, head).float())

    def mix(self, r: Tensor, head: int | None = None) -> Tensor:
        return self._apply(r, self.attention(head))

    def _apply(self, r: Tensor, a: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def rollout_step(self, r: Tensor) -> Tensor:
        """``r · (A + I) / 2`` with ``A`` the head mean (rows already sum to 1, so ``Â``'s do too)."""
        return (self.mix(r) + r) / 2


def _rows_to_one(a: Tensor) -> Tensor:
    return a / a.sum(dim=-1, keepdim=True)


@dataclass
class DenseLayer(Layer):
    """Global attention ``[heads, T, T]`` (ViT, BEiT)."""

    def _apply(self, r: Tensor, a: Tensor) -> Tensor:
        return r @ a


@dataclass
class WindowLayer(Layer):
    """Swin's windowed attention ``[windows, heads, w², w²]`` on a ``res × res`` grid cyclically shifted
    by ``shift`` (timm's ``torch.roll(x, -shift)``, then row-major windows of row-major tokens)."""

    head_axis: ClassVar[int] = 1
    res: int = 0
    window: int = 0
    shift: int = 0

    def _apply(self, r: Tensor, a: Tensor) -> Tensor:
        k, n, w, s = r.shape[0], self.res // self.window, self.window, self.shift
        grid = torch.roll(r.view(k, self.res, self.res), (-s, -s), dims=(1, 2))
        windows = grid.view(k, n, w, n, w).permute(0, 1, 3, 2, 4).reshape(k, n * n, w * w)
        mixed = torch.einsum("kwi,wij->kwj", windows, a)
        grid = mixed.view(k, n, n, w, w).permute(0, 1, 3, 2, 4).reshape(k, self.res, self.res)
        return torch.roll(grid, (s, s), dims=(1, 2)).reshape(k, -1)


# ----------------------------------------------------------------------- hand-overs between spaces


@dataclass(frozen=True)
class Gather:
    """Lower token ``j`` receives what upper token ``source[j]`` holds (MAE: encoder ← decoder)."""

    source: Tensor  # [T_lower] indices into the upper space

    def back(self, r: Tensor) -> Tensor:
        return r[:, self.source]


@dataclass(frozen=True)
class Unmerge:
    """A Swin patch merging read backwards: each of the four children gets a quarter of its parent."""

    res: int  # the finer grid's side

    def back(self, r: Tensor) -> Tensor:
        k, half = r.shape[0], self.res // 2
        parent = r.view(k, half, 1, half, 1).expand(k, half, 2, half, 2)
        return parent.reshape(k, self.res * self.res) / 4


# ---------------------------------------------------------------------------------------- capture


@dataclass
class AttentionCapture:
    """Every attention weight of one forward, arranged to answer any hidden target's maps.

    ``chain`` runs from the input to the output: layers, and the hand-overs between token spaces;
    ``path`` lists the layers in which the target has a token (what ``layer`` indexes).
    """

    mask: np.ndarray
    chain: list[Layer | Gather | Unmerge]
    path: list[Layer]
    family: str
    whose: str = "model's"  # whose grid the targets are on, for messages ("picture's" in the native view)

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.path]

    def _layer(self, layer: int) -> Layer:
        n = len(self.path)
        if not -n <= layer < n:
            where = " (MAE's hidden patches have tokens only in the decoder)" if self.family == "mae" else ""
            raise ExplainError(f"layer {layer} does not exist: the target passes {n} attention layers, "
                               f"0–{n - 1} (or -1 for the last){where}")
        return self.path[layer]

    def layer_maps(self, targets: Sequence[Sequence[int]], layer: int = -1,
                   head: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Attention maps ``[K, gh, gw]`` of several targets in ``layer`` and each one's class-token share."""
        checked = [check_target(self.mask, t, self.whose) for t in targets]
        chosen = self._layer(layer)
        if head is not None and not 0 <= head < chosen.heads:
            raise ExplainError(f"head {head} does not exist: {chosen.name} has {chosen.heads} heads, "
                               f"0–{chosen.heads - 1}")
        space = chosen.space
        rows = chosen.mix(_one_hot(space, [space.cells[r, c] for r, c in checked], chosen.weights.device), head)
        rows = rows.cpu().numpy().astype(np.float64)
        cls = rows[:, space.cls] if space.cls is not None else np.zeros(len(rows))
        return _paint(rows, space), cls

    def layer_map(self, target: Sequence[int], layer: int = -1, head: int | None = None) -> ExplainMap:
        """The target token's attention over the tokens of ``layer``, one head or the mean of all."""
        maps, cls = self.layer_maps([target], layer, head)
        chosen, space = self._layer(layer), self._layer(layer).space
        per_token = space.cells.size // (space.size - (space.cls is not None))
        params = {"layer": layer % len(self.path), "layer_name": chosen.name, "head": "mean" if head is None else head,
                  "heads": chosen.heads, "cls": None if space.cls is None else float(cls[0]),
                  "patches_per_token": per_token}
        head_text = "mean over heads" if head is None else f"head {head}"
        return ExplainMap("attention", check_target(self.mask, target, self.whose), maps[0], self.mask,
                          unit=f"attention weight ({chosen.name}, {head_text})", params=params)

    def rollout(self, targets: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Rollout maps ``[K, gh, gw]`` of several targets at once (NaN on hidden patches) and each one's
        share of the rollout that reached visible patches."""
        checked = [check_target(self.mask, t, self.whose) for t in targets]
        top = self.path[-1]
        r = _one_hot(top.space, [top.space.cells[row, col] for row, col in checked], top.weights.device)
        for step in reversed(self.chain):
            r = step.rollout_step(r) if isinstance(step, Layer) else step.back(r)
        first = next(s for s in self.chain if isinstance(s, Layer)).space
        maps = _paint(r.cpu().numpy().astype(np.float64), first)
        maps[:, self.mask] = np.nan
        share = np.nansum(maps, axis=(1, 2))
        return maps / np.where(share > 0, share, 1.0)[:, None, None], share

    def rollout_map(self, target: Sequence[int]) -> ExplainMap:
        maps, share = self.rollout([target])
        row, col = check_target(self.mask, target, self.whose)
        return ExplainMap("rollout", (row, col), maps[0], self.mask,
                          unit="attention rollout to the visible patches (sums to 1)",
                          params={"layers": len([s for s in self.chain if isinstance(s, Layer)]),
                                  "visible_share": float(share[0])})

    def hidden_targets(self) -> list[tuple[int, int]]:
        return [(int(r), int(c)) for r, c in np.argwhere(self.mask)]


def _one_hot(space: Space, tokens: Sequence[int], device: torch.device) -> Tensor:
    """Row vectors ``[K, T]``, one per token index."""
    r = torch.zeros(len(tokens), space.size, device=device)
    r[torch.arange(len(tokens)), torch.as_tensor(np.asarray(tokens), device=device)] = 1.0
    return r


def _paint(per_token: np.ndarray, space: Space) -> np.ndarray:
    """Rows of per-token values ``[K, T]`` drawn on the patch grid ``[K, gh, gw]`` (NaN: no token)."""
    values = np.full((len(per_token), *space.cells.shape), np.nan)
    has = space.cells >= 0
    values[:, has] = per_token[:, space.cells[has]]
    return values


# ----------------------------------------------------------------------------- family arrangements


def _dense(records: list[AttentionRecord], space: Space) -> list[Layer]:
    return [DenseLayer(r.name, space, r.weights[0]) for r in records]


def _mae_chain(model: MAEViT, inp: Prepared, records: list[AttentionRecord], _blocks: Blocks) -> AttentionCapture:
    grid, depth = inp.grid, len(model.blocks)
    ids = model.keep_indices(inp.mask_t)[0]
    cells = np.full(grid[0] * grid[1], -1)
    cells[ids.cpu().numpy()] = 1 + np.arange(len(ids))
    encoder = _dense(records[:depth], Space(1 + len(ids), cells.reshape(grid), cls=0))
    decoder = _dense(records[depth:], _vit_space(grid))
    # Encoder token j (class token, then the visible patches) is decoder token 0, then 1 + patch index.
    handover = Gather(torch.cat([ids.new_zeros(1), 1 + ids]))
    if not decoder:
        raise ExplainError("this MAE has no decoder blocks: a hidden patch has no token to attend from")
    return AttentionCapture(inp.mask, [*encoder, handover, *decoder], decoder, "mae", inp.grid_name)


def _simmim_vit_chain(model: SimMIMViT, inp: Prepared, records: list[AttentionRecord],
                      _blocks: Blocks) -> AttentionCapture:
    layers = _dense(records, _vit_space(inp.grid))
    return AttentionCapture(inp.mask, list(layers), list(layers), "simmim", inp.grid_name)


def _swin_chain(model: SimMIMSwin, inp: Prepared, records: list[AttentionRecord], blocks: Blocks) -> AttentionCapture:
    chain: list[Layer | Gather | Unmerge] = []
    res_before = None
    for rec in records:
        block = blocks(rec.name.rsplit(".", 1)[0])
        res, window, shift = block.input_resolution[0], block.window_size[0], block.shift_size[0]
        if res_before is not None and res != res_before:
            chain.append(Unmerge(res_before))
        res_before = res
        chain.append(WindowLayer(rec.name, _stage_space(inp.grid, res), rec.weights,
                                 res=res, window=window, shift=shift))
    layers = [s for s in chain if isinstance(s, Layer)]
    return AttentionCapture(inp.mask, chain, layers, "simmim", inp.grid_name)


#: Family → how its recorded layers chain from the input to the target (the first class that matches).
ARRANGEMENTS = ((MAEViT, _mae_chain), (SimMIMViT, _simmim_vit_chain), (SimMIMSwin, _swin_chain))


def _arrange(model: MaskedImageModel, inp: Prepared, records: list[AttentionRecord],
             blocks: Blocks) -> AttentionCapture:
    if not records:
        raise ExplainError(f"the attention of {type(model).__name__} models cannot be recorded")
    if records[0].weights.shape[0] != 1 and not isinstance(model, SimMIMSwin):
        raise ExplainError("attention is captured for one image at a time")
    for cls, arrange in ARRANGEMENTS:
        if isinstance(model, cls):
            return arrange(model, inp, records, blocks)
    raise ExplainError(f"attention maps are not defined for {type(model).__name__} models")


def iter_attention(model: MaskedImageModel, image: Image.Image | np.ndarray, mask: np.ndarray,
                   grid: tuple[int, int] | None = None) -> Steps[AttentionCapture]:
    """One explicit-attention forward; the capture answers every hidden target's maps. ``grid``: the
    native view's (the image as it is, one sequence)."""
    inp = prepare(model, image, mask, grid)
    check_hidden_some(inp.mask)
    with torch.inference_mode():
        if isinstance(model, SimMIMSwin) and inp.grid != model.grid_size:
            records, blocks = _native_swin_records(model, inp)
        else:
            with record_attention(model) as records:
                model(inp.x, inp.mask_t, **inp.grid_kw)
            blocks = model.get_submodule
    yield Step(1, 1, "attention")
    return _arrange(model, inp, records, blocks)


def _native_swin_records(model: SimMIMSwin, inp: Prepared) -> tuple[list[AttentionRecord], Blocks]:
    """Swin natively runs an encoder built for the picture's size (its windows, shifts and attention
    masks), which ``record_attention(model)`` cannot see: record that one, named as the model's own
    (the decoder, a 1×1 convolution, has no attention and is not run)."""
    encoder = model.encoder_for_grid(inp.grid)
    with record_attention(encoder) as records:
        encoder(inp.x, inp.mask_t)
    named = [AttentionRecord(f"encoder.{r.name}", r.weights) for r in records]
    return named, lambda name: encoder.get_submodule(name.removeprefix("encoder."))


def attention_capture(model: MaskedImageModel, image: Image.Image | np.ndarray, mask: np.ndarray,
                      grid: tuple[int, int] | None = None) -> AttentionCapture:
    return run(iter_attention(model, image, mask, grid))


def attention_map(model: MaskedImageModel, image: Image.Image | np.ndarray, mask: np.ndarray, target: Sequence[int],
                  layer: int = -1, head: int | None = None, rollout: bool = False,
                  grid: tuple[int, int] | None = None) -> ExplainMap:
    """One target's map in one call (a capture answers many targets without running the model again)."""
    check_target(np.asarray(mask, dtype=bool), target, "model's" if grid is None else "picture's")
    capture = attention_capture(model, image, mask, grid)
    return capture.rollout_map(target) if rollout else capture.layer_map(target, layer, head)
