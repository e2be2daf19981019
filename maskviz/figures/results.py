"""Reconstruction figures: the CLI panel, the GUI export, the comparison grid, the training before/after.

A :class:`ResultFigure` is rows of reconstructions (one cell per column group, usually a model) whose
titles name the model, image, view, mask spec and seed. The error column shows the hidden patches on
**one colour scale per unit for the whole figure** (visible patches, which no loss scores, greyed
out unless ``show_all``), so darker means smaller error in every row and every model. Per-pixel
maps use squared error; per-patch maps use each family's own loss (MSE, norm-pix MSE, L1), one scale
per loss unit. Every loss number says its unit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from maskviz.figures.output import to_image
from maskviz.figures.sheet import ColorBar, Heat, Panel, Row, Sheet, as_rgb, heat_rgb
from maskviz.figures.style import Inputs, loss_unit, nice_ceiling

#: What a cell can show, and the column titles.
COLUMN_TITLES = {
    "original": "original",
    "masked": "masked input",
    "prediction": "reconstruction",
    "pasted": "reconstruction + visible",
    "error": "error",
    "baseline": "baseline",
}
PANEL_COLUMNS = ("original", "masked", "prediction", "pasted", "error")
GRID_COLUMNS = ("masked", "pasted", "error")
HEAT_MODES = ("pixel", "patch")
PIXEL_UNIT = "squared error per pixel"
MIN_TILE = 128


@dataclass
class Cell:
    """One reconstruction in a figure, the line(s) printed under it, and a baseline fill of the same mask."""

    result: Any  # maskviz.reconstruct.Reconstruction
    caption: str = ""
    baseline: Any = None  # a Reconstruction of a non-learned fill (maskviz.baselines), for the "baseline" column


@dataclass
class FigureRow:
    """A titled row: one cell per column group (None where a model has no result)."""

    title: str
    cells: list[Cell | None]


@dataclass
class ResultFigure:
    """Rows × column groups (usually models) of reconstructions, drawn through :meth:`sheet`.

    ``title`` names what is common to the whole figure (model or image, view), ``groups`` name the
    column groups (models) and each row's title the rest (mask spec, seed), so every picture is
    labelled with the model, image, mask spec, seed and view it came from.
    """

    title: str
    groups: list[str]
    rows: list[FigureRow]
    columns: Sequence[str] = PANEL_COLUMNS
    heat: str = "pixel"
    show_all: bool = False
    footer: str = ""
    cmap: str = "inferno"
    baseline_label: str = ""

    def cells(self) -> list[Cell]:
        return [c for row in self.rows for c in row.cells if c is not None]

    def sheet(self, tile: int | None = None) -> Sheet:
        """The figure as the renderer's :class:`~maskviz.figures.sheet.Sheet` (tiles ``tile`` px wide)."""
        cells = self.cells()
        if not cells:
            raise ValueError("nothing to render: the figure has no reconstructions")
        columns = list(self.columns)
        scales = error_scales([c.result for c in cells], self.heat, self.show_all) if "error" in columns else {}
        size = tile or _tile_size(cells)
        groups = max(1, len(self.groups))
        rows = [Row([b for g in range(groups) for b in self._blocks(row, g, size, scales)], row.title)
                for row in self.rows]
        headers = [self._column_title(name, self._group_cell(g)) for g in range(groups) for name in columns]
        bars = [ColorBar(0.0, vmax, self.cmap, unit, height=size) for unit, vmax in scales.items()]
        return Sheet(rows, self.title, list(self.groups) if any(self.groups) else (), len(columns), headers, bars,
                     self.footer, gap=6)

    def _group_cell(self, g: int) -> Cell | None:
        return next((row.cells[g] for row in self.rows if g < len(row.cells) and row.cells[g] is not None), None)

    def _blocks(self, row: FigureRow, g: int, size: int, scales: dict[str, float]) -> list[Panel]:
        cell = row.cells[g] if g < len(row.cells) else None
        if cell is None:
            return [Panel(size=size) for _ in self.columns]
        blocks = [Panel(self._picture(cell, name, scales), size=size) for name in self.columns]
        blocks[0].caption = cell.caption
        return blocks

    def _picture(self, cell: Cell, name: str, scales: dict[str, float]) -> np.ndarray | None:
        r = cell.result
        if name == "error":
            return error_image(r, scales[_unit(r, self.heat)], self.heat, self.show_all, self.cmap)
        if name == "baseline":
            return None if cell.baseline is None else as_rgb(cell.baseline.pasted)
        return as_rgb({"original": r.original, "masked": r.masked_input, "prediction": r.prediction,
                       "pasted": r.pasted}[name])

    def _column_title(self, name: str, cell: Cell | None) -> str:
        if name == "baseline":
            return f"baseline: {self.baseline_label} + visible" if self.baseline_label else "baseline + visible"
        if name != "error":
            return COLUMN_TITLES[name]
        if self.heat == "pixel":
            return "error per pixel"
        return f"loss per patch ({loss_unit(cell.result)})" if cell is not None else "loss per patch"


def render_figure(figure: ResultFigure, tile: int | None = None) -> Image.Image:
    """Draw a :class:`ResultFigure` as an RGB image (what its PNG holds)."""
    return to_image(figure.sheet(tile))


# --------------------------------------------------------------------------------------- error maps


def _unit(result: Any, heat: str) -> str:
    return PIXEL_UNIT if heat == "pixel" else f"loss per patch ({loss_unit(result)})"


def error_values(result: Any, heat: str = "pixel") -> np.ndarray:
    """The heatmap of a reconstruction at image resolution: squared error per pixel, or the per-patch loss."""
    if heat not in HEAT_MODES:
        raise ValueError(f"heat must be one of {HEAT_MODES}, got {heat!r}")
    if heat == "pixel":
        return result.error_map
    p = result.original.shape[0] // result.mask.shape[0]
    return np.kron(np.nan_to_num(result.patch_loss, nan=0.0), np.ones((p, p), dtype=np.float32))


def hidden_pixels(result: Any) -> np.ndarray:
    """The result's patch mask at image resolution (True = hidden, scored)."""
    p = result.original.shape[0] // result.mask.shape[0]
    return np.repeat(np.repeat(result.mask, p, axis=0), p, axis=1)


def error_scales(results: Sequence[Any], heat: str = "pixel", show_all: bool = False) -> dict[str, float]:
    """The top of each colour scale (by unit) shared by ``results``: a rounded 99th percentile of the data.

    Only hidden pixels count unless ``show_all`` (visible ones are greyed out, not measured against).
    """
    samples: dict[str, list[np.ndarray]] = {}
    for r in results:
        values = error_values(r, heat)
        shown = values if show_all or not r.mask.any() else values[hidden_pixels(r)]
        samples.setdefault(_unit(r, heat), []).append(shown.reshape(-1))
    return {unit: nice_ceiling(float(np.percentile(np.concatenate(v), 99))) for unit, v in samples.items()}


def error_heat(result: Any, vmax: float, heat: str = "pixel", show_all: bool = False,
               cmap: str = "inferno") -> Heat:
    """The error map as a :class:`Heat`: visible (unscored) patches greyed out unless ``show_all``."""
    dim = None if show_all else ~hidden_pixels(result)
    return Heat(error_values(result, heat), 0.0, vmax, cmap, _unit(result, heat), dim)


def error_image(result: Any, vmax: float, heat: str = "pixel", show_all: bool = False,
                cmap: str = "inferno") -> np.ndarray:
    """The error heatmap as RGB uint8: hidden patches in colour, visible ones greyed out unless ``show_all``."""
    return heat_rgb(error_heat(result, vmax, heat, show_all, cmap))


def _tile_size(cells: Sequence[Cell]) -> int:
    widest = max(c.result.original.shape[1] for c in cells)
    return widest * math.ceil(MIN_TILE / widest) if widest < MIN_TILE else widest


# ------------------------------------------------------------------------------------------ builders


def metrics_caption(result: Any) -> str:
    """The numbers under a cell: the family's loss with its unit, PSNR and hidden count."""
    if result.loss is None:
        return f"nothing hidden (0/{result.total_patches})"
    psnr = "∞" if not math.isfinite(result.psnr) else f"{result.psnr:.2f} dB"
    return (f"{loss_unit(result)} loss {result.loss:.4f} · PSNR {psnr}\n"
            f"hidden {result.masked_patches}/{result.total_patches}")


def seed_text(seed: int | None) -> str:
    return "" if seed is None else f" · seed {seed}"


def reconstruction_figure(results: Sequence[Any], specs: Sequence[str], model: str, image: str,
                          seeds: Sequence[int | None] | None = None, *, heat: str = "pixel",
                          show_all: bool = False, footer: str = "", view: str = "model",
                          baselines: Sequence[Any] | None = None, baseline_label: str = "") -> ResultFigure:
    """One model, one image, one row per mask: the panel of ``maskviz reconstruct --out`` and the GUI export.

    ``baselines`` (one per result) add a column with a non-learned fill of the same mask, named
    ``baseline_label`` (what the viewer shows beside the model).
    """
    seeds = list(seeds) if seeds is not None else [None] * len(results)
    fills = list(baselines) if baselines is not None else [None] * len(results)
    rows = [FigureRow(f"mask {spec}{seed_text(seed)}", [Cell(r, _caption(r, b, baseline_label), b)])
            for r, spec, seed, b in zip(results, specs, seeds, fills, strict=True)]
    columns = PANEL_COLUMNS + (("baseline",) if baselines is not None else ())
    return ResultFigure(Inputs(model, image, view=view).describe(), [""], rows, columns, heat, show_all, footer,
                        baseline_label=baseline_label)


def _caption(result: Any, baseline: Any, label: str) -> str:
    caption = metrics_caption(result)
    if baseline is not None and baseline.psnr is not None and result.loss is not None:
        psnr = "∞" if not math.isfinite(baseline.psnr) else f"{baseline.psnr:.2f} dB"
        caption += f" · baseline ({label or 'fill'}) PSNR {psnr}"
    return caption


def before_after_figure(base: Any, tuned: Any, labels: Sequence[str], spec: str, image: str,
                        *, heat: str = "pixel", view: str = "model") -> ResultFigure:
    """Base model against its fine-tuned result on the same image and mask (the training comparison)."""
    row = FigureRow(f"mask {spec}", [Cell(base, metrics_caption(base)), Cell(tuned, metrics_caption(tuned))])
    return ResultFigure(Inputs(image=image, view=view).describe(), list(labels), [row], GRID_COLUMNS, heat)


def spread(stat: Any, images: int) -> float:
    """Spread shown after ±: the 95 % interval over images (folder), the standard deviation over seeds."""
    return stat.ci95 if images > 1 else stat.std
