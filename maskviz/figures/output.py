"""Turning a :class:`~maskviz.figures.sheet.Sheet` into an image or the bytes of a PNG, SVG or PDF file.

One figure is built at a time (matplotlib's settings are global), in maskviz's style whatever the
user's matplotlibrc says; the same sheet gives the same bytes.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from maskviz.figures.canvas import Canvas, draw_bar, draw_legend, draw_panel, draw_plot
from maskviz.figures.layout import Planner
from maskviz.figures.sheet import Block, ColorBar, FigureError, Heat, Panel, Plot, Row, Sheet, as_rgb
from maskviz.figures.style import DPI, style

#: What each output suffix writes; a path without a suffix (a FIFO, /dev/stdout) gets PNG.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
_LOCK = threading.Lock()  # matplotlib's settings are global: one figure is built at a time


def draw_sheet(sheet: Sheet) -> Canvas:
    """The sheet on a matplotlib figure (call inside ``_LOCK`` and :func:`~maskviz.figures.style.style`)."""
    layout = Planner(sheet).plan()
    canvas = Canvas(layout.width, layout.height)
    for s, role, x, y, align in layout.texts:
        canvas.text(s, role, x, y, align)
    for box in layout.boxes:
        block = box.block
        title, caption = getattr(block, "title", ""), getattr(block, "caption", "")
        if title:
            centre = box.x + (box.pad[0] + block.width // 2 if isinstance(block, Plot) else box.picture // 2)
            canvas.text(title, "label", centre, box.title_y, "center")
        if isinstance(block, Panel):
            draw_panel(canvas, block, box.x, box.y, box.picture, box.height)
        elif isinstance(block, ColorBar):
            draw_bar(canvas, box.x, box.y, box.height, block)
        elif isinstance(block, Plot):
            draw_plot(canvas, box.x + box.pad[0], box.y + box.pad[1], block)
        else:
            draw_legend(canvas, box.x, box.y, block)
        if caption:
            canvas.text(caption, "caption", box.x, box.caption_y)
    return canvas


def to_image(sheet: Sheet) -> Image.Image:
    """The sheet as an RGB image: what a PNG of it holds, pixel for pixel."""
    with _LOCK, style():
        canvas = draw_sheet(sheet)
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
        canvas = draw_sheet(sheet)
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
