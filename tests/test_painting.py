"""The painting model, headless: strokes, shapes, fills, undo atoms and patch quantisation."""

from __future__ import annotations

import numpy as np
import pytest

from maskviz.errors import MaskError
from maskviz.painting import PaintModel, brush_radius


def _stroke(model: PaintModel, points, size: int = 1, value: bool = True):
    model.begin_stroke(points[0], size, value)
    for p in points[1:]:
        model.stroke_to(p)
    return model.end_stroke()


@pytest.mark.parametrize(("size", "width", "area"), [(1, 1, 1), (2, 3, 9), (3, 3, 9), (5, 5, 21), (6, 7, 37)])
def test_brush_disc_follows_napari_radius(size, width, area):
    model = PaintModel((32, 32), 8)
    model.begin_stroke((16.7, 16.2), size)
    model.end_stroke()
    rows, cols = np.nonzero(model.mask)
    assert brush_radius(size) == size // 2 + 0.5
    assert model.mask.sum() == area
    assert cols.max() - cols.min() + 1 == width and rows.max() - rows.min() + 1 == width
    assert model.mask[16, 16]  # centred on the pixel under the point


def test_fast_stroke_leaves_no_gaps():
    model = PaintModel((64, 64), 8)
    _stroke(model, [(2.5, 3.5), (60.5, 40.5), (10.5, 60.5)], size=1)
    painted = model.mask
    for x in range(2, 61):  # every column the first segment crosses is painted
        assert painted[:41, x].any(), x
    for y in range(41, 61):  # and every row the second one crosses
        assert painted[y].any(), y


def test_thick_stroke_covers_its_band():
    model = PaintModel((64, 64), 8)
    _stroke(model, [(5, 30), (58, 30)], size=5)
    assert model.mask[28:33, 5:59].all()
    assert not model.mask[27].any() and not model.mask[33].any()


def test_eraser_clears_only_its_path():
    model = PaintModel((32, 32), 8, np.ones((32, 32), bool))
    _stroke(model, [(0, 10), (31, 10)], size=3, value=False)
    assert not model.mask[9:12].any()
    assert model.mask[:9].all() and model.mask[12:].all()


def test_rectangle_includes_both_corner_pixels_in_any_order():
    model = PaintModel((16, 16), 4)
    model.fill_rect((5.7, 2.2), (1.1, 6.9))
    expected = np.zeros((16, 16), bool)
    expected[2:7, 1:6] = True
    np.testing.assert_array_equal(model.mask, expected)


def test_rectangle_is_clipped_to_the_image():
    model = PaintModel((16, 16), 4)
    model.fill_rect((-5, -5), (3, 40))
    assert model.mask[:, :4].all() and model.mask.sum() == 64


def test_polygon_fills_pixel_centres_inside():
    model = PaintModel((16, 16), 4)
    model.fill_polygon([(2, 2), (10, 2), (10, 8), (2, 8)])
    expected = np.zeros((16, 16), bool)
    expected[2:8, 2:10] = True
    np.testing.assert_array_equal(model.mask, expected)


def test_polygon_uses_even_odd_rule():
    model = PaintModel((64, 64), 8)
    angles = np.pi / 2 + np.arange(5) * 4 * np.pi / 5  # pentagram: the centre is wound twice
    star = [(32 + 30 * np.cos(a), 32 - 30 * np.sin(a)) for a in angles]
    model.fill_polygon(star)
    assert not model.mask[31, 31]  # even-odd leaves the doubly wound centre empty
    assert model.mask[8, 31]  # while the top tip is filled


def test_degenerate_polygon_changes_nothing():
    model = PaintModel((16, 16), 4)
    assert model.fill_polygon([(1, 1), (9, 9)]) is None
    assert not model.mask.any()


def test_flood_fill_is_four_connected():
    wall = np.eye(32, dtype=bool)  # a diagonal: 8-connected fill would leak through it
    model = PaintModel((32, 32), 8, wall)
    model.flood_fill((30, 2), True)  # above the diagonal (x > y)
    above = np.triu(np.ones((32, 32), bool))
    np.testing.assert_array_equal(model.mask, above)


def test_flood_fill_flips_region_by_default():
    ring = np.zeros((16, 16), bool)
    ring[4:12, 4:12] = True
    ring[6:10, 6:10] = False
    model = PaintModel((16, 16), 4, ring)
    model.flood_fill((5, 5))  # click on the hidden ring: it becomes visible
    assert not model.mask.any()
    model.flood_fill((0, 0), True)  # a visible region, filled with hidden
    assert model.mask.all()


def test_flood_fill_with_same_value_or_outside_is_a_noop():
    model = PaintModel((16, 16), 4)
    assert model.flood_fill((3, 3), False) is None
    assert model.flood_fill((-1, 3), True) is None


def test_stroke_is_one_atom_that_undoes_and_redoes_exactly(rng):
    before = rng.random((64, 64)) < 0.3
    model = PaintModel((64, 64), 8, before)
    atom = _stroke(model, [(3, 3), (30, 8), (12, 40), (50, 50)], size=4)
    after = model.mask.copy()
    assert not np.array_equal(before, after)
    model.apply(atom, forward=False)
    np.testing.assert_array_equal(model.mask, before)
    model.apply(atom, forward=True)
    np.testing.assert_array_equal(model.mask, after)


def test_atom_memory_is_proportional_to_edited_area():
    model = PaintModel((224, 224), 16)
    atom = _stroke(model, [(100, 100), (110, 104)], size=3)
    assert atom.old.shape == (7, 13) and atom.nbytes == 2 * 7 * 13
    assert (atom.top, atom.left) == (99, 99)


def test_abort_stroke_restores_the_mask():
    model = PaintModel((32, 32), 8)
    model.begin_stroke((2, 2), 5)
    model.stroke_to((30, 30))
    model.abort_stroke()
    assert not model.mask.any() and not model.in_stroke


def test_edit_that_changes_nothing_returns_no_atom():
    model = PaintModel((32, 32), 8)
    assert _stroke(model, [(2, 2), (30, 30)], size=5, value=False) is None
    assert model.clear() is None


def test_patch_mask_uses_coverage_threshold():
    model = PaintModel((16, 16), 8)
    model.fill_rect((0, 0), (7, 1))  # 16 of the first patch's 64 pixels: 25 % coverage
    assert not model.patch_mask(0.5).any()
    expected = np.array([[True, False], [False, False]])
    np.testing.assert_array_equal(model.patch_mask(0.25), expected)
    np.testing.assert_array_equal(model.patch_mask(0.0), expected)
    assert model.describe(0.25) == "masked 1/4 patches (25.0%)"


def test_invert_clear_and_set_patch_mask():
    model = PaintModel((16, 16), 8)
    assert model.invert() is not None and model.mask.all()
    assert model.clear() is not None and not model.mask.any()
    model.set_patch_mask(np.array([[False, True], [False, False]]))
    assert model.mask[:8, 8:].all() and model.mask.sum() == 64
    with pytest.raises(MaskError, match="patch grid"):
        model.set_patch_mask(np.zeros((3, 3), bool))


def test_geometry_and_read_only_mask():
    with pytest.raises(MaskError):
        PaintModel((30, 32), 8)
    model = PaintModel((16, 16), 8)
    assert model.grid == (2, 2)
    with pytest.raises(ValueError):
        model.mask[0, 0] = True


def test_the_patch_mask_follows_every_edit_undo_and_threshold():
    """patch_mask() is kept between edits: each way the pixels change must drop it."""
    model = PaintModel((32, 32), 8)
    assert not model.patch_mask().any()
    atom = model.fill_rect((0, 0), (7, 7))
    assert model.patch_mask()[0, 0]
    model.apply(atom, forward=False)  # undo
    assert not model.patch_mask().any()
    model.apply(atom)  # redo
    first = model.patch_mask()
    first[:] = False  # a caller's copy: changing it changes nothing
    assert model.patch_mask()[0, 0]
    model.fill_rect((8, 0), (9, 1))  # 4 of 64 pixels of patch (0, 1)
    assert not model.patch_mask(0.5)[0, 1] and model.patch_mask(0.0)[0, 1]
    model.begin_stroke((20, 20), 3)
    model.abort_stroke()
    assert model.patch_mask(0.5).sum() == 1
