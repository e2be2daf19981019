"""compare(): the table of model × image × strategy × seed, pixel-defined masks, same count, statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from synthetic import randomize_

from maskviz.compare import (
    Stat,
    as_strategy,
    compare,
    iter_compare,
    map_to_grid,
    mapping_note,
    painted_strategy,
    parse_ratios,
    plan_masks,
    summarize,
    sweep_curves,
    sweep_strategies,
    t95,
)
from maskviz.errors import MaskError
from maskviz.masks import make_mask, simmim_mask, to_pixel_mask
from maskviz.models import create_model
from maskviz.reconstruct import reconstruct

SPECS = ["random:0.75", "block:0.5", "grid:2", "center:0.5", "checkerboard", "half:left"]


@pytest.fixture(scope="module")
def mae():
    return randomize_(create_model("mae_vit_tiny_test")).eval()


@pytest.fixture(scope="module")
def simmim():
    return randomize_(create_model("simmim_swin_tiny_test"), seed=1).eval()


@pytest.fixture(scope="module")
def image():
    return Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8))


def test_every_row_equals_a_single_reconstruct_of_its_mask(mae, simmim, image):
    table = compare({"mae": mae, "simmim": simmim}, image, SPECS, seeds=[1])
    assert table.complete and len(table.rows) == 2 * len(SPECS)
    for row in table.rows:
        model = {"mae": mae, "simmim": simmim}[row.model]
        (alone,) = reconstruct(model, image, [row.mask])
        assert row.hidden == alone.masked_patches and row.total == alone.total_patches
        assert math.isclose(row.loss, alone.loss, rel_tol=1e-5)
        assert math.isclose(row.mse, alone.mse, rel_tol=1e-5) and math.isclose(row.psnr, alone.psnr, rel_tol=1e-6)
        assert row.loss_name == alone.loss_name and row.result is None  # no pictures unless asked


def test_masks_are_the_spec_on_the_first_model_and_mapped_to_the_others(mae, simmim, image):
    table = compare({"mae": mae, "simmim": simmim}, image, ["random:0.75"], seeds=[3], with_pictures=True)
    ref, other = table.select(model="mae")[0], table.select(model="simmim")[0]
    np.testing.assert_array_equal(ref.mask, make_mask("random:0.75", mae.grid_size, mae.patch_size, seed=3))
    # 8 px patches → 2 px patches: every fine patch copies its coarse patch (same hidden region)
    np.testing.assert_array_equal(other.mask, np.kron(ref.mask, np.ones((4, 4), dtype=bool)))
    assert ref.note == other.note == "" and ref.pixel_fraction == other.hidden_fraction == 0.75
    assert other.result is not None and other.result.mask.shape == simmim.grid_size


def test_complement_masks_split_the_patches(mae, image):
    table = compare({"mae": mae}, image, ["random:0.5", "~random:0.5", "half:top", "~half:top"], seeds=[7])
    masks = {r.strategy: r.mask for r in table.rows}
    for spec in ("random:0.5", "half:top"):
        assert not (masks[spec] & masks["~" + spec]).any() and (masks[spec] | masks["~" + spec]).all()


def test_same_count_hides_equal_counts_for_every_strategy_and_seed(mae, simmim, image):
    table = compare({"mae": mae, "simmim": simmim}, image, SPECS, seeds=[0, 1, 2], same_count=True)
    first = make_mask(SPECS[0], mae.grid_size, mae.patch_size, seed=0).sum()
    for model in ("mae", "simmim"):
        counts = {r.hidden for r in table.select(model=model)}
        assert len(counts) == 1
    assert {r.hidden for r in table.select(model="mae")} == {first}
    fixed = compare({"mae": mae}, image, SPECS, seeds=[0], same_count=5)
    assert {r.hidden for r in fixed.rows} == {5}
    (inverted,) = compare({"mae": mae}, image, ["~random:0.5"], seeds=[0], same_count=4).rows
    np.testing.assert_array_equal(inverted.mask, ~make_mask("random:0.75", (4, 4), 8, seed=0))  # no top-up
    with pytest.raises(MaskError):
        compare({"mae": mae}, image, SPECS, same_count=99)


def test_identical_masks_run_once_and_duplicate_rows_agree(mae, image, monkeypatch):
    import maskviz.compare as cmp

    calls = []
    real = cmp.reconstruct
    def counting(model, img, masks, *args):
        calls.append(len(masks))
        return real(model, img, masks, *args)

    monkeypatch.setattr(cmp, "reconstruct", counting)
    table = compare({"mae": mae}, image, ["grid:2", "random:0.75"], seeds=[0, 1, 2])
    assert calls == [1 + 3]  # one batched call; the grid mask is the same for all seeds
    grid = table.select(strategy="grid:2")
    assert len(grid) == 3 and len({r.loss for r in grid}) == 1


@pytest.mark.parametrize(("coarse", "fine"), [(16, 8), (32, 16), (32, 8), (32, 4)])
def test_pixel_masks_map_exactly_between_nested_patch_sizes(coarse, fine):
    size = 224 if coarse == 16 else 192
    mask = np.random.default_rng(0).random((size // coarse,) * 2) < 0.6
    pixels = to_pixel_mask(mask, coarse)
    mapped = map_to_grid(pixels, (size // fine,) * 2)
    np.testing.assert_array_equal(mapped, np.kron(mask, np.ones((coarse // fine,) * 2, dtype=bool)))
    np.testing.assert_array_equal(map_to_grid(to_pixel_mask(mapped, fine), mask.shape), mask)  # and back


def test_simmim_cells_keep_their_region_on_any_nested_grid():
    cells = simmim_mask((14, 14), 0.6, seed=2, mask_patch=32, model_patch=16)  # 32 px cells on 16 px patches
    pixels = to_pixel_mask(cells, 16)
    for patch in (8, 4):  # SimMIM ViT 8 px, Swin 4 px
        mapped = map_to_grid(pixels, (224 // patch,) * 2)
        assert mapped.mean() == cells.mean()
        np.testing.assert_array_equal(to_pixel_mask(mapped, patch), pixels)


def test_non_nested_sizes_map_by_coverage_and_say_when_the_fraction_moves():
    half = np.zeros((14, 14), dtype=bool)
    half[:, :7] = True  # left 112 px of 224
    mapped = map_to_grid(to_pixel_mask(half, 16), (16, 16))  # 14 px patches: 112 px = 8 columns
    assert mapped[:, :8].all() and not mapped[:, 8:].any() and mapping_note("m", mapped, 0.5, 14) == ""
    checker = (np.indices((28, 28)).sum(0) % 2).astype(bool)  # 8 px checkerboard under 16 px patches
    coarse = map_to_grid(to_pixel_mask(checker, 8), (14, 14))
    assert coarse.all()  # exactly half covered counts as hidden
    note = mapping_note("mae16", coarse, 0.5, 16)
    assert "mae16" in note and "100.0%" in note and "50.0%" in note


def test_a_painted_mask_is_the_same_region_for_every_model(mae, simmim):
    painted = np.zeros((4, 4), dtype=bool)
    painted[1:3, 1:3] = True
    plans = plan_masks({"mae": mae, "simmim": simmim}, [painted_strategy(painted, mae.patch_size)], [0])
    np.testing.assert_array_equal(plans[0].masks["mae"], painted)
    np.testing.assert_array_equal(plans[0].masks["simmim"], np.kron(painted, np.ones((4, 4), dtype=bool)))


def test_folder_mode_summaries_stream_and_cancel(mae, image, tmp_path):
    images = {f"img{i}": Image.fromarray(np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8))
              for i in range(4)}
    steps = list(iter_compare({"mae": mae}, images, ["random:0.75"], [0, 1]))
    assert [s.done for s in steps] == [1, 2, 3, 4] and all(s.total == 4 and len(s.rows) == 2 for s in steps)
    table = compare({"mae": mae}, images, ["random:0.75", "grid:2"], [0, 1])
    (rand, grid) = summarize(table.rows)
    per_image = [np.mean([r.loss for r in table.select(image=i, strategy="random:0.75")]) for i in images]
    assert rand.images == 4 and rand.loss.n == 4 and math.isclose(rand.loss.mean, float(np.mean(per_image)))
    assert math.isclose(rand.loss.ci95, t95(3) * np.std(per_image, ddof=1) / 2, rel_tol=1e-9)
    seen = []
    stopped = compare({"mae": mae}, images, ["random:0.75"], [0], progress=seen.append,
                      cancelled=lambda: len(seen) >= 2)
    assert not stopped.complete and len(stopped.rows) == 2 and {r.image for r in stopped.rows} == {"img0", "img1"}


def test_unreadable_images_are_skipped_with_their_reason(mae, tmp_path):
    good, bad = tmp_path / "a.png", tmp_path / "b.png"
    Image.new("RGB", (32, 32), "red").save(good)
    bad.write_bytes(b"not an image")
    table = compare({"mae": mae}, [bad, good], ["random:0.75"], with_pictures="first")
    assert table.complete and {r.image for r in table.rows} == {"a.png"}
    assert [i for i, _ in table.skipped] == ["b.png"]
    assert all(r.result is not None for r in table.rows)  # "first" = the first image that could be read


def test_sweep_points_and_curves(mae, image):
    strategies = sweep_strategies(["random", "center:0.3"], [0.25, 0.5, 0.75])
    assert [s.ratio for s in strategies] == [0.25, 0.5, 0.75] * 2 and strategies[3].label == "center:fraction=0.25"
    table = compare({"mae": mae}, image, strategies, seeds=[0, 1], same_count=True)  # sweeps keep their ratio
    assert sorted({r.hidden for r in table.select(sweep="random")}) == [4, 8, 12]
    curves = sweep_curves(table.rows)
    assert [c.label for c in curves] == ["mae · random", "mae · center"]
    assert [p.ratio for p in curves[0].points] == [0.25, 0.5, 0.75] and curves[0].points[0].loss.n == 2
    with pytest.raises(MaskError, match="no ratio"):
        sweep_strategies(["grid:2"], [0.5])


def test_ratio_lists_and_statistics():
    assert parse_ratios("0.1:0.9:0.1") == pytest.approx([0.1 * i for i in range(1, 10)])
    assert parse_ratios("0.25,0.5") == [0.25, 0.5]
    for bad in ("0.5:0.1:0.1", "a:b:c", "0.5,2"):
        with pytest.raises(MaskError):
            parse_ratios(bad)
    s = Stat.of([1.0, 2.0, 3.0, None, math.inf])
    assert (s.mean, s.std, s.n) == (2.0, 1.0, 3) and math.isclose(s.ci95, 4.303 / math.sqrt(3))
    assert t95(1) == 12.706 and 1.96 < t95(200) < 1.975
    assert as_strategy("random:0.6").ratio == 0.6 and as_strategy("grid").ratio is None
