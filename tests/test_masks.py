"""Tests for maskviz.masks: generators, pixel/PNG conversion and the mask-spec grammar."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from PIL import Image

from maskviz import masks as M
from maskviz.errors import MaskError, MaskvizError

GRIDS = [(14, 14), (48, 48), (8, 8), (7, 7), (4, 6)]


def arr(rows: str) -> np.ndarray:
    """Layout literal: one string per row, '#' = hidden, '.' = visible."""
    return np.array([[c == "#" for c in row] for row in rows.split()], dtype=bool)


GENERATORS = {
    "random": lambda g: M.random_mask(g, 0.75, seed=0),
    "block": lambda g: M.block_mask(g, 0.5, seed=0),
    "simmim": lambda g: M.simmim_mask(g, 0.6, seed=0),
    "grid": lambda g: M.grid_mask(g),
    "center": lambda g: M.center_mask(g),
    "border": lambda g: M.border_mask(g),
    "stripes": lambda g: M.stripes_mask(g),
    "checkerboard": lambda g: M.checkerboard_mask(g),
    "half": lambda g: M.half_mask(g),
    "empty": M.empty_mask,
    "full": M.full_mask,
}


# ------------------------------------------------------------------------------------ shapes


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("name", GENERATORS)
def test_every_generator_returns_bool_mask_of_grid_shape(name, grid):
    mask = GENERATORS[name](grid)
    assert mask.shape == grid
    assert mask.dtype == np.bool_


@pytest.mark.parametrize("grid", [(0, 14), (14, -1), (3,), "ab"])
def test_invalid_grid_is_a_mask_error(grid):
    with pytest.raises(MaskError, match="grid"):
        M.random_mask(grid)


# ------------------------------------------------------------------------------------ counts


def test_mae_hidden_count_matches_mae_arithmetic():
    assert M.mae_hidden_count(196, 0.75) == 147
    assert M.mae_hidden_count(196, 0.6) == 196 - int(196 * 0.4) == 118
    assert M.mae_hidden_count(196, 0.0) == 0
    assert M.mae_hidden_count(196, 1.0) == 196


RATIOS = [0.0, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0]


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("gen", [M.random_mask, M.block_mask])
def test_random_and_block_hide_the_mae_count(gen, ratio, grid):
    mask = gen(grid, ratio, seed=1)
    n = grid[0] * grid[1]
    assert int(mask.sum()) == M.mae_hidden_count(n, ratio)
    assert abs(mask.sum() - ratio * n) <= 1


@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize(("grid", "model_patch", "cell"),
                         [((14, 14), 16, 2), ((48, 48), 4, 8), ((6, 4), 16, 2)])
def test_simmim_hides_ceil_of_coarse_cells(ratio, grid, model_patch, cell):
    mask = M.simmim_mask(grid, ratio, seed=2, mask_patch=cell * model_patch, model_patch=model_patch)
    cells = (grid[0] // cell) * (grid[1] // cell)
    assert mask.sum() == math.ceil(cells * ratio) * cell * cell  # official MaskGenerator count
    assert abs(mask.mean() - ratio) <= 1 / cells  # within one coarse cell
    coarse = mask[::cell, ::cell]
    np.testing.assert_array_equal(mask, coarse.repeat(cell, 0).repeat(cell, 1))


def test_simmim_crops_on_grids_not_divisible_by_the_cell():
    mask = M.simmim_mask((7, 7), 0.5, seed=3)  # cell 2 → 4×4 coarse grid, cropped
    full = mask[::2, ::2].repeat(2, 0).repeat(2, 1)[:7, :7]
    np.testing.assert_array_equal(mask, full)
    assert M.simmim_mask((14, 14), 0.6, mask_patch=16, model_patch=16, seed=0).sum() == math.ceil(196 * 0.6)


def test_simmim_count_is_the_official_ceiling():
    """SimMIM's MaskGenerator hides ceil(cells * ratio) cells, float noise included (100 * 0.07 -> 8)."""
    assert M.simmim_mask((10, 10), 0.07, mask_patch=16, model_patch=16, seed=0).sum() == 8
    assert M.simmim_mask((6, 6), 0.6, mask_patch=16, model_patch=16, seed=0).sum() == 22  # Swin-192: 22 of 36


def test_simmim_rejects_mask_patch_not_multiple_of_model_patch():
    with pytest.raises(MaskError, match="multiple"):
        M.simmim_mask((14, 14), 0.6, mask_patch=20, model_patch=16)


@pytest.mark.parametrize("ratio", [-0.1, 1.5, float("nan")])
@pytest.mark.parametrize("gen", [M.random_mask, M.block_mask, M.simmim_mask])
def test_out_of_range_ratio_is_a_mask_error(gen, ratio):
    with pytest.raises(MaskError, match="between 0 and 1"):
        gen((14, 14), ratio)


# ------------------------------------------------------------------------------------ determinism


SEEDED = {
    "random": lambda s: M.random_mask((14, 14), 0.5, seed=s),
    "block": lambda s: M.block_mask((14, 14), 0.5, seed=s),
    "simmim": lambda s: M.simmim_mask((14, 14), 0.5, seed=s),
    "complementary": lambda s: np.stack(M.complementary_masks((14, 14), 3, seed=s)),
}


@pytest.mark.parametrize("name", SEEDED)
def test_same_seed_same_mask_different_seed_different_mask(name):
    gen = SEEDED[name]
    np.testing.assert_array_equal(gen(7), gen(7))
    assert not np.array_equal(gen(7), gen(8))
    assert not np.array_equal(gen(None), gen(None))


def _neighbour_fraction(mask: np.ndarray) -> float:
    """Of hidden patches' right/down neighbours, the fraction also hidden."""
    pairs = (mask[:, :-1] & mask[:, 1:]).sum() + (mask[:-1] & mask[1:]).sum()
    return pairs / (mask[:, :-1].sum() + mask[:-1].sum())


def test_block_masks_are_blockier_than_random():
    block = np.mean([_neighbour_fraction(M.block_mask((14, 14), 0.4, seed=s)) for s in range(10)])
    rand = np.mean([_neighbour_fraction(M.random_mask((14, 14), 0.4, seed=s)) for s in range(10)])
    assert block > 0.7 > 0.5 > rand


def test_block_with_fixed_square_block_hides_one_square():
    mask = M.block_mask((4, 4), 0.25, seed=5, min_block=4, max_block=4, min_aspect=1.0)
    rows, cols = np.nonzero(mask)
    assert mask.sum() == 4
    assert np.ptp(rows) == 1 and np.ptp(cols) == 1


def test_block_rejects_bad_parameters():
    with pytest.raises(MaskError, match="min_block"):
        M.block_mask((14, 14), 0.5, min_block=0)
    with pytest.raises(MaskError, match="min_aspect"):
        M.block_mask((14, 14), 0.5, min_aspect=2.0)


# ------------------------------------------------------------------------------------ structured


def test_grid_step2_keeps_one_per_block():
    np.testing.assert_array_equal(M.grid_mask((4, 4), 2), arr("""
        .#.# #### .#.# ####"""))
    np.testing.assert_array_equal(M.grid_mask((4, 4), 2, offset=(1, 1)), arr("""
        #### #.#. #### #.#."""))
    assert M.grid_mask((14, 14)).mean() == 0.75
    assert not M.grid_mask((5, 5), 1).any()


def test_checkerboard_layouts():
    np.testing.assert_array_equal(M.checkerboard_mask((4, 4)), arr("#.#. .#.# #.#. .#.#"))
    np.testing.assert_array_equal(M.checkerboard_mask((4, 4), phase=1), arr(".#.# #.#. .#.# #.#."))
    np.testing.assert_array_equal(M.checkerboard_mask((4, 4), cell=2), arr("##.. ##.. ..## ..##"))


def test_stripes_layouts():
    np.testing.assert_array_equal(M.stripes_mask((4, 4)), arr("#### .... #### ...."))
    np.testing.assert_array_equal(M.stripes_mask((4, 4), orientation="v"), arr("#.#. #.#. #.#. #.#."))
    np.testing.assert_array_equal(M.stripes_mask((3, 6), 3, "v", width=2, offset=1),
                                  arr(".##.## .##.## .##.##"))
    with pytest.raises(MaskError, match="orientation"):
        M.stripes_mask((4, 4), orientation="d")


def test_border_layouts():
    np.testing.assert_array_equal(M.border_mask((4, 6)), arr("###### #....# #....# ######"))
    assert M.border_mask((4, 4), 2).all()
    assert not M.border_mask((4, 4), 0).any()


@pytest.mark.parametrize(("side", "layout"), [
    ("left", "##.. ##.. ##.. ##.."), ("right", "..## ..## ..## ..##"),
    ("top", "#### #### .... ...."), ("bottom", ".... .... #### ####"),
])
def test_half_layouts(side, layout):
    np.testing.assert_array_equal(M.half_mask((4, 4), side), arr(layout))


def test_half_on_odd_size_hides_the_smaller_half():
    assert M.half_mask((5, 5), "left")[:, :2].all() and not M.half_mask((5, 5), "left")[:, 2:].any()
    assert M.half_mask((5, 5), "bottom")[3:].all() and M.half_mask((5, 5), "bottom").sum() == 10
    with pytest.raises(MaskError, match="left, right, top, bottom"):
        M.half_mask((4, 4), "middle")


def test_center_layouts():
    np.testing.assert_array_equal(M.center_mask((4, 4), 0.25), arr(".... .##. .##. ...."))
    big = M.center_mask((14, 14), 0.25)
    assert big.sum() == 49 and big[3:10, 3:10].all()
    assert M.center_mask((4, 6), 0.25).sum() == 2 * 3
    assert M.center_mask((14, 14), 0.001).sum() == 1
    assert not M.center_mask((14, 14), 0.0).any()
    assert M.center_mask((14, 14), 1.0).all()


def test_complement_describe_and_ratio():
    mask = M.random_mask((14, 14), 0.75, seed=0)
    np.testing.assert_array_equal(M.complement(mask), ~mask)
    np.testing.assert_array_equal(M.complement(M.complement(mask)), mask)
    assert M.describe(mask) == "masked 147/196 patches (75.0%)"
    assert M.describe(M.complement(mask)) == "masked 49/196 patches (25.0%)"
    assert M.mask_ratio(mask) == pytest.approx(0.75)
    with pytest.raises(MaskError, match="2-D"):
        M.complement(np.zeros(5, dtype=bool))


@pytest.mark.parametrize(("grid", "k"), [((14, 14), 3), ((14, 14), 4), ((7, 7), 5), ((4, 6), 1)])
def test_complementary_masks_partition_the_patches(grid, k):
    masks = M.complementary_masks(grid, k, seed=0)
    assert len(masks) == k
    stack = np.stack(masks).astype(int)
    np.testing.assert_array_equal(stack.sum(axis=0), np.ones(grid, dtype=int))
    sizes = stack.sum(axis=(1, 2))
    assert sizes.max() - sizes.min() <= 1


def test_complementary_masks_rejects_bad_k():
    with pytest.raises(MaskError):
        M.complementary_masks((2, 2), 5)
    with pytest.raises(MaskError):
        M.complementary_masks((2, 2), 0)


# ------------------------------------------------------------------------------------ pixel masks


def _paint(count: int, p: int = 4, dtype=bool) -> np.ndarray:
    """A (2p, 2p) pixel mask with ``count`` painted pixels in the top-left patch only."""
    patch = np.zeros(p * p, dtype=dtype)
    patch[:count] = 255 if dtype == np.uint8 else 1
    pix = np.zeros((2 * p, 2 * p), dtype=dtype)
    pix[:p, :p] = patch.reshape(p, p)
    return pix


@pytest.mark.parametrize(("count", "threshold", "hidden"), [
    (7, 0.5, False), (8, 0.5, True), (9, 0.5, True),
    (0, 0.0, False), (1, 0.0, True),
    (15, 1.0, False), (16, 1.0, True),
    (3, 0.25, False), (4, 0.25, True),
])
def test_from_pixel_mask_thresholds(count, threshold, hidden):
    patches = M.from_pixel_mask(_paint(count), 4, threshold)
    assert patches.shape == (2, 2)
    assert patches[0, 0] == hidden
    assert not patches.reshape(-1)[1:].any()


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, bool])
def test_from_pixel_mask_accepts_dtypes(dtype):
    assert M.from_pixel_mask(_paint(8, dtype=dtype), 4)[0, 0]


def test_from_pixel_mask_threshold_tolerates_float_noise():
    threshold = 1 - 0.7  # 0.30000000000000004, as a slider might compute it
    assert M.from_pixel_mask(_paint(30, p=10), 10, threshold)[0, 0]
    assert not M.from_pixel_mask(_paint(29, p=10), 10, threshold)[0, 0]


def test_from_pixel_mask_rejects_wrong_sizes():
    with pytest.raises(MaskError, match="16-pixel patches"):
        M.from_pixel_mask(np.zeros((30, 32)), 16)
    with pytest.raises(MaskError, match="224×224"):
        M.from_pixel_mask(np.zeros((32, 32)), 16, grid=(14, 14))
    with pytest.raises(MaskError, match="between 0 and 1"):
        M.from_pixel_mask(np.zeros((32, 32)), 16, threshold=1.5)


def test_to_pixel_mask_upsamples_and_round_trips():
    mask = M.random_mask((14, 14), 0.75, seed=0)
    pix = M.to_pixel_mask(mask, 16)
    assert pix.shape == (224, 224) and pix.dtype == np.bool_
    assert pix[16 * 3:16 * 4, 16 * 5:16 * 6].all() == mask[3, 5]
    np.testing.assert_array_equal(M.from_pixel_mask(pix, 16), mask)


# ------------------------------------------------------------------------------------ PNG I/O


@pytest.mark.parametrize(("patch_size", "size"), [(None, (6, 4)), (16, (96, 64))])
def test_png_round_trip_at_both_resolutions(tmp_path, patch_size, size):
    mask = M.random_mask((4, 6), 0.5, seed=0)
    path = tmp_path / "m.png"
    M.save_mask_png(mask, path, patch_size)
    with Image.open(path) as img:
        assert img.mode == "L" and img.size == size
        assert set(np.unique(np.asarray(img))) <= {0, 255}
    np.testing.assert_array_equal(M.load_mask_png(path, (4, 6), 16), mask)
    assert os.listdir(tmp_path) == ["m.png"]  # no temporary file left behind


def test_save_failure_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "m.png"
    M.save_mask_png(M.full_mask((4, 4)), path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", boom)
    with pytest.raises(MaskError, match="No space left"):
        M.save_mask_png(M.empty_mask((4, 4)), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.png"]


def test_save_into_missing_folder_is_a_mask_error(tmp_path):
    with pytest.raises(MaskError, match="could not write .*does not exist"):
        M.save_mask_png(M.full_mask((4, 4)), tmp_path / "nope" / "m.png")


def _odd_mode_image(mode: str, hidden: np.ndarray) -> Image.Image:
    if mode == "I;16":
        return Image.fromarray(hidden.astype(np.uint16))  # value 1: non-zero but invisible in L
    if mode == "RGBA":  # red strokes on a transparent black background
        rgba = np.zeros(hidden.shape + (4,), dtype=np.uint8)
        rgba[hidden] = (255, 0, 0, 255)
        return Image.fromarray(rgba)
    if mode == "1":
        return Image.fromarray(hidden)
    grey = Image.fromarray(hidden.astype(np.uint8) * 200)
    return grey.convert(mode)


@pytest.mark.parametrize("mode", ["RGBA", "P", "I;16", "LA", "RGB", "1"])
@pytest.mark.parametrize("patch_size", [None, 4])
def test_load_odd_png_modes(tmp_path, mode, patch_size):
    mask = M.checkerboard_mask((3, 5))
    pixels = mask if patch_size is None else M.to_pixel_mask(mask, patch_size)
    img = _odd_mode_image(mode, pixels)
    assert img.mode == mode
    path = tmp_path / f"m-{mode.replace(';', '')}.png"
    img.save(path)
    np.testing.assert_array_equal(M.load_mask_png(path, (3, 5), 4), mask)


def test_load_image_resolution_uses_threshold(tmp_path):
    pix = _paint(5, dtype=np.uint8)  # 5/16 of the top-left patch
    path = tmp_path / "m.png"
    Image.fromarray(pix).save(path)
    assert not M.load_mask_png(path, (2, 2), 4)[0, 0]
    assert M.load_mask_png(path, (2, 2), 4, threshold=0.25)[0, 0]


def test_load_wrong_size_names_the_accepted_sizes(tmp_path):
    path = tmp_path / "m.png"
    Image.new("L", (100, 50)).save(path)
    with pytest.raises(MaskError, match=r"100×50 pixels; expected 14×14 \(the patch grid\) or 224×224"):
        M.load_mask_png(path, (14, 14), 16)


@pytest.mark.parametrize("content", [b"", b"not a png at all", "truncated"])
def test_load_corrupt_file_is_a_mask_error(tmp_path, content):
    path = tmp_path / "bad.png"
    if content == "truncated":
        M.save_mask_png(M.random_mask((32, 32), 0.5, seed=0), path)
        content = path.read_bytes()[:60]
    path.write_bytes(content)
    with pytest.raises(MaskError, match="not a readable image") as info:
        M.load_mask_png(path, (32, 32), 16)
    assert "\n" not in str(info.value)


def test_load_missing_file_and_folder(tmp_path):
    with pytest.raises(MaskError, match="not found"):
        M.load_mask_png(tmp_path / "missing.png", (14, 14), 16)
    with pytest.raises(MaskError, match="folder"):
        M.load_mask_png(tmp_path, (14, 14), 16)


# ------------------------------------------------------------------------------------ grammar

EXAMPLES = [
    "random:0.75", "random:0.75,seed=3", "block:0.5", "block:0.4,min_block=8", "simmim:0.6",
    "simmim:0.6,mask_patch=32", "grid:2", "center:0.4", "border:2", "stripes:h", "stripes:v,3",
    "checkerboard", "checkerboard:2", "half:left", "half:right", "half:top", "half:bottom",
    "~center:0.25", "none", "all",
]


@pytest.mark.parametrize("text", EXAMPLES)
def test_examples_parse_generate_and_round_trip(text):
    spec = M.parse_mask_spec(text)
    assert str(spec) == text  # the examples are already canonical
    assert M.parse_mask_spec(str(spec)) == spec
    assert spec.raw == text
    mask = spec.generate((14, 14), 16, img_size=224, seed=0)
    assert mask.shape == (14, 14) and mask.dtype == np.bool_


@pytest.mark.parametrize(("text", "expected"), [
    ("random:0.75,seed=3", lambda: M.random_mask((14, 14), 0.75, seed=3)),
    ("block:0.4,min_block=8", lambda: M.block_mask((14, 14), 0.4, seed=0, min_block=8)),
    ("simmim:0.6", lambda: M.simmim_mask((14, 14), 0.6, seed=0, model_patch=16)),
    ("grid:2", lambda: M.grid_mask((14, 14), 2)),
    ("grid:3,1,2", lambda: M.grid_mask((14, 14), 3, (1, 2))),
    ("center:0.4", lambda: M.center_mask((14, 14), 0.4)),
    ("border:2", lambda: M.border_mask((14, 14), 2)),
    ("stripes:v,3", lambda: M.stripes_mask((14, 14), 3, "v")),
    ("stripes:h,4,width=2,offset=1", lambda: M.stripes_mask((14, 14), 4, "h", 2, 1)),
    ("checkerboard:2", lambda: M.checkerboard_mask((14, 14), 2)),
    ("half:bottom", lambda: M.half_mask((14, 14), "bottom")),
    ("~center:0.25", lambda: ~M.center_mask((14, 14), 0.25)),
    ("none", lambda: np.zeros((14, 14), bool)),
    ("all", lambda: np.ones((14, 14), bool)),
])
def test_spec_calls_the_matching_generator(text, expected):
    np.testing.assert_array_equal(M.make_mask(text, (14, 14), 16, seed=0), expected())


def test_spec_seed_overrides_caller_seed_and_caller_seed_is_used_otherwise():
    a = M.make_mask("random:0.5,seed=3", (14, 14), 16, seed=99)
    np.testing.assert_array_equal(a, M.random_mask((14, 14), 0.5, seed=3))
    b = M.make_mask("random:0.5", (14, 14), 16, seed=99)
    np.testing.assert_array_equal(b, M.random_mask((14, 14), 0.5, seed=99))


def test_simmim_spec_uses_the_model_patch_size():
    mask = M.make_mask("simmim:0.6", (48, 48), 4, seed=0)  # Swin: 32/4 = 8-patch cells, 6×6 coarse
    assert mask.sum() == math.ceil(36 * 0.6) * 64
    np.testing.assert_array_equal(mask, mask[::8, ::8].repeat(8, 0).repeat(8, 1))


def test_file_spec_path_may_contain_colons_and_commas(tmp_path):
    mask = M.random_mask((14, 14), 0.3, seed=0)
    path = tmp_path / "a:b,c=1.png"
    M.save_mask_png(mask, path, patch_size=16)
    spec = M.parse_mask_spec(f"file:{path}")
    assert spec.args == (str(path),)
    assert M.parse_mask_spec(str(spec)) == spec
    np.testing.assert_array_equal(spec.generate((14, 14), 16), mask)
    np.testing.assert_array_equal(M.make_mask(f"~file:{path}", (14, 14), 16), ~mask)


def test_file_spec_missing_file_is_a_mask_error(tmp_path):
    with pytest.raises(MaskError, match="not found"):
        M.make_mask(f"file:{tmp_path / 'nope.png'}", (14, 14), 16)


@pytest.mark.parametrize(("messy", "canonical"), [
    ("  Random : .5 , Seed = 3 ", "random:0.5,seed=3"),
    ("block:seed=1,ratio=0.3", "block:ratio=0.3,seed=1"),
    ("block:0.3,max_block=none", "block:0.3,max_block=none"),
    ("STRIPES:V", "stripes:v"),
    ("~ half:Top", "~half:top"),
    ("random:1", "random:1.0"),
])
def test_messy_specs_canonicalise(messy, canonical):
    spec = M.parse_mask_spec(messy)
    assert str(spec) == canonical
    assert M.parse_mask_spec(canonical) == spec


@pytest.mark.parametrize(("text", "message"), [
    ("foo:1", "Unknown mask pattern 'foo'; valid patterns: random, block, simmim"),
    ("", "Empty mask spec; valid patterns: random"),
    ("~", "Empty mask spec"),
    ("random:abc", "Bad value 'abc' for ratio in 'random:abc': expected a number"),
    ("random:1.5", "ratio in 'random:1.5' must be between 0 and 1, got 1.5"),
    ("random:-0.1", "must be between 0 and 1"),
    ("random:nan", "finite"),
    ("random:0.5,0.3", "takes at most 1 positional argument (ratio), got 2"),
    ("none:1", "'none' takes no arguments"),
    ("random:0.5,foo=1", "Unknown parameter 'foo' for mask pattern 'random'"),
    ("grid:2,seed=1", "valid parameters: step, row_offset, col_offset"),
    ("random:0.5,ratio=0.3", "'ratio' is given twice"),
    ("random:ratio=0.5,0.3", "follows a keyword argument"),
    ("random:", "Empty or incomplete argument"),
    ("random:seed=", "Empty or incomplete argument"),
    ("grid:1.5", "expected a whole number"),
    ("border:-1", "at least 0"),
    ("stripes:d", "expected one of h, v"),
    ("half:middle", "expected one of left, right, top, bottom"),
    ("random:0.5,seed=-1", "seed"),
    ("file:", "Missing file path"),
])
def test_bad_specs_give_one_line_mask_errors(text, message):
    with pytest.raises(MaskError) as info:
        M.parse_mask_spec(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, MaskvizError)


def test_errors_found_only_at_generate_time_are_mask_errors():
    with pytest.raises(MaskError, match="multiple"):
        M.make_mask("simmim:0.6,mask_patch=20", (14, 14), 16)
    with pytest.raises(MaskError, match="Stripe width"):
        M.make_mask("stripes:h,2,3", (14, 14), 16)


def test_img_size_mismatch_is_a_programming_error():
    with pytest.raises(ValueError, match="img_size"):
        M.parse_mask_spec("random").generate((14, 14), 16, img_size=192)


# ------------------------------------------------------------------------------------ registry


def test_registry_describes_every_pattern_for_the_gui():
    assert set(M.MASK_PATTERNS) == {"random", "block", "simmim", "grid", "center", "border", "stripes",
                                    "checkerboard", "half", "file", "none", "all"}
    for name, pattern in M.MASK_PATTERNS.items():
        assert pattern.name == name and pattern.description
        for param in pattern.params:
            assert param.kind in {"float", "int", "choice", "path"}
            if param.kind == "choice":
                assert param.default in param.choices
            elif param.kind != "path":
                assert M.convert_param(param, param.default) == param.default


@pytest.mark.parametrize("name", [n for n in M.MASK_PATTERNS if n != "file"])
def test_spec_built_from_registry_defaults_generates(name):
    pattern = M.MASK_PATTERNS[name]
    parts = [f"{p.name}={'none' if p.default is None else p.default}" for p in pattern.params]
    text = name + (":" + ",".join(parts) if parts else "")
    spec = M.parse_mask_spec(text)
    assert spec.params == {p.name: p.default for p in pattern.params}
    assert spec.generate((14, 14), 16, seed=0).shape == (14, 14)


def test_registry_ranges_are_enforced_by_the_parser():
    ratio = M.MASK_PATTERNS["random"].params[0]
    assert (ratio.kind, ratio.default, ratio.min, ratio.max) == ("float", 0.75, 0.0, 1.0)
    assert M.MASK_PATTERNS["random"].seeded and not M.MASK_PATTERNS["grid"].seeded
    assert M.MASK_PATTERNS["stripes"].params[0].choices == ("h", "v")


# ---------------------------------------------------------------------------- defaults that follow the model


def test_simmim_cells_follow_a_small_model():
    """32 px cells on a 64 px model are 4 cells: 'simmim:0.6' hid 75 %. Now at least 16 cells."""
    assert M.default_mask_patch((8, 8), 8) == 16
    assert M.default_mask_patch((14, 14), 16) == 32  # SimMIM's own size where it makes enough cells
    assert M.default_mask_patch((2, 2), 16) == 16  # never below one patch
    hidden = M.mask_ratio(M.make_mask("simmim:0.6,seed=0", (8, 8), 8))
    assert abs(hidden - 0.6) < 0.05


def test_trained_mask_spec_sets_the_simmim_default():
    defaults = M.trained_mask_defaults("random:0.4|simmim:0.6,mask_patch=16|block:0.5")
    assert defaults == {"simmim": {"mask_patch": 16}}
    assert M.trained_mask_defaults(None) == {} and M.trained_mask_defaults("nonsense:1") == {}
    coarse = M.make_mask("simmim:0.5,seed=1", (8, 8), 4, defaults={"simmim": {"mask_patch": 16}})
    assert (coarse.reshape(2, 4, 2, 4).all(axis=(1, 3)) == coarse[::4, ::4]).all()  # 4×4-patch cells
    explicit = M.make_mask("simmim:0.5,8,seed=1", (8, 8), 4, defaults={"simmim": {"mask_patch": 16}})
    assert not np.array_equal(explicit, coarse)  # a value in the spec beats the model's default


def test_bundled_simmim_defaults_to_the_cells_it_was_trained_with():
    from maskviz.bundled import bundled_model_paths
    from maskviz.checkpoints import load_model

    loaded = load_model(str(bundled_model_paths()["simmim_small"]))
    assert loaded.mask_defaults() == {"simmim": {"mask_patch": 16}}


def test_patterns_declare_their_hidden_amount_and_cell_roles():
    amounts = {name: p.amount_param.name for name, p in M.MASK_PATTERNS.items() if p.amount_param}
    assert amounts == {"random": "ratio", "block": "ratio", "simmim": "ratio", "center": "fraction"}
    spec = M.parse_mask_spec("center:0.3")
    assert spec.amount == 0.3 and M.parse_mask_spec("block").amount == 0.5  # the declared default
    assert str(spec.with_amount(0.5)) == "center:fraction=0.5" and M.parse_mask_spec("grid:2").amount is None
    assert str(M.parse_mask_spec("~block:0.3,min_block=2,seed=1").without_amount()) == "~block:min_block=2,seed=1"
    with pytest.raises(MaskError, match="grid masks have no amount"):
        M.parse_mask_spec("grid:2").with_amount(0.5)
    cell = M.MASK_PATTERNS["simmim"].with_role(M.CELL)
    assert cell.name == "mask_patch" and cell.default_for((2, 2), 32) == 32 and cell.default_for((8, 8), 8) == 16
    assert M.MASK_PATTERNS["block"].param("min_block").default_for((8, 8), 8) == 4  # no auto: the plain default


def test_trained_defaults_take_every_cell_parameter_whatever_the_pattern(monkeypatch):
    """Generic by role, not by pattern name: a new pattern with a cell parameter gets the same treatment."""
    tiles = M.MaskPattern("tiles", lambda grid, ratio=0.5, tile=1: M.random_mask(grid, ratio),
                          (M.PatternParam("ratio", "float", 0.5, 0, 1, role=M.AMOUNT),
                           M.PatternParam("tile", "int", 1, 1, role=M.CELL)), "test pattern")
    monkeypatch.setitem(M.MASK_PATTERNS, "tiles", tiles)
    assert M.trained_mask_defaults("tiles:0.3,tile=4|random:0.5") == {"tiles": {"tile": 4}}
