"""Patch masks: the one mask currency, every generator, PNG I/O and the mask-spec grammar.

A mask is a numpy bool array of shape ``(gh, gw)`` — the model's patch grid — with True = hidden.
Every model adapter, the CLI and the GUI exchange masks in this form only, so a mask made here
means the same thing everywhere. Generators are pure numpy and deterministic by ``seed``
(``np.random.default_rng(seed)``; ``seed=None`` draws fresh randomness).

Mask specs (``random:0.75,seed=3``, ``~center:0.25``, ``file:mask.png``) go through one
mechanism: :func:`parse_mask_spec` looks the name up in :data:`MASK_PATTERNS`, converts and
validates every argument by its declared type, and :meth:`MaskSpec.generate` calls the generator.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from maskviz.errors import MaskError
from maskviz.fileio import atomic_write, png_writer

Grid = tuple[int, int]
PathLike = str | os.PathLike


# ---------------------------------------------------------------------------- validation helpers


def _check_grid(grid: Grid) -> Grid:
    """Return ``(gh, gw)`` as ints; a grid with a non-positive side cannot hold a mask."""
    try:
        gh, gw = (int(v) for v in grid)
    except (TypeError, ValueError):
        raise MaskError(f"A patch grid is two sizes (rows, columns), got {grid!r}.") from None
    if gh < 1 or gw < 1:
        raise MaskError(f"A patch grid needs at least one row and one column, got {gh}×{gw}.")
    return gh, gw


def _check_range(what: str, value: float, lo: float, hi: float | None = None) -> None:
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
        raise MaskError(f"{what} must be {bound}, got {value:g}.")


def _check_ratio(ratio: float, what: str = "Mask ratio") -> float:
    ratio = float(ratio)
    if not math.isfinite(ratio):
        raise MaskError(f"{what} must be a number between 0 and 1, got {ratio}.")
    _check_range(what, ratio, 0.0, 1.0)
    return ratio


def _as_mask(mask: np.ndarray) -> np.ndarray:
    """Accept any 2-D array-like (non-zero = hidden) so callers need not pre-cast."""
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise MaskError(f"A patch mask must be 2-D (rows, columns), got shape {arr.shape}.")
    return arr.astype(bool, copy=False)


def _rng(seed: int | None) -> np.random.Generator:
    """numpy's generator for ``seed``; a negative or fractional seed is the user's mistake, said plainly."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise MaskError(f"A seed must be a whole number from 0 up, got {seed!r}.")
    return np.random.default_rng(seed)


def _index_grids(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    gh, gw = _check_grid(grid)
    return np.ogrid[:gh, :gw]


# ---------------------------------------------------------------------------- counting


def mae_hidden_count(num_patches: int, ratio: float) -> int:
    """Patches MAE hides at ``ratio``: it keeps ``int(N * (1 - ratio))``, so hidden = N - that.

    Using MAE's own arithmetic (float rounding included) keeps a generated mask's count equal to
    what ``random_masking`` would hide, which MAE adapters need (fixed kept-token count).
    """
    ratio = _check_ratio(ratio)
    return num_patches - int(num_patches * (1 - ratio))


def mask_ratio(mask: np.ndarray) -> float:
    """Fraction of patches hidden."""
    return float(_as_mask(mask).mean())


def describe(mask: np.ndarray) -> str:
    """One-line readout shown by CLI and GUI, e.g. ``masked 147/196 patches (75.0%)``."""
    m = _as_mask(mask)
    k, n = int(m.sum()), m.size
    return f"masked {k}/{n} patches ({100.0 * k / n:.1f}%)"


def complement(mask: np.ndarray) -> np.ndarray:
    """Swap hidden and visible, e.g. to ask the model for the other half."""
    return ~_as_mask(mask)


# ---------------------------------------------------------------------------- random generators


def _fix_count(mask: np.ndarray, target: int, rng: np.random.Generator) -> np.ndarray:
    """Hide or reveal random single patches until exactly ``target`` are hidden."""
    flat = mask.reshape(-1)
    diff = target - int(flat.sum())
    if diff != 0:
        pool = np.flatnonzero(~flat if diff > 0 else flat)
        flat[rng.choice(pool, size=abs(diff), replace=False)] = diff > 0
    return mask


def with_hidden_count(mask: np.ndarray, target: int, seed: int | None = None) -> np.ndarray:
    """A copy of ``mask`` hiding exactly ``target`` patches: random single patches hidden or revealed.

    Makes strategies comparable at one hidden count (``maskviz compare --same-count``).
    """
    m = _as_mask(mask).copy()
    _check_range("Hidden patch count", target, 0, m.size)
    return _fix_count(m, int(target), np.random.default_rng(seed))


def random_mask(grid: Grid, ratio: float = 0.75, seed: int | None = None) -> np.ndarray:
    """MAE random masking: hide :func:`mae_hidden_count` patches chosen uniformly.

    That is ``round(ratio * N)`` up to MAE's float arithmetic (at most one patch off).
    """
    gh, gw = _check_grid(grid)
    n = gh * gw
    hidden = mae_hidden_count(n, ratio)
    rng = _rng(seed)
    flat = np.zeros(n, dtype=bool)
    flat[rng.permutation(n)[:hidden]] = True
    return flat.reshape(gh, gw)


def _try_block(mask: np.ndarray, room: int, min_block: int, log_aspect: float,
               rng: np.random.Generator) -> bool:
    """Hide one random rectangle adding 1..room new patches; False when the draw does not fit."""
    gh, gw = mask.shape
    area = rng.uniform(min_block, max(min_block, room))
    aspect = math.exp(rng.uniform(-log_aspect, log_aspect))
    h, w = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
    if not (1 <= h <= gh and 1 <= w <= gw):
        return False
    top, left = int(rng.integers(0, gh - h + 1)), int(rng.integers(0, gw - w + 1))
    region = mask[top:top + h, left:left + w]
    new = region.size - int(region.sum())
    if not 0 < new <= room:
        return False
    region[...] = True
    return True


def block_mask(grid: Grid, ratio: float = 0.5, seed: int | None = None, min_block: int = 4,
               max_block: int | None = None, min_aspect: float = 0.3) -> np.ndarray:
    """BEiT-style block-wise masking: hide random rectangles until the MAE count is reached.

    Rectangles have area in ``[min_block, max_block]`` patches and a log-uniform aspect ratio in
    ``[min_aspect, 1/min_aspect]``; like BEiT's ``MaskingGenerator`` a block may add at most the
    patches still needed, and drawing stops after 10 misses in a row. Random single patches then
    top the count up, so exactly :func:`mae_hidden_count` patches are hidden.
    """
    gh, gw = _check_grid(grid)
    target = mae_hidden_count(gh * gw, ratio)
    _check_range("min_block", min_block, 1)
    _check_range("min_aspect", min_aspect, 1e-6, 1.0)
    cap = target if max_block is None else min(max_block, target)
    rng = _rng(seed)
    mask = np.zeros((gh, gw), dtype=bool)
    log_aspect, misses = math.log(1.0 / min_aspect), 0
    while misses < 10 and (count := int(mask.sum())) < target:
        added = _try_block(mask, min(cap, target - count), min_block, log_aspect, rng)
        misses = 0 if added else misses + 1
    return _fix_count(mask, target, rng)


SIMMIM_MASK_PATCH = 32  # SimMIM's own cell side, in pixels (config.DATA.MASK_PATCH_SIZE)
MIN_SIMMIM_CELLS = 16  # fewer cells turn a ratio into a staircase (4 cells: 60 % hides 75 %)


def default_mask_patch(grid: Grid, model_patch: int) -> int:
    """SimMIM's 32 px cells, or smaller ones where 32 px would leave fewer than 16 cells (a 64 px
    model has 4), down to one patch per cell."""
    gh, gw = _check_grid(grid)
    cell = max(1, SIMMIM_MASK_PATCH // int(model_patch))
    while cell > 1 and -(-gh // cell) * -(-gw // cell) < MIN_SIMMIM_CELLS:
        cell //= 2
    return cell * int(model_patch)


def simmim_mask(grid: Grid, ratio: float = 0.6, seed: int | None = None, mask_patch: int | None = None,
                model_patch: int = 16) -> np.ndarray:
    """SimMIM ``MaskGenerator``: hide ``ceil(cells * ratio)`` coarse cells, upsampled to patches.

    A cell is ``mask_patch // model_patch`` patches wide (``None``: :func:`default_mask_patch`).
    When the grid is not a multiple of the cell, the coarse grid is rounded up and the upsampled
    mask cropped, so the hidden fraction is
    then only approximately ``ratio``. The count is the official ``ceil(cells * ratio)``, float
    noise included, so a seed-for-seed comparison with SimMIM's generator hides as many cells.
    """
    gh, gw = _check_grid(grid)
    ratio = _check_ratio(ratio)
    _check_range("model patch size", model_patch, 1)
    if mask_patch is None:
        mask_patch = default_mask_patch((gh, gw), model_patch)
    if mask_patch < model_patch or mask_patch % model_patch:
        raise MaskError(f"SimMIM mask_patch ({mask_patch}) must be a multiple of the model's "
                        f"patch size ({model_patch}).")
    cell = mask_patch // model_patch
    ch, cw = -(-gh // cell), -(-gw // cell)
    count = math.ceil(ch * cw * ratio)
    flat = np.zeros(ch * cw, dtype=bool)
    flat[_rng(seed).permutation(ch * cw)[:count]] = True
    coarse = flat.reshape(ch, cw)
    rows, cols = _index_grids((gh, gw))
    return coarse[rows // cell, cols // cell]  # upsampled and cropped at once: O(grid), whatever the cell


def complementary_masks(grid: Grid, k: int, seed: int | None = None) -> list[np.ndarray]:
    """Split the patches randomly into ``k`` near-equal groups; mask i hides group i.

    Every patch is hidden in exactly one mask, so ``k`` reconstructions together predict every
    patch once ("full reconstruction").
    """
    gh, gw = _check_grid(grid)
    n = gh * gw
    _check_range("Number of complementary masks", k, 1, n)
    order = _rng(seed).permutation(n)
    masks = []
    for group in np.array_split(order, int(k)):
        flat = np.zeros(n, dtype=bool)
        flat[group] = True
        masks.append(flat.reshape(gh, gw))
    return masks


# ---------------------------------------------------------------------------- structured generators


def empty_mask(grid: Grid) -> np.ndarray:
    """Nothing hidden."""
    return np.zeros(_check_grid(grid), dtype=bool)


def full_mask(grid: Grid) -> np.ndarray:
    """Everything hidden."""
    return np.ones(_check_grid(grid), dtype=bool)


def grid_mask(grid: Grid, step: int = 2, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """MAE paper's grid-wise sampling: keep one patch per ``step``×``step`` block, hide the rest.

    The kept patch sits at ``offset`` (row, column) inside each block; step 2 hides 75%.
    """
    _check_range("Grid step", step, 1)
    rows, cols = _index_grids(grid)
    kept = ((rows - offset[0]) % step == 0) & ((cols - offset[1]) % step == 0)
    return ~kept


def _centered(n: int, fraction: float) -> slice:
    side = int(math.floor(math.sqrt(fraction) * n + 0.5))
    side = min(n, max(side, 1 if fraction > 0 else 0))
    start = (n - side) // 2
    return slice(start, start + side)


def center_mask(grid: Grid, fraction: float = 0.25) -> np.ndarray:
    """Hide a centred rectangle covering about ``fraction`` of the patches.

    Each side is ``sqrt(fraction) * size`` rounded half up (at least 1 when fraction > 0), so the
    rectangle is square on square grids; odd leftovers put the extra row/column below/right.
    """
    gh, gw = _check_grid(grid)
    fraction = _check_ratio(fraction, "Centre fraction")
    mask = np.zeros((gh, gw), dtype=bool)
    mask[_centered(gh, fraction), _centered(gw, fraction)] = True
    return mask


def border_mask(grid: Grid, width: int = 1) -> np.ndarray:
    """Hide a frame ``width`` patches thick around the edge (wide frames hide everything)."""
    _check_range("Border width", width, 0)
    rows, cols = _index_grids(grid)
    gh, gw = rows.shape[0], cols.shape[1]
    return (np.minimum(rows, gh - 1 - rows) < width) | (np.minimum(cols, gw - 1 - cols) < width)


def stripes_mask(grid: Grid, period: int = 2, orientation: str = "h", width: int = 1,
                 offset: int = 0) -> np.ndarray:
    """Hide ``width`` of every ``period`` rows ("h") or columns ("v"), starting at ``offset``."""
    _check_range("Stripe period", period, 1)
    _check_range("Stripe width", width, 0, period)
    if orientation not in ("h", "v"):
        raise MaskError(f"Stripe orientation must be 'h' (rows) or 'v' (columns), got {orientation!r}.")
    rows, cols = _index_grids(grid)
    lines = rows if orientation == "h" else cols
    hidden = (lines - offset) % period < width
    return np.broadcast_to(hidden, (rows.shape[0], cols.shape[1])).copy()


def checkerboard_mask(grid: Grid, cell: int = 1, phase: int = 0) -> np.ndarray:
    """Alternate hidden/visible squares of ``cell`` patches; phase 0 hides the top-left square."""
    _check_range("Checkerboard cell", cell, 1)
    rows, cols = _index_grids(grid)
    return (rows // cell + cols // cell + phase) % 2 == 0


HALF_SIDES = ("left", "right", "top", "bottom")


def half_mask(grid: Grid, side: str = "left") -> np.ndarray:
    """Hide one half; on an odd size the hidden half is the smaller one (``floor(n/2)`` lines)."""
    gh, gw = _check_grid(grid)
    if side not in HALF_SIDES:
        raise MaskError(f"Half side must be one of {', '.join(HALF_SIDES)}, got {side!r}.")
    mask = np.zeros((gh, gw), dtype=bool)
    hr, hc = gh // 2, gw // 2
    region = {"left": np.s_[:, :hc], "right": np.s_[:, gw - hc:],
              "top": np.s_[:hr, :], "bottom": np.s_[gh - hr:, :]}[side]
    mask[region] = True
    return mask


# ---------------------------------------------------------------------------- pixel masks


def from_pixel_mask(pixel_mask: np.ndarray, patch_size: int, threshold: float = 0.5, *,
                    grid: Grid | None = None) -> np.ndarray:
    """Quantise a painted pixel mask (non-zero = painted) to the patch grid.

    A patch is hidden when its painted fraction is ``>= threshold``; ``threshold=0`` means any
    painted pixel hides the patch. Pass ``grid`` to insist on exactly ``grid × patch_size`` pixels.
    """
    threshold = _check_ratio(threshold, "Paint threshold")
    painted = _as_mask(pixel_mask)
    h, w = painted.shape
    p = int(patch_size)
    _check_range("Patch size", p, 1)
    gh, gw = grid if grid is not None else (h // p, w // p)
    if (h, w) != (gh * p, gw * p) or gh < 1 or gw < 1:
        raise MaskError(f"A painted mask of {w}×{h} pixels does not fit {p}-pixel patches; "
                        f"expected {gw * p}×{gh * p} pixels.")
    coverage = painted.reshape(gh, p, gw, p).mean(axis=(1, 3))
    return coverage > 0 if threshold == 0 else coverage >= threshold - 1e-9


def to_pixel_mask(mask: np.ndarray, patch_size: int) -> np.ndarray:
    """Upsample a patch mask to image resolution ``(gh*p, gw*p)``."""
    p = int(patch_size)
    _check_range("Patch size", p, 1)
    return _as_mask(mask).repeat(p, axis=0).repeat(p, axis=1)


# ---------------------------------------------------------------------------- PNG I/O


def save_mask_png(mask: np.ndarray, path: PathLike, patch_size: int | None = None) -> None:
    """Write an 8-bit greyscale PNG (255 = hidden) atomically, at grid or image resolution."""
    m = _as_mask(mask) if patch_size is None else to_pixel_mask(mask, patch_size)
    atomic_write(path, png_writer(Image.fromarray(m.astype(np.uint8) * 255)), error=MaskError)


_RAW_MODES = ("1", "L", "I", "F")


def _hidden_pixels(img: Image.Image) -> np.ndarray:
    """Non-zero = hidden; colour/palette/alpha images are judged by their "L" luminance only."""
    if img.mode in _RAW_MODES or img.mode.startswith("I;16"):
        return np.asarray(img) != 0
    return np.asarray(img.convert("L")) != 0


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, Image.DecompressionBombError)


def _read_hidden(path: PathLike) -> np.ndarray:
    name = os.fspath(path)
    try:
        with Image.open(path) as img:
            img.load()
            return _hidden_pixels(img)
    except FileNotFoundError:
        raise MaskError(f"Mask file not found: {name}.") from None
    except IsADirectoryError:
        raise MaskError(f"Mask file {name} is a folder, not an image.") from None
    except _DECODE_ERRORS:
        raise MaskError(f"Mask file {name} is not a readable image (corrupt or unsupported).") from None


def load_mask_png(path: PathLike, grid: Grid, patch_size: int, threshold: float = 0.5) -> np.ndarray:
    """Read a mask image of any mode (non-zero = hidden) at grid or image resolution.

    RGB/RGBA/LA/P images are converted to "L" first, so alpha is ignored and any non-black
    colour hides. An image-resolution file is quantised by :func:`from_pixel_mask` with
    ``threshold``.
    """
    gh, gw = _check_grid(grid)
    p = int(patch_size)
    hidden = _read_hidden(path)
    h, w = hidden.shape
    if (h, w) == (gh, gw):
        return hidden
    if (h, w) == (gh * p, gw * p):
        return from_pixel_mask(hidden, p, threshold, grid=(gh, gw))
    raise MaskError(f"Mask file {os.fspath(path)} is {w}×{h} pixels; expected {gw}×{gh} (the patch "
                    f"grid) or {gw * p}×{gh * p} (the image).")


# ---------------------------------------------------------------------------- pattern registry


@dataclass(frozen=True)
class PatternParam:
    """One parameter of a mask pattern, typed so the parser and the GUI can both use it.

    ``kind`` is "float", "int", "choice" or "path"; ``default=None`` on an int means "no limit"
    (written ``none`` in a spec). ``role`` says what the parameter is to the rest of maskviz:

    * :data:`AMOUNT`: how much the pattern hides (a fraction in [0, 1]); what sweeps, Compare's
      same-count masks and the loss curve vary;
    * :data:`CELL`: the size of the pattern's unit, which a model is trained with and is shown with
      by default (:func:`trained_mask_defaults`).

    ``auto(grid, patch_size)``, when set, is the default that depends on the model (``None`` in a spec).
    """

    name: str
    kind: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""
    role: str = ""
    auto: Callable[[Grid, int], Any] | None = field(default=None, compare=False)

    def default_for(self, grid: Grid, patch_size: int) -> Any:
        """The value used when a spec leaves this parameter out, for a model with this grid."""
        return self.auto(grid, patch_size) if self.auto is not None else self.default


AMOUNT = "amount"  # role: how much a pattern hides
CELL = "cell"  # role: the size of a pattern's unit, carried by a model's training recipe

#: Whole-number parameters are sizes and offsets on a patch grid: beyond this they mean nothing and
#: would overflow numpy's integers.
MAX_INT_PARAM = 2**31 - 1

SEED_PARAM = PatternParam("seed", "int", None, min=0, help="random seed (overrides the caller's)")


@dataclass(frozen=True)
class MaskPattern:
    """A named generator plus its spec parameters (positional order = ``params`` order).

    ``seeded`` patterns accept ``seed=N``; ``patch_arg`` names the generator keyword that receives
    the model's patch size; ``raw_arg`` makes everything after ``name:`` a single argument.
    """

    name: str
    func: Callable[..., np.ndarray]
    params: tuple[PatternParam, ...]
    description: str
    seeded: bool = False
    patch_arg: str | None = None
    raw_arg: bool = False

    def param(self, key: str) -> PatternParam | None:
        if key == "seed" and self.seeded:
            return SEED_PARAM
        return next((p for p in self.params if p.name == key), None)

    def with_role(self, role: str) -> PatternParam | None:
        """The parameter that plays ``role`` (:data:`AMOUNT`, :data:`CELL`), if the pattern has one."""
        return next((p for p in self.params if p.role == role), None)

    @property
    def amount_param(self) -> PatternParam | None:
        """The parameter that sets how much the pattern hides (None for fixed patterns like ``grid``)."""
        return self.with_role(AMOUNT)

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names in positional order (what ``NAME:A,B`` binds to)."""
        return tuple(p.name for p in self.params)

    @property
    def keywords(self) -> tuple[str, ...]:
        """Every name accepted as ``key=value`` (``seed`` last when seeded)."""
        return self.param_names + (("seed",) if self.seeded else ())


def _grid_pattern(grid: Grid, step: int = 2, row_offset: int = 0, col_offset: int = 0) -> np.ndarray:
    return grid_mask(grid, step, (row_offset, col_offset))


def _file_pattern(grid: Grid, path: str, patch_size: int = 16) -> np.ndarray:
    return load_mask_png(path, grid, patch_size)


def _ratio(default: float) -> PatternParam:
    return PatternParam("ratio", "float", default, 0.0, 1.0, help="fraction of patches hidden", role=AMOUNT)


def _int(name: str, default: int | None, lo: int, hi: int | None = None, help: str = "") -> PatternParam:
    return PatternParam(name, "int", default, lo, hi, help=help)


MASK_PATTERNS: dict[str, MaskPattern] = {p.name: p for p in (
    MaskPattern("random", random_mask, (_ratio(0.75),), "MAE random masking", seeded=True),
    MaskPattern("block", block_mask, (
        _ratio(0.5), _int("min_block", 4, 1, help="smallest block, in patches"),
        _int("max_block", None, 1, help="largest block, in patches (none = no limit)"),
        PatternParam("min_aspect", "float", 0.3, 0.01, 1.0, help="most elongated block shape")),
        "BEiT block-wise masking", seeded=True),
    MaskPattern("simmim", simmim_mask, (
        _ratio(0.6), PatternParam("mask_patch", "int", None, 1, help="masked square side, in pixels "
                                  "(auto: 32, or smaller to make at least 16 cells)", role=CELL,
                                  auto=default_mask_patch)),
        "SimMIM coarse random masking", seeded=True, patch_arg="model_patch"),
    MaskPattern("grid", _grid_pattern, (
        _int("step", 2, 1, help="keep one patch per step×step block"),
        _int("row_offset", 0, 0), _int("col_offset", 0, 0)),
        "MAE grid-wise sampling (keep one patch per block)"),
    MaskPattern("center", center_mask, (
        PatternParam("fraction", "float", 0.25, 0.0, 1.0, help="fraction of patches hidden", role=AMOUNT),),
        "centred rectangle"),
    MaskPattern("border", border_mask, (_int("width", 1, 0, help="frame width, in patches"),),
                "frame around the edge"),
    MaskPattern("stripes", stripes_mask, (
        PatternParam("orientation", "choice", "h", choices=("h", "v"), help="h = rows, v = columns"),
        _int("period", 2, 1), _int("width", 1, 0), _int("offset", 0, 0)),
        "hide width of every period rows or columns"),
    MaskPattern("checkerboard", checkerboard_mask, (
        _int("cell", 1, 1, help="square side, in patches"), _int("phase", 0, 0, 1)),
        "alternating squares"),
    MaskPattern("half", half_mask, (PatternParam("side", "choice", "left", choices=HALF_SIDES),),
                "hide one half"),
    MaskPattern("file", _file_pattern, (PatternParam("path", "path", help="mask PNG"),),
                "mask read from a PNG (non-zero = hidden)", patch_arg="patch_size", raw_arg=True),
    MaskPattern("none", empty_mask, (), "nothing hidden"),
    MaskPattern("all", full_mask, (), "everything hidden"),
)}


def _valid_patterns() -> str:
    return ", ".join(MASK_PATTERNS)


# ---------------------------------------------------------------------------- value conversion


def _parse_number(param: PatternParam, value: Any, where: str) -> float | int | None:
    if param.kind == "int" and param.default is None and str(value).strip().lower() == "none":
        return None
    conv = int if param.kind == "int" else float
    try:
        number = conv(value) if not isinstance(value, str) else conv(value.strip())
    except (TypeError, ValueError):
        kind = "a whole number" if param.kind == "int" else "a number"
        raise MaskError(f"Bad value {value!r} for {param.name} in {where}: expected {kind}.") from None
    if isinstance(value, float) and param.kind == "int" and number != value:
        raise MaskError(f"Bad value {value!r} for {param.name} in {where}: expected a whole number.")
    if not math.isfinite(number):
        raise MaskError(f"Bad value {value!r} for {param.name} in {where}: expected a finite number.")
    if param.kind == "int" and abs(number) > MAX_INT_PARAM:
        raise MaskError(f"{param.name} in {where} is too large: {number:g} (at most {MAX_INT_PARAM:,}).")
    return number


def _check_param_range(param: PatternParam, number: float, where: str) -> None:
    lo, hi = param.min, param.max
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        bound = (f"between {lo:g} and {hi:g}" if lo is not None and hi is not None
                 else f"at least {lo:g}" if lo is not None else f"at most {hi:g}")
        raise MaskError(f"{param.name} in {where} must be {bound}, got {number:g}.")


def convert_param(param: PatternParam, value: Any, where: str = "mask spec") -> Any:
    """Convert a spec string (or a value) to the parameter's type, checking its range/choices."""
    if param.kind == "choice":
        text = str(value).strip().lower()
        if text not in param.choices:
            raise MaskError(f"Bad value {value!r} for {param.name} in {where}: "
                            f"expected one of {', '.join(param.choices)}.")
        return text
    if param.kind == "path":
        text = str(value).strip()
        if not text:
            raise MaskError(f"Missing file path in {where}.")
        return text
    number = _parse_number(param, value, where)
    if number is not None:
        _check_param_range(param, number, where)
    return number


def _format_value(value: Any) -> str:
    if value is None:
        return "none"
    return repr(value) if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------- mask specs


@dataclass(frozen=True)
class MaskSpec:
    """A parsed mask spec; values are already converted, so equal specs make equal masks.

    ``kwargs`` is kept in the pattern's parameter order (``seed`` last), which makes ``str(spec)``
    canonical: ``parse_mask_spec(str(spec)) == spec``. ``raw`` (the text as typed) is not compared.
    """

    name: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    invert: bool = False
    raw: str = field(default="", compare=False)

    @property
    def pattern(self) -> MaskPattern:
        return _lookup(self.name)

    @property
    def params(self) -> dict[str, Any]:
        """The arguments by parameter name (positional ones named), without defaults."""
        return dict(zip(self.pattern.param_names, self.args, strict=False)) | dict(self.kwargs)

    @property
    def amount(self) -> float | None:
        """How much the spec asks to hide (its amount parameter, or that parameter's default);
        None for patterns without one. ``~`` specs hide the complement of this."""
        param = self.pattern.amount_param
        if param is None:
            return None
        value = self.params.get(param.name, param.default)
        return None if value is None else float(value)

    def with_amount(self, amount: float) -> MaskSpec:
        """This spec hiding ``amount`` (its amount parameter set); MaskError for fixed patterns."""
        param = self.pattern.amount_param
        if param is None:
            raise MaskError(f"{self.name} masks have no amount to set; patterns with one: "
                            f"{', '.join(n for n, p in MASK_PATTERNS.items() if p.amount_param)}.")
        return self.with_params(**{param.name: float(amount)})

    def without_amount(self) -> MaskSpec:
        """The pattern family: this spec with its amount parameter left out (to be set per point)."""
        param = self.pattern.amount_param
        kept = tuple((k, v) for k, v in self.params.items() if param is None or k != param.name)
        order = self.pattern.keywords
        return MaskSpec(self.name, (), tuple(sorted(kept, key=lambda kv: order.index(kv[0]))), self.invert)

    def with_params(self, **changes: Any) -> MaskSpec:
        """This spec with some parameters set (converted and checked), all given by keyword."""
        pattern = self.pattern
        merged = self.params | changes
        where = f"{self.name} spec"
        bound = {k: convert_param(pattern.param(k) or _unknown(pattern, k), v, where) for k, v in merged.items()}
        order = pattern.keywords
        return MaskSpec(self.name, (), tuple(sorted(bound.items(), key=lambda kv: order.index(kv[0]))), self.invert)

    def __str__(self) -> str:
        prefix = "~" if self.invert else ""
        if self.pattern.raw_arg:
            return f"{prefix}{self.name}:{self.args[0]}" if self.args else prefix + self.name
        parts = [_format_value(v) for v in self.args]
        parts += [f"{k}={_format_value(v)}" for k, v in self.kwargs]
        return prefix + self.name + (":" + ",".join(parts) if parts else "")

    def generate(self, grid: Grid, patch_size: int, img_size: int | Grid | None = None,
                 seed: int | None = None, defaults: Mapping[str, Mapping[str, Any]] | None = None) -> np.ndarray:
        """Make the mask for a model with this patch grid; a spec ``seed=`` beats ``seed``.

        ``img_size`` is optional and only cross-checked against ``grid × patch_size``. ``defaults``
        (pattern name → parameter → value, e.g. a model's :func:`trained_mask_defaults`) fills
        parameters the spec leaves out.
        """
        gh, gw = _check_grid(grid)
        _check_img_size(img_size, (gh, gw), patch_size)
        pattern = self.pattern
        kwargs = dict((defaults or {}).get(self.name, {})) | _bind(pattern, self.args, self.kwargs, str(self))
        if pattern.seeded:
            kwargs["seed"] = kwargs["seed"] if kwargs.get("seed") is not None else seed
        if pattern.patch_arg:
            kwargs[pattern.patch_arg] = int(patch_size)
        mask = pattern.func((gh, gw), **kwargs)
        return ~mask if self.invert else mask


def _check_img_size(img_size: int | Grid | None, grid: Grid, patch_size: int) -> None:
    if img_size is None:
        return
    size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    expected = (grid[0] * patch_size, grid[1] * patch_size)
    if size != expected:
        raise ValueError(f"img_size {img_size} does not match grid {grid} × patch {patch_size}.")


def _unknown(pattern: MaskPattern, key: str) -> PatternParam:
    raise MaskError(f"Mask pattern {pattern.name!r} has no parameter {key!r}; valid: {', '.join(pattern.keywords)}.")


def _lookup(name: str) -> MaskPattern:
    try:
        return MASK_PATTERNS[name]
    except KeyError:
        raise MaskError(f"Unknown mask pattern {name!r}; valid patterns: {_valid_patterns()}.") from None


def _bind(pattern: MaskPattern, args: tuple, kwargs: tuple, where: str) -> dict[str, Any]:
    """Name and convert every argument; reject extras, unknowns and duplicates."""
    n = len(pattern.params)
    if len(args) > n:
        takes = (f"at most {n} positional argument{'s' * (n > 1)} ({', '.join(pattern.param_names)})"
                 if n else "no arguments")
        raise MaskError(f"Mask pattern {pattern.name!r} takes {takes}, got {len(args)} in {where!r}.")
    bound = {p.name: convert_param(p, v, repr(where)) for p, v in zip(pattern.params, args, strict=False)}
    for key, value in kwargs:
        param = pattern.param(key)
        if param is None:
            valid = ", ".join(pattern.keywords) or "none"
            raise MaskError(f"Unknown parameter {key!r} for mask pattern {pattern.name!r} in "
                            f"{where!r}; valid parameters: {valid}.")
        if key in bound:
            raise MaskError(f"Parameter {key!r} is given twice in mask spec {where!r}.")
        bound[key] = convert_param(param, value, repr(where))
    return bound


def _split_args(tokens: list[str], where: str) -> tuple[list[str], list[tuple[str, str]]]:
    args: list[str] = []
    kwargs: list[tuple[str, str]] = []
    for token in tokens:
        key, eq, value = (t.strip() for t in token.partition("="))
        if not token.strip() or (eq and not (key and value)):
            raise MaskError(f"Empty or incomplete argument in mask spec {where!r}.")
        if eq:
            kwargs.append((key.lower(), value))
        elif kwargs:
            raise MaskError(f"Positional argument {token.strip()!r} follows a keyword argument "
                            f"in mask spec {where!r}.")
        else:
            args.append(token.strip())
    return args, kwargs


def parse_mask_spec(spec: str) -> MaskSpec:
    """Parse ``[~]NAME[:ARG[,ARG...]]`` (args positional or ``key=value``) into a :class:`MaskSpec`.

    Every argument is converted and range-checked here, so a bad spec fails before any model runs.
    """
    if not isinstance(spec, str):
        raise MaskError(f"A mask spec is text such as 'random:0.75', got {type(spec).__name__}.")
    text = spec.strip()
    invert = text.startswith("~")
    name, sep, rest = text[1:].strip().partition(":") if invert else text.partition(":")
    name = name.strip().lower()
    if not name:
        raise MaskError(f"Empty mask spec; valid patterns: {_valid_patterns()}.")
    pattern = _lookup(name)
    if pattern.raw_arg:
        args, kwargs = [rest], []
    else:
        args, kwargs = _split_args(rest.split(",") if sep else [], text)
    bound = _bind(pattern, tuple(args), tuple(kwargs), text)
    positional = tuple(bound.pop(p.name) for p in pattern.params[:len(args)])
    order = pattern.keywords
    named = tuple(sorted(bound.items(), key=lambda kv: order.index(kv[0])))
    return MaskSpec(name, positional, named, invert, raw=spec)


def make_mask(spec: str | MaskSpec, grid: Grid, patch_size: int, seed: int | None = None,
              defaults: Mapping[str, Mapping[str, Any]] | None = None) -> np.ndarray:
    """Parse (if needed) and generate in one call: the entry point for CLI and scripts."""
    parsed = spec if isinstance(spec, MaskSpec) else parse_mask_spec(spec)
    return parsed.generate(grid, patch_size, seed=seed, defaults=defaults)


def trained_mask_defaults(mask_text: str | None) -> dict[str, dict[str, Any]]:
    """Pattern defaults a model was trained with, from its recipe's ``--mask`` text (``a|b|c``).

    Only :data:`CELL` parameters are taken (the size of the pattern's unit, not its amount):
    ``simmim:0.6,mask_patch=16`` in the recipe makes ``simmim`` default to 16 px cells.
    """
    defaults: dict[str, dict[str, Any]] = {}
    for part in (mask_text or "").split("|"):
        try:
            spec = parse_mask_spec(part)
        except MaskError:
            continue
        for param in spec.pattern.params:
            if param.role == CELL and spec.params.get(param.name) is not None:
                defaults.setdefault(spec.name, {})[param.name] = spec.params[param.name]
    return defaults
