"""The row above the canvas: tool, brush size and coverage threshold, as the viewer state has them.

Sizes are typed like every numeric field of the app: applied on Enter or focus-out, and clamped
visibly (``clamped`` carries the note) instead of silently. Keys change the same settings in the
state (``state.view``), and the row follows.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from maskviz.gui.state import ViewerState
from maskviz.gui.view_state import TOOLS
from maskviz.gui.viewer.pattern_editors import ClampingDoubleSpinBox, ClampingSpinBox


class CanvasToolbar(QWidget):
    """Tool picker, brush size and coverage; they write and follow the state."""

    clamped = Signal(str)  # a typed value was out of range: what was used instead

    def __init__(self, state: ViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.tool_box = QComboBox(self)
        self.tool_box.addItems(list(TOOLS))
        self.tool_box.setToolTip("B brush · E eraser · M rectangle · L polygon · F fill")
        self.brush_spin = ClampingSpinBox(self)
        self.brush_spin.setRange(1, 512)
        self.brush_spin.setSuffix(" px")
        self.brush_spin.setToolTip("Brush size ([ and ])")
        self.threshold_spin = ClampingDoubleSpinBox(self)
        self.threshold_spin.setRange(0.0, 100.0)
        self.threshold_spin.setDecimals(0)
        self.threshold_spin.setSingleStep(5)
        self.threshold_spin.setSuffix(" %")
        self.threshold_spin.setToolTip("A patch counts as hidden when at least this much of it is painted")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for label, widget in (("Tool", self.tool_box), ("Size", self.brush_spin), ("Coverage", self.threshold_spin)):
            row.addWidget(QLabel(label, self))
            row.addWidget(widget)
        row.addStretch(1)
        self._follow()
        self._connect()

    def _connect(self) -> None:
        state, view = self.state, self.state.view
        view.toolChanged.connect(self._follow)
        state.maskChanged.connect(lambda _final: self.threshold_spin.setValue(state.threshold * 100))
        self.tool_box.textActivated.connect(view.set_tool)
        self.brush_spin.valueChanged.connect(view.set_brush_size)
        self.threshold_spin.valueChanged.connect(lambda v: state.set_threshold(v / 100))
        for spin in (self.brush_spin, self.threshold_spin):
            spin.clamped.connect(self.clamped)

    def _follow(self) -> None:
        view = self.state.view
        self.tool_box.setCurrentText(view.tool)
        self.brush_spin.setValue(view.brush_size)
        self.threshold_spin.setValue(self.state.threshold * 100)
