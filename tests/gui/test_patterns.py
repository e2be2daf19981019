"""PatternPanel: generated from the registry, asks the state for canonical specs; the controller makes
the matching masks."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QSlider, QSpinBox

from maskviz.errors import MaskError
from maskviz.gui.controller import Controller
from maskviz.gui.state import ViewerState
from maskviz.gui.viewer.patterns import PatternPanel
from maskviz.masks import MASK_PATTERNS, make_mask

GRID, PATCH = (6, 5), 8


@pytest.fixture
def state(qtbot):
    s = ViewerState()
    s.set_geometry((GRID[0] * PATCH, GRID[1] * PATCH), PATCH)
    controller = Controller(s)  # makes the mask a requested pattern names
    yield s
    controller.shutdown()


@pytest.fixture
def panel(qtbot, state) -> PatternPanel:
    p = PatternPanel(state)
    qtbot.addWidget(p)
    return p


def _names(panel: PatternPanel) -> list[str]:
    return [panel.pattern_combo.itemText(i) for i in range(panel.pattern_combo.count())]


def _select(panel: PatternPanel, name: str) -> None:
    panel.pattern_combo.setCurrentText(name)
    assert panel.pattern.name == name


def _apply(panel: PatternPanel, qtbot) -> tuple[str, np.ndarray]:
    """Apply the panel's pattern; the spec asked for and the mask now in the state."""
    with qtbot.waitSignal(panel.patternRequested, timeout=1000) as blocker:
        panel.apply()
    assert panel.state.pattern_spec == blocker.args[0]
    return blocker.args[0], panel.state.patch_mask()


def test_combo_lists_every_pattern_but_file(panel):
    assert _names(panel) == [n for n in MASK_PATTERNS if n != "file"]


def test_every_pattern_emits_its_mask_for_the_grid(panel, qtbot):
    for name in _names(panel):
        _select(panel, name)
        spec, mask = _apply(panel, qtbot)
        assert spec == panel.spec() and spec.startswith(name)
        assert mask.shape == GRID and mask.dtype == bool
        np.testing.assert_array_equal(mask, make_mask(spec, GRID, PATCH))


def test_parameter_editors_follow_param_kinds(panel):
    for name in _names(panel):
        _select(panel, name)
        pattern = MASK_PATTERNS[name]
        assert list(panel.editors) == [p.name for p in pattern.params]
        for p in pattern.params:
            widget = panel.editors[p.name]
            if p.kind == "float":
                spin = widget.findChild(QDoubleSpinBox)
                assert widget.findChild(QSlider) is not None
                assert spin.value() == pytest.approx(p.default * (100 if (p.min, p.max) == (0, 1) else 1))
            elif p.kind == "int":
                assert isinstance(widget, QSpinBox)
                default = panel.default(p)  # simmim's cell size follows the grid (8 px cells on this one)
                assert widget.text() == ("none" if default is None else str(default))
            else:
                assert isinstance(widget, QComboBox)
                assert [widget.itemText(i) for i in range(widget.count())] == list(p.choices)
                assert widget.currentText() == p.default
        assert panel.seed_spin.isEnabled() == pattern.seeded


def test_ratio_slider_is_in_percent_and_drives_the_spec(panel, qtbot):
    spin = panel.editors["ratio"].findChild(QDoubleSpinBox)
    assert spin.suffix() == " %" and spin.value() == 75.0
    panel.editors["ratio"].findChild(QSlider).setValue(500)
    assert spin.value() == 50.0
    spec, mask = _apply(panel, qtbot)
    assert spec == "random:0.5,seed=0" and mask.sum() == 15


def test_changes_auto_apply_once_after_debounce(panel, qtbot):
    slider = panel.editors["ratio"].findChild(QSlider)
    emitted: list[str] = []
    panel.patternRequested.connect(emitted.append)
    for pos in (100, 200, 300):
        slider.setValue(pos)
    assert emitted == []
    qtbot.waitUntil(lambda: bool(emitted), timeout=1000)
    qtbot.wait(150)
    assert emitted == ["random:0.3,seed=0"]


def test_no_apply_without_auto_apply_or_at_construction(panel, qtbot):
    panel.auto_apply_check.setChecked(False)
    with qtbot.assertNotEmitted(panel.patternRequested, wait=250):
        panel.editors["ratio"].findChild(QSlider).setValue(100)
    fresh = PatternPanel(panel.state)
    qtbot.addWidget(fresh)
    with qtbot.assertNotEmitted(fresh.patternRequested, wait=250):
        pass


def test_reroll_changes_seed_and_mask(panel, qtbot):
    panel.state.set_geometry((224, 224), 16)
    _, first = _apply(panel, qtbot)
    seed = panel.seed_spin.value()
    with qtbot.waitSignal(panel.patternRequested) as blocker:
        panel.reroll_button.click()
    spec, mask = blocker.args[0], panel.state.patch_mask()
    assert panel.seed_spin.value() != seed and spec.endswith(f"seed={panel.seed_spin.value()}")
    assert not np.array_equal(mask, first) and mask.sum() == first.sum()


def test_r_key_rerolls_when_the_window_is_active(panel, qtbot):
    panel.show()
    panel.activateWindow()
    qtbot.waitUntil(panel.isActiveWindow, timeout=2000)
    seed = panel.seed_spin.value()
    with qtbot.waitSignal(panel.patternRequested, timeout=1000):
        qtbot.keyClick(panel, Qt.Key.Key_R)
    assert panel.seed_spin.value() != seed


def test_reroll_is_a_noop_for_deterministic_patterns(panel, qtbot):
    _select(panel, "grid")
    assert not panel.reroll_button.isEnabled() and not panel.reroll_action.isEnabled()
    with qtbot.assertNotEmitted(panel.patternRequested):
        panel.reroll()


def test_complement_inverts_the_mask(panel, qtbot):
    _select(panel, "center")
    spec, plain = _apply(panel, qtbot)
    panel.complement_check.setChecked(True)
    inverted_spec, inverted = _apply(panel, qtbot)
    assert inverted_spec == "~" + spec
    np.testing.assert_array_equal(inverted, ~plain)


def test_invalid_combination_shows_error_and_changes_no_mask(panel, qtbot):
    _select(panel, "stripes")
    panel.editors["width"].setValue(3)  # wider than the period of 2
    before = panel.state.undo_stack.count()
    panel.apply()
    assert panel.state.undo_stack.count() == before and "width" in panel.state.pattern_error
    assert "width" in panel.error_label.text().lower()
    panel.editors["period"].setValue(4)
    _apply(panel, qtbot)
    assert panel.error_label.text() == ""


def test_set_spec_round_trips_and_rejects_file_masks(panel, qtbot):
    text = "~block:0.4,3,none,0.5,seed=9"
    with qtbot.assertNotEmitted(panel.patternRequested, wait=200):
        panel.set_spec(text)
    assert panel.spec() == text
    panel.set_spec("stripes:v,period=4")
    assert panel.spec() == "stripes:v,4"
    with pytest.raises(MaskError):
        panel.set_spec("file:mask.png")
