"""Line plots: the loss / PSNR against mask ratio of a comparison sweep.

One loss plot per loss unit (an MAE's MSE and a SimMIM's L1 never share an axis), a PSNR plot
for every curve, the legend below them (never over a curve), the band rule in the footer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from PIL import Image

from maskviz.figures.output import to_image
from maskviz.figures.results import spread
from maskviz.figures.sheet import Legend, Plot, Row, Series, Sheet
from maskviz.figures.style import PALETTE, loss_unit

X_LABEL = "fraction of patches hidden"
PSNR_LABEL = "PSNR (dB, hidden pixels)"


def curve_points(curve: Any, metric: str) -> list[tuple[float, float, float]]:
    """(fraction hidden, mean, spread) of each finite point of a curve's metric.

    x is what the masks really hid on this model's grid (coarse patterns can hide more or less
    than their nominal ratio), so curves of different patterns line up honestly.
    """
    out = []
    for p in curve.points:
        stat = getattr(p, metric)
        if math.isfinite(stat.mean):
            s = spread(stat, p.images)
            out.append((p.hidden_fraction, stat.mean, s if math.isfinite(s) else 0.0))
    return out


def _series(curve: Any, metric: str, colour: tuple[int, int, int]) -> Series:
    points = curve_points(curve, metric)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    band = None
    if len(points) > 1 and any(p[2] > 0 for p in points):
        band = ([m - d for _, m, d in points], [m + d for _, m, d in points])
    return Series(curve.label, xs, ys, band, colour)


def sweep_sheet(curves: Sequence[Any], title: str = "", footer: str = "") -> Sheet:
    """Loss (one plot per loss unit) and PSNR against the fraction hidden, one line per model × strategy.

    ``curves`` are :class:`maskviz.compare.Curve`; bands are ± one standard deviation over seeds
    (one image) or the 95 % confidence interval over images (a folder).
    """
    if not curves:
        raise ValueError("nothing to plot: no sweep curves")
    colours = {id(c): PALETTE[i % len(PALETTE)] for i, c in enumerate(curves)}
    units: dict[str, list[Any]] = {}
    for c in curves:
        units.setdefault(loss_unit(c), []).append(c)
    plots = [Plot([_series(c, "loss", colours[id(c)]) for c in group], X_LABEL, f"loss ({unit})")
             for unit, group in units.items()]
    plots.append(Plot([_series(c, "psnr", colours[id(c)]) for c in curves], X_LABEL, PSNR_LABEL))
    legend = Legend([Series(f"{c.label}  (loss: {loss_unit(c)})", [], [], color=colours[id(c)]) for c in curves],
                    columns=1 if len(curves) <= 4 else 2)
    folder = any(p.images > 1 for c in curves for p in c.points)
    band = "95 % confidence interval over images" if folder else "± 1 standard deviation over seeds"
    notes = "\n".join([f"bands: {band}", *footer.splitlines()])
    return Sheet([Row(list(plots)), Row([legend])], title, footer=notes, gap=24)


def sweep_image(curves: Sequence[Any], title: str = "", footer: str = "") -> Image.Image:
    """:func:`sweep_sheet` as an RGB image."""
    return to_image(sweep_sheet(curves, title, footer))
