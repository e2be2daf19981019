"""Number fields that clamp visibly, and one editor per pattern-parameter kind.

Numeric fields apply when editing is finished (Enter, focus out, arrows), not on every keystroke,
and a typed value out of range is clamped visibly (``clamped`` carries the note) instead of being
cut short. :data:`EDITORS` maps a ``PatternParam`` kind to its editor: float → slider + spin box
(shown in % when its range is exactly 0..1), int → spin box (a ``None`` default reads "none" or
"auto"), choice → combo box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QSlider, QSpinBox, QWidget

from maskviz.masks import MaskPattern, PatternParam

INT_MAX = 9999  # a spin box needs a bound; no grid has more patches per side
SLIDER_STEPS = 1000


class _ClampingMixin:
    """Typing past a bound is accepted while typing and clamped on Enter, with a note (``clamped``)."""

    def _number(self, text: str) -> float | None:
        try:
            return float(text.replace(self.suffix(), "").replace(self.prefix(), "").strip())
        except ValueError:
            return None

    def validate(self, text: str, pos: int):  # noqa: ANN201 - Qt's (state, text, pos)
        result = super().validate(text, pos)
        state = result[0] if isinstance(result, tuple) else result
        if state == QValidator.State.Invalid and self._number(text) is not None:
            return QValidator.State.Intermediate, text, pos
        return result

    def fixup(self, text: str) -> str:
        number = self._number(text)
        if number is None:
            return text
        clamped = min(max(number, self.minimum()), self.maximum())
        if clamped != number:
            self.clamped.emit(f"{number:g}{self.suffix()} is out of range; using {self.textFromValue(clamped)}"
                              f"{self.suffix()} (range {self.textFromValue(self.minimum())}–"
                              f"{self.textFromValue(self.maximum())}{self.suffix()})")
        return self.textFromValue(clamped)


class ClampingDoubleSpinBox(_ClampingMixin, QDoubleSpinBox):
    clamped = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        _finish_on_enter(self)


class ClampingSpinBox(_ClampingMixin, QSpinBox):
    clamped = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        _finish_on_enter(self)


def _finish_on_enter(spin: QAbstractSpinBox) -> None:
    """valueChanged on Enter, focus-out or arrows only, never per keystroke; clamp what is out of range."""
    spin.setKeyboardTracking(False)
    spin.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)


@dataclass
class Editor:
    """A parameter's widget and how to read and write its value in the spec's own type."""

    widget: QWidget
    get: Callable[[], Any]
    set: Callable[[Any], None]


def _float_editor(param: PatternParam, changed: Callable[[], None]) -> Editor:
    lo, hi = float(param.min), float(param.max)
    scale = 100.0 if (lo, hi) == (0.0, 1.0) else 1.0  # fractions of the image read best as %
    spin = ClampingDoubleSpinBox()
    spin.setRange(lo * scale, hi * scale)
    spin.setDecimals(1 if scale == 100 else 2)
    spin.setSingleStep(1.0 if scale == 100 else 0.05)
    spin.setSuffix(" %" if scale == 100 else "")
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, SLIDER_STEPS)

    def get() -> float:
        return round(spin.value() / scale, 6)

    def follow_spin() -> None:
        slider.blockSignals(True)
        slider.setValue(round((get() - lo) / (hi - lo) * SLIDER_STEPS))
        slider.blockSignals(False)
        changed()

    slider.valueChanged.connect(lambda pos: spin.setValue((lo + pos / SLIDER_STEPS * (hi - lo)) * scale))
    spin.valueChanged.connect(follow_spin)
    box = QWidget()
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.addWidget(slider, 1)
    row.addWidget(spin)
    return Editor(box, get, lambda v: spin.setValue(float(v) * scale))


def _int_editor(param: PatternParam, changed: Callable[[], None]) -> Editor:
    spin = ClampingSpinBox()
    lo = int(param.min) if param.min is not None else 0
    hi = int(param.max) if param.max is not None else INT_MAX
    nullable = param.default is None  # "none" = no limit: the spin box's minimum shows that word
    spin.setRange(lo - 1 if nullable else lo, hi)
    if nullable:
        spin.setSpecialValueText("auto" if param.name == "mask_patch" else "none")
    spin.valueChanged.connect(changed)

    def get() -> int | None:
        return None if nullable and spin.value() == spin.minimum() else spin.value()

    return Editor(spin, get, lambda v: spin.setValue(spin.minimum() if v is None else int(v)))


def _choice_editor(param: PatternParam, changed: Callable[[], None]) -> Editor:
    combo = QComboBox()
    combo.addItems(list(param.choices))
    combo.currentIndexChanged.connect(changed)
    return Editor(combo, combo.currentText, combo.setCurrentText)


EDITORS = {"float": _float_editor, "int": _int_editor, "choice": _choice_editor}


def editable(pattern: MaskPattern) -> bool:
    return all(p.kind in EDITORS for p in pattern.params)
