"""Drawing the blocks with matplotlib (imported here, when a figure is drawn), addressed in whole pixels.

Pictures are matplotlib images on the figure itself (no axes: cheaper, and exactly placed in SVG and
PDF too); colour bars, plots and legends are matplotlib's own. :func:`bar_pad`, :func:`plot_pad` and
:func:`legend_size` measure what they draw around their box, for the layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from maskviz.figures.sheet import ColorBar, Legend, Marker, Panel, Plot, bar_of, fit_width, panel_pixels
from maskviz.figures.style import BACKGROUND, DPI, FONT_PX, PALETTE, TEXT, line_height, pt, rgb01

BAR_GAP, BAR_WIDTH = 8, 14


class Canvas:
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
            self.figure.text(x / self.width, 1 - (y + i * line_height(role)) / self.height, line,
                             fontsize=pt(FONT_PX[role]), ha=align, va="top", color=rgb01(TEXT), parse_math=False)


def draw_panel(canvas: Canvas, panel: Panel, x: int, y: int, width: int, height: int) -> None:
    """A panel's picture ``width`` × ``height`` at ``(x, y)``, its markers, and its own colour bar to the right."""
    pixels = panel_pixels(panel)
    if pixels is None:
        return
    canvas.picture(fit_width(pixels, width, panel.grid), x, y)
    sh, sw = pixels.shape[:2]
    to_figure = canvas.pixels(x, y, width / sw, height / sh)
    for m in panel.markers:
        _draw_marker(canvas, m, to_figure, canvas.clip(x, y, width, height))
    if panel.colorbar and panel.heat is not None:
        draw_bar(canvas, x + width + BAR_GAP, y, height, bar_of(panel.heat))


def _draw_marker(canvas: Canvas, m: Marker, to_figure: Any, clip: Any) -> None:
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


def draw_bar(canvas: Canvas, x: int, y: int, height: int, bar: ColorBar) -> Any:
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


def draw_plot(canvas: Canvas, x: float, y: float, plot: Plot) -> Any:
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


def draw_legend(canvas: Canvas, x: float, y: float, legend: Legend) -> Any:
    artist = canvas.figure.legend(
        handles=_legend_handles(legend), labels=[s.label for s in legend.series], loc="upper left",
        bbox_to_anchor=(x / canvas.width, 1 - y / canvas.height), frameon=False, ncols=max(1, legend.columns),
        borderaxespad=0, borderpad=0, fontsize=pt(FONT_PX["caption"]), handlelength=2.2, columnspacing=1.6,
    )
    for text in artist.get_texts():
        text.set_parse_math(False)
    return artist


# ------------------------------------------------------------------- measuring what matplotlib draws


def _measure(draw: Callable[[Canvas, float, float], Any], inner: tuple[int, int]) -> tuple[int, int, int, int]:
    """Pixels that ``draw`` puts (left, top, right, bottom) of its ``inner`` box, drawn at a known place."""
    margin = 400
    canvas = Canvas(inner[0] + 2 * margin, inner[1] + 2 * margin)
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


def bar_pad(bar: ColorBar, height: int) -> tuple[int, int, int, int]:
    key = ("bar", bar.vmin, bar.vmax, bar.unit, height)
    return _cached(key, lambda: _measure(lambda c, x, y: draw_bar(c, x, y, height, bar).ax, (BAR_WIDTH, height)))


def plot_pad(plot: Plot) -> tuple[int, int, int, int]:
    return _measure(lambda c, x, y: draw_plot(c, x, y, plot), (plot.width, plot.height))


def legend_size(legend: Legend) -> tuple[int, int]:
    left, top, right, bottom = _measure(lambda c, x, y: draw_legend(c, x, y, legend), (0, 0))
    return right + 2, bottom + 2
