"""The one renderer of every figure maskviz writes: CLI panels, GUI exports, comparison grids, sweeps.

Pure numpy + Pillow (no matplotlib, no Qt) so the core stays light. A :class:`Figure` is rows of
reconstructions (one cell per model) whose titles name the model, image, mask spec and seed; the
error column shows the hidden patches on **one colour scale for the whole figure** (visible patches
dimmed unless ``show_all``), so darker means smaller error in every row and every model. Per-pixel
maps use squared error; per-patch maps use each family's own loss, one scale per loss unit. Small
model inputs are enlarged with nearest-neighbour sampling: patches stay crisp squares, which is what
one needs to see to judge a masked-patch reconstruction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from maskviz.images import to_uint8

# Anchors sampled every 1/16 from the CC0 matplotlib colour maps (van der Walt, Smith, Firing);
# linear interpolation between them stays within ~6/255 of the originals.
# fmt: off
_ANCHORS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "inferno": (
        (0, 0, 4), (11, 7, 36), (33, 12, 74), (61, 9, 101), (87, 16, 110), (113, 25, 110),
        (138, 34, 106), (163, 44, 97), (188, 55, 84), (208, 69, 69), (227, 89, 51), (241, 113, 31),
        (249, 140, 10), (252, 170, 15), (249, 201, 50), (242, 232, 101), (252, 255, 164),
    ),
    "magma": (
        (0, 0, 4), (10, 8, 34), (29, 17, 71), (54, 16, 107), (81, 18, 124), (106, 28, 129),
        (131, 38, 129), (156, 46, 127), (183, 55, 121), (207, 64, 112), (229, 80, 100), (244, 105, 92),
        (251, 135, 97), (254, 165, 113), (254, 194, 135), (253, 224, 161), (252, 253, 191),
    ),
    "viridis": (
        (68, 1, 84), (72, 24, 106), (71, 45, 123), (66, 64, 134), (59, 82, 139), (51, 99, 141),
        (44, 114, 142), (38, 130, 142), (33, 145, 140), (31, 159, 136), (39, 173, 129), (61, 188, 116),
        (92, 200, 99), (129, 211, 77), (170, 220, 50), (213, 226, 26), (253, 231, 37),
    ),
}
# fmt: on

#: Names accepted by :func:`colormap` (for CLI/GUI choices).
COLORMAPS: tuple[str, ...] = tuple(_ANCHORS)
#: Where a value is NaN: a light neutral grey that reads as "no data" on the white page.
NAN_COLOR = (190, 190, 190)
#: Auto scale enlarges panels until they are at least this wide.
MIN_PANEL_WIDTH = 192

_BACKGROUND = (255, 255, 255)
_TEXT = (30, 30, 30)
_PAD, _GAP, _TITLE_GAP, _FOOTER_GAP = 12, 16, 6, 10
_BAR_GAP, _BAR_WIDTH, _TICK = 8, 14, 4
_TITLE_SIZE, _LABEL_SIZE, _FOOTER_SIZE = 15, 12, 13
_GRID_ALPHA = 0.45  # how far grid lines move pixels toward white: visible but not hiding content


# ----------------------------------------------------------------------------------------- colour map


def colormap(values: np.ndarray, vmin: float, vmax: float, name: str = "inferno") -> np.ndarray:
    """Map ``values`` (any shape) to uint8 RGB ``(*values.shape, 3)``; clipped to ``[vmin, vmax]``.

    NaN becomes :data:`NAN_COLOR`. With ``vmax <= vmin`` values above ``vmin`` get the top colour.
    """
    if name not in _ANCHORS:
        raise ValueError(f"unknown colour map {name!r}; choose one of {', '.join(COLORMAPS)}")
    anchors = np.asarray(_ANCHORS[name], dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    nan = np.isnan(v)
    with np.errstate(invalid="ignore"):
        t = (v - vmin) / (vmax - vmin) if vmax > vmin else (v > vmin).astype(np.float64)
    pos = np.clip(np.nan_to_num(t, nan=0.0), 0.0, 1.0) * (len(anchors) - 1)
    i = np.minimum(pos.astype(np.intp), len(anchors) - 2)
    frac = (pos - i)[..., None]
    rgb = np.rint(anchors[i] * (1 - frac) + anchors[i + 1] * frac).astype(np.uint8)
    rgb[nan] = NAN_COLOR
    return rgb


# -------------------------------------------------------------------------------------------- panel


def render_panel(
    panels: Sequence[tuple[str, np.ndarray]],
    heatmap: tuple[str, np.ndarray, float, float] | None = None,
    footer: str = "",
    scale: int | None = None,
    grid: int | None = None,
    cmap: str = "inferno",
) -> Image.Image:
    """Titled images side by side, then an optional error heatmap with a colour bar, then a footer.

    ``panels`` are ``(title, HxWx3 array)`` with floats in 0..1 or uint8; ``heatmap`` is
    ``(title, HxW values, vmin, vmax)``. ``scale`` is the integer nearest-neighbour enlargement
    (default: enough for :data:`MIN_PANEL_WIDTH`); ``grid`` draws patch lines every ``grid``
    source pixels.
    """
    tiles = [(title, _as_rgb(arr)) for title, arr in panels]
    if heatmap is not None:
        tiles.append((heatmap[0], colormap(heatmap[1], heatmap[2], heatmap[3], cmap)))
    if not tiles:
        raise ValueError("nothing to render: no panels and no heatmap")
    k = scale if scale is not None else _auto_scale([t.shape[1] for _, t in tiles])
    if k < 1:
        raise ValueError(f"scale must be a positive integer, got {k}")
    blocks = [(title, _tile_image(arr, k, grid)) for title, arr in tiles]
    spans = [b.width for _, b in blocks]  # titles centre over the image, not over the colour bar
    if heatmap is not None:
        title, tile = blocks[-1]
        blocks[-1] = (title, _with_colorbar(tile, heatmap[2], heatmap[3], cmap))
    return _compose(blocks, spans, footer)


def _as_rgb(arr: np.ndarray) -> np.ndarray:
    """HxW / HxWx1 / HxWx3 / HxWx4 (float 0..1 or uint8) → HxWx3 uint8."""
    a = to_uint8(np.asarray(arr))
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxW or HxWx3 image, got shape {a.shape}")
    return np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a[..., :3]


def _auto_scale(widths: list[int]) -> int:
    """Smallest integer factor that makes the widest panel at least MIN_PANEL_WIDTH."""
    return max(1, math.ceil(MIN_PANEL_WIDTH / max(1, max(widths))))


def _tile_image(arr: np.ndarray, k: int, grid: int | None) -> Image.Image:
    big = np.repeat(np.repeat(arr, k, axis=0), k, axis=1)  # exact NEAREST by an integer factor
    if grid:
        big = _draw_grid(big, grid * k)
    return Image.fromarray(np.ascontiguousarray(big))


def _draw_grid(arr: np.ndarray, step: int) -> np.ndarray:
    """Lighten one pixel row/column at each interior patch boundary."""
    out = arr.astype(np.float32)
    rows, cols = np.arange(step, arr.shape[0], step), np.arange(step, arr.shape[1], step)
    out[rows] += (255 - out[rows]) * _GRID_ALPHA
    out[:, cols] += (255 - out[:, cols]) * _GRID_ALPHA
    return np.rint(out).astype(np.uint8)


def _with_colorbar(tile: Image.Image, vmin: float, vmax: float, cmap: str) -> Image.Image:
    """Heatmap tile + vertical colour bar (max at the top) with min/mid/max tick labels."""
    bar = colorbar(tile.height, vmin, vmax, cmap)
    block = Image.new("RGB", (tile.width + _BAR_GAP + bar.width, tile.height), _BACKGROUND)
    block.paste(tile, (0, 0))
    block.paste(bar, (tile.width + _BAR_GAP, 0))
    return block


def colorbar(height: int, vmin: float, vmax: float, cmap: str = "inferno") -> Image.Image:
    """A vertical colour bar ``height`` px tall (max at the top) with min/mid/max tick labels."""
    font = _font(_LABEL_SIZE)
    h = height
    ticks = [(0, vmax), ((h - 1) / 2, (vmin + vmax) / 2), (h - 1, vmin)]
    labels = [f"{v:.3g}" for _, v in ticks]
    label_x = _BAR_WIDTH + _TICK + 3
    block = Image.new("RGB", (label_x + max(_text_width(font, s) for s in labels), h), _BACKGROUND)
    column = colormap(np.linspace(vmax, vmin, h), vmin, vmax, cmap)
    block.paste(Image.fromarray(np.repeat(column[:, None], _BAR_WIDTH, axis=1)), (0, 0))
    draw = ImageDraw.Draw(block)
    draw.rectangle((0, 0, _BAR_WIDTH - 1, h - 1), outline=(120, 120, 120))
    top, bottom = _ink_extent(font)
    for (y, _), text in zip(ticks, labels, strict=True):
        draw.line((_BAR_WIDTH, y, _BAR_WIDTH + _TICK - 1, y), fill=_TEXT)
        ty = min(max(y - (top + bottom) / 2, -top), h - bottom)  # centred on the tick, kept inside
        draw.text((label_x, ty), text, font=font, fill=_TEXT)
    return block


def _compose(blocks: list[tuple[str, Image.Image]], spans: list[int], footer: str) -> Image.Image:
    """Lay titled blocks out in a row on white, with the footer lines underneath."""
    title_font, footer_font = _font(_TITLE_SIZE), _font(_FOOTER_SIZE)
    title_h = _line_height(title_font)
    widths = [max(b.width, _text_width(title_font, t)) for t, b in blocks]
    lines = footer.splitlines() if footer else []
    footer_h = len(lines) * (_line_height(footer_font) + 2)
    body_top = _PAD + title_h + _TITLE_GAP
    body_h = max(b.height for _, b in blocks)
    width = 2 * _PAD + sum(widths) + _GAP * (len(blocks) - 1)
    width = max(width, 2 * _PAD + max((_text_width(footer_font, s) for s in lines), default=0))
    height = body_top + body_h + (_FOOTER_GAP + footer_h if lines else 0) + _PAD
    canvas = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    x = _PAD
    for (title, block), w, span in zip(blocks, widths, spans, strict=True):
        left = x + (w - block.width) // 2
        canvas.paste(block, (left, body_top))
        tw = _text_width(title_font, title)
        tx = min(max(left + (span - tw) / 2, x), x + w - tw)
        draw.text((tx, _PAD), title, font=title_font, fill=_TEXT)
        x += w + _GAP
    y = body_top + body_h + _FOOTER_GAP
    for line in lines:
        draw.text((_PAD, y), line, font=footer_font, fill=_TEXT)
        y += _line_height(footer_font) + 2
    return canvas


# ------------------------------------------------------------------------------------------- figures

#: What a cell can show, and the column titles.
COLUMN_TITLES = {
    "original": "original",
    "masked": "masked input",
    "prediction": "reconstruction",
    "pasted": "reconstruction + visible",
    "error": "error",
}
PANEL_COLUMNS = ("original", "masked", "prediction", "pasted", "error")
GRID_COLUMNS = ("masked", "pasted", "error")
HEAT_MODES = ("pixel", "patch")
PIXEL_UNIT = "squared error per pixel"
MIN_TILE = 128
_DIM = 0.72  # how far visible patches of an error map fade toward the page colour
_GROUP_GAP, _TILE_GAP, _ROW_GAP = 24, 6, 14


@dataclass
class Cell:
    """One reconstruction in a figure and the line(s) printed under it (its metrics)."""

    result: Any  # maskviz.reconstruct.Reconstruction
    caption: str = ""


@dataclass
class FigureRow:
    """A titled row: one cell per column group (None where a model has no result)."""

    title: str
    cells: list[Cell | None]


@dataclass
class Figure:
    """Rows × column groups (usually models) of reconstructions, drawn by :func:`render_figure`.

    ``title`` names what is common to the whole figure (e.g. the image), ``groups`` name the column
    groups (models) and each row's title the rest (mask spec, seed), so every picture is labelled
    with the model, image, mask spec and seed it came from.
    """

    title: str
    groups: list[str]
    rows: list[FigureRow]
    columns: Sequence[str] = PANEL_COLUMNS
    heat: str = "pixel"
    show_all: bool = False
    footer: str = ""
    cmap: str = "inferno"


def nice_ceiling(value: float) -> float:
    """Round up to 1, 2 or 5 × 10^k, so colour-bar ticks read cleanly."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    exp = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * 10**exp:
            return float(step * 10**exp)
    return float(10 ** (exp + 1))


def loss_unit(result: Any) -> str:
    """The unit of a per-patch heatmap: the family's own loss."""
    return f"{result.family} loss per patch ({result.loss_name})"


def error_values(result: Any, heat: str = "pixel") -> np.ndarray:
    """The heatmap of a reconstruction at image resolution: squared error per pixel, or the per-patch loss."""
    if heat not in HEAT_MODES:
        raise ValueError(f"heat must be one of {HEAT_MODES}, got {heat!r}")
    if heat == "pixel":
        return result.error_map
    p = result.original.shape[0] // result.mask.shape[0]
    return np.kron(np.nan_to_num(result.patch_loss, nan=0.0), np.ones((p, p), dtype=np.float32))


def _hidden_pixels(result: Any) -> np.ndarray:
    p = result.original.shape[0] // result.mask.shape[0]
    return np.repeat(np.repeat(result.mask, p, axis=0), p, axis=1)


def error_scales(results: Sequence[Any], heat: str = "pixel", show_all: bool = False) -> dict[str, float]:
    """The top of each colour scale (by unit) shared by ``results``: a rounded 99th percentile of the data.

    Only hidden pixels count unless ``show_all`` (visible ones are dimmed, not measured against).
    """
    samples: dict[str, list[np.ndarray]] = {}
    for r in results:
        values = error_values(r, heat)
        shown = values if show_all or not r.mask.any() else values[_hidden_pixels(r)]
        samples.setdefault(PIXEL_UNIT if heat == "pixel" else loss_unit(r), []).append(shown.reshape(-1))
    return {unit: nice_ceiling(float(np.percentile(np.concatenate(v), 99))) for unit, v in samples.items()}


def error_image(result: Any, vmax: float, heat: str = "pixel", show_all: bool = False,
                cmap: str = "inferno") -> np.ndarray:
    """The error heatmap as RGB uint8: hidden patches in colour, visible ones faded unless ``show_all``."""
    rgb = colormap(error_values(result, heat), 0.0, vmax, cmap)
    if show_all:
        return rgb
    faded = np.rint(rgb * (1 - _DIM) + np.asarray(_BACKGROUND) * _DIM).astype(np.uint8)
    return np.where(_hidden_pixels(result)[..., None], rgb, faded)


def _cell_pictures(cell: Cell, columns: Sequence[str], figure: Figure, scales: dict[str, float]) -> list[np.ndarray]:
    r = cell.result
    out = []
    for name in columns:
        if name == "error":
            unit = PIXEL_UNIT if figure.heat == "pixel" else loss_unit(r)
            out.append(error_image(r, scales[unit], figure.heat, figure.show_all, figure.cmap))
        else:
            out.append(_as_rgb({"original": r.original, "masked": r.masked_input, "prediction": r.prediction,
                                "pasted": r.pasted}[name]))
    return out


def _fit_tile(arr: np.ndarray, size: int) -> Image.Image:
    """Enlarge to ``size`` px: whole-number repeats when possible, else nearest-neighbour resampling."""
    h, w = arr.shape[:2]
    if size % w == 0 and size % h == 0:
        return Image.fromarray(np.ascontiguousarray(np.repeat(np.repeat(arr, size // h, 0), size // w, 1)))
    return Image.fromarray(arr).resize((size, size), Image.Resampling.NEAREST)


def _tile_size(cells: Sequence[Cell]) -> int:
    widest = max(c.result.original.shape[1] for c in cells)
    return widest * math.ceil(MIN_TILE / widest) if widest < MIN_TILE else widest


def render_figure(figure: Figure, tile: int | None = None) -> Image.Image:
    """Draw a :class:`Figure`: title, group and column headers, titled rows with captions, colour bars, footer."""
    cells = [c for row in figure.rows for c in row.cells if c is not None]
    if not cells:
        raise ValueError("nothing to render: the figure has no reconstructions")
    columns = list(figure.columns)
    scales = error_scales([c.result for c in cells], figure.heat, figure.show_all) if "error" in columns else {}
    size = tile or _tile_size(cells)
    layout = _Layout(figure, columns, size, scales)
    return layout.draw(cells)


class _Layout:
    """Positions of everything in a figure, computed once, then drawn."""

    def __init__(self, figure: Figure, columns: list[str], size: int, scales: dict[str, float]) -> None:
        self.figure, self.columns, self.size, self.scales = figure, columns, size, scales
        self.fonts = {"title": _font(_TITLE_SIZE + 1), "group": _font(_TITLE_SIZE), "label": _font(_LABEL_SIZE),
                      "row": _font(_FOOTER_SIZE), "caption": _font(_LABEL_SIZE)}
        n = len(columns)
        self.group_width = n * size + (n - 1) * _TILE_GAP
        groups = max(1, len(figure.groups))
        self.table_width = groups * self.group_width + (groups - 1) * _GROUP_GAP
        self.bars = [(unit, colorbar(size, 0.0, vmax, figure.cmap)) for unit, vmax in scales.items()]

    def _lines(self, text: str) -> list[str]:
        return text.splitlines() if text else []

    def _height(self, key: str, lines: int) -> int:
        return lines * (_line_height(self.fonts[key]) + 4)

    def draw(self, cells: list[Cell]) -> Image.Image:
        f = self.figure
        bar_width = max((max(b.width, _text_width(self.fonts["label"], u)) for u, b in self.bars), default=0)
        footer = self._lines(f.footer)
        width = 2 * _PAD + self.table_width + (_GAP + bar_width if self.bars else 0)
        width = max(width, 2 * _PAD + max((_text_width(self.fonts["row"], s) for s in footer), default=0))
        width = max(width, 2 * _PAD + _text_width(self.fonts["title"], f.title))
        height = self._measure(footer)
        canvas = Image.new("RGB", (width, height), _BACKGROUND)
        draw = ImageDraw.Draw(canvas)
        y = self._draw_headers(draw, _PAD)
        table_top = y
        for row in f.rows:
            y = self._draw_row(canvas, draw, row, y)
        self._draw_bars(canvas, draw, table_top)
        for line in footer:
            draw.text((_PAD, y), line, font=self.fonts["row"], fill=_TEXT)
            y += _line_height(self.fonts["row"]) + 4
        return canvas

    def _row_height(self, row: FigureRow) -> int:
        captions = max((len(self._lines(c.caption)) for c in row.cells if c is not None), default=0)
        return self._height("row", 1) + self.size + 4 + self._height("caption", captions) + _ROW_GAP

    def _measure(self, footer: list[str]) -> int:
        f = self.figure
        h = _PAD + (self._height("title", 1) if f.title else 0)
        h += self._height("group", 1) if any(f.groups) else 0
        h += self._height("label", 1)
        h += sum(self._row_height(r) for r in f.rows)
        bars = len(self.bars) * (self._height("label", 1) + self.size + _ROW_GAP)
        return max(h, h - sum(self._row_height(r) for r in f.rows) + bars) + self._height("row", len(footer)) + _PAD

    def _group_left(self, g: int) -> int:
        return _PAD + g * (self.group_width + _GROUP_GAP)

    def _centred(self, draw: ImageDraw.ImageDraw, text: str, left: int, span: int, y: int, font: Any) -> None:
        tw = _text_width(font, text)
        draw.text((left + max(0, (span - tw) // 2), y), text, font=font, fill=_TEXT)

    def _draw_headers(self, draw: ImageDraw.ImageDraw, y: int) -> int:
        f = self.figure
        if f.title:
            draw.text((_PAD, y), f.title, font=self.fonts["title"], fill=_TEXT)
            y += self._height("title", 1)
        groups = f.groups or [""]
        if any(groups):
            for g, name in enumerate(groups):
                self._centred(draw, name, self._group_left(g), self.group_width, y, self.fonts["group"])
            y += self._height("group", 1)
        for g in range(len(groups)):
            for c, name in enumerate(self.columns):
                left = self._group_left(g) + c * (self.size + _TILE_GAP)
                self._centred(draw, self._column_title(name), left, self.size, y, self.fonts["label"])
        return y + self._height("label", 1)

    def _column_title(self, name: str) -> str:
        if name != "error":
            return COLUMN_TITLES[name]
        return "error per pixel" if self.figure.heat == "pixel" else "loss per patch"

    def _draw_row(self, canvas: Image.Image, draw: ImageDraw.ImageDraw, row: FigureRow, y: int) -> int:
        draw.text((_PAD, y), row.title, font=self.fonts["row"], fill=_TEXT)
        top = y + self._height("row", 1)
        for g, cell in enumerate(row.cells):
            if cell is None:
                continue
            for c, picture in enumerate(_cell_pictures(cell, self.columns, self.figure, self.scales)):
                canvas.paste(_fit_tile(picture, self.size), (self._group_left(g) + c * (self.size + _TILE_GAP), top))
            cy = top + self.size + 4
            for line in self._lines(cell.caption):
                draw.text((self._group_left(g), cy), line, font=self.fonts["caption"], fill=_TEXT)
                cy += _line_height(self.fonts["caption"]) + 4
        return y + self._row_height(row)

    def _draw_bars(self, canvas: Image.Image, draw: ImageDraw.ImageDraw, y: int) -> None:
        x = _PAD + self.table_width + _GAP
        for unit, bar in self.bars:
            draw.text((x, y), unit, font=self.fonts["label"], fill=_TEXT)
            y += self._height("label", 1)
            canvas.paste(bar, (x, y))
            y += self.size + _ROW_GAP


# ------------------------------------------------------------------------------------------ builders


def metrics_caption(result: Any) -> str:
    """The numbers under a cell: the family's loss, PSNR and hidden count."""
    if result.loss is None:
        return f"nothing hidden (0/{result.total_patches})"
    psnr = "inf" if not math.isfinite(result.psnr) else f"{result.psnr:.2f} dB"
    return f"loss {result.loss:.4f} · PSNR {psnr}\nhidden {result.masked_patches}/{result.total_patches}"


def seed_text(seed: int | None) -> str:
    return "" if seed is None else f" · seed {seed}"


def reconstruction_figure(results: Sequence[Any], specs: Sequence[str], model: str, image: str,
                          seeds: Sequence[int | None] | None = None, *, heat: str = "pixel",
                          show_all: bool = False, footer: str = "") -> Figure:
    """One model, one image, one row per mask: the panel of ``maskviz reconstruct --out`` and the GUI export."""
    seeds = list(seeds) if seeds is not None else [None] * len(results)
    rows = [FigureRow(f"mask {spec}{seed_text(seed)}", [Cell(r, metrics_caption(r))])
            for r, spec, seed in zip(results, specs, seeds, strict=True)]
    return Figure(f"{model} on {image}", [""], rows, PANEL_COLUMNS, heat, show_all, footer)


def before_after_figure(base: Any, tuned: Any, labels: Sequence[str], spec: str, image: str,
                        *, heat: str = "pixel") -> Figure:
    """Base model against its fine-tuned result on the same image and mask (the training comparison)."""
    row = FigureRow(f"mask {spec}", [Cell(base, metrics_caption(base)), Cell(tuned, metrics_caption(tuned))])
    return Figure(f"image {image}", list(labels), [row], GRID_COLUMNS, heat)


def grid_figure(table: Any, image: str | None = None, seed: int | None = None, *, heat: str = "pixel",
                show_all: bool = False) -> Figure:
    """The comparison grid of a :class:`maskviz.compare.CompareTable`: strategies × models on one image.

    Rows are the strategies (sweep points left out) at one seed; each cell's caption adds the mean
    ± spread over seeds (one image) or over images (a folder), which the table's summary computes.
    """
    from maskviz.compare import summarize

    shown = [r for r in table.rows if r.result is not None and not r.sweep]
    if not shown:
        raise ValueError("nothing to draw: the comparison kept no pictures (or only sweep points)")
    image = image if image is not None else shown[0].image
    seed = seed if seed is not None else shown[0].seed
    summaries = {(s.model, s.strategy): s for s in summarize([r for r in table.rows if not r.sweep])}
    found = {(r.model, r.strategy): r for r in shown if r.image == image and r.seed == seed}
    rows = []
    for s in table.strategies:
        if s.sweep:
            continue
        cells = [_grid_cell(found.get((m, s.label)), summaries.get((m, s.label))) for m in table.models]
        random = s.seeded or bool(table.same_count)  # a fixed pattern is the same for every seed
        rows.append(FigureRow(f"mask {s.label}{seed_text(seed) if random else ''}", cells))
    count = " · every mask hides the same number of patches" if table.same_count else ""
    footer = "\n".join([*_spread_legend(table), *table.notes])
    return Figure(f"image {image}{count}", list(table.models), rows, GRID_COLUMNS, heat, show_all, footer)


def _grid_cell(row: Any, summary: Any) -> Cell | None:
    if row is None:
        return None
    caption = metrics_caption(row.result)
    if summary is not None and summary.loss.n > 1 and (summary.images > 1 or summary.distinct_masks > 1):
        caption += f"\nmean loss {summary.loss.mean:.4f} ± {_spread(summary.loss, summary.images):.4f}"
    return Cell(row.result, caption)


def _spread(stat: Any, images: int) -> float:
    """Spread shown after ±: the 95 % interval over images (folder), the standard deviation over seeds."""
    return stat.ci95 if images > 1 else stat.std


def _spread_legend(table: Any) -> list[str]:
    if len(table.images) > 1:
        return [f"± = 95 % confidence interval over {len(table.images)} images (each averaged over its seeds)"]
    return [f"± = standard deviation over {len(table.seeds)} seeds"] if len(table.seeds) > 1 else []


# -------------------------------------------------------------------------------------------- sweep plot

PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
            (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
_PLOT_W, _PLOT_H = 420, 280
_AXIS = (90, 90, 90)
_GRIDLINE = (232, 232, 232)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 × 10^k apart) covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        lo, hi = lo - 0.5 * (abs(lo) or 1), hi + 0.5 * (abs(hi) or 1)
    raw = (hi - lo) / max(1, count - 1)
    exp = math.floor(math.log10(raw))
    step = next(s * 10**exp for s in (1, 2, 5, 10) if s * 10**exp >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks = [first]
    while ticks[-1] < hi - 1e-9 * step:
        ticks.append(ticks[-1] + step)
    return [round(t, 12) for t in ticks]


def sweep_image(curves: Sequence[Any], title: str = "", footer: str = "") -> Image.Image:
    """Loss and PSNR against mask ratio, one line per model × strategy, with bands (PIL only).

    ``curves`` are :class:`maskviz.compare.Curve`; bands are ± one standard deviation over seeds
    (one image) or the 95 % confidence interval over images (a folder).
    """
    if not curves:
        raise ValueError("nothing to plot: no sweep curves")
    folder = any(p.images > 1 for c in curves for p in c.points)
    plots = [_plot_panel(curves, "loss", "loss (each model's own, see legend)"),
             _plot_panel(curves, "psnr", "PSNR (dB, hidden pixels)")]
    band = "95 % confidence interval over images" if folder else "± 1 standard deviation over seeds"
    legend = _legend(curves)
    font = _font(_TITLE_SIZE + 1)
    notes = [f"bands: {band}", *footer.splitlines()]
    small = _font(_LABEL_SIZE)
    width = 2 * _PAD + sum(p.width for p in plots) + _GAP
    width = max(width, 2 * _PAD + legend.width, *(2 * _PAD + _text_width(small, n) for n in notes))
    top = _PAD + (_line_height(font) + 8 if title else 0)
    height = top + max(p.height for p in plots) + _GAP + legend.height + len(notes) * (_line_height(small) + 4) + _PAD
    canvas = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((_PAD, _PAD), title, font=font, fill=_TEXT)
    x = _PAD
    for p in plots:
        canvas.paste(p, (x, top))
        x += p.width + _GAP
    y = top + max(p.height for p in plots) + _GAP
    canvas.paste(legend, (_PAD, y))
    y += legend.height
    for note in notes:
        draw.text((_PAD, y), note, font=small, fill=_TEXT)
        y += _line_height(small) + 4
    return canvas


def _curve_values(curve: Any, metric: str) -> list[tuple[float, float, float]]:
    """(fraction hidden, mean, spread) of each finite point of a curve's metric.

    x is what the masks really hid on this model's grid (coarse patterns can hide more or less
    than their nominal ratio), so curves of different patterns line up honestly.
    """
    out = []
    for p in curve.points:
        stat = getattr(p, metric)
        if math.isfinite(stat.mean):
            spread = _spread(stat, p.images)
            out.append((p.hidden_fraction, stat.mean, spread if math.isfinite(spread) else 0.0))
    return out


def _plot_panel(curves: Sequence[Any], metric: str, ylabel: str) -> Image.Image:
    """One set of axes: ratio on x (percent hidden), ``metric`` on y, lines with shaded bands."""
    font = _font(_LABEL_SIZE)
    series = [_curve_values(c, metric) for c in curves]
    xs = [v[0] for s in series for v in s] or [0.0, 1.0]
    ys = [y for s in series for _, m, d in s for y in (m - d, m + d)] or [0.0, 1.0]
    xt, yt = nice_ticks(min(xs), max(xs), 6), nice_ticks(min(ys), max(ys), 5)
    left, top = 12 + max(_text_width(font, _tick(t)) for t in yt), _line_height(font) + 10
    w, h = left + _PLOT_W + 12, top + _PLOT_H + 2 * _line_height(font) + 18
    panel = Image.new("RGBA", (w, h), _BACKGROUND + (255,))
    draw = ImageDraw.Draw(panel)
    draw.text((left, 0), ylabel, font=font, fill=_TEXT)

    def px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - xt[0]) / (xt[-1] - xt[0]) * _PLOT_W,
                top + _PLOT_H - (y - yt[0]) / (yt[-1] - yt[0]) * _PLOT_H)

    _draw_axes(draw, font, xt, yt, px, left, top)
    for i, values in enumerate(series):  # every band first, so no band covers another curve's line
        if len(values) > 1 and any(d > 0 for *_, d in values):
            band = Image.new("RGBA", panel.size, (0, 0, 0, 0))
            outline = [px(x, m + d) for x, m, d in values] + [px(x, m - d) for x, m, d in reversed(values)]
            ImageDraw.Draw(band).polygon(outline, fill=PALETTE[i % len(PALETTE)] + (56,))
            panel.alpha_composite(band)
    draw = ImageDraw.Draw(panel)
    for i, values in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        points = [px(x, m) for x, m, _ in values]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2, joint="curve")
        for x, y in points:
            draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=colour)
    draw.text((left + _PLOT_W / 2 - _text_width(font, "fraction of patches hidden") / 2, top + _PLOT_H + 22),
              "fraction of patches hidden", font=font, fill=_TEXT)
    return panel.convert("RGB")


def _tick(value: float) -> str:
    return f"{value:.4g}"


def _draw_axes(draw: ImageDraw.ImageDraw, font: Any, xt: list[float], yt: list[float], px: Any,
               left: float, top: float) -> None:
    for t in yt:
        _, y = px(xt[0], t)
        draw.line((left, y, left + _PLOT_W, y), fill=_GRIDLINE)
        label = _tick(t)
        draw.text((left - 6 - _text_width(font, label), y - _line_height(font) / 2 - 1), label, font=font, fill=_TEXT)
    for t in xt:
        x, _ = px(t, yt[0])
        draw.line((x, top, x, top + _PLOT_H), fill=_GRIDLINE)
        label = _tick(t)
        draw.text((x - _text_width(font, label) / 2, top + _PLOT_H + 5), label, font=font, fill=_TEXT)
    draw.rectangle((left, top, left + _PLOT_W, top + _PLOT_H), outline=_AXIS)


def _legend(curves: Sequence[Any]) -> Image.Image:
    font = _font(_LABEL_SIZE)
    lines = [f"{c.label}   (loss: {c.loss_name})" for c in curves]
    lh = _line_height(font) + 6
    img = Image.new("RGB", (30 + max(_text_width(font, s) for s in lines), lh * len(lines)), _BACKGROUND)
    draw = ImageDraw.Draw(img)
    for i, text in enumerate(lines):
        colour = PALETTE[i % len(PALETTE)]
        y = i * lh + lh / 2
        draw.line((0, y, 20, y), fill=colour, width=3)
        draw.text((28, i * lh), text, font=font, fill=_TEXT)
    return img


# --------------------------------------------------------------------------------------------- text


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text_width(font: ImageFont.FreeTypeFont | ImageFont.ImageFont, text: str) -> int:
    return math.ceil(font.getlength(text)) if text else 0


def _ink_extent(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> tuple[int, int]:
    """Top and bottom of typical ink below the drawing origin (for vertical placement)."""
    _, top, _, bottom = font.getbbox("Ag0.9")
    return top, bottom


def _line_height(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    return _ink_extent(font)[1]
