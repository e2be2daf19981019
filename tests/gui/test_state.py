"""ViewerState on its own: provenance labels, undo, validation, result tags."""

from __future__ import annotations

import numpy as np
import pytest

from maskviz.errors import MaskError
from maskviz.gui.state import ViewerState, spec_label
from maskviz.masks import parse_mask_spec


@pytest.fixture
def state(qapp):
    return ViewerState()


def test_pattern_label_follows_edits_and_comes_back_with_undo(state):
    spec = parse_mask_spec("random:0.75,seed=1")
    mask = spec.generate(state.paint.grid, state.paint.patch_size)
    state.apply_pattern(spec, mask)
    assert state.mask_label() == "random 75 %"
    state.push_edit(state.paint.paint_segment((1, 1), (1, 1), 40, value=not mask[0, 0]), "Brush stroke")
    assert state.mask_label() == "random 75 % + edits"
    state.undo_stack.undo()
    assert state.mask_label() == "random 75 %"
    state.undo_stack.undo()
    assert state.mask_label() == "painted" and not state.patch_mask().any()


def test_undo_across_two_patterns_restores_the_first_pattern(state):
    first, second = parse_mask_spec("random:0.5,seed=1"), parse_mask_spec("grid:2")
    grid, p = state.paint.grid, state.paint.patch_size
    state.apply_pattern(first, first.generate(grid, p))
    state.apply_pattern(second, second.generate(grid, p))
    assert state.mask_label() == "grid:2"
    state.undo_stack.undo()
    assert state.mask_label() == "random 50 %"
    assert np.array_equal(state.patch_mask(), first.generate(grid, p))


def test_a_mask_for_another_grid_is_refused_and_nothing_changes(state):
    before = state.patch_mask().copy()
    with pytest.raises(MaskError):
        state.apply_pattern(parse_mask_spec("none"), np.ones((3, 3), bool))
    assert np.array_equal(state.patch_mask(), before) and state.undo_stack.count() == 0


def test_spec_labels():
    assert spec_label(parse_mask_spec("~block:0.5,seed=2")) == "complement of block 50 %"
    assert spec_label(parse_mask_spec("simmim")) == "simmim 60 %"
    assert spec_label(parse_mask_spec("none")) == "none"
