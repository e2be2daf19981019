"""The files of a comparison: the grid and sweep figures, metrics.csv and summary.json.

``maskviz compare --out DIR`` and the GUI's export buttons both call these, so the same table gives
the same files. Figures are PNG, SVG or PDF by their suffix (``maskviz compare --format``). Each file
is written atomically: an interrupted run leaves complete files or none. Every loss is named with
its unit (the CSV's ``loss_name`` column, the figures' labels), so an MAE's MSE and a SimMIM's L1
never stand side by side as bare "loss".
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from maskviz.compare import CSV_FIELDS, CompareTable, sweep_curves
from maskviz.figures import (
    GRID_COLUMNS,
    Cell,
    FigureRow,
    Inputs,
    ResultFigure,
    loss_unit,
    metrics_caption,
    seed_text,
    spread,
    sweep_sheet,
    write_figure,
)
from maskviz.fileio import atomic_write

SCHEMA = "maskviz.compare/1"


def metrics_csv(table: CompareTable) -> str:
    """One line per model × image × strategy × seed (empty cells where a value does not exist)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in table.rows:
        writer.writerow({k: "" if v is None else v for k, v in row.record().items()})
    return buffer.getvalue()


def summary_dict(table: CompareTable, models: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What summary.json holds: the inputs, the per model × strategy statistics and the sweep lines.

    ``models`` maps each model label to what is known about it (e.g. ``LoadedModel.summary()``).
    """
    return {
        "schema": SCHEMA,
        "complete": table.complete,
        "models": [{"label": m, **dict((models or {}).get(m, {}))} for m in table.models],
        "images": table.images,
        "skipped": [{"image": i, "reason": why} for i, why in table.skipped],
        "strategies": [s.label for s in table.strategies if not s.sweep],
        "seeds": table.seeds,
        "same_count": table.same_count,
        "view": table.view,
        "rows": len(table.rows),
        "notes": table.notes,
        "summary": [s.to_dict() for s in table.summaries()],
        "sweep": [{"model": c.model, "strategy": c.family, "loss_name": c.loss_name,
                   "points": [p.to_dict() for p in c.points]} for c in sweep_curves(table.rows)],
    }


def write_metrics_csv(table: CompareTable, path: str | os.PathLike) -> Path:
    text = metrics_csv(table)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), make_parents=True)


def write_summary_json(table: CompareTable, path: str | os.PathLike, models: Mapping[str, Any] | None = None) -> Path:
    text = json.dumps(summary_dict(table, models), indent=2, default=str)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), make_parents=True)


def write_grid(table: CompareTable, path: str | os.PathLike, heat: str = "pixel", show_all: bool = False) -> Path:
    """The comparison grid (strategies × models on the first image), PNG/SVG/PDF by the suffix."""
    view = next((r.view for r in table.rows if r.result is not None and not r.sweep and r.view), table.view)
    return write_figure(grid_figure(table, heat=heat, show_all=show_all, view=view).sheet(), path)


def write_sweep(table: CompareTable, path: str | os.PathLike) -> Path:
    """Loss (one plot per loss unit) and PSNR against mask ratio, PNG/SVG/PDF by the suffix."""
    images = len({r.image for r in table.rows})
    title = f"loss and PSNR against mask ratio · {images} image{'s' * (images != 1)} · {len(table.seeds)} seed(s)"
    return write_figure(sweep_sheet(sweep_curves(table.rows), title, "\n".join(table.notes)), path)


def has_grid(table: CompareTable) -> bool:
    return any(r.result is not None and not r.sweep for r in table.rows)


def has_sweep(table: CompareTable) -> bool:
    return any(r.sweep for r in table.rows)


def write_all(table: CompareTable, folder: str | os.PathLike, models: Mapping[str, Any] | None = None,
              heat: str = "pixel", show_all: bool = False, fmt: str = "png") -> list[Path]:
    """Every file the table can give into ``folder`` (created if needed), figures as ``fmt``; returns them."""
    out = Path(folder).expanduser()
    written = [write_metrics_csv(table, out / "metrics.csv"), write_summary_json(table, out / "summary.json", models)]
    if has_grid(table):
        written.append(write_grid(table, out / f"grid.{fmt}", heat, show_all))
    if has_sweep(table):
        written.append(write_sweep(table, out / f"sweep.{fmt}"))
    return written


# ------------------------------------------------------------------------------------------- the grid


def grid_figure(table: Any, image: str | None = None, seed: int | None = None, *, heat: str = "pixel",
                show_all: bool = False, view: str = "model") -> ResultFigure:
    """The comparison grid of a :class:`maskviz.compare.CompareTable`: strategies × models on one image.

    Rows are the strategies (sweep points left out) at one seed; each cell's caption adds the mean
    ± spread over seeds (one image) or over images (a folder), which the table's summary computes.
    """
    shown = [r for r in table.rows if r.result is not None and not r.sweep]
    if not shown:
        raise ValueError("nothing to draw: the comparison kept no pictures (or only sweep points)")
    image = image if image is not None else shown[0].image
    seed = seed if seed is not None else shown[0].seed
    summaries = {(s.model, s.strategy): s for s in table.summaries()}
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
    title = Inputs(image=image, view=view).describe() + count
    return ResultFigure(title, list(table.models), rows, GRID_COLUMNS, heat, show_all, footer)


def _grid_cell(row: Any, summary: Any) -> Cell | None:
    if row is None:
        return None
    caption = metrics_caption(row.result)
    if summary is not None and summary.loss.n > 1 and (summary.images > 1 or summary.distinct_masks > 1):
        caption += (f"\nmean {loss_unit(summary)} loss {summary.loss.mean:.4f}"
                    f" ± {spread(summary.loss, summary.images):.4f}")
    return Cell(row.result, caption)


def _spread_legend(table: Any) -> list[str]:
    if len(table.images) > 1:
        return [f"± = 95 % confidence interval over {len(table.images)} images (each averaged over its seeds)"]
    return [f"± = standard deviation over {len(table.seeds)} seeds"] if len(table.seeds) > 1 else []
