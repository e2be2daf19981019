"""Mask provenance everywhere (issue 22, point 5): a mask sent from Compare arrives with its spec and
seed, clearing and inverting update the label, and every pattern says when it hides other than asked."""

from __future__ import annotations

import numpy as np
from guikit import settle

from maskviz.masks import parse_mask_spec

WAIT_MS = 30000


def compared(window, qtbot, specs: str, ratios: str = ""):
    window.show_compare()
    window.compare_state.set_settings(specs=specs, seeds=2, ratios=ratios)
    assert window.compare_controller.run()
    qtbot.waitUntil(lambda: window.compare_state.snapshot is not None and window.compare_state.snapshot.finished
                    and not window.compare_controller.is_running, timeout=WAIT_MS)
    return window.compare_state.snapshot


def test_a_compare_row_arrives_with_its_spec_and_seed(window, qtbot):
    window.state.request_pattern("block:0.25,seed=7")  # the pattern panel shows something else first
    settle(qtbot, window)
    compared(window, qtbot, "random:0.5")
    assert window.compare_controller.apply_strategy("random:0.5")
    settle(qtbot, window)
    assert window.state.mask_label() == "random 50 %"  # not "painted"
    assert window.patterns.mask_spec() == parse_mask_spec("random:0.5,seed=0")  # the row's first seed
    assert window.patterns.seed_spin.value() == 0 and window.patterns.pattern_combo.currentText() == "random"
    window.state.undo_stack.undo()
    assert window.state.mask_label() == "block 25 %"


def test_a_compare_sweep_point_arrives_with_its_spec(window, qtbot):
    snapshot = compared(window, qtbot, "random:0.75", ratios="0.25,0.5")
    point = next(r.strategy for r in snapshot.table.rows if r.sweep and r.ratio == 0.25)
    assert window.compare_controller.apply_strategy(point)
    assert window.state.mask_label() == "random 25 %"
    assert window.patterns.mask_spec().params.get("ratio") == 0.25


def test_clearing_and_inverting_update_the_label(window, qtbot):
    s = window.state
    window.state.request_pattern("random:0.75,seed=0")
    assert s.mask_label() == "random 75 %"
    window.canvas.invert()
    assert s.mask_label() == "complement of random 75 %"
    assert window.patterns.complement_check.isChecked()
    window.canvas.clear()  # Ctrl+Backspace: every patch visible
    assert not s.patch_mask().any()
    assert s.mask_label() == "none"  # not "random 75 % + edits"
    s.undo_stack.undo()
    assert s.mask_label() == "complement of random 75 %"
    s.undo_stack.undo()
    assert s.mask_label() == "random 75 %"


def test_inverting_an_edited_pattern_keeps_the_edits_named(window, qtbot):
    s = window.state
    s.request_pattern("random:0.75,seed=0")
    atom = s.paint.set_patch_mask(np.logical_xor(s.patch_mask(), np.eye(*s.paint.grid, dtype=bool)))
    s.push_edit(atom, "paint")
    assert s.mask_label() == "random 75 % + edits"
    window.canvas.invert()
    assert s.mask_label() == "complement of random 75 % + edits"


def test_every_pattern_with_an_amount_says_what_it_hides_when_it_differs(window, qtbot):
    s = window.state
    s.request_pattern("center:0.4")  # a 4×4 grid: a centred square hides 4 of 16 patches
    hidden = s.patch_mask().mean()
    assert abs(hidden - 0.4) > 0.005
    assert s.mask_label() == "center 40 %"
    assert window.patterns.mask_label.text() == f"center 40 % · hides {hidden * 100:.1f} % (asked 40 %)"
    s.request_pattern("random:0.75,seed=0")  # exactly 12 of 16: no note
    assert window.patterns.mask_label.text() == "random 75 %"
