"""The one renderer of every figure maskviz draws: CLI panels, GUI exports, comparison grids, plots.

Drawn by matplotlib's Agg backend, imported only when a figure is drawn (``import maskviz.figures``
stays light: the GUI and the quick CLI commands import it). Every figure is written as PNG, SVG or
PDF by the suffix of its path (:func:`write_figure`; no suffix: PNG; anything else: one clear
:class:`FigureError`), with DejaVu Sans (shipped with matplotlib; it has every glyph used) and the
same bytes for the same inputs. Pictures are pixel-faithful: enlarged by whole factors with nearest
sampling, placed on whole pixels, never blurred.

Primitives (:mod:`~maskviz.figures.sheet`; placed by :mod:`~maskviz.figures.layout`, drawn by
:mod:`~maskviz.figures.canvas`, written by :mod:`~maskviz.figures.output`), the building blocks of any new figure::

    from maskviz.figures import Sheet, Row, Panel, Heat, Marker, ColorBar, Plot, Series, Legend
    from maskviz.figures import Inputs, write_figure, to_image

    inputs = Inputs(model="mae_small", image="coffee.jpg", mask="random:0.75", seed=0, view="model")
    sheet = Sheet(
        [Row([Panel(masked_rgb, title="masked input"),                                # image panel with title
              Panel(masked_rgb, heat=Heat(attn, 0, 1, "inferno", unit="attention", alpha=0.6),
                    markers=[Marker(x=40, y=16, width=8, height=8, label="target")],  # overlay with a marker
                    colorbar=True, title="attention")],                               # and its own colour bar
             title="mask random:0.75 · seed 0")],
        title=inputs.describe(), footer="one line per note")
    write_figure(sheet, "fig.svg")      # .png / .svg / .pdf
    image = to_image(sheet)             # PIL RGB: what the PNG holds (for the GUI)

* :class:`Panel` -- a titled picture: ``image`` (HxW or HxWx3, uint8 or float 0..1), ``heat`` (a
  :class:`Heat`: values, ``vmin``/``vmax``, colour map, ``unit``, ``dim`` mask of faded pixels,
  ``alpha`` over the image), ``markers``, ``grid`` (patch lines), ``colorbar`` (its own bar),
  ``caption`` (lines under it), ``size`` (drawn width; default a whole-number enlargement).
* :class:`ColorBar` -- a bar with min/middle/max ticks and its ``unit`` along it; as
  ``Sheet(side=[...])`` it is shared by a grid of rows (top-aligned with the first picture).
* :class:`Plot` -- a line plot with named axes (units in ``xlabel``/``ylabel``), :class:`Series`
  with optional bands; its key is a :class:`Legend` block placed where it covers nothing.
* :class:`Sheet` -- a title, optional ``groups`` (headers over ``group_size`` columns) and
  ``columns`` (one header per column), rows of blocks (a :class:`Row` has a title line), ``side``
  colour bars, a footer. Columns line up across rows.
* :class:`Inputs` -- what a picture came from (model, image, mask spec, seed, view; view defaults
  to ``model``); ``describe()`` is the title line every figure carries.
* :func:`loss_unit` -- ``MSE`` / ``norm-pix MSE`` / ``L1``: the unit every loss number is shown with.
* :func:`colormap`, :func:`heat_rgb` -- the colours (matplotlib's maps) as arrays, for Qt views
  that must match a figure; :func:`render` gives a figure's bytes in any format.

Figures built on them (:mod:`~maskviz.figures.results`, :mod:`~maskviz.figures.plots`):
:func:`reconstruction_figure` (``maskviz reconstruct --out`` and the GUI export, optional baseline
column), :func:`before_after_figure` (training), the comparison grid
(:func:`maskviz.compare_export.grid_figure`, built from the same :class:`ResultFigure`),
:func:`sweep_sheet` (loss and PSNR against mask ratio, one loss axis per unit), and
:func:`render_panel` (titled images, a heatmap with its colour bar, a footer, as one image).
"""

from maskviz.figures.output import FORMATS, figure_format, panel_sheet, render, render_panel, to_image, write_figure
from maskviz.figures.plots import sweep_image, sweep_sheet
from maskviz.figures.results import (
    COLUMN_TITLES,
    GRID_COLUMNS,
    HEAT_MODES,
    MIN_TILE,
    PANEL_COLUMNS,
    PIXEL_UNIT,
    Cell,
    FigureRow,
    ResultFigure,
    before_after_figure,
    error_heat,
    error_image,
    error_scales,
    error_values,
    hidden_pixels,
    metrics_caption,
    reconstruction_figure,
    render_figure,
    seed_text,
    spread,
)
from maskviz.figures.sheet import (
    MIN_PANEL_WIDTH,
    ColorBar,
    FigureError,
    Heat,
    Legend,
    Marker,
    Panel,
    Plot,
    Row,
    Series,
    Sheet,
    heat_rgb,
)
from maskviz.figures.style import COLORMAPS, NAN_COLOR, PALETTE, Inputs, colormap, loss_unit, nice_ceiling

__all__ = [
    "COLORMAPS", "COLUMN_TITLES", "FORMATS", "GRID_COLUMNS", "HEAT_MODES", "MIN_PANEL_WIDTH", "MIN_TILE", "NAN_COLOR",
    "PALETTE", "PANEL_COLUMNS", "PIXEL_UNIT", "Cell", "ColorBar", "FigureError", "FigureRow", "Heat", "Inputs",
    "Legend", "Marker", "Panel", "Plot", "ResultFigure", "Row", "Series", "Sheet", "before_after_figure", "colormap",
    "error_heat", "error_image", "error_scales", "error_values", "figure_format", "heat_rgb",
    "hidden_pixels", "loss_unit", "metrics_caption", "nice_ceiling", "panel_sheet", "reconstruction_figure",
    "render", "render_figure", "render_panel", "seed_text", "spread", "sweep_image", "sweep_sheet", "to_image",
    "write_figure",
]
