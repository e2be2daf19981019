"""The summary PNG the CLI writes, and a colour map the GUI can reuse.

Pure numpy + Pillow (no matplotlib, no Qt) so the core stays light. Small model inputs (32 or 64 px)
are enlarged by whole-number factors with nearest-neighbour sampling: patches stay crisp squares,
which is what one needs to see to judge a masked-patch reconstruction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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
    font = _font(_LABEL_SIZE)
    h = tile.height
    ticks = [(0, vmax), ((h - 1) / 2, (vmin + vmax) / 2), (h - 1, vmin)]
    labels = [f"{v:.3g}" for _, v in ticks]
    bar_x = tile.width + _BAR_GAP
    label_x = bar_x + _BAR_WIDTH + _TICK + 3
    block = Image.new("RGB", (label_x + max(_text_width(font, s) for s in labels), h), _BACKGROUND)
    block.paste(tile, (0, 0))
    column = colormap(np.linspace(vmax, vmin, h), vmin, vmax, cmap)
    block.paste(Image.fromarray(np.repeat(column[:, None], _BAR_WIDTH, axis=1)), (bar_x, 0))
    draw = ImageDraw.Draw(block)
    draw.rectangle((bar_x, 0, bar_x + _BAR_WIDTH - 1, h - 1), outline=(120, 120, 120))
    top, bottom = _ink_extent(font)
    for (y, _), text in zip(ticks, labels, strict=True):
        draw.line((bar_x + _BAR_WIDTH, y, bar_x + _BAR_WIDTH + _TICK - 1, y), fill=_TEXT)
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
