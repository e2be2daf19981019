"""CompareView: the Compare dock's widget, drawing a :class:`~maskviz.gui.compare.state.CompareState`.

Rows are strategies (the viewer's current mask is always the first), column groups are models (the
viewer's model first, then any added); the grid picture shows masked input, reconstruction +
visible and error per row, drawn by :mod:`maskviz.figures` exactly as ``maskviz compare`` draws
grid.png; the table gives mean ± spread per model and sorts by any column; clicking a row (or a
sweep point) puts that mask on the viewer's canvas. The controls write the compare state; Run,
Cancel, exports and click-through go to the compare controller. The view keeps no job or result
of its own: it redraws the state's snapshot (only the visible tab, at most every
:data:`REDRAW_MS`: steps can come faster than a table and two plots redraw).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from maskviz.gui.compare.controller import CompareController, duration
from maskviz.gui.compare.plots import SweepPlots
from maskviz.gui.compare.state import CompareState
from maskviz.gui.compare.table import CompareTable
from maskviz.gui.flow import FlowLayout

REDRAW_MS = 250
EXPORTS = (("Grid PNG…", "grid", "png"), ("Sweep PNG…", "sweep", "png"), ("CSV…", "csv", "csv"),
           ("JSON…", "json", "json"))


def rgb_pixmap(rgb: np.ndarray) -> QPixmap:
    """A uint8 RGB array as a pixmap, pixel for pixel."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QPixmap.fromImage(QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy())


class CompareView(QWidget):
    """Controls, table + grid picture and the ratio sweep, for one compare state."""

    def __init__(self, state: CompareState, controller: CompareController, parent: QWidget | None = None,
                 choose_model: Callable[..., Any] | None = None) -> None:
        super().__init__(parent)
        self.state, self.controller = state, controller
        self.choose_model = choose_model  # the window's model picker: choose_model(on_chosen, title, action)
        self._drawn_grid: np.ndarray | None = None
        self._redraw = QTimer(self, singleShot=True, interval=REDRAW_MS)
        self._redraw.timeout.connect(self._draw)
        self._build()
        self._show_settings()
        state.settingsChanged.connect(self._show_settings)
        state.modelsChanged.connect(self._show_models)
        state.snapshotChanged.connect(self._on_snapshot)
        state.runChanged.connect(self._show_run)

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        s = self.state
        self.specs_edit = QLineEdit(self, toolTip="mask specs separated by spaces; the viewer's mask is always "
                                                  "the first row")
        self.seeds_box = QSpinBox(self, minimum=1, maximum=50)
        self.same_count_box = QCheckBox("same hidden count", self)
        self.show_all_box = QCheckBox("error on visible patches too", self)
        self.ratios_edit = QLineEdit(self, toolTip="ratios to sweep (START:STOP:STEP or a list); empty: no sweep")
        self.models_list = QListWidget(self)
        self.models_list.setMaximumHeight(52)
        self.folder_label = QLabel(self)
        self.run_button = QPushButton("Run", self)
        self.cancel_button = QPushButton("Cancel", self, enabled=False)
        self.progress = QProgressBar(self)
        self.status = QLabel("", self, wordWrap=True)
        self.specs_edit.editingFinished.connect(lambda: s.set_settings(specs=self.specs_edit.text()))
        self.ratios_edit.editingFinished.connect(lambda: s.set_settings(ratios=self.ratios_edit.text()))
        self.seeds_box.valueChanged.connect(lambda n: s.set_settings(seeds=n))
        self.same_count_box.toggled.connect(lambda on: s.set_settings(same_count=on))
        self.show_all_box.toggled.connect(lambda on: s.set_settings(show_all=on))
        self.run_button.clicked.connect(self._run)
        self.cancel_button.clicked.connect(lambda: self.controller.cancel())
        self.table = CompareTable(self)
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
        self.sweep = SweepPlots(self.controller.apply_strategy, self)
        self.plots = self.sweep.plots
        self.tabs = QTabWidget(self)
        self.tabs.addTab(split, "Strategies")
        self.tabs.addTab(self.sweep, "Ratio sweep")
        self.tabs.setMinimumHeight(260)  # a short dock scrolls its form rather than squeeze the results away
        self.tabs.currentChanged.connect(self._draw)
        layout = QVBoxLayout(self)
        layout.addLayout(self._controls())
        layout.addWidget(self.tabs, 1)

    def _controls(self) -> QVBoxLayout:
        """A form whose rows wrap (labels above fields, buttons onto more lines) in a narrow dock."""
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Masks", self.specs_edit)
        self.ratios_edit.setMinimumWidth(140)
        seeds, ratios = self._labelled("Seeds", self.seeds_box), self._labelled("Sweep ratios", self.ratios_edit)
        form.addRow(self._flow(seeds, ratios, self.same_count_box, self.show_all_box))
        form.addRow("More models", self.models_list)
        form.addRow(self._flow(*(self._button(text, slot) for text, slot in (
            ("Add model…", self._ask_model), ("Remove", self._remove_model), ("Folder…", self._ask_folder),
            ("Viewer image", lambda: self.state.set_folder(None))))))
        self.folder_label.setWordWrap(True)
        form.addRow(self.folder_label)
        run = QHBoxLayout()
        run.addWidget(self.progress, 1)
        run.addWidget(self.run_button)
        run.addWidget(self.cancel_button)
        form.addRow(run)
        form.addRow(self.status)
        exports = [self._button(text, lambda _=False, k=kind, x=suffix, t=text: self._ask_export(k, x, t))
                   for text, kind, suffix in EXPORTS]
        form.addRow("Export", self._flow(*exports))
        layout = QVBoxLayout()
        layout.addLayout(form)
        return layout

    def _button(self, text: str, slot: Any) -> QPushButton:  # noqa: ANN401 - a callable
        button = QPushButton(text, self)
        button.clicked.connect(slot)
        return button

    def _labelled(self, text: str, field: QWidget) -> QWidget:
        """A label and its field that wrap together."""
        pair = QWidget(self)
        row = QHBoxLayout(pair)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel(text, pair))
        row.addWidget(field, 1)
        return pair

    def _flow(self, *widgets: QWidget) -> QWidget:
        row = QWidget(self)
        flow = FlowLayout(row)
        for widget in widgets:
            flow.addWidget(widget)
        return row

    # ------------------------------------------------------------------ drawing the state

    def _show_settings(self) -> None:
        s = self.state.settings
        for widget, value in ((self.specs_edit, s.specs), (self.ratios_edit, s.ratios)):
            if widget.text() != value:
                widget.setText(value)
        for widget, setter, value in ((self.seeds_box, "setValue", s.seeds), (self.same_count_box, "setChecked",
                                      s.same_count), (self.show_all_box, "setChecked", s.show_all)):
            widget.blockSignals(True)
            getattr(widget, setter)(value)
            widget.blockSignals(False)
        folder = self.state.folder
        self.folder_label.setText(f"folder: {folder}" if folder else "image: the viewer's")

    def _show_models(self) -> None:
        self.models_list.clear()
        for label, source in self.state.models.items():
            self.models_list.addItem(f"{label}  ({source})")

    def _show_run(self) -> None:
        s = self.state
        self.cancel_button.setEnabled(s.running)
        if s.running and s.snapshot is None:
            self.progress.setRange(0, 0)  # busy until the first snapshot says how far it is
        elif not s.running and self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        estimate = "" if s.estimate is None or s.running else f" (≈ {duration(s.estimate)})"
        self.run_button.setText(f"Run{estimate}")
        self.status.setText(s.status)

    def _on_snapshot(self) -> None:
        snapshot = self.state.snapshot
        if snapshot is None:
            return
        self.progress.setRange(0, max(1, snapshot.total))
        self.progress.setValue(snapshot.done)
        if snapshot.finished:
            self._redraw.stop()
            self._draw()
        elif not self._redraw.isActive():
            self._redraw.start()

    def _draw(self) -> None:
        s = self.state.snapshot
        if s is None:
            return
        if self.tabs.currentIndex() == 0:
            self.table.fill(s)
            if s.grid is not None and s.grid is not self._drawn_grid:
                self.grid_label.setPixmap(rgb_pixmap(s.grid))
                self._drawn_grid = s.grid
        else:
            self.sweep.draw(s.curves)

    # ------------------------------------------------------------------ user actions

    def _run(self) -> None:
        self.state.set_settings(specs=self.specs_edit.text(), ratios=self.ratios_edit.text())
        self.controller.run()

    def _row_clicked(self, row: int, _column: int) -> None:
        strategy = self.table.strategy(row)
        if strategy is not None and not strategy.startswith("viewer:"):
            self.controller.apply_strategy(strategy)

    def _remove_model(self) -> None:
        row = self.models_list.currentRow()
        if row >= 0:
            self.state.remove_model(list(self.state.models)[row])

    def _ask_model(self) -> None:
        """The model picker; the chosen source is compared from the next run on."""
        if self.choose_model is not None:
            self.choose_model(self.state.add_model, "Add a model to compare", "Add")
            return
        from maskviz.gui.model_picker import ModelPicker

        self.picker = ModelPicker(self.state.add_model, title="Add a model to compare", action="Add", parent=self)
        self.picker.show()

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Compare on every image in a folder")
        if folder:
            self.state.set_folder(folder)

    def _ask_export(self, kind: str, suffix: str, text: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export {text.rstrip('…')}", f"compare.{suffix}")
        if path:
            self.controller.export(kind, path)

    def grid_pixmap(self) -> Any:  # noqa: ANN401 - QPixmap | None
        return self.grid_label.pixmap()
