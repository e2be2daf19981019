"""PatternPanel: pick a mask pattern from ``masks.MASK_PATTERNS`` and apply it to the canvas.

The panel is generated from the registry: each ``PatternParam`` kind maps to one editor (float →
slider + spin box, shown in % when its range is exactly 0..1; int → spin box, where a ``None``
default reads "none"; choice → combo box), so a new pattern in ``masks.py`` appears here without
GUI code. Patterns with a ``path`` parameter (``file``) are left to the main window's file dialog.

The panel generates the mask itself and emits ``patternApplied(spec, mask)``: the owner puts it in
the viewer state (``state.apply_pattern``); the canonical spec is what the CLI's ``--mask`` accepts.
Bound to a :class:`~maskviz.gui.state.ViewerState` (:meth:`PatternPanel.bind_state`) the panel also
*reads* the state: its grid and pattern defaults follow the model (SimMIM's cell size from the model
file), its widgets follow the mask's provenance (undo brings an earlier pattern back), and a line
says what the mask is now ("random 75 % + edits", "painted") and how much it really hides when that
differs from the ratio asked for.

Numeric fields apply when editing is finished (Enter, focus out, arrows), not on every keystroke, and
a typed value out of range is clamped visibly (the error line says so) instead of being cut short.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from maskviz.errors import MaskError
from maskviz.masks import (
    MASK_PATTERNS,
    MaskPattern,
    MaskSpec,
    PatternParam,
    mask_ratio,
    parse_mask_spec,
)

DEBOUNCE_MS = 100
SEED_MAX = 2**31 - 1
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
class _Editor:
    """A parameter's widget and how to read and write its value in the spec's own type."""

    widget: QWidget
    get: Callable[[], Any]
    set: Callable[[Any], None]


def _float_editor(param: PatternParam, changed: Callable[[], None]) -> _Editor:
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
    return _Editor(box, get, lambda v: spin.setValue(float(v) * scale))


def _int_editor(param: PatternParam, changed: Callable[[], None]) -> _Editor:
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

    return _Editor(spin, get, lambda v: spin.setValue(spin.minimum() if v is None else int(v)))


def _choice_editor(param: PatternParam, changed: Callable[[], None]) -> _Editor:
    combo = QComboBox()
    combo.addItems(list(param.choices))
    combo.currentIndexChanged.connect(changed)
    return _Editor(combo, combo.currentText, combo.setCurrentText)


_EDITORS = {"float": _float_editor, "int": _int_editor, "choice": _choice_editor}


def _editable(pattern: MaskPattern) -> bool:
    return all(p.kind in _EDITORS for p in pattern.params)


class PatternPanel(QWidget):
    """Registry-driven pattern picker: parameters, seed with re-roll, complement, live apply."""

    patternApplied = Signal(str, object)  # canonical spec, (gh, gw) bool mask for the current grid

    def __init__(self, parent: QWidget | None = None, grid: tuple[int, int] = (14, 14),
                 patch_size: int = 16) -> None:
        super().__init__(parent)
        self._grid, self._patch_size = tuple(grid), int(patch_size)
        self._defaults: dict[str, dict[str, Any]] = {}  # the model's pattern defaults (mask_defaults())
        self._editors: dict[str, _Editor] = {}
        self._loading = False
        self.state: Any = None
        self._pending_note = ""
        self._rng = random.Random()
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.apply)
        self._build()
        self._loading = True  # building the first pattern's editors is not a user change
        self._reserve_height()
        self._on_pattern()
        self._loading = False

    def _build(self) -> None:
        self.pattern_combo = QComboBox()
        for name, pattern in MASK_PATTERNS.items():
            if _editable(pattern):
                self.pattern_combo.addItem(name)
                self.pattern_combo.setItemData(self.pattern_combo.count() - 1, pattern.description,
                                               Qt.ItemDataRole.ToolTipRole)
        self.description = QLabel(wordWrap=True)
        self.seed_spin = ClampingSpinBox()
        self.seed_spin.setMaximum(SEED_MAX)
        self.seed_spin.setToolTip("Same seed, same mask")
        self.seed_spin.clamped.connect(self._note)
        self.mask_label = QLabel("painted", wordWrap=True, toolTip="What the mask on the canvas is now")
        self.reroll_button = QPushButton("Re-roll", toolTip="New random seed (R)")
        self.complement_check = QCheckBox("Complement (swap hidden and visible)")
        self.auto_apply_check = QCheckBox("Auto-apply", checked=True)
        self.apply_button = QPushButton("Apply")
        self.error_label = QLabel(wordWrap=True, styleSheet="color: #c62828")
        self.reroll_action = QAction("Re-roll pattern seed", self, shortcut=QKeySequence(Qt.Key.Key_R),
                                     shortcutContext=Qt.ShortcutContext.WindowShortcut)
        self.addAction(self.reroll_action)
        self._lay_out()
        self.pattern_combo.currentIndexChanged.connect(self._on_pattern)
        self.seed_spin.valueChanged.connect(self._changed)
        self.complement_check.toggled.connect(self._changed)
        self.reroll_button.clicked.connect(self.reroll)
        self.reroll_action.triggered.connect(self.reroll)
        self.apply_button.clicked.connect(self.apply)

    def _lay_out(self) -> None:
        self._form = form = QFormLayout(self)
        form.addRow("Mask", self.mask_label)
        form.addRow("Pattern", self.pattern_combo)
        form.addRow(self.description)  # parameter rows go in below this one (row 3 onwards)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(self.reroll_button)
        form.addRow("Seed", seed_row)
        form.addRow(self.complement_check)
        apply_row = QHBoxLayout()
        apply_row.addWidget(self.auto_apply_check)
        apply_row.addStretch(1)
        apply_row.addWidget(self.apply_button)
        form.addRow(apply_row)
        form.addRow(self.error_label)

    # ------------------------------------------------------------------ public API

    @property
    def pattern(self) -> MaskPattern:
        return MASK_PATTERNS[self.pattern_combo.currentText()]

    @property
    def editors(self) -> dict[str, QWidget]:
        """Parameter name → its editor widget, for the current pattern."""
        return {name: e.widget for name, e in self._editors.items()}

    def set_grid(self, grid: tuple[int, int], patch_size: int,
                 defaults: dict[str, dict[str, Any]] | None = None) -> None:
        """Tell the panel the model's patch grid and pattern defaults; the editors of parameters whose
        default follows the model (SimMIM's cell size) show the new default. Applies nothing."""
        self._grid, self._patch_size = (int(grid[0]), int(grid[1])), int(patch_size)
        self._defaults = dict(defaults or {})
        self._loading = True
        try:
            for param in self.pattern.params:
                if param.default is None and param.name in self._model_dependent():
                    self._editors[param.name].set(self.default(param))
        finally:
            self._loading = False

    def _model_dependent(self) -> set[str]:
        automatic = {p.name for p in self.pattern.params if p.auto is not None}
        return automatic | set(self._defaults.get(self.pattern.name, {}))

    def default(self, param: PatternParam) -> Any:
        """A parameter's default for the current model: the model file's, else the grid's, else the registry's."""
        pattern = self.pattern.name
        if param.name in self._defaults.get(pattern, {}):
            return self._defaults[pattern][param.name]
        return param.default_for(self._grid, self._patch_size)

    def bind_state(self, state: Any) -> None:
        """Read a ViewerState: grid and defaults from its model, widgets and label from its mask."""
        self.state = state
        state.modelChanged.connect(self._follow_model)
        state.provenanceChanged.connect(self._follow_provenance)
        state.maskChanged.connect(lambda _final: self._update_label())
        self._follow_model()

    def _follow_model(self) -> None:
        model = self.state.model
        self.set_grid(self.state.paint.grid, self.state.paint.patch_size,
                      model.mask_defaults() if model is not None else None)
        self._update_label()

    def _follow_provenance(self) -> None:
        spec = self.state.provenance.spec
        if spec is not None and self.pattern_combo.findText(spec.name) >= 0 and spec != self.mask_spec():
            self.set_spec(spec)
        self._update_label()

    def _update_label(self) -> None:
        if self.state is None:
            return
        text = self.state.mask_label()
        prov = self.state.provenance
        if prov.spec is not None and prov.mask is not None and prov.spec.pattern.param("ratio") is not None:
            asked = prov.spec.params.get("ratio", prov.spec.pattern.param("ratio").default)
            asked = 1 - asked if prov.spec.invert else asked
            actual = mask_ratio(prov.mask)
            if abs(actual - asked) > 0.005:
                text += f" · hides {actual * 100:.1f} % (asked {asked * 100:g} %)"
        self.mask_label.setText(text)

    def mask_spec(self) -> MaskSpec:
        """The widgets' state as a spec; trailing default arguments are left out for brevity."""
        pattern = self.pattern
        values = [self._editors[p.name].get() for p in pattern.params]
        n = len(values)
        while n > 1 and values[n - 1] in (pattern.params[n - 1].default, self.default(pattern.params[n - 1])):
            n -= 1
        seed = (("seed", self.seed_spin.value()),) if pattern.seeded else ()
        return MaskSpec(pattern.name, tuple(values[:n]), seed, self.complement_check.isChecked())

    def spec(self) -> str:
        """Canonical spec text, e.g. ``random:0.75,seed=3`` (what ``maskviz --mask`` accepts)."""
        return str(self.mask_spec())

    def set_spec(self, spec: str | MaskSpec) -> None:
        """Show a spec in the widgets (no apply); raises MaskError for patterns the panel lacks."""
        parsed = spec if isinstance(spec, MaskSpec) else parse_mask_spec(spec)
        index = self.pattern_combo.findText(parsed.name)
        if index < 0:
            raise MaskError(f"The pattern panel cannot edit {parsed.name!r} masks.")
        self._loading = True
        try:
            self.pattern_combo.setCurrentIndex(index)
            values = parsed.params
            for p in parsed.pattern.params:
                self._editors[p.name].set(values.get(p.name, p.default))
            if values.get("seed") is not None:
                self.seed_spin.setValue(values["seed"])
            self.complement_check.setChecked(parsed.invert)
        finally:
            self._loading = False
        self._debounce.stop()

    def apply(self) -> None:
        """Generate the mask for the current grid and emit ``patternApplied``; errors show inline."""
        self._debounce.stop()
        spec = self.mask_spec()
        try:
            mask = spec.generate(self._grid, self._patch_size, defaults=self._defaults)
        except MaskError as exc:
            self.error_label.setText(str(exc))
            return
        self.error_label.setText(self._pending_note)
        self._pending_note = ""
        self.patternApplied.emit(str(spec), mask)

    def reroll(self) -> None:
        """New seed, applied at once (R); patterns without randomness have nothing to re-roll."""
        if not self.pattern.seeded:
            return
        seed = self.seed_spin.value()
        while seed == self.seed_spin.value():
            seed = self._rng.randrange(SEED_MAX)
        self._loading = True
        self.seed_spin.setValue(seed)
        self._loading = False
        self.apply()

    # ------------------------------------------------------------------ internals

    def _on_pattern(self) -> None:
        pattern = self.pattern
        for old in self._editors.values():
            self._form.removeRow(old.widget)
        self._editors = {}
        for row, param in enumerate(pattern.params, start=3):
            editor = _EDITORS[param.kind](param, self._changed)
            editor.set(self.default(param))
            for spin in editor.widget.findChildren(QAbstractSpinBox) + [editor.widget]:
                if isinstance(spin, ClampingSpinBox | ClampingDoubleSpinBox):
                    spin.clamped.connect(self._note)
            editor.widget.setToolTip(param.help)
            self._form.insertRow(row, param.name.replace("_", " "), editor.widget)
            self._editors[param.name] = editor
        self.description.setText(pattern.description)
        for w in (self.seed_spin, self.reroll_button, self.reroll_action):
            w.setEnabled(pattern.seeded)
        self._changed()

    def _note(self, text: str) -> None:
        """A clamped value: said until the apply it causes has happened."""
        self._pending_note = text
        self.error_label.setText(text)

    def _reserve_height(self) -> None:
        """As tall as the pattern with the most parameter rows, so switching never moves what is below."""
        tallest = 0
        for index in range(self.pattern_combo.count()):
            self.pattern_combo.setCurrentIndex(index)
            self._form.activate()
            tallest = max(tallest, self.sizeHint().height())
        self.pattern_combo.setCurrentIndex(0)
        self.setMinimumHeight(tallest)

    def _changed(self) -> None:
        if not self._loading and self.auto_apply_check.isChecked():
            self._debounce.start()
