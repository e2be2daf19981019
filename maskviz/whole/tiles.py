"""The ``tiles`` view: a whole photo on one patch grid, reconstructed in model-sized tiles.

The mask lives on the full grid. The grid is cut into tiles of the model's own grid; each tile is
its crop of the picture under the part of the mask inside it, all tiles run through
:func:`maskviz.reconstruct.reconstruct_pairs` (batched; MAE batches keep equal visible counts),
and the results are stitched back. A tile's result is exactly ``reconstruct`` of its crop with
those mask cells.

**Edge tiles.** Where the grid is not a whole number of tiles, the last tile of a row (column) is
shifted back to end at the picture's edge and overlaps its neighbour, instead of running past the
edge into padding:

* every tile is a real crop at the model's own input size, so the model sees no invented pixels
  (padding shown as visible patches would feed it flat grey content; padding hidden would change
  the tile's share of hidden patches, which MAE's output depends on);
* it costs no more: either way a side of ``n`` patches takes ``ceil(n / tile)`` tiles;
* each patch is shown from one tile (:meth:`TileLayout.owner_map`): the regular tile keeps the
  overlap, the shifted one adds what lies beyond it. Its own metrics cover its whole crop.

The price is a minimum size: a picture must hold one model input each way (224×224 px for the
published models); a smaller one is refused (the ``model`` view fits any image).

**Incremental.** :class:`TileRunner` keeps finished tiles in a cache keyed by the tile's pixels
and its mask cells, so a brush stroke recomputes only the tiles it touched, and an undo costs
nothing. :meth:`TileRunner.steps` yields tiles as their batches finish (progress; stop iterating
or pass ``cancelled`` to cancel between batches), :meth:`TileRunner.run` returns the stitched
whole.

A tile is exactly ``reconstruct`` of its crop, norm-pix display included: the ``visible`` mode
pools the visible patches' statistics of that tile, not of the whole picture.

**Metrics.** The whole picture's loss is the family's training loss over every hidden patch of the
picture (the model's :meth:`~maskviz.models.base.MaskedImageModel.loss_over_hidden`), MSE and
PSNR are over the hidden pixels of the stitched picture; each tile keeps its own.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image

from maskviz.masks import to_pixel_mask
from maskviz.models.base import MaskedImageModel
from maskviz.reconstruct import MAX_BATCH, Reconstruction, compose_result, psnr_from_mse, reconstruct_pairs
from maskviz.whole.memory import human_bytes, usable_bytes
from maskviz.whole.view import Size, ViewError, ViewImage

Grid = tuple[int, int]

#: Bytes the whole picture's panels take per working pixel: four RGB float32 images (original,
#: masked input, reconstruction, pasted), the error map, masks and the temporaries of composing them.
WHOLE_BYTES_PER_PIXEL = 96
#: Finished tiles kept for reuse (a 224 px tile's panels take about 3 MB).
DEFAULT_CACHE_BYTES = 256 * 2**20


# ------------------------------------------------------------------------------------------- layout


def tile_starts(n: int, t: int) -> list[int]:
    """First patch of each tile along a side of ``n`` patches: every ``t``, the last flush with the edge."""
    starts = list(range(0, n - t + 1, t))
    if starts[-1] + t < n:
        starts.append(n - t)
    return starts


@dataclass(frozen=True)
class Tile:
    """One model input on the full grid, in patches, and the patches it is shown for."""

    index: int
    top: int
    left: int
    rows: int
    cols: int
    own: tuple[slice, slice]  # the patches of the full grid this tile's result is shown for

    @property
    def cells(self) -> tuple[slice, slice]:
        """The tile's patches on the full grid."""
        return slice(self.top, self.top + self.rows), slice(self.left, self.left + self.cols)

    @property
    def own_in_tile(self) -> tuple[slice, slice]:
        """:attr:`own` relative to the tile."""
        r, c = self.own
        return slice(r.start - self.top, r.stop - self.top), slice(c.start - self.left, c.stop - self.left)

    def box(self, patch: int) -> tuple[int, int, int, int]:
        """The tile's crop box in pixels (left, top, right, bottom)."""
        return (self.left * patch, self.top * patch, (self.left + self.cols) * patch, (self.top + self.rows) * patch)


@dataclass(frozen=True)
class TileLayout:
    """The tiles that cover a grid; every patch is owned by exactly one of them."""

    grid: Grid
    tile: Grid
    tiles: tuple[Tile, ...]

    @staticmethod
    def of(grid: Grid, tile: Grid) -> TileLayout:
        (gh, gw), (th, tw) = grid, tile
        if gh < th or gw < tw:
            raise ValueError(f"a {gh}×{gw} patch grid is smaller than one {th}×{tw} tile")
        rows, cols = tile_starts(gh, th), tile_starts(gw, tw)
        tiles = []
        for i, top in enumerate(rows):
            for j, left in enumerate(cols):
                own_r = slice(i * th, gh if i == len(rows) - 1 else (i + 1) * th)
                own_c = slice(j * tw, gw if j == len(cols) - 1 else (j + 1) * tw)
                tiles.append(Tile(len(tiles), top, left, th, tw, (own_r, own_c)))
        return TileLayout((gh, gw), (th, tw), tuple(tiles))

    def owner_map(self) -> np.ndarray:
        """``(gh, gw)`` int array: the tile each patch is shown from."""
        owner = np.full(self.grid, -1, dtype=np.int32)
        for t in self.tiles:
            owner[t.own] = t.index
        return owner

    def tile_mask(self, mask: np.ndarray, tile: Tile) -> np.ndarray:
        return np.ascontiguousarray(mask[tile.cells])

    def touched(self, before: np.ndarray, after: np.ndarray) -> list[int]:
        """Tiles whose mask cells differ between two full-grid masks (what a stroke recomputes)."""
        diff = np.asarray(before, dtype=bool) != np.asarray(after, dtype=bool)
        return [t.index for t in self.tiles if diff[t.cells].any()]


def tile_layout(model: MaskedImageModel, vimg: ViewImage) -> TileLayout:
    """The model-sized tiles that cover ``vimg``'s grid (what the tiles view runs, draws and explains)."""
    return TileLayout.of(vimg.grid, tuple(model.grid_size))


def check_tiles(model: MaskedImageModel, size: Size) -> None:
    """Refuse, from the numbers alone, a working size the tiles view cannot run (see module doc)."""
    w, h = size
    p, (th, tw) = model.patch_size, model.grid_size
    if h < th * p or w < tw * p:
        raise ViewError(f"the tiles view needs at least one {tw * p}×{th * p} px model input each way; "
                        f"the picture is {w}×{h} px (give a larger working size, or use the model view)")
    need = w * h * WHOLE_BYTES_PER_PIXEL
    usable = usable_bytes("cpu")  # the stitched panels live in host memory whatever the model's device
    if usable is not None and need > usable:
        side = int(max(w, h) * math.sqrt(usable / need)) // p * p
        raise ViewError(f"a {w}×{h} px picture needs about {human_bytes(need)} for its panels, more than the "
                        f"{human_bytes(usable)} free; a working size of {side} px or less fits")


# ------------------------------------------------------------------------------------------- results


@dataclass
class TileResult:
    """One tile's reconstruction (``reconstruct`` of its crop) and whether it came from the cache."""

    tile: Tile
    result: Reconstruction
    cached: bool


@dataclass
class TileStep:
    """Progress of a tiled run: the tiles finished in this step and how far the run is."""

    done: int
    total: int
    results: list[TileResult]
    computed: int  # tiles of this step that ran through the model (the rest were cached)


@dataclass
class TiledReconstruction:
    """The stitched whole picture, every tile's own result, and the view it was made in."""

    view: str
    layout: TileLayout
    whole: Reconstruction
    tiles: list[TileResult]
    computed: int  # tiles that ran through the model for this result


def tile_metrics(tiles: list[TileResult]) -> list[dict[str, Any]]:
    """Each tile's place and its own numbers (its crop's loss, MSE, PSNR, hidden count)."""
    return [
        {"tile": t.tile.index, "top": t.tile.top, "left": t.tile.left, "rows": t.tile.rows, "cols": t.tile.cols,
         "loss": t.result.loss, "mse": t.result.mse, "psnr": t.result.psnr,
         "masked_patches": t.result.masked_patches, "total_patches": t.result.total_patches}
        for t in tiles
    ]


# ------------------------------------------------------------------------------------------- running


@dataclass
class _Prepared:
    """A working image cut into its tile crops, with each crop's content key (computed once per image)."""

    vimg: ViewImage
    layout: TileLayout
    crops: list[Image.Image]
    keys: list[bytes]
    original: np.ndarray = field(repr=False)


class TileRunner:
    """Runs the tiles view for one model, keeping finished tiles for reuse.

    The cache key is a tile's pixels and its mask cells (the model, unnormalize mode and precision
    are the runner's), so the same runner serves new masks, undo, and another image; a new model
    needs a new runner (or :meth:`clear`).
    """

    def __init__(self, model: MaskedImageModel, *, unnormalize: str = "true-patch", precision: str = "fp32",
                 batch: int = MAX_BATCH, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.model, self.unnormalize, self.precision = model, unnormalize, precision
        self.batch, self.cache_bytes = max(1, int(batch)), int(cache_bytes)
        self._cache: OrderedDict[tuple[bytes, bytes], Reconstruction] = OrderedDict()
        self._cached_bytes = 0
        self._prepared: _Prepared | None = None

    # -- the image

    def layout(self, vimg: ViewImage) -> TileLayout:
        return self._prepare(vimg).layout

    def _prepare(self, vimg: ViewImage) -> _Prepared:
        if self._prepared is not None and self._prepared.vimg is vimg:
            return self._prepared
        if vimg.patch_size != self.model.patch_size:
            raise ViewError(f"the picture's grid has {vimg.patch_size} px patches, the model's "
                            f"{self.model.patch_size} px")
        check_tiles(self.model, vimg.size)
        layout = tile_layout(self.model, vimg)
        crops = [vimg.image.crop(t.box(vimg.patch_size)) for t in layout.tiles]
        keys = [hashlib.blake2b(c.tobytes(), digest_size=16).digest() for c in crops]
        self._prepared = _Prepared(vimg, layout, crops, keys, vimg.original())
        return self._prepared

    # -- the cache

    def clear(self) -> None:
        self._cache.clear()
        self._cached_bytes = 0

    def _key(self, prep: _Prepared, tile: Tile, mask: np.ndarray) -> tuple[bytes, bytes]:
        return prep.keys[tile.index], np.packbits(prep.layout.tile_mask(mask, tile)).tobytes()

    def _remember(self, key: tuple[bytes, bytes], result: Reconstruction) -> None:
        size = _nbytes(result)
        if size > self.cache_bytes:
            return
        self._cache[key] = result
        self._cached_bytes += size
        while self._cached_bytes > self.cache_bytes:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= _nbytes(old)

    def _lookup(self, key: tuple[bytes, bytes]) -> Reconstruction | None:
        result = self._cache.get(key)
        if result is not None:
            self._cache.move_to_end(key)
        return result

    # -- running

    def steps(self, vimg: ViewImage, mask: np.ndarray,
              cancelled: Callable[[], bool] | None = None) -> Iterator[TileStep]:
        """Tiles as they finish: cached ones in the first step, then one step per batch.

        Stop iterating (or let ``cancelled()`` turn true) to cancel between batches: finished tiles
        stay cached, so the next run picks up where this one stopped.
        """
        prep = self._prepare(vimg)
        mask = _check_mask(mask, prep.layout.grid)
        tiles = prep.layout.tiles
        keys = [self._key(prep, t, mask) for t in tiles]
        cached = [TileResult(t, r, True) for t, k in zip(tiles, keys, strict=True)
                  if (r := self._lookup(k)) is not None]
        done = len(cached)
        if cached:
            yield TileStep(done, len(tiles), cached, 0)
        pending = [t for t, k in zip(tiles, keys, strict=True) if k not in self._cache]
        for batch in self._batches(prep, pending, mask):
            if cancelled is not None and cancelled():
                return
            results = reconstruct_pairs(self.model, [prep.crops[t.index] for t in batch],
                                        [prep.layout.tile_mask(mask, t) for t in batch],
                                        self.unnormalize, self.precision)
            for t, r in zip(batch, results, strict=True):
                self._remember(keys[t.index], r)
            done += len(batch)
            yield TileStep(done, len(tiles), [TileResult(t, r, False) for t, r in zip(batch, results, strict=True)],
                           len(batch))

    def _batches(self, prep: _Prepared, pending: list[Tile], mask: np.ndarray) -> Iterator[list[Tile]]:
        """Pending tiles in reading order, batched; where the family needs it (MAE) a batch keeps one
        visible count."""
        left = list(pending)
        while left:
            first = left[0]
            if self.model.config.same_hidden_count:
                visible = int((~prep.layout.tile_mask(mask, first)).sum())
                batch = [t for t in left if int((~prep.layout.tile_mask(mask, t)).sum()) == visible][: self.batch]
            else:
                batch = left[: self.batch]
            chosen = {t.index for t in batch}
            left = [t for t in left if t.index not in chosen]
            yield batch

    def run(self, vimg: ViewImage, mask: np.ndarray, cancelled: Callable[[], bool] | None = None,
            progress: Callable[[TileStep], None] | None = None) -> TiledReconstruction | None:
        """The stitched whole picture (None when cancelled before every tile was done)."""
        found: dict[int, TileResult] = {}
        computed = 0
        for step in self.steps(vimg, mask, cancelled):
            found.update((r.tile.index, r) for r in step.results)
            computed += step.computed
            if progress is not None:
                progress(step)
        prep = self._prepare(vimg)
        if len(found) < len(prep.layout.tiles):
            return None
        return self.stitch(vimg, mask, [found[t.index] for t in prep.layout.tiles], computed)

    def stitch(self, vimg: ViewImage, mask: np.ndarray, tiles: list[TileResult], computed: int = 0
               ) -> TiledReconstruction:
        """Put every tile's shown patches back on the full picture and measure the whole.

        Given only some tiles (a run still streaming in), the others show the masked input with no
        error and no loss, and the metrics cover the hidden patches of the tiles given."""
        prep = self._prepare(vimg)
        mask = _check_mask(mask, prep.layout.grid)
        p, c = vimg.patch_size, self.model.config
        prediction = np.empty_like(prep.original)
        patch_loss = np.full(prep.layout.grid, np.nan, dtype=np.float32)
        done = np.zeros(prep.layout.grid, dtype=bool)
        for t in tiles:
            (rows, cols), (trows, tcols) = t.tile.own, t.tile.own_in_tile
            prediction[_pixels(rows, p), _pixels(cols, p)] = t.result.prediction[_pixels(trows, p), _pixels(tcols, p)]
            patch_loss[rows, cols] = t.result.patch_loss[trows, tcols]
            done[rows, cols] = True
        pending = to_pixel_mask(~done, p)
        if pending.any():
            shown = np.where(to_pixel_mask(mask, p)[..., None], np.asarray(c.mean, dtype=np.float32), prep.original)
            prediction[pending] = shown[pending]
        loss = self.model.loss_over_hidden(patch_loss, mask & done)
        whole = compose_result(
            prep.original, prediction, mask, p, masked_colour=c.mean, patch_loss=patch_loss,
            loss=math.nan if loss is None and (mask & ~done).any() else loss, family=c.family,
            norm_pix=c.norm_pix_loss, unnormalize=tiles[0].result.unnormalize if tiles else self.unnormalize,
            problem=next((t.result.problem for t in tiles if t.result.problem), None), loss_name=c.loss_name,
        )
        if pending.any():  # a picture still streaming in: measure only what is there
            whole.error_map[pending] = 0.0
            scored = to_pixel_mask(mask & done, p)
            mse = float(whole.error_map[scored].mean()) if scored.any() else None
            whole = replace(whole, mse=mse, psnr=psnr_from_mse(mse))
        return TiledReconstruction(vimg.label, prep.layout, whole, tiles, computed)


def _pixels(s: slice, patch: int) -> slice:
    return slice(s.start * patch, s.stop * patch)


def _check_mask(mask: np.ndarray, grid: Grid) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(grid):
        raise ValueError(f"a mask of shape {mask.shape} does not fit the picture's {grid[0]}×{grid[1]} patch grid")
    return mask


def _nbytes(r: Reconstruction) -> int:
    return sum(a.nbytes for a in (r.mask, r.original, r.masked_input, r.prediction, r.pasted, r.error_map,
                                  r.patch_loss))
