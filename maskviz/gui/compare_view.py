"""The Compare view: masking strategies × models on the viewer's image or a folder, and a ratio sweep.

Rows are strategies (the viewer's current mask is always the first), column groups are models (the
viewer's model first, then any added); each row shows masked input, reconstruction + visible and
error, drawn by :mod:`maskviz.figures` exactly as ``maskviz compare`` draws grid.png. The table
gives mean ± spread per model (over seeds; over images, as a 95 % interval, in folder mode) and
sorts by any column; clicking a row (or a sweep point) puts that mask on the viewer's canvas.

The work is :func:`maskviz.compare.iter_compare` on the worker's ``table`` lane, one model × image
per step; each step sends back a :class:`Snapshot` (rows so far, statistics, the grid picture)
computed on the worker thread, so the UI thread only copies pixels and fills a table.

The view reads the viewer state through this API only (issue 9's ``ViewerState``):

* signals ``imageChanged()``, ``modelChanged()``, ``maskChanged(bool final)``;
* ``model`` (a LoadedModel or None), ``model_image`` (the image fitted to the model, or None),
  ``image_source``, ``patch_mask()``, ``mask_label()``, ``options.unnormalize`` and
  ``options.heatmap``;
* ``set_patch_mask(mask, text)`` to put a compared mask on the canvas (one undoable edit).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from maskviz.compare import (
    CompareTable,
    Curve,
    Strategy,
    Summary,
    as_strategy,
    folder_images,
    image_label,
    iter_compare,
    model_label,
    new_table,
    painted_strategy,
    parse_ratios,
    summarize,
    sweep_curves,
    sweep_strategies,
)
from maskviz.compare_export import grid_figure
from maskviz.errors import MaskvizError
from maskviz.figures import PALETTE, render_figure

LANE = "table"
DEFAULT_SPECS = "random:0.75 block:0.5 grid:2 center:0.25"
DEFAULT_RATIOS = "0.1:0.9:0.1"
FOLLOW_DELAY_MS = 300  # a burst of state changes (a pattern applied, a model swapped) runs once
REDRAW_MS = 250  # partial results are redrawn at most this often


# ------------------------------------------------------------------------------------------ the job


@dataclass
class CompareJob:
    """What one run needs, gathered on the UI thread (models to add are loaded on the worker)."""

    models: dict[str, Any]  # label → MaskedImageModel (the viewer's first)
    model_info: dict[str, Any]  # label → LoadedModel.summary()
    extra: dict[str, str]  # label → checkpoint source, loaded on the worker thread
    images: dict[str, Any] | None  # label → image (single-image mode)
    folder: str | None  # folder mode
    strategies: list[Strategy]
    seeds: list[int]
    same_count: bool = False
    unnormalize: str = "true-patch"
    heat: str = "pixel"
    show_all: bool = False


@dataclass
class Snapshot:
    """The comparison as far as it got: a copy of the table plus what the view draws from it."""

    table: CompareTable
    summaries: list[Summary]
    curves: list[Curve]
    grid: np.ndarray | None  # the grid figure (RGB), as grid.png would be now
    done: int
    total: int
    finished: bool = False
    model_info: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def run_job(job: CompareJob, cache: dict[str, Any]) -> Iterator[Snapshot]:
    """The worker-thread side: load added models (kept in ``cache``), then one snapshot per step."""
    from maskviz.checkpoints import load_model
    from maskviz.device import model_device

    device = model_device(next(iter(job.models.values())))
    models, info = dict(job.models), dict(job.model_info)
    for label, source in job.extra.items():
        if source not in cache:
            cache[source] = load_model(source, device=device)
        models[label], info[label] = cache[source].model, cache[source].summary()
    images = folder_images(job.folder) if job.folder else job.images
    table = new_table(models, list(images.items()), job.strategies, job.seeds, job.same_count)
    grid, done, total = None, 0, len(images) * len(models)
    steps = iter_compare(models, images, job.strategies, job.seeds, same_count=job.same_count,
                         with_pictures="first", unnormalize=job.unnormalize, table=table)
    for step in steps:
        done = step.done
        if step.rows and step.rows[0].result is not None and any(not r.sweep for r in step.rows):
            grid = np.asarray(render_figure(grid_figure(table, heat=job.heat, show_all=job.show_all)))
        yield _snapshot(table, grid, done, total, info)
    yield _snapshot(table, grid, total, total, info, finished=True)


def _snapshot(table: CompareTable, grid: np.ndarray | None, done: int, total: int, info: dict[str, Any],
              finished: bool = False) -> Snapshot:
    copy = replace(table, rows=list(table.rows), skipped=list(table.skipped))
    plain = [r for r in copy.rows if not r.sweep]
    return Snapshot(copy, summarize(plain), sweep_curves(copy.rows), grid, done, total, finished, info,
                    [f"{image}: {why}" for image, why in copy.skipped])


# ------------------------------------------------------------------------------------------ widgets


class _NumberItem(QTableWidgetItem):
    """A table cell that sorts by its number (NaN last), not by its text."""

    def __init__(self, text: str, value: float) -> None:
        super().__init__()
        self.setFlags(self.flags() & ~Qt.ItemFlag.ItemIsEditable)
        self.show(text, value)

    def show(self, text: str, value: float) -> None:
        self.value = value if math.isfinite(value) else math.inf  # before the text: a re-sort reads it
        self.setText(text)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return self.value < getattr(other, "value", math.inf)


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy())


class CompareView(QWidget):
    """Strategies × models table and grid, ratio sweep, folder mode, exports (see the module doc)."""

    maskApplied = Signal(str)  # the strategy whose mask was put on the canvas

    def __init__(self, state: Any, worker: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.worker = state, worker
        self.snapshot: Snapshot | None = None
        self.job: CompareJob | None = None
        self.task_id = 0
        self.folder: str | None = None
        self.extra_models: dict[str, str] = {}
        self._model_cache: dict[str, Any] = {}  # touched on the worker thread only
        self._follow = QTimer(self, singleShot=True, interval=FOLLOW_DELAY_MS)
        self._follow.timeout.connect(self._follow_state)
        self._redraw = QTimer(self, singleShot=True, interval=REDRAW_MS)
        self._redraw.timeout.connect(self._draw)
        self._table_layout: tuple[Any, ...] = ()
        self._cells: dict[tuple[str, int], list[_NumberItem]] = {}
        self._plot_labels: tuple[str, ...] = ()
        self._plot_items: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._drawn_grid: np.ndarray | None = None
        self._build()
        for signal in (state.imageChanged, state.modelChanged):
            signal.connect(self._state_changed)
        state.maskChanged.connect(lambda final: final and self._state_changed())
        worker.curveStep.connect(self._on_step)
        worker.failed.connect(self._on_failed)

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        self.specs_edit = QLineEdit(DEFAULT_SPECS, self)
        self.specs_edit.setToolTip("mask specs separated by spaces; the viewer's mask is always the first row")
        self.seeds_box = QSpinBox(self, minimum=1, maximum=50, value=3)
        self.same_count_box = QCheckBox("same hidden count", self)
        self.show_all_box = QCheckBox("error on visible patches too", self)
        self.ratios_edit = QLineEdit(DEFAULT_RATIOS, self)
        self.ratios_edit.setToolTip("ratios to sweep (START:STOP:STEP or a list); empty: no sweep")
        self.models_list = QListWidget(self)
        self.models_list.setMaximumHeight(64)
        self.folder_label = QLabel("image: the viewer's", self)
        self.run_button = QPushButton("Run", self)
        self.cancel_button = QPushButton("Cancel", self)
        self.progress = QProgressBar(self)
        self.status = QLabel("", self)
        self.status.setWordWrap(True)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.setEnabled(False)
        self.table = QTableWidget(self)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.cellClicked.connect(self._row_clicked)
        self.grid_label = QLabel(self)
        self.grid_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        scroll = QScrollArea(self)
        scroll.setWidget(self.grid_label)
        scroll.setWidgetResizable(True)
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.table)
        split.addWidget(scroll)
        split.setSizes([160, 400])
        self.plots = {"loss": pg.PlotWidget(), "psnr": pg.PlotWidget()}
        self._setup_plots()
        sweep = QWidget(self)
        sweep_layout = QHBoxLayout(sweep)
        for plot in self.plots.values():
            sweep_layout.addWidget(plot)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(split, "Strategies")
        self.tabs.addTab(sweep, "Ratio sweep")
        self.tabs.currentChanged.connect(self._draw)
        layout = QVBoxLayout(self)
        layout.addLayout(self._controls())
        layout.addWidget(self.tabs, 1)

    def _controls(self) -> QGridLayout:
        grid = QGridLayout()
        grid.addWidget(QLabel("Masks", self), 0, 0)
        grid.addWidget(self.specs_edit, 0, 1, 1, 3)
        grid.addWidget(QLabel("Seeds", self), 0, 4)
        grid.addWidget(self.seeds_box, 0, 5)
        grid.addWidget(QLabel("Sweep ratios", self), 1, 0)
        grid.addWidget(self.ratios_edit, 1, 1)
        grid.addWidget(self.same_count_box, 1, 2)
        grid.addWidget(self.show_all_box, 1, 3)
        grid.addWidget(QLabel("More models", self), 2, 0)
        grid.addWidget(self.models_list, 2, 1, 1, 3)
        buttons = QHBoxLayout()
        for text, slot in (("Add model…", self._ask_model), ("Remove", self._remove_model),
                           ("Folder…", self._ask_folder), ("Viewer image", lambda: self.set_folder(None))):
            button = QPushButton(text, self)
            button.clicked.connect(slot)
            buttons.addWidget(button)
        grid.addLayout(buttons, 2, 4, 1, 2)
        grid.addWidget(self.folder_label, 3, 0, 1, 2)
        grid.addWidget(self.progress, 3, 2, 1, 2)
        grid.addWidget(self.run_button, 3, 4)
        grid.addWidget(self.cancel_button, 3, 5)
        exports = QHBoxLayout()
        for text, slot in (("Grid PNG…", self.export_grid), ("Sweep PNG…", self.export_sweep),
                           ("CSV…", self.export_csv), ("JSON…", self.export_json)):
            button = QPushButton(text, self)
            button.clicked.connect(lambda _=False, s=slot, t=text: self._ask_export(s, t))
            exports.addWidget(button)
        grid.addWidget(self.status, 4, 0, 1, 4)
        grid.addLayout(exports, 4, 4, 1, 2)
        return grid

    def _setup_plots(self) -> None:
        labels = {"loss": "loss (each model's own)", "psnr": "PSNR (dB, hidden pixels)"}
        for name, plot in self.plots.items():
            plot.setBackground("w")
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("left", labels[name])
            plot.setLabel("bottom", "fraction of patches hidden")
            for axis in ("left", "bottom"):
                plot.getAxis(axis).enableAutoSIPrefix(False)  # plain units: no "(x0.001)"
            plot.addLegend(offset=(-10, 10))

    # ------------------------------------------------------------------ inputs

    def set_folder(self, folder: str | os.PathLike | None) -> None:
        """Folder mode (every image in it, recursively) or, with None, the viewer's image."""
        self.folder = None if folder is None else str(folder)
        self.folder_label.setText(f"folder: {self.folder}" if self.folder else "image: the viewer's")

    def add_model(self, source: str | os.PathLike) -> None:
        """Compare another checkpoint too (loaded on the worker thread when the run starts)."""
        source = str(source)
        label = model_label(source)
        while label in self.extra_models:
            label += "'"
        self.extra_models[label] = source
        self.models_list.addItem(f"{label}  ({source})")

    def _remove_model(self) -> None:
        row = self.models_list.currentRow()
        if row >= 0:
            self.models_list.takeItem(row)
            del self.extra_models[list(self.extra_models)[row]]

    def _ask_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a model to compare", "",
                                              "Checkpoints (*.pth *.pt *.safetensors *.bin)")
        if path:
            self.add_model(path)

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Compare on every image in a folder")
        if folder:
            self.set_folder(folder)

    def make_job(self) -> CompareJob:
        """The run's inputs from the state and the controls; bad specs or ratios raise MaskvizError."""
        loaded = self.state.model
        if loaded is None or (self.folder is None and self.state.model_image is None):
            raise MaskvizError("open an image and a model first")
        model = loaded.model
        label = model_label(self.state.model_source) if self.state.model_source else loaded.config.name or "model"
        viewer_mask = painted_strategy(self.state.patch_mask(), model.patch_size,
                                       f"viewer: {self.state.mask_label()}")
        specs = [as_strategy(s) for s in self.specs_edit.text().split()]
        strategies = [viewer_mask, *specs]
        ratios = self.ratios_edit.text().strip()
        sweepable = [s.spec for s in specs if s.ratio is not None]
        if ratios and sweepable:
            strategies += sweep_strategies(sweepable, parse_ratios(ratios))
        options = self.state.options
        extra: dict[str, str] = {}
        for name, source in self.extra_models.items():
            while name == label or name in extra:  # two models, one name: keep both, told apart
                name += "'"
            extra[name] = source
        image = None if self.folder else {image_label(self.state.image_source): self.state.model_image}
        return CompareJob(
            models={label: model}, model_info={label: loaded.summary()}, extra=extra, images=image, folder=self.folder,
            strategies=strategies, seeds=list(range(self.seeds_box.value())),
            same_count=self.same_count_box.isChecked(), unnormalize=options.unnormalize,
            heat=options.heatmap, show_all=self.show_all_box.isChecked())

    # ------------------------------------------------------------------ running

    def run(self) -> bool:
        """Start (or restart) the comparison; the previous run is cancelled. False on bad input."""
        try:
            job = self.make_job()
        except MaskvizError as exc:
            self.status.setText(str(exc))
            return False
        self.job = job
        self.task_id = self.worker.submit_steps(LANE, run_job(job, self._model_cache))
        self.progress.setRange(0, 0)  # busy until the first step says how many there are
        self.cancel_button.setEnabled(True)
        self.status.setText("comparing…")
        return True

    def cancel(self) -> None:
        """Stop after the current step; what is done stays on screen and can be exported."""
        if self.task_id and self.is_running:
            self.worker.cancel(LANE)
            self.task_id = 0
            self._stopped("cancelled: " + self._done_text())

    @property
    def is_running(self) -> bool:
        return self.task_id != 0

    def _state_changed(self) -> None:
        if self.folder is None and self.isVisible():
            self._follow.start()

    def _follow_state(self) -> None:
        if self.state.model is not None and self.state.model_image is not None:
            self.run()

    def _on_step(self, task_id: int, snapshot: Any) -> None:
        if task_id != self.task_id or not isinstance(snapshot, Snapshot):
            return
        self.snapshot = snapshot
        self.progress.setRange(0, max(1, snapshot.total))
        self.progress.setValue(snapshot.done)
        self._show(snapshot)
        if snapshot.finished:
            self.task_id = 0
            self._stopped(self._done_text())

    def _on_failed(self, lane: str, task_id: int, message: str) -> None:
        if lane == LANE and task_id == self.task_id:
            self.task_id = 0
            self._stopped(f"comparison failed: {message}")

    def _stopped(self, text: str) -> None:
        self.cancel_button.setEnabled(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self.status.setText(text)

    def _done_text(self) -> str:
        s = self.snapshot
        if s is None:
            return "nothing finished"
        images = len({r.image for r in s.table.rows})
        text = f"{images} image{'s' * (images != 1)} × {len(s.table.models)} model(s) done"
        notes = [*s.table.notes, *(f"skipped {x}" for x in s.skipped)]
        return "; ".join([text, *notes])

    # ------------------------------------------------------------------ showing
    #
    # Steps can come faster than a table and two plots redraw, so the newest snapshot waits for a
    # short timer (the last one of a run is drawn at once), only the visible tab is redrawn, and
    # table cells and plot items are updated in place rather than rebuilt.

    def _show(self, snapshot: Snapshot) -> None:
        if snapshot.finished:
            self._redraw.stop()
            self._draw()
        elif not self._redraw.isActive():
            self._redraw.start()

    def _draw(self) -> None:
        s = self.snapshot
        if s is None:
            return
        if self.tabs.currentIndex() == 0:
            self._fill_table(s)
            if s.grid is not None and s.grid is not self._drawn_grid:
                self.grid_label.setPixmap(to_pixmap(s.grid))
                self._drawn_grid = s.grid
        else:
            self._plot(s.curves)

    def _fill_table(self, snapshot: Snapshot) -> None:
        models = snapshot.table.models
        folder = len(snapshot.table.images) > 1
        strategies = [s.label for s in snapshot.table.strategies if not s.sweep]
        layout = (tuple(models), tuple(strategies))
        if layout != self._table_layout:
            self._build_table(models, strategies)
            self._table_layout = layout
        by_key = {(s.model, s.strategy): s for s in snapshot.summaries}
        sorting = self.table.isSortingEnabled()
        self.table.setSortingEnabled(False)  # re-sort once at the end, not after every cell
        for (strategy, m), items in self._cells.items():
            for item, (text, value) in zip(items, self._metric_texts(by_key.get((models[m], strategy)), folder),
                                           strict=True):
                item.show(text, value)
        self.table.setSortingEnabled(sorting)
        spread = "95% CI over images" if folder else "std over seeds"
        self.table.setToolTip(f"mean ± {spread}; click a row to put its mask on the canvas")

    def _build_table(self, models: list[str], strategies: list[str]) -> None:
        headers = ["strategy"] + [f"{m}\n{k}" for m in models for k in ("loss", "PSNR dB", "hidden")]
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(strategies))
        self._cells = {}
        for row, strategy in enumerate(strategies):
            name = QTableWidgetItem(strategy)
            name.setData(Qt.ItemDataRole.UserRole, strategy)
            name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(row, 0, name)
            for m in range(len(models)):
                items = [_NumberItem("…", math.nan) for _ in range(3)]
                for k, item in enumerate(items):
                    self.table.setItem(row, 1 + 3 * m + k, item)
                self._cells[(strategy, m)] = items
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setMinimumSectionSize(90)

    def _metric_texts(self, s: Summary | None, folder: bool) -> list[tuple[str, float]]:
        if s is None:
            return [("…", math.nan)] * 3

        def text(stat: Any, digits: int) -> str:
            if stat.n == 0:
                return "n/a"
            spread = stat.ci95 if folder else stat.std
            varies = stat.n > 1 and (folder or s.distinct_masks > 1)
            return f"{stat.mean:.{digits}f}" + (f" ± {spread:.{digits}f}" if varies else "")

        return [(text(s.loss, 4), s.loss.mean), (text(s.psnr, 2), s.psnr.mean),
                (f"{s.hidden_fraction:.1%}", s.hidden_fraction)]

    def _plot(self, curves: list[Curve]) -> None:
        labels = tuple(c.label for c in curves)
        if labels != self._plot_labels:  # new lines: start over (a new run or its first points)
            for plot in self.plots.values():
                plot.clear()
            self._plot_items = {}
            self._plot_labels = labels
        for i, curve in enumerate(curves):
            for metric, plot in self.plots.items():
                self._plot_curve(plot, metric, curve, pg.mkColor(*PALETTE[i % len(PALETTE)]))

    def _plot_curve(self, plot: pg.PlotWidget, metric: str, curve: Curve, colour: Any) -> None:
        folder = any(p.images > 1 for p in curve.points)
        pts = [(p, getattr(p, metric)) for p in curve.points if math.isfinite(getattr(p, metric).mean)]
        x = np.array([p.hidden_fraction for p, _ in pts])
        y = np.array([st.mean for _, st in pts])
        d = np.nan_to_num(np.array([st.ci95 if folder else st.std for _, st in pts]))
        spots = [{"pos": (xi, yi), "data": (curve.label, p.strategy), "size": 8}
                 for xi, yi, (p, _) in zip(x, y, pts, strict=True)]
        key = (metric, curve.label)
        if key not in self._plot_items:
            self._plot_items[key] = self._new_curve_items(plot, metric, curve, colour)
        low, high, line, scatter = self._plot_items[key]
        low.setData(x, y - d)
        high.setData(x, y + d)
        line.setData(x, y)
        scatter.setData(spots=spots)

    def _new_curve_items(self, plot: pg.PlotWidget, metric: str, curve: Curve, colour: Any) -> tuple[Any, ...]:
        """A line, a band between two invisible bounds, and hoverable, clickable points."""
        unit = curve.loss_name if metric == "loss" else "dB"
        low, high = pg.PlotDataItem(), pg.PlotDataItem()
        fill = colour.lighter(170)
        fill.setAlpha(80)
        plot.addItem(pg.FillBetweenItem(low, high, brush=fill))
        line = plot.plot([], [], pen=pg.mkPen(colour, width=2), name=curve.label)

        def tip(x: float, y: float, data: tuple[str, str]) -> str:
            return f"{data[0]}\n{data[1]}\n{x:.1%} hidden: {y:.4g} ({unit})"

        scatter = pg.ScatterPlotItem(brush=pg.mkBrush(colour), pen=None, hoverable=True, tip=tip)
        scatter.sigClicked.connect(self._point_clicked)
        plot.addItem(scatter)
        return low, high, line, scatter

    # ------------------------------------------------------------------ click-through

    def apply_strategy(self, strategy: str) -> bool:
        """Put a compared mask (seed 0, on the viewer model's grid) on the canvas as one undoable edit."""
        s = self.snapshot
        model = self.state.model
        if s is None or model is None:
            return False
        rows = [r for r in s.table.rows if r.strategy == strategy and r.model == s.table.models[0]]
        if not rows or rows[0].mask is None:
            return False
        mask = rows[0].mask
        if tuple(mask.shape) != tuple(model.model.grid_size):
            self.status.setText("the viewer's model changed since this comparison: run it again")
            return False
        self.state.set_patch_mask(mask.copy(), f"Compare: {strategy}")
        self.maskApplied.emit(strategy)
        return True

    def _row_clicked(self, row: int, _column: int) -> None:
        item = self.table.item(row, 0)
        if item is not None and not str(item.data(Qt.ItemDataRole.UserRole)).startswith("viewer:"):
            self.apply_strategy(item.data(Qt.ItemDataRole.UserRole))

    def _point_clicked(self, _scatter: Any, points: Any, *_: Any) -> None:
        if len(points):
            self.apply_strategy(points[0].data()[1])

    # ------------------------------------------------------------------ exports (the CLI's files)

    def _ask_export(self, export: Any, text: str) -> None:
        suffix = {"Grid PNG…": "png", "Sweep PNG…": "png", "CSV…": "csv", "JSON…": "json"}[text]
        path, _ = QFileDialog.getSaveFileName(self, f"Export {text.rstrip('…')}", f"compare.{suffix}")
        if path:
            export(path)

    def _export(self, write: Any, path: str | os.PathLike, *args: Any) -> bool:
        if self.snapshot is None:
            self.status.setText("nothing to export yet: run a comparison first")
            return False
        try:
            write(self.snapshot.table, path, *args)
        except (MaskvizError, ValueError) as exc:
            self.status.setText(f"could not export: {exc}")
            return False
        self.status.setText(f"exported {path}")
        return True

    def export_grid(self, path: str | os.PathLike) -> bool:
        from maskviz.compare_export import write_grid

        job = self.job
        return self._export(write_grid, path, job.heat if job else "pixel", job.show_all if job else False)

    def export_sweep(self, path: str | os.PathLike) -> bool:
        from maskviz.compare_export import write_sweep

        return self._export(write_sweep, path)

    def export_csv(self, path: str | os.PathLike) -> bool:
        from maskviz.compare_export import write_metrics_csv

        return self._export(write_metrics_csv, path)

    def export_json(self, path: str | os.PathLike) -> bool:
        from maskviz.compare_export import write_summary_json

        return self._export(write_summary_json, path, self.snapshot.model_info if self.snapshot else None)
