"""The renderer's primitives: what a figure is made of, and the pixels of its pictures (no matplotlib here).

A :class:`Sheet` is a table of blocks laid out in pixels: a title, optional group and column headers,
rows of blocks (each row with an optional title line above it), shared colour bars to the right,
footer lines. Blocks: :class:`Panel` (a picture at exact pixels, optionally a heatmap with its own
colour bar, markers and patch lines), :class:`ColorBar`, :class:`Plot` (a line plot with named axes)
and :class:`Legend`. :mod:`~maskviz.figures.layout` places them on whole pixels,
:mod:`~maskviz.figures.canvas` draws them with matplotlib, :mod:`~maskviz.figures.output` writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from maskviz.errors import MaskvizError
from maskviz.figures.style import BACKGROUND, DIM, colour_indices, colour_table

#: Auto scale enlarges panels until they are at least this wide.
MIN_PANEL_WIDTH = 192
#: Pixels between the columns of a sheet (a :class:`Sheet` may set its own).
GAP = 16
_GRID_ALPHA = 0.45  # how far patch lines move pixels toward white: visible but not hiding content


class FigureError(MaskvizError):
    """A figure that cannot be drawn or written (unknown format, nothing to draw, a failed write)."""


# ------------------------------------------------------------------------------------------- blocks


@dataclass
class Heat:
    """Values shown through a colour map on ``[vmin, vmax]`` (NaN: grey).

    ``dim`` (bool, at image or patch-grid resolution) marks pixels faded toward the page, e.g. the
    visible patches that no loss scores. Over a :class:`Panel` image, ``alpha`` < 1 lets it show through.
    """

    values: np.ndarray
    vmin: float = 0.0
    vmax: float = 1.0
    cmap: str = "inferno"
    unit: str = ""
    dim: np.ndarray | None = None
    alpha: float = 1.0


@dataclass
class Marker:
    """A mark in source-pixel coordinates: a cross at ``(x, y)``, or a box ``width × height`` from there."""

    x: float
    y: float
    width: float = 0.0
    height: float = 0.0
    label: str = ""
    color: str = "#00e5ff"


@dataclass
class Panel:
    """A titled picture: an image, a heatmap, or a heatmap over an image, at exact pixels.

    ``size`` is the drawn width in pixels (default: the sheet's whole-number enlargement); below
    the source width the picture is reduced with a box filter. ``grid`` draws patch lines every
    ``grid`` source pixels; ``colorbar`` draws the heat's own colour bar to the right; ``caption``
    lines go under the picture. A panel with neither image nor heat keeps its place empty.
    """

    image: np.ndarray | None = None
    heat: Heat | None = None
    title: str = ""
    caption: str = ""
    markers: Sequence[Marker] = ()
    grid: int | None = None
    colorbar: bool = False
    size: int | None = None


@dataclass
class ColorBar:
    """A vertical colour bar (max at the top) with min, middle and max ticks and its unit along it."""

    vmin: float
    vmax: float
    cmap: str = "inferno"
    unit: str = ""
    height: int | None = None  # default: the height of the row's pictures


@dataclass
class Series:
    """One line of a :class:`Plot`: points, an optional ``(lower, upper)`` band, a colour (default: by position)."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    band: tuple[Sequence[float], Sequence[float]] | None = None
    color: tuple[int, int, int] | str | None = None
    marker: str = "o"
    linestyle: str = "-"


@dataclass
class Plot:
    """A line plot with named axes (put the unit in the label); its legend is a separate :class:`Legend`
    block, so it never covers a curve. ``width`` × ``height`` is the axes box in pixels."""

    series: Sequence[Series]
    xlabel: str
    ylabel: str
    title: str = ""
    width: int = 420
    height: int = 280
    xlim: tuple[float, float] | None = None
    ylim: tuple[float, float] | None = None
    ylog: bool = False
    caption: str = ""


@dataclass
class Legend:
    """The key of one or more plots: a line sample and a label per series, in ``columns`` columns."""

    series: Sequence[Series]
    columns: int = 1
    title: str = ""
    caption: str = ""


Block = Panel | ColorBar | Plot | Legend


@dataclass
class Row:
    """One row of blocks; ``title`` is a line above it (e.g. the mask spec and seed)."""

    blocks: list[Block]
    title: str = ""


@dataclass
class Sheet:
    """A whole figure: title, optional group/column headers, rows, shared colour bars, footer.

    ``group_size`` blocks form a group (wider gap between groups), headed by ``groups``; ``columns``
    head each column (given once per group, or for every column). ``side`` colour bars stand right
    of the rows, from the top of the first picture. ``scale`` is the whole-number enlargement of
    panels without a ``size`` (default: enough for :data:`MIN_PANEL_WIDTH`).
    """

    rows: list[Row]
    title: str = ""
    groups: Sequence[str] = ()
    group_size: int = 0
    columns: Sequence[str] = ()
    side: Sequence[ColorBar] = ()
    footer: str = ""
    scale: int | None = None
    gap: int = GAP


# ------------------------------------------------------------------------------------------ pictures


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """0..1 floats → uint8 (clipped, rounded; NaN → 0), as :func:`maskviz.images.to_uint8` does (that module
    imports torch; the figures do not need it)."""
    arr = np.asarray(arr)
    if arr.dtype == np.uint8:
        return arr
    return np.clip(np.rint(np.nan_to_num(arr.astype(np.float64) * 255.0, nan=0.0)), 0, 255).astype(np.uint8)


def as_rgb(arr: np.ndarray) -> np.ndarray:
    """HxW / HxWx1 / HxWx3 / HxWx4 (float 0..1 or uint8) → HxWx3 uint8."""
    a = to_uint8(arr)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxW or HxWx3 image, got shape {a.shape}")
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a[..., :3]


def heat_rgb(heat: Heat, under: np.ndarray | None = None) -> np.ndarray:
    """A heatmap as RGB uint8: coloured, over ``under`` by ``alpha``, ``dim`` pixels faded toward the page."""
    index = colour_indices(heat.values, heat.vmin, heat.vmax, heat.cmap)
    table = colour_table(heat.cmap)
    if under is not None and heat.alpha < 1:
        base = as_rgb(under).astype(np.float64)
        rgb = np.rint(base * (1 - heat.alpha) + np.take(table, index, axis=0) * heat.alpha).astype(np.uint8)
        return rgb if heat.dim is None else _fade(rgb, heat.dim)
    if heat.dim is None:
        return np.take(table, index, axis=0)  # 3× quicker than table[index] for a picture
    # Fading is a function of the colour: fade the table once and pick from both halves (a patch-grid
    # ``dim`` broadcast over its patches, not repeated up to the picture's size).
    dim = np.asarray(heat.dim, dtype=bool)
    (gh, gw), (h, w) = dim.shape, index.shape
    if h % gh or w % gw:
        raise ValueError(f"a {dim.shape} mask does not tile a {index.shape} picture")
    per_patch = index.reshape(gh, h // gh, gw, w // gw)
    np.add(per_patch, len(table), out=per_patch, where=dim[:, None, :, None])
    return np.take(np.concatenate([table, _faded(table)]), index, axis=0)


def _faded(rgb: np.ndarray) -> np.ndarray:
    return np.rint(rgb * (1 - DIM) + np.asarray(BACKGROUND) * DIM).astype(np.uint8)


def _fade(rgb: np.ndarray, dim: np.ndarray) -> np.ndarray:
    dim = _at_resolution(np.asarray(dim, dtype=bool), rgb.shape[:2])
    rgb[dim] = _faded(rgb[dim])
    return rgb


def _at_resolution(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A patch-grid mask repeated up to image resolution (or the image-resolution mask itself)."""
    if mask.shape == shape:
        return mask
    fy, fx = shape[0] // mask.shape[0], shape[1] // mask.shape[1]
    if fy * mask.shape[0] != shape[0] or fx * mask.shape[1] != shape[1]:
        raise ValueError(f"a {mask.shape} mask does not tile a {shape} picture")
    return np.repeat(np.repeat(mask, fy, axis=0), fx, axis=1)


def panel_pixels(panel: Panel) -> np.ndarray | None:
    """What a panel shows at source resolution (RGB uint8), None for an empty panel."""
    if panel.heat is not None:
        return heat_rgb(panel.heat, panel.image)
    return None if panel.image is None else as_rgb(panel.image)


def fit_width(arr: np.ndarray, width: int, grid: int | None) -> np.ndarray:
    """Enlarge to ``width`` px: whole-number repeats when possible, else nearest (or box, when reducing)."""
    h, w = arr.shape[:2]
    height = max(1, round(h * width / w))
    if width % w == 0 and height % h == 0:
        out = np.repeat(np.repeat(arr, height // h, axis=0), width // w, axis=1)
    else:
        method = Image.Resampling.BOX if width < w else Image.Resampling.NEAREST
        out = np.asarray(Image.fromarray(arr).resize((width, height), method))
    if grid:
        out = _draw_grid(out, grid * width / w)
    return np.ascontiguousarray(out)


def _draw_grid(arr: np.ndarray, step: float) -> np.ndarray:
    """Lighten one pixel row/column at each interior patch boundary."""
    out = arr.astype(np.float32)
    rows = np.rint(np.arange(step, arr.shape[0] - 0.5, step)).astype(int)
    cols = np.rint(np.arange(step, arr.shape[1] - 0.5, step)).astype(int)
    out[rows] += (255 - out[rows]) * _GRID_ALPHA
    out[:, cols] += (255 - out[:, cols]) * _GRID_ALPHA
    return np.rint(out).astype(np.uint8)


def source_shape(panel: Panel) -> tuple[int, int] | None:
    src = panel.heat.values if panel.heat is not None else panel.image
    return None if src is None else tuple(np.shape(src)[:2])


def bar_of(heat: Heat) -> ColorBar:
    """The colour bar of a heatmap (its range, map and unit)."""
    return ColorBar(heat.vmin, heat.vmax, heat.cmap, heat.unit)
