"""The Compare dock's table: mean ± spread per model and strategy, sortable by any column.

Cells are updated in place (a run sends a snapshot every few hundred milliseconds) and sort by
their numbers, not their text; the layout is rebuilt only when the models or strategies change.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem, QWidget

from maskviz.compare import Summary
from maskviz.figures import loss_unit


class NumberItem(QTableWidgetItem):
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


def metric_texts(s: Summary | None, folder: bool) -> list[tuple[str, float]]:
    """Loss, PSNR and hidden fraction of one summary, as (text, sort value)."""
    if s is None:
        return [("…", math.nan)] * 3

    def text(stat: Any, digits: int) -> str:  # noqa: ANN401
        if stat.n == 0:
            return "n/a"
        spread = stat.ci95 if folder else stat.std
        varies = stat.n > 1 and (folder or s.distinct_masks > 1)
        return f"{stat.mean:.{digits}f}" + (f" ± {spread:.{digits}f}" if varies else "")

    return [(text(s.loss, 4), s.loss.mean), (text(s.psnr, 2), s.psnr.mean),
            (f"{s.hidden_fraction:.1%}", s.hidden_fraction)]


class CompareTable(QTableWidget):
    """One row per strategy, three columns per model; a row's strategy is in column 0's UserRole."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSortingEnabled(True)
        self.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self._layout: tuple[Any, ...] = ()
        self._cells: dict[tuple[str, int], list[NumberItem]] = {}

    def fill(self, snapshot: Any) -> None:  # noqa: ANN401 - Snapshot
        models = snapshot.table.models
        folder = len(snapshot.table.images) > 1
        strategies = [s.label for s in snapshot.table.strategies if not s.sweep]
        units = {s.model: loss_unit(s) for s in snapshot.summaries}
        layout = (tuple(models), tuple(strategies), tuple(units.get(m, "") for m in models))
        if layout != self._layout:
            self._build(models, strategies, units)
            self._layout = layout
        by_key = {(s.model, s.strategy): s for s in snapshot.summaries}
        sorting = self.isSortingEnabled()
        self.setSortingEnabled(False)  # re-sort once at the end, not after every cell
        for (strategy, m), items in self._cells.items():
            for item, (text, value) in zip(items, metric_texts(by_key.get((models[m], strategy)), folder), strict=True):
                item.show(text, value)
        self.setSortingEnabled(sorting)
        spread = "95% CI over images" if folder else "std over seeds"
        self.setToolTip(f"mean ± {spread}; click a row to put its mask on the canvas")

    def strategy(self, row: int) -> str | None:
        item = self.item(row, 0)
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))

    def _build(self, models: list[str], strategies: list[str], units: dict[str, str]) -> None:
        """Column heads name each model's loss by its unit (an MAE's MSE beside a SimMIM's L1)."""
        headers = ["strategy"] + [f"{m}\n{k}" for m in models
                                  for k in (f"{units.get(m, '')} loss".lstrip(), "PSNR dB", "hidden")]
        self.setSortingEnabled(False)
        self.clear()
        self.setColumnCount(len(headers))
        self.setHorizontalHeaderLabels(headers)
        self.setRowCount(len(strategies))
        self._cells = {}
        for row, strategy in enumerate(strategies):
            name = QTableWidgetItem(strategy)
            name.setData(Qt.ItemDataRole.UserRole, strategy)
            name.setFlags(name.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.setItem(row, 0, name)
            for m in range(len(models)):
                items = [NumberItem("…", math.nan) for _ in range(3)]
                for k, item in enumerate(items):
                    self.setItem(row, 1 + 3 * m + k, item)
                self._cells[(strategy, m)] = items
        self.setSortingEnabled(True)
        self.resizeColumnsToContents()
        self.horizontalHeader().setMinimumSectionSize(90)
