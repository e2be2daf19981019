"""PatternPanel: pick a mask pattern from ``masks.MASK_PATTERNS`` and apply it to the canvas.

The panel is generated from the registry: each ``PatternParam`` kind maps to one editor (float →
slider + spin box, shown in % when its range is exactly 0..1; int → spin box, where a ``None``
default reads "none"; choice → combo box), so a new pattern in ``masks.py`` appears here without
GUI code. Patterns with a ``path`` parameter (``file``) are left to the main window's file dialog.

The panel generates the mask itself and emits ``patternApplied(spec, mask)``: the owner only
forwards the mask (``canvas.set_patch_mask(mask, f"Pattern {spec}")``) and can log or show the
canonical spec, which the CLI's ``--mask`` accepts verbatim.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
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
from maskviz.masks import MASK_PATTERNS, MaskPattern, MaskSpec, PatternParam, parse_mask_spec

DEBOUNCE_MS = 100
SEED_MAX = 2**31 - 1
INT_MAX = 9999  # a spin box needs a bound; no grid has more patches per side
SLIDER_STEPS = 1000


@dataclass
class _Editor:
    """A parameter's widget and how to read and write its value in the spec's own type."""

    widget: QWidget
    get: Callable[[], Any]
    set: Callable[[Any], None]


def _float_editor(param: PatternParam, changed: Callable[[], None]) -> _Editor:
    lo, hi = float(param.min), float(param.max)
    scale = 100.0 if (lo, hi) == (0.0, 1.0) else 1.0  # fractions of the image read best as %
    spin = QDoubleSpinBox()
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
    spin = QSpinBox()
    lo = int(param.min) if param.min is not None else 0
    hi = int(param.max) if param.max is not None else INT_MAX
    nullable = param.default is None  # "none" = no limit: the spin box's minimum shows that word
    spin.setRange(lo - 1 if nullable else lo, hi)
    if nullable:
        spin.setSpecialValueText("none")
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
        self._editors: dict[str, _Editor] = {}
        self._loading = False
        self._rng = random.Random()
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.apply)
        self._build()
        self._loading = True  # building the first pattern's editors is not a user change
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
        self.seed_spin = QSpinBox(maximum=SEED_MAX, toolTip="Same seed, same mask")
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
        form.addRow("Pattern", self.pattern_combo)
        form.addRow(self.description)  # parameter rows go in below this one (row 2 onwards)
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

    def set_grid(self, grid: tuple[int, int], patch_size: int) -> None:
        """Tell the panel the model's patch grid; takes effect on the next apply."""
        self._grid, self._patch_size = (int(grid[0]), int(grid[1])), int(patch_size)

    def mask_spec(self) -> MaskSpec:
        """The widgets' state as a spec; trailing default arguments are left out for brevity."""
        pattern = self.pattern
        values = [self._editors[p.name].get() for p in pattern.params]
        n = len(values)
        while n > 1 and values[n - 1] == pattern.params[n - 1].default:
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
            mask = spec.generate(self._grid, self._patch_size)
        except MaskError as exc:
            self.error_label.setText(str(exc))
            return
        self.error_label.clear()
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
        for row, param in enumerate(pattern.params, start=2):
            editor = _EDITORS[param.kind](param, self._changed)
            editor.set(param.default)
            editor.widget.setToolTip(param.help)
            self._form.insertRow(row, param.name.replace("_", " "), editor.widget)
            self._editors[param.name] = editor
        self.description.setText(pattern.description)
        for w in (self.seed_spin, self.reroll_button, self.reroll_action):
            w.setEnabled(pattern.seeded)
        self._changed()

    def _changed(self) -> None:
        if not self._loading and self.auto_apply_check.isChecked():
            self._debounce.start()
