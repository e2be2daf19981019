"""PatternPanel: pick a mask pattern from ``masks.MASK_PATTERNS`` and ask for it in the viewer state.

The panel is generated from the registry (one editor per parameter kind, see
:mod:`maskviz.gui.viewer.pattern_editors`), so a new pattern in ``masks.py`` appears here without
GUI code. Patterns with a ``path`` parameter (``file``) are left to the main window's file dialog.

The panel edits a pattern spec and asks for it with ``state.request_pattern(spec)`` (the canonical
spec is what the CLI's ``--mask`` accepts); the controller makes the mask once, with the model's
defaults, and puts it in the state, or says why it cannot (``state.pattern_error``, shown here).
The panel also *reads* the state: the defaults it shows follow the model (``state.pattern_default``:
SimMIM's cell size from the model file), its widgets follow the mask's provenance (undo brings an
earlier pattern back), and a line says what the mask is now ("random 75 % + edits", "painted") and
how much it really hides when that differs from the ratio asked for.
"""

from __future__ import annotations

import random
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from maskviz.errors import MaskError
from maskviz.gui.state import ViewerState, amount_note
from maskviz.gui.viewer.pattern_editors import (
    EDITORS,
    ClampingDoubleSpinBox,
    ClampingSpinBox,
    Editor,
    editable,
)
from maskviz.masks import MASK_PATTERNS, MaskPattern, MaskSpec, PatternParam, parse_mask_spec

DEBOUNCE_MS = 100
SEED_MAX = 2**31 - 1


class PatternPanel(QWidget):
    """Registry-driven pattern picker: parameters, seed with re-roll, complement, live apply."""

    patternRequested = Signal(str)  # the canonical spec just asked for

    def __init__(self, state: ViewerState | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state if state is not None else ViewerState(self)
        self._editors: dict[str, Editor] = {}
        self._loading = False
        self._pending_note = ""
        self._rng = random.Random()
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.apply)
        self._build()
        self._loading = True  # building the first pattern's editors is not a user change
        self._reserve_height()
        self._on_pattern()
        self._loading = False
        self._bind_state()

    def _build(self) -> None:
        self.pattern_combo = QComboBox()
        for name, pattern in MASK_PATTERNS.items():
            if editable(pattern):
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

    def _bind_state(self) -> None:
        s = self.state
        s.modelChanged.connect(self._follow_model)
        s.geometryChanged.connect(self._follow_model)
        s.provenanceChanged.connect(self._follow_provenance)
        s.maskChanged.connect(lambda _final: self._update_label())
        s.patternErrorChanged.connect(self._show_error)
        self._follow_model()

    # ------------------------------------------------------------------ public API

    @property
    def pattern(self) -> MaskPattern:
        return MASK_PATTERNS[self.pattern_combo.currentText()]

    @property
    def editors(self) -> dict[str, QWidget]:
        """Parameter name → its editor widget, for the current pattern."""
        return {name: e.widget for name, e in self._editors.items()}

    def default(self, param: PatternParam) -> Any:  # noqa: ANN401
        """A parameter's default for the current model (the state knows it: one copy of the rule)."""
        return self.state.pattern_default(self.pattern.name, param)

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
                self._editors[p.name].set(values.get(p.name, self.default(p)))
            if values.get("seed") is not None:
                self.seed_spin.setValue(values["seed"])
            self.complement_check.setChecked(parsed.invert)
        finally:
            self._loading = False
        self._debounce.stop()

    def apply(self) -> None:
        """Ask the state for the widgets' pattern; the controller makes its mask (errors show below)."""
        self._debounce.stop()
        spec = self.mask_spec()
        note, self._pending_note = self._pending_note, ""
        self.patternRequested.emit(str(spec))
        self.state.request_pattern(spec)
        if not self.state.pattern_error and note:
            self.error_label.setText(note)  # a clamped value: said until the apply it caused

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

    # ------------------------------------------------------------------ following the state

    def _follow_model(self) -> None:
        """Editors of parameters whose default follows the model show the new default (nothing applied)."""
        self._loading = True
        try:
            for param in self.pattern.params:
                if param.default is None and param.name in self._model_dependent():
                    self._editors[param.name].set(self.default(param))
        finally:
            self._loading = False
        self._update_label()

    def _model_dependent(self) -> set[str]:
        model = self.state.model
        stored = model.mask_defaults().get(self.pattern.name, {}) if model is not None else {}
        automatic = {p.name for p in self.pattern.params if p.auto is not None}
        return automatic | set(stored)

    def _follow_provenance(self) -> None:
        spec = self.state.provenance.spec
        if spec is not None and self.pattern_combo.findText(spec.name) >= 0 and spec != self.mask_spec():
            self.set_spec(spec)
        self._update_label()

    def _show_error(self, text: str) -> None:
        self.error_label.setText(text)

    def _update_label(self) -> None:
        text, note = self.state.mask_label(), amount_note(self.state.provenance)
        self.mask_label.setText(f"{text} · {note}" if note else text)

    # ------------------------------------------------------------------ internals

    def _on_pattern(self) -> None:
        pattern = self.pattern
        for old in self._editors.values():
            self._form.removeRow(old.widget)
        self._editors = {}
        for row, param in enumerate(pattern.params, start=3):
            editor = EDITORS[param.kind](param, self._changed)
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
