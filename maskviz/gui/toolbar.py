"""The row above the canvas: tool, brush size and coverage threshold, kept in step with canvas and state.

Sizes are typed like every numeric field of the app: applied on Enter or focus-out, and clamped
visibly (``clamped`` carries the note) instead of silently.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget

from maskviz.gui.canvas import TOOLS, MaskCanvas
from maskviz.gui.patterns import ClampingDoubleSpinBox, ClampingSpinBox


class CanvasToolbar(QWidget):
    """Tool picker, brush size and coverage; they follow the canvas (keys) and the state (sessions)."""

    clamped = Signal(str)  # a typed value was out of range: what was used instead

    def __init__(self, canvas: MaskCanvas, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas, self.state = canvas, canvas.state
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
        self.follow()
        self._connect()

    def _connect(self) -> None:
        canvas, state = self.canvas, self.state
        canvas.toolChanged.connect(self.tool_box.setCurrentText)
        canvas.brushSizeChanged.connect(self.brush_spin.setValue)
        state.maskChanged.connect(lambda _final: self.threshold_spin.setValue(state.threshold * 100))
        self.tool_box.textActivated.connect(lambda t: setattr(canvas, "tool", t))
        self.brush_spin.valueChanged.connect(lambda v: setattr(canvas, "brush_size", v))
        self.threshold_spin.valueChanged.connect(lambda v: state.set_threshold(v / 100))
        for spin in (self.brush_spin, self.threshold_spin):
            spin.clamped.connect(self.clamped)

    def follow(self) -> None:
        """Show the canvas's tool and brush and the state's threshold (after a session is restored)."""
        self.tool_box.setCurrentText(self.canvas.tool)
        self.brush_spin.setValue(self.canvas.brush_size)
        self.threshold_spin.setValue(self.state.threshold * 100)
