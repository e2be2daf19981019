"""Explain in every view of a picture (:mod:`maskviz.whole`): the one entry point of the CLI and the GUI.

Each function takes a :class:`~maskviz.whole.view.ViewImage` (from ``prepare_view``, which refuses
what a view cannot run before any work) and a mask on its grid:

* ``model`` — the methods as they are, on the image fitted to the model's input;
* ``native`` — the same methods with the picture's grid: the whole picture as one sequence, through
  the models' ``grid`` forwards (a family that cannot run a grid is refused, as native reconstruction is);
* ``tiles`` — a hidden patch's reconstruction in tiles uses only its tile, so the per-target methods
  run on the tile that *owns* the target (:meth:`~maskviz.whole.tiles.TileLayout.owner_map`): its
  crop under its mask cells, exactly the model view of that crop. The map is placed back on the full
  grid, NaN outside the tile, and ``params["where"]`` names the tile. Attention keeps one capture per
  tile (:class:`TiledCapture`): a target in a tile already captured costs no forward. Features run
  every tile's encoder and project all their tokens together (one PCA: colours compare across
  tiles); spread draws its K masks on the full grid and reconstructs every tile under each (K × tiles
  forwards, batched across tiles), stitched as the tiles view stitches a reconstruction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from maskviz.explain.attention import AttentionCapture, Layer, iter_attention
from maskviz.explain.common import ExplainError, ExplainMap, Step, Steps, check_target, plan_batch, prepare
from maskviz.explain.features import FeatureLens, encoder_tokens, iter_features, lens_of
from maskviz.explain.gradient import iter_gradient
from maskviz.explain.occlusion import iter_occlusion
from maskviz.explain.spread import SpreadLens, check_count, iter_spread, spread_of
from maskviz.images import to_rgb, to_uint8
from maskviz.models.base import MaskedImageModel
from maskviz.reconstruct import reconstruct_pairs
from maskviz.whole.tiles import Tile, TileLayout, TileResult, TileRunner, tile_layout
from maskviz.whole.view import ViewImage, model_view_image

#: The per-target methods, as :func:`iter_view_map` takes them.
TARGET_METHODS = ("attention", "rollout", "gradient", "occlusion")
PICTURE = "picture's"


def model_picture(model: MaskedImageModel, image: Image.Image | np.ndarray) -> ViewImage:
    """The ``model`` view of an image (PIL, or an array as the panels hold it): fitted to the model's input."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image if image.dtype == np.uint8 else to_uint8(image))
    c = model.config
    return model_view_image(to_rgb(image), c.img_size, c.patch_size)


def native_grid(vimg: ViewImage) -> tuple[int, int] | None:
    """The grid the methods pass to the model's forward: the picture's in the native view, else None."""
    return vimg.grid if vimg.view.name == "native" else None


def native_explain_bytes(model: MaskedImageModel, grid: tuple[int, int], method: str, visible: int | None = None
                         ) -> int:
    """Estimated peak bytes of ``method`` on a native ``grid``: what the inference estimate
    (:func:`maskviz.whole.native.estimate_bytes`) leaves out. Attention and rollout keep every layer's
    score matrices (heads × tokens², materialised to be read); a gradient keeps every block's
    activations for the backward pass. MAE's encoder sees the ``visible`` patches only (None: all).
    Windowed attention (Swin) keeps windows, not tokens². (The bundled MAE at 384 and 512 px, 75 %
    hidden, measured 0.74–0.96× these figures: peak resident growth of a fresh process.)"""
    from maskviz.whole.native import BLOCK_ACTIVATIONS, FLOAT, estimate_bytes

    c = model.config
    tokens, forward = estimate_bytes(model, grid)
    per_token = BLOCK_ACTIVATIONS + 2 * c.mlp_ratio  # a block's activations per token and channel
    if hasattr(c, "stage_window"):  # windows: scores grow with the tokens, not their square
        stages = list(enumerate(zip(c.depths, c.num_heads, strict=True)))
        scores = sum(d * h * (tokens // 4**s) * c.stage_window(s)[0] ** 2 for s, (d, h) in stages)
        kept = sum(d * (tokens // 4**s) * c.embed_dim * 2**s * per_token for s, (d, _h) in stages)
    else:
        decoder = getattr(c, "decoder_depth", 0), getattr(c, "decoder_num_heads", 0)
        seen = tokens if visible is None or not decoder[0] else visible + 1  # MAE's encoder: visible + cls
        scores = seen**2 * c.depth * c.num_heads + tokens**2 * decoder[0] * decoder[1]
        width = getattr(c, "decoder_embed_dim", 0)
        kept = per_token * (seen * c.depth * c.embed_dim + tokens * decoder[0] * width)
        if not decoder[0]:  # SimMIM ViT: its biased attention keeps the scores for the backward
            kept += scores
    if method in ("attention", "rollout"):  # the kept scores, the copies made keeping them, a rollout's
        return forward + scores * FLOAT * 3 // 2 + 3 * tokens**2 * FLOAT  # (one capture answers both)
    if method == "gradient":
        return forward + kept * FLOAT
    return forward


def check_native_explain(model: MaskedImageModel, vimg: ViewImage, method: str, mask: np.ndarray) -> None:
    """Refuse, before any forward, a native-view method that would not fit the free memory."""
    from maskviz.device import model_device
    from maskviz.whole.memory import human_bytes, usable_bytes

    if vimg.view.name != "native":
        return
    need = native_explain_bytes(model, vimg.grid, method, visible=int((~mask).sum()))
    usable = usable_bytes(model_device(model))
    if usable is not None and need > usable:
        w, h = vimg.size
        raise ExplainError(f"{method} in the native view of a {w}×{h} px picture needs about {human_bytes(need)}, "
                           f"more than the {human_bytes(usable)} free; use the tiles view (each tile is "
                           f"explained on its own), or a smaller working size")


def whose(vimg: ViewImage) -> str:
    return "model's" if vimg.view.name == "model" else PICTURE


def _checked_mask(vimg: ViewImage, mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    gh, gw = vimg.grid
    if mask.shape != (gh, gw):
        raise ExplainError(f"the mask is {mask.shape[0]}×{mask.shape[1]} patches but the {whose(vimg)} grid is "
                           f"{gh}×{gw}")
    return mask


# --------------------------------------------------------------------------------------- tiles


def tile_crop(vimg: ViewImage, tile: Tile) -> Image.Image:
    """The tile's model input: exactly what the tiles view reconstructs it from."""
    return vimg.image.crop(tile.box(vimg.patch_size))


def tile_label(tile: Tile) -> str:
    """``tile 3 (rows 14–27, cols 0–13)``: where a map came from, on the picture's grid."""
    (rows, cols) = tile.cells
    return f"tile {tile.index} (rows {rows.start}–{rows.stop - 1}, cols {cols.start}–{cols.stop - 1})"


def owning_tile(layout: TileLayout, mask: np.ndarray, target: Sequence[int]) -> tuple[Tile, tuple[int, int]]:
    """The tile whose result shows ``target`` (checked on the picture's grid), and the target inside it."""
    row, col = check_target(mask, target, PICTURE)
    tile = layout.tiles[int(layout.owner_map()[row, col])]
    return tile, (row - tile.top, col - tile.left)


def place(m: ExplainMap, layout: TileLayout, tile: Tile, mask: np.ndarray, target: tuple[int, int]) -> ExplainMap:
    """A tile's map on the picture's grid: the tile's values where it lies, NaN elsewhere."""
    values = np.full(layout.grid, np.nan)
    values[tile.cells] = m.values
    rows, cols = tile.cells
    params = {**m.params, "tile": tile.index, "tile_rows": [rows.start, rows.stop - 1],
              "tile_cols": [cols.start, cols.stop - 1], "where": tile_label(tile)}
    return ExplainMap(m.method, tuple(target), values, mask, m.unit, params)  # type: ignore[arg-type]


@dataclass
class TiledCapture:
    """Attention in the tiles view: one :class:`AttentionCapture` per tile captured so far, answering the
    targets those tiles own (a target elsewhere needs its tile's forward: :meth:`covers`)."""

    layout: TileLayout
    mask: np.ndarray  # the picture's mask
    tiles: dict[int, AttentionCapture] = field(default_factory=dict)

    @property
    def path(self) -> list[Layer]:
        """The layers a target passes (the same in every tile: one model)."""
        return next(iter(self.tiles.values())).path if self.tiles else []

    def covers(self, target: Sequence[int] | None) -> bool:
        """Whether this capture answers ``target`` without a forward (a bad target is answered: with why)."""
        if target is None:
            return True
        try:
            tile, _ = owning_tile(self.layout, self.mask, target)
        except ExplainError:
            return True
        return tile.index in self.tiles

    def with_tile(self, tile: Tile, capture: AttentionCapture) -> TiledCapture:
        """A new capture with ``tile``'s added (this one is left as it is: another thread may read it)."""
        return TiledCapture(self.layout, self.mask, {**self.tiles, tile.index: capture})

    def _answer(self, target: Sequence[int]) -> tuple[Tile, AttentionCapture, tuple[int, int], tuple[int, int]]:
        tile, local = owning_tile(self.layout, self.mask, target)
        if tile.index not in self.tiles:
            raise ExplainError(f"the attention of {tile_label(tile)} has not been captured yet")
        return tile, self.tiles[tile.index], local, (int(target[0]), int(target[1]))

    def layer_map(self, target: Sequence[int], layer: int = -1, head: int | None = None) -> ExplainMap:
        tile, capture, local, target = self._answer(target)
        return place(capture.layer_map(local, layer, head), self.layout, tile, self.mask, target)

    def rollout_map(self, target: Sequence[int]) -> ExplainMap:
        tile, capture, local, target = self._answer(target)
        return place(capture.rollout_map(local), self.layout, tile, self.mask, target)

    def hidden_targets(self) -> list[tuple[int, int]]:
        return [(int(r), int(c)) for r, c in np.argwhere(self.mask)]


# ------------------------------------------------------------------------------------- entry points


def iter_view_attention(model: MaskedImageModel, vimg: ViewImage, mask: np.ndarray,
                        target: Sequence[int] | None = None,
                        kept: Any = None) -> Steps[AttentionCapture | TiledCapture]:
    """The attention capture of ``vimg`` under ``mask``. Tiles: the capture of ``target``'s tile, added
    to ``kept`` (a :class:`TiledCapture` of the same picture and mask) when given; no target, no forward."""
    mask = _checked_mask(vimg, mask)
    if vimg.view.name != "tiles":
        check_native_explain(model, vimg, "attention", mask)
        return (yield from iter_attention(model, vimg.image, mask, native_grid(vimg)))
    same = isinstance(kept, TiledCapture) and np.array_equal(kept.mask, mask) and kept.layout.grid == vimg.grid
    capture = kept if same else TiledCapture(tile_layout(model, vimg), mask)
    if capture.covers(target):
        if target is not None:
            check_target(mask, target, PICTURE)
        return capture
    tile, _ = owning_tile(capture.layout, mask, target)  # type: ignore[arg-type]
    one = yield from iter_attention(model, tile_crop(vimg, tile), capture.layout.tile_mask(mask, tile))
    return capture.with_tile(tile, one)


def iter_view_map(model: MaskedImageModel, vimg: ViewImage, mask: np.ndarray, method: str, target: Sequence[int],
                  layer: int = -1, head: int | None = None, batch: int | None = None,
                  precision: str = "fp32") -> Steps[ExplainMap]:
    """One hidden target's map (``method``: attention, rollout, gradient, occlusion) on ``vimg``'s grid."""
    if method not in TARGET_METHODS:
        raise ExplainError(f"unknown method {method!r}; methods: {', '.join(TARGET_METHODS)}")
    mask = _checked_mask(vimg, mask)
    if method in ("attention", "rollout"):
        capture = yield from iter_view_attention(model, vimg, mask, target)
        return capture.rollout_map(target) if method == "rollout" else capture.layer_map(target, layer, head)
    if vimg.view.name != "tiles":
        check_native_explain(model, vimg, method, mask)
        image, cells, at, grid = vimg.image, mask, target, native_grid(vimg)
    else:  # the owning tile, exactly as the model view of its crop
        layout = tile_layout(model, vimg)
        tile, at = owning_tile(layout, mask, target)
        image, cells, grid = tile_crop(vimg, tile), layout.tile_mask(mask, tile), None
    if method == "gradient":
        m = yield from iter_gradient(model, image, cells, at, grid)
    else:
        m = yield from iter_occlusion(model, image, cells, at, batch, precision, grid)
    if vimg.view.name != "tiles":
        return m
    return place(m, layout, tile, mask, (int(target[0]), int(target[1])))


def iter_view_features(model: MaskedImageModel, vimg: ViewImage, mask: np.ndarray) -> Steps[FeatureLens]:
    """The feature lens of ``vimg``; tiles: every tile's encoder tokens (one step each), one PCA over all."""
    mask = _checked_mask(vimg, mask)
    if vimg.view.name != "tiles":
        return (yield from iter_features(model, vimg.image, mask, native_grid(vimg)))
    layout = tile_layout(model, vimg)
    cells = np.full(vimg.grid, -1)
    tokens, offset = [], 0
    for done, tile in enumerate(layout.tiles, start=1):
        inp = prepare(model, tile_crop(vimg, tile), layout.tile_mask(mask, tile))
        found = encoder_tokens(model, inp.x, inp.mask_t)
        own = found.cells[tile.own_in_tile]
        cells[tile.own] = np.where(own >= 0, own + offset, -1)
        tokens.append(found.tokens)
        offset += len(found.tokens)
        yield Step(done, len(layout.tiles), f"features of {len(layout.tiles)} tiles", unit="tile")
    used = np.unique(cells[cells >= 0])  # tokens a shown patch reads (a shifted tile's overlap is shown once)
    cells[cells >= 0] = np.searchsorted(used, cells[cells >= 0])
    every = torch.cat(tokens)[torch.as_tensor(used, dtype=torch.long, device=tokens[0].device)]
    return lens_of(mask, cells, every, PICTURE)


def iter_view_spread(model: MaskedImageModel, vimg: ViewImage, masks: Sequence[np.ndarray],
                     batch: int | None = None, unnormalize: str = "true-patch",
                     precision: str = "fp32") -> Steps[SpreadLens]:
    """The spread lens of ``vimg`` over ``masks`` (on its grid). Tiles: every tile under every mask
    (K × tiles model inputs, batched across masks and tiles; a step per batch counts the tiles done),
    stitched as the tiles view stitches a reconstruction."""
    check_count(len(masks))
    masks = [_checked_mask(vimg, m) for m in masks]
    if vimg.view.name != "tiles":
        return (yield from iter_spread(model, vimg.image, masks, batch, unnormalize, precision, native_grid(vimg)))
    size = batch or plan_batch(model, model.config.num_patches)
    runner = TileRunner(model, unnormalize=unnormalize, precision=precision, cache_bytes=0)
    layout = runner.layout(vimg)
    crops = [tile_crop(vimg, t) for t in layout.tiles]
    pairs = [(k, t, layout.tile_mask(m, t)) for k, m in enumerate(masks) for t in layout.tiles]
    found: list[dict[int, TileResult]] = [{} for _ in masks]
    what = f"spread over {len(masks)} masks × {len(layout.tiles)} tiles"
    done = 0
    for part in _pair_batches(model, pairs, size):
        results = reconstruct_pairs(model, [crops[t.index] for _, t, _ in part], [cells for *_, cells in part],
                                    unnormalize, precision)
        for (k, t, _), r in zip(part, results, strict=True):
            found[k][t.index] = TileResult(t, r, False)
        done += len(part)
        yield Step(done, len(pairs), what, unit="tile")
    pictures = [runner.stitch(vimg, m, [found[k][t.index] for t in layout.tiles]).whole.prediction
                for k, m in enumerate(masks)]
    return spread_of(masks, pictures, vimg.original(), vimg.patch_size)


def _pair_batches(model: MaskedImageModel, pairs: list[Any], size: int) -> Iterator[list[Any]]:
    """(mask, tile, cells) pairs in batches of ``size`` across masks and tiles; where the family needs it
    (MAE) a batch keeps one visible count, so that each batch is one forward."""
    groups: dict[int, list[Any]] = {}
    for pair in pairs:
        key = int((~pair[2]).sum()) if model.config.same_hidden_count else 0
        groups.setdefault(key, []).append(pair)
    for group in groups.values():
        for start in range(0, len(group), size):
            yield group[start:start + size]
