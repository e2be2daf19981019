"""Look and vocabulary shared by every figure: sizes, fonts, colours, colour maps, loss units, input titles.

Nothing here imports matplotlib at module level (the GUI and the quick CLI commands import this
package); :func:`colormap` and :func:`style` import it when a figure is drawn.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Pixels per inch of every figure: a PNG pixel is a figure pixel, and SVG/PDF get the same layout
#: at 100 px per inch (a 640 px wide figure is 6.4 in wide, about a paper's text width).
DPI = 100
#: Names accepted by :func:`colormap` (for CLI/GUI choices); matplotlib's perceptually uniform maps.
COLORMAPS: tuple[str, ...] = ("inferno", "magma", "viridis")
#: Where a value is NaN: a light neutral grey that reads as "no data" on the white page.
NAN_COLOR = (190, 190, 190)
#: The page, the text, and how far faded (unscored) heatmap pixels move toward the page.
BACKGROUND = (255, 255, 255)
TEXT = (30, 30, 30)
DIM = 0.72
#: Line colours in order (matplotlib's tab10), as 0-255 RGB: the GUI's curves use the same ones.
PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
#: The one font: DejaVu Sans ships inside matplotlib and has every glyph maskviz writes (– … × ± ∞ ·).
FONT = "DejaVu Sans"
#: Text sizes in pixels (at :data:`DPI`), by role.
FONT_PX = {"title": 16, "header": 15, "label": 13, "row": 13, "caption": 12, "tick": 11}

_RC = {
    "font.family": FONT,
    "font.size": FONT_PX["tick"] * 72 / DPI,
    "text.usetex": False,
    "svg.fonttype": "none",  # SVG keeps its text as text: searchable, editable in a paper's figure
    "svg.hashsalt": "maskviz",  # the same figure gives the same SVG bytes
    "pdf.fonttype": 42,  # TrueType embedded (editable), not Type 3
    "axes.edgecolor": "#5a5a5a",
    "axes.labelcolor": "#1e1e1e",
    "xtick.color": "#1e1e1e",
    "ytick.color": "#1e1e1e",
    "image.interpolation": "nearest",
    "image.resample": False,
    "image.composite_image": False,  # SVG/PDF: each picture on its own at its exact place, not merged and rounded
}


@contextmanager
def style() -> Iterator[None]:
    """matplotlib's defaults plus maskviz's settings, whatever the user's matplotlibrc says.

    Only while a figure is built and written: a script's own matplotlib settings are left alone.
    """
    import matplotlib.style

    with matplotlib.style.context(["default", _RC]):
        yield


def line_height(role: str) -> int:
    """Pixels from one line of text to the next, for a text role of :data:`FONT_PX`."""
    return math.ceil(FONT_PX[role] * 1.3)


def pt(px: float) -> float:
    """A size in pixels as matplotlib's points (1/72 in) at :data:`DPI`."""
    return px * 72 / DPI


def rgb01(colour: tuple[int, int, int] | str) -> tuple[float, float, float] | str:
    return colour if isinstance(colour, str) else tuple(c / 255 for c in colour)


# ----------------------------------------------------------------------------------------- colour map


def colormap(values: np.ndarray, vmin: float, vmax: float, name: str = "inferno") -> np.ndarray:
    """Map ``values`` (any shape) to uint8 RGB ``(*values.shape, 3)``; clipped to ``[vmin, vmax]``.

    The colours are matplotlib's own look-up table, the same one its colour bars draw, picked as
    matplotlib picks them (see :func:`colour_indices`). NaN becomes :data:`NAN_COLOR`. With
    ``vmax <= vmin`` values above ``vmin`` get the top colour.
    """
    return np.take(colour_table(name), colour_indices(values, vmin, vmax, name), axis=0)


def colour_indices(values: np.ndarray, vmin: float, vmax: float, name: str = "inferno") -> np.ndarray:
    """Each value's row of :func:`colour_table`: entry ``floor(t·N)`` of the ``N`` colours for ``t`` in
    ``[0, 1]`` (the top value in the last entry), as matplotlib indexes its table; NaN → row ``N``.

    The table is turned into bytes once rather than every pixel's colour (a 1024 px heatmap: ~60 ms
    less on the UI thread), and the passes work in place."""
    n = len(colour_table(name)) - 1
    v = np.asarray(values, dtype=np.float64)
    nan = np.isnan(v)
    if vmax > vmin:
        t = np.subtract(v, vmin)
        t /= vmax - vmin
    else:
        t = (v > vmin).astype(np.float64)
    np.clip(t, 0.0, 1.0, out=t)
    any_nan = nan.any()
    if any_nan:
        t[nan] = 0.0
    t *= n
    index = t.astype(np.intp)
    np.minimum(index, n - 1, out=index)
    if any_nan:
        index[nan] = n
    return index


@functools.cache
def colour_table(name: str) -> np.ndarray:
    """Matplotlib's look-up table of colour map ``name`` as ``(N + 1)×3`` uint8, :data:`NAN_COLOR` last."""
    if name not in COLORMAPS:
        raise ValueError(f"unknown colour map {name!r}; choose one of {', '.join(COLORMAPS)}")
    from matplotlib import colormaps

    cmap = colormaps[name]
    colours = np.rint(cmap(np.arange(cmap.N))[:, :3] * 255).astype(np.uint8)  # integers index the table
    table = np.concatenate([colours, np.asarray([NAN_COLOR], dtype=np.uint8)])
    table.flags.writeable = False
    return table


def nice_ceiling(value: float) -> float:
    """Round up to 1, 2 or 5 × 10^k, so colour-bar ticks read cleanly."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    exp = math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * 10**exp:
            return float(step * 10**exp)
    return float(10 ** (exp + 1))


# ---------------------------------------------------------------------------------------- vocabulary

_SHORT_LOSS = {"MSE, normalised pixels": "MSE", "MSE, per-patch normalised pixels": "norm-pix MSE",
               "L1, normalised pixels": "L1"}


def loss_unit(source: Any) -> str:
    """The family's loss as a figure names it: ``MSE``, ``norm-pix MSE`` or ``L1``.

    ``source`` is anything that carries the family's ``loss_name`` (a reconstruction, a compare row,
    summary or curve) or that name itself. The one place a figure learns the unit of a loss number;
    an unknown name is shown whole.
    """
    name = source if isinstance(source, str) else source.loss_name
    return _SHORT_LOSS.get(name, name)


@dataclass(frozen=True)
class Inputs:
    """What a picture came from. Every figure names these (model, image, mask spec, seed, view).

    ``view`` says how the image reached the model: ``model`` (fitted to its input size); the
    whole-photo views name themselves (e.g. ``tiles 3×2``, ``native``).
    """

    model: str = ""
    image: str = ""
    mask: str = ""
    seed: int | None = None
    view: str = "model"

    def describe(self) -> str:
        """``model mae_small · image coffee.jpg · mask random:0.75 · seed 0 · view model`` (empty fields left out)."""
        fields = [("model", self.model), ("image", self.image), ("mask", self.mask),
                  ("seed", "" if self.seed is None else str(self.seed)), ("view", self.view)]
        return " · ".join(f"{k} {v}" for k, v in fields if v)
