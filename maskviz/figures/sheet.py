"""The renderer's primitives and the one place that draws them with matplotlib (Agg, imported here only).

A :class:`Sheet` is a table of blocks laid out in pixels: a title, optional group and column headers,
rows of blocks (each row with an optional title line above it), shared colour bars to the right,
footer lines. Blocks: :class:`Panel` (a picture at exact pixels, optionally a heatmap with its own
colour bar, markers and patch lines), :class:`ColorBar`, :class:`Plot` (a line plot with named axes)
and :class:`Legend`. Positions are whole pixels, so a picture enlarged by a whole factor is shown
pixel for pixel in the PNG and embedded at that size in an SVG or PDF.
"""

from __future__ import annotations

import io
import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from maskviz.errors import MaskvizError
from maskviz.figures.style import (
    BACKGROUND,
    DIM,
    DPI,
    FONT,
    FONT_PX,
    PALETTE,
    TEXT,
    colormap,
    pt,
    rgb01,
    style,
)
from maskviz.images import to_uint8

#: Auto scale enlarges panels until they are at least this wide.
MIN_PANEL_WIDTH = 192
#: What each output suffix writes; a path without a suffix (a FIFO, /dev/stdout) gets PNG.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

PAD, GAP, GROUP_GAP, ROW_GAP, TITLE_GAP, BAR_GAP, BAR_WIDTH = 12, 16, 24, 14, 4, 8, 14
_GRID_ALPHA = 0.45  # how far patch lines move pixels toward white: visible but not hiding content
_LOCK = threading.Lock()  # matplotlib's settings are global: one figure is built at a time


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


def as_rgb(arr: np.ndarray) -> np.ndarray:
    """HxW / HxWx1 / HxWx3 / HxWx4 (float 0..1 or uint8) → HxWx3 uint8."""
    a = to_uint8(np.asarray(arr))
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxW or HxWx3 image, got shape {a.shape}")
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a[..., :3]


def heat_rgb(heat: Heat, under: np.ndarray | None = None) -> np.ndarray:
    """A heatmap as RGB uint8: coloured, over ``under`` by ``alpha``, ``dim`` pixels faded toward the page."""
    rgb = colormap(heat.values, heat.vmin, heat.vmax, heat.cmap)
    if under is not None and heat.alpha < 1:
        base = as_rgb(under).astype(np.float64)
        rgb = np.rint(base * (1 - heat.alpha) + rgb * heat.alpha).astype(np.uint8)
    if heat.dim is not None:
        dim = _at_resolution(np.asarray(heat.dim, dtype=bool), rgb.shape[:2])
        faded = np.rint(rgb * (1 - DIM) + np.asarray(BACKGROUND) * DIM).astype(np.uint8)
        rgb = np.where(dim[..., None], faded, rgb)
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


def _fit(arr: np.ndarray, width: int, grid: int | None) -> np.ndarray:
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


def _source_shape(panel: Panel) -> tuple[int, int] | None:
    src = panel.heat.values if panel.heat is not None else panel.image
    return None if src is None else tuple(np.shape(src)[:2])


# -------------------------------------------------------------------------------------------- text


class _Text:
    """Text measurement in pixels with the figures' font (matplotlib's own metrics, remembered)."""

    _widths: dict[tuple[str, str], int] = {}

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import RendererAgg
        from matplotlib.font_manager import FontProperties

        self.renderer = RendererAgg(1, 1, DPI)
        self.props = {role: FontProperties(family=FONT, size=pt(px)) for role, px in FONT_PX.items()}

    def width(self, text: str, role: str) -> int:
        return max((self._line_width(s, role) for s in text.splitlines() if s), default=0) if text else 0

    def _line_width(self, line: str, role: str) -> int:
        key = (line, role)
        if key not in self._widths:
            if len(self._widths) > 4096:
                self._widths.clear()
            width = self.renderer.get_text_width_height_descent(line, self.props[role], False)[0]
            self._widths[key] = math.ceil(width)
        return self._widths[key]

    @staticmethod
    def line(role: str) -> int:
        return math.ceil(FONT_PX[role] * 1.3)

    def height(self, text: str, role: str) -> int:
        return len(text.splitlines()) * self.line(role) if text else 0


# ------------------------------------------------------------------------------------------- layout


@dataclass
class _Box:
    block: Block
    x: int  # left of the block's body (picture, bar, axes with their decorations)
    y: int
    width: int  # body width
    height: int  # body height
    picture: int = 0  # a panel's drawn picture width (its own colour bar follows)
    title_y: int = 0
    caption_y: int = 0
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)  # decorations (left, top, right, bottom) of a plot or bar


@dataclass
class _Layout:
    width: int = 0
    height: int = 0
    boxes: list[_Box] = field(default_factory=list)
    texts: list[tuple[str, str, int, int, str]] = field(default_factory=list)  # text, role, x, y, align


class _Planner:
    """Whole-pixel positions of everything on a sheet (measured, then placed).

    Rows of pictures (panels, colour bars) share columns, so grids line up; a row with a plot or a
    legend is laid out on its own, left to right.
    """

    def __init__(self, sheet: Sheet) -> None:
        self.sheet = sheet
        self.text = _Text()
        self.scale = sheet.scale or self._auto_scale()
        self.out = _Layout()
        self.right = PAD  # the rightmost ink so far

    def _auto_scale(self) -> int:
        widths = [s[1] for r in self.sheet.rows for b in r.blocks if isinstance(b, Panel) and b.size is None
                  and (s := _source_shape(b)) is not None]
        return max(1, math.ceil(MIN_PANEL_WIDTH / max(widths))) if widths else 1

    def picture_size(self, panel: Panel) -> tuple[int, int]:
        shape = _source_shape(panel)
        if shape is None:
            if panel.size is None:
                raise ValueError("an empty panel needs a size")
            return panel.size, panel.size
        width = panel.size if panel.size is not None else shape[1] * self.scale
        return width, max(1, round(shape[0] * width / shape[1]))

    def body(self, block: Block, row_height: int) -> tuple[int, int, tuple[int, int, int, int]]:
        """(width, height, decorations) of a block's body; a colour bar is as tall as the row's pictures."""
        if isinstance(block, Panel):
            w, h = self.picture_size(block)
            if block.colorbar and block.heat is not None:
                w += BAR_GAP + BAR_WIDTH + _bar_pad(_bar_of(block.heat), h)[2]
            return w, h, (0, 0, 0, 0)
        if isinstance(block, ColorBar):
            h = block.height or row_height
            pad = _bar_pad(block, h)
            return BAR_WIDTH + pad[2], h, pad
        if isinstance(block, Plot):
            pad = _plot_pad(block)
            return pad[0] + block.width + pad[2], pad[1] + block.height + pad[3], pad
        size = _legend_size(block)
        return size[0], size[1], (0, 0, 0, 0)

    def _text(self, text: str, role: str, x: int, y: int, align: str = "left") -> None:
        self.out.texts.append((text, role, x, y, align))
        width = self.text.width(text, role)
        self.right = max(self.right, x + (width // 2 if align == "center" else width))

    def plan(self) -> _Layout:
        s, t = self.sheet, self.text
        heights = [max((self.picture_size(b)[1] for b in r.blocks if isinstance(b, Panel)), default=128)
                   for r in s.rows]
        bodies = [[self.body(b, h) for b in r.blocks] for r, h in zip(s.rows, heights, strict=True)]
        widths = self._column_widths(bodies)
        lefts = self._lefts(widths)
        y = self._headers(widths, lefts)
        pictures_top = None
        for row, body in zip(s.rows, bodies, strict=True):
            x = lefts if _aligned(row) else self._lefts([max(w, t.width(getattr(b, "title", ""), "label"))
                                                         for b, (w, _, _) in zip(row.blocks, body, strict=True)])
            cols = widths if _aligned(row) else [w for w, _, _ in body]
            y, top = self._row(row, body, x, cols, y)
            pictures_top = top if pictures_top is None else pictures_top
        if lefts:
            self.right = max(self.right, lefts[-1] + widths[-1])
        y = self._side(pictures_top or y, heights[0] if heights else 128, y)
        if s.footer:
            self._text(s.footer, "row", PAD, y)
            y += t.height(s.footer, "row") + ROW_GAP
        self.out.width, self.out.height = self.right + PAD, y - ROW_GAP + PAD
        return self.out

    def _column_widths(self, bodies: list[list[tuple[int, int, Any]]]) -> list[int]:
        s, t = self.sheet, self.text
        aligned = [(r, b) for r, b in zip(s.rows, bodies, strict=True) if _aligned(r)]
        ncols = max((len(r.blocks) for r, _ in aligned), default=0)
        widths = [0] * ncols
        for row, body in aligned:
            for c, (block, (w, _, _)) in enumerate(zip(row.blocks, body, strict=True)):
                widths[c] = max(widths[c], w, t.width(getattr(block, "title", ""), "label"))
        for c, name in enumerate(self._column_names(ncols)):
            widths[c] = max(widths[c], t.width(name, "label"))
        return widths

    def _column_names(self, ncols: int) -> list[str]:
        names = list(self.sheet.columns)
        return names * max(1, ncols // len(names)) if names and len(names) < ncols else names[:ncols]

    def _lefts(self, widths: list[int]) -> list[int]:
        s, x, lefts = self.sheet, PAD, []
        for c, w in enumerate(widths):
            lefts.append(x)
            last_of_group = s.group_size and (c + 1) % s.group_size == 0
            x += w + (GROUP_GAP if last_of_group else s.gap)
        return lefts

    def _headers(self, widths: list[int], lefts: list[int]) -> int:
        """The title, group and column headers; returns the top of the first row."""
        s, t, y = self.sheet, self.text, PAD
        if s.title:
            self._text(s.title, "title", PAD, y)
            y += t.height(s.title, "title") + TITLE_GAP
        if any(s.groups):
            size = s.group_size or len(widths)
            for g, name in enumerate(s.groups):
                last = min(len(widths), (g + 1) * size) - 1
                self._text(name, "header", (lefts[g * size] + lefts[last] + widths[last]) // 2, y, "center")
            y += t.line("header")
        names = self._column_names(len(widths))
        for c, name in enumerate(names):
            self._text(name, "label", lefts[c] + widths[c] // 2, y, "center")
        if names:
            y += t.line("label") + (TITLE_GAP if s.rows and s.rows[0].title else 0)
        return y

    def _row(self, row: Row, body: list[tuple[int, int, Any]], lefts: list[int], widths: list[int],
             y: int) -> tuple[int, int]:
        """Place one row's title and blocks (each centred in its column); returns (next y, top of its bodies)."""
        t = self.text
        if row.title:
            self._text(row.title, "row", PAD, y)
            y += t.line("row")
        title_y = y
        if any(getattr(b, "title", "") for b in row.blocks):
            y += t.line("label")
        height = max((h for _, h, _ in body), default=0)
        captions = max((t.height(getattr(b, "caption", ""), "caption") for b in row.blocks), default=0)
        for block, (w, h, pad), left, width in zip(row.blocks, body, lefts, widths, strict=False):
            x = left + (width - w) // 2
            picture = self.picture_size(block)[0] if isinstance(block, Panel) else w
            self.out.boxes.append(_Box(block, x, y, w, h, picture, title_y, y + height + 3, pad))
            self.right = max(self.right, x + w, x + t.width(getattr(block, "caption", ""), "caption"))
        return y + height + (3 + captions if captions else 0) + ROW_GAP, y

    def _side(self, top: int, height: int, y: int) -> int:
        """The shared colour bars, right of everything, from the top of the first pictures; returns the next y."""
        x = max((b.x + b.width for b in self.out.boxes), default=PAD) + GAP
        for bar in self.sheet.side:
            w, h, pad = self.body(bar, height)
            self.out.boxes.append(_Box(bar, x, top, w, h, w, top, top, pad))
            self.right = max(self.right, x + w)
            top += h + ROW_GAP
        return max(y, top)


def _aligned(row: Row) -> bool:
    """Rows of pictures share columns; a row with a plot or a legend is laid out on its own."""
    return all(isinstance(b, (Panel, ColorBar)) for b in row.blocks)


def _bar_of(heat: Heat) -> ColorBar:
    return ColorBar(heat.vmin, heat.vmax, heat.cmap, heat.unit)


# ------------------------------------------------------------------------------------------ drawing


class _Canvas:
    """A matplotlib figure addressed in whole pixels from the top-left corner."""

    def __init__(self, width: int, height: int) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.width, self.height = width, height
        self.figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor=rgb01(BACKGROUND))
        FigureCanvasAgg(self.figure)

    def axes(self, x: float, y: float, w: float, h: float) -> Any:
        W, H = self.width, self.height
        return self.figure.add_axes((x / W, 1 - (y + h) / H, w / W, h / H))

    def picture(self, rgb: np.ndarray, x: int, y: int) -> None:
        """``rgb`` pixel for pixel with its top-left corner at ``(x, y)`` (no axes: much cheaper than imshow)."""
        from matplotlib.image import BboxImage

        image = BboxImage(self.clip(x, y, rgb.shape[1], rgb.shape[0]), interpolation="nearest", resample=False,
                          origin="upper")
        image.set_data(rgb)
        self.figure.add_artist(image)

    def clip(self, x: float, y: float, w: float, h: float) -> Any:
        """The pixel box ``(x, y, w, h)`` (from the top-left) as a display-space bbox."""
        from matplotlib.transforms import Bbox, TransformedBbox

        W, H = self.width, self.height
        return TransformedBbox(Bbox.from_bounds(x / W, 1 - (y + h) / H, w / W, h / H), self.figure.transFigure)

    def pixels(self, x: float, y: float, sx: float, sy: float) -> Any:
        """A transform from a picture's source pixels (drawn ``sx`` × ``sy`` larger at ``(x, y)``) to figure
        fractions (add ``figure.transFigure`` for the display)."""
        from matplotlib.transforms import Affine2D

        W, H = self.width, self.height
        return Affine2D().scale(sx / W, -sy / H).translate(x / W, 1 - y / H)

    def text(self, s: str, role: str, x: float, y: float, align: str = "left") -> None:
        for i, line in enumerate(s.splitlines()):
            self.figure.text(x / self.width, 1 - (y + i * _Text.line(role)) / self.height, line,
                             fontsize=pt(FONT_PX[role]), ha=align, va="top", color=rgb01(TEXT), parse_math=False)


def _draw_panel(canvas: _Canvas, box: _Box, panel: Panel) -> None:
    pixels = panel_pixels(panel)
    if pixels is None:
        return
    canvas.picture(_fit(pixels, box.picture, panel.grid), box.x, box.y)
    sh, sw = pixels.shape[:2]
    to_figure = canvas.pixels(box.x, box.y, box.picture / sw, box.height / sh)
    for m in panel.markers:
        _draw_marker(canvas, m, to_figure, canvas.clip(box.x, box.y, box.picture, box.height))
    if panel.colorbar and panel.heat is not None:
        _draw_bar(canvas, box.x + box.picture + BAR_GAP, box.y, box.height, _bar_of(panel.heat))


def _draw_marker(canvas: _Canvas, m: Marker, to_figure: Any, clip: Any) -> None:
    """A marker in source-pixel coordinates (``to_figure`` maps them), with a white halo, clipped to its picture."""
    from matplotlib import patheffects
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    halo = [patheffects.withStroke(linewidth=pt(5), foreground="white")]
    if m.width or m.height:
        mark = Rectangle((m.x, m.y), m.width, m.height, fill=False, edgecolor=m.color, linewidth=pt(2.5))
    else:
        mark = Line2D([m.x], [m.y], marker="+", markersize=pt(18), markeredgewidth=pt(3), color=m.color)
    mark.set(transform=to_figure + canvas.figure.transFigure, path_effects=halo, clip_box=clip)
    canvas.figure.add_artist(mark)
    if m.label:
        x, y = to_figure.transform((m.x + m.width, m.y))
        canvas.figure.text(x + 4 / canvas.width, y - 4 / canvas.height, m.label, va="top", color=rgb01(TEXT),
                           fontsize=pt(FONT_PX["caption"]), parse_math=False, clip_box=clip, clip_on=True,
                           bbox={"boxstyle": "round,pad=0.2", "facecolor": m.color, "edgecolor": "none",
                                 "alpha": 0.85})


def _bar_ticks(bar: ColorBar) -> list[float]:
    return [bar.vmin, (bar.vmin + bar.vmax) / 2, bar.vmax]


def _draw_bar(canvas: _Canvas, x: int, y: int, height: int, bar: ColorBar) -> Any:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    cax = canvas.axes(x, y, BAR_WIDTH, height)
    vmax = bar.vmax if bar.vmax > bar.vmin else bar.vmin + 1e-12
    mappable = ScalarMappable(Normalize(bar.vmin, vmax), colormaps[bar.cmap])
    cbar = canvas.figure.colorbar(mappable, cax=cax, ticks=_bar_ticks(bar))
    cbar.ax.set_yticklabels([f"{v:.3g}" for v in _bar_ticks(bar)], fontsize=pt(FONT_PX["tick"]))
    cbar.ax.tick_params(length=pt(4), pad=pt(3))
    cbar.outline.set_edgecolor("#787878")
    cbar.solids.set_rasterized(True)  # one image in SVG/PDF, not 256 rectangles
    if bar.unit:
        cbar.set_label(bar.unit, fontsize=pt(FONT_PX["caption"]), labelpad=pt(4), parse_math=False)
    return cbar


def _draw_plot(canvas: _Canvas, x: float, y: float, plot: Plot) -> Any:
    ax = canvas.axes(x, y, plot.width, plot.height)
    for i, s in enumerate(plot.series):
        colour = rgb01(s.color if s.color is not None else PALETTE[i % len(PALETTE)])
        if s.band is not None and len(s.x) > 1:
            ax.fill_between(s.x, s.band[0], s.band[1], color=colour, alpha=0.22, linewidth=0)
    for i, s in enumerate(plot.series):
        colour = rgb01(s.color if s.color is not None else PALETTE[i % len(PALETTE)])
        ax.plot(s.x, s.y, color=colour, linewidth=pt(2), marker=s.marker, markersize=pt(6), linestyle=s.linestyle)
    if plot.ylog:
        ax.set_yscale("log")
    if plot.xlim:
        ax.set_xlim(*plot.xlim)
    if plot.ylim:
        ax.set_ylim(*plot.ylim)
    ax.set_xlabel(plot.xlabel, fontsize=pt(FONT_PX["caption"]), parse_math=False)
    ax.set_ylabel(plot.ylabel, fontsize=pt(FONT_PX["caption"]), parse_math=False)
    ax.tick_params(labelsize=pt(FONT_PX["tick"]))
    ax.grid(True, color="#e8e8e8", linewidth=pt(1))
    ax.set_axisbelow(True)
    return ax


def _legend_handles(legend: Legend) -> list[Any]:
    from matplotlib.lines import Line2D

    return [Line2D([], [], color=rgb01(s.color if s.color is not None else PALETTE[i % len(PALETTE)]),
                   linewidth=pt(2), marker=s.marker, markersize=pt(6), linestyle=s.linestyle)
            for i, s in enumerate(legend.series)]


def _draw_legend(canvas: _Canvas, x: float, y: float, legend: Legend) -> Any:
    artist = canvas.figure.legend(
        handles=_legend_handles(legend), labels=[s.label for s in legend.series], loc="upper left",
        bbox_to_anchor=(x / canvas.width, 1 - y / canvas.height), frameon=False, ncols=max(1, legend.columns),
        borderaxespad=0, borderpad=0, fontsize=pt(FONT_PX["caption"]), handlelength=2.2, columnspacing=1.6,
    )
    for text in artist.get_texts():
        text.set_parse_math(False)
    return artist


# ------------------------------------------------------------------- measuring what matplotlib draws


def _measure(draw: Callable[[_Canvas, float, float], Any], inner: tuple[int, int]) -> tuple[int, int, int, int]:
    """Pixels that ``draw`` puts (left, top, right, bottom) of its ``inner`` box, drawn at a known place."""
    margin = 400
    canvas = _Canvas(inner[0] + 2 * margin, inner[1] + 2 * margin)
    artist = draw(canvas, margin, margin)
    box = artist.get_tightbbox(canvas.figure.canvas.get_renderer())
    left, right = margin - box.x0, box.x1 - (margin + inner[0])
    top, bottom = box.y1 - (canvas.height - margin), (canvas.height - margin - inner[1]) - box.y0
    return tuple(max(0, math.ceil(v) + 2) for v in (left, top, right, bottom))


_MEASURED: dict[Any, tuple[int, int, int, int]] = {}


def _cached(key: Any, measure: Callable[[], tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    if key not in _MEASURED:
        if len(_MEASURED) > 256:
            _MEASURED.clear()
        _MEASURED[key] = measure()
    return _MEASURED[key]


def _bar_pad(bar: ColorBar, height: int) -> tuple[int, int, int, int]:
    key = ("bar", bar.vmin, bar.vmax, bar.unit, height)
    return _cached(key, lambda: _measure(lambda c, x, y: _draw_bar(c, x, y, height, bar).ax, (BAR_WIDTH, height)))


def _plot_pad(plot: Plot) -> tuple[int, int, int, int]:
    return _measure(lambda c, x, y: _draw_plot(c, x, y, plot), (plot.width, plot.height))


def _legend_size(legend: Legend) -> tuple[int, int]:
    left, top, right, bottom = _measure(lambda c, x, y: _draw_legend(c, x, y, legend), (0, 0))
    return right + 2, bottom + 2


# ------------------------------------------------------------------------------------------- output


def _draw(sheet: Sheet) -> _Canvas:
    layout = _Planner(sheet).plan()
    canvas = _Canvas(layout.width, layout.height)
    for s, role, x, y, align in layout.texts:
        canvas.text(s, role, x, y, align)
    for box in layout.boxes:
        block = box.block
        title, caption = getattr(block, "title", ""), getattr(block, "caption", "")
        if title:
            centre = box.x + (box.pad[0] + block.width // 2 if isinstance(block, Plot) else box.picture // 2)
            canvas.text(title, "label", centre, box.title_y, "center")
        if isinstance(block, Panel):
            _draw_panel(canvas, box, block)
        elif isinstance(block, ColorBar):
            _draw_bar(canvas, box.x, box.y, box.height, block)
        elif isinstance(block, Plot):
            _draw_plot(canvas, box.x + box.pad[0], box.y + box.pad[1], block)
        else:
            _draw_legend(canvas, box.x, box.y, block)
        if caption:
            canvas.text(caption, "caption", box.x, box.caption_y)
    return canvas


def to_image(sheet: Sheet) -> Image.Image:
    """The sheet as an RGB image: what a PNG of it holds, pixel for pixel."""
    with _LOCK, style():
        canvas = _draw(sheet)
        canvas.figure.canvas.draw()
        rgba = np.asarray(canvas.figure.canvas.buffer_rgba())
        return Image.fromarray(np.ascontiguousarray(rgba[..., :3]))


def render(sheet: Sheet, fmt: str = "png") -> bytes:
    """The sheet as the bytes of a ``png``, ``svg`` or ``pdf`` file (the same inputs give the same bytes)."""
    if fmt not in FORMATS.values():
        raise FigureError(f"unknown figure format {fmt!r}; choose one of {', '.join(FORMATS.values())}")
    buffer = io.BytesIO()
    if fmt == "png":
        to_image(sheet).save(buffer, format="PNG")
        return buffer.getvalue()
    with _LOCK, style():
        canvas = _draw(sheet)
        metadata = {"Date": None} if fmt == "svg" else {"CreationDate": None}
        canvas.figure.savefig(buffer, format=fmt, dpi=DPI, metadata={"Title": sheet.title, **metadata})
    return buffer.getvalue()


def figure_format(path: str | os.PathLike) -> str:
    """``png``, ``svg`` or ``pdf`` from the file name's suffix (none: PNG); any other is a :class:`FigureError`."""
    suffix = Path(path).suffix.lower()
    if not suffix:
        return "png"
    if suffix not in FORMATS:
        raise FigureError(f"cannot write a figure as {Path(path).name!r}: "
                          f"the name must end in {', '.join(FORMATS)} (PNG, SVG or PDF)")
    return FORMATS[suffix]


def write_figure(sheet: Sheet, path: str | os.PathLike) -> Path:
    """Draw ``sheet`` and write it as PNG, SVG or PDF by the suffix of ``path``, atomically."""
    from maskviz.fileio import atomic_write

    data = render(sheet, figure_format(path))
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), error=FigureError)


# ------------------------------------------------------------------------------------- the short form


def render_panel(
    panels: Sequence[tuple[str, np.ndarray]],
    heatmap: tuple[str, np.ndarray, float, float] | None = None,
    footer: str = "",
    scale: int | None = None,
    grid: int | None = None,
    cmap: str = "inferno",
) -> Image.Image:
    """Titled images side by side, then an optional error heatmap with its colour bar, then a footer.

    ``panels`` are ``(title, HxWx3 array)`` with floats in 0..1 or uint8; ``heatmap`` is
    ``(title, HxW values, vmin, vmax)``. ``scale`` is the whole-number enlargement (default: enough
    for :data:`MIN_PANEL_WIDTH`); ``grid`` draws patch lines every ``grid`` source pixels.
    """
    return to_image(panel_sheet(panels, heatmap, footer, scale, grid, cmap))


def panel_sheet(
    panels: Sequence[tuple[str, np.ndarray]],
    heatmap: tuple[str, np.ndarray, float, float] | None = None,
    footer: str = "",
    scale: int | None = None,
    grid: int | None = None,
    cmap: str = "inferno",
) -> Sheet:
    """The :class:`Sheet` :func:`render_panel` draws."""
    blocks: list[Block] = [Panel(as_rgb(arr), title=title, grid=grid) for title, arr in panels]
    if heatmap is not None:
        title, values, vmin, vmax = heatmap
        blocks.append(Panel(heat=Heat(np.asarray(values), vmin, vmax, cmap), title=title, grid=grid, colorbar=True))
    if not blocks:
        raise ValueError("nothing to render: no panels and no heatmap")
    if scale is not None and scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    return Sheet([Row(blocks)], footer=footer, scale=scale)
