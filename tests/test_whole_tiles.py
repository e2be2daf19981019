"""The tiles view: tiles equal reconstruct() of their crops, stitching, edge tiles, the cache, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic import randomize_
from torch import nn

from maskviz.masks import MASK_PATTERNS, load_mask_png, make_mask, random_mask, save_mask_png
from maskviz.models import create_model
from maskviz.models.base import MaskedImageModel
from maskviz.models.configs import get_config
from maskviz.reconstruct import reconstruct
from maskviz.whole import View, ViewError, prepare_view, reconstruct_view, tile_inputs
from maskviz.whole import view as view_module
from maskviz.whole.tiles import TileLayout, TileRunner, check_tiles, tile_starts
from maskviz.whole.view import working_size

FAMILIES = ("mae_vit_tiny_test", "simmim_vit_tiny_test", "simmim_swin_tiny_test")


def picture(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: randomize_(create_model(name), seed=3).eval() for name in FAMILIES}


# ------------------------------------------------------------------------------------------- layout


def test_tile_starts_end_flush_with_the_edge():
    assert tile_starts(8, 4) == [0, 4]
    assert tile_starts(9, 4) == [0, 4, 5]  # the last tile shifted back: overlaps its neighbour by 3
    assert tile_starts(4, 4) == [0]
    assert tile_starts(14 * 3 + 1, 14) == [0, 14, 28, 29]


def test_every_patch_has_exactly_one_owner_inside_its_tile():
    layout = TileLayout.of((9, 13), (4, 4))
    owner = layout.owner_map()
    assert (owner >= 0).all()
    counts = np.zeros((9, 13), dtype=int)
    for t in layout.tiles:
        counts[t.own] += 1
        inside = np.zeros((9, 13), dtype=bool)
        inside[t.cells] = True
        assert inside[t.own].all()  # a tile is only shown where it has pixels
    assert (counts == 1).all()
    assert len(layout.tiles) == math.ceil(9 / 4) * math.ceil(13 / 4)  # what padding would take too


# ------------------------------------------------------------------------------------------- results


@pytest.mark.parametrize("name", FAMILIES)
def test_each_tile_equals_reconstruct_of_its_crop(models, name):
    model = models[name]
    p, (th, tw) = model.patch_size, model.grid_size
    img = picture(tw * p * 2 + 3 * p + 5, th * p + 2 * p + 3)  # edge tiles both ways, a ragged remainder cut
    vimg = prepare_view(model, img, "tiles")
    assert vimg.size == (img.width - img.width % p, img.height - img.height % p)
    mask = make_mask("random:0.6", vimg.grid, p, seed=1)
    tiled = TileRunner(model).run(vimg, mask)
    shifted = [t for t in tiled.tiles if t.tile.top % th or t.tile.left % tw]
    assert shifted  # the edge tiles are among those checked
    for t in tiled.tiles:
        crop = vimg.image.crop(t.tile.box(p))
        (alone,) = reconstruct(model, crop, [mask[t.tile.cells]])
        assert np.array_equal(t.result.mask, mask[t.tile.cells])
        assert np.allclose(t.result.prediction, alone.prediction, atol=1e-5)
        assert math.isclose(t.result.loss, alone.loss, rel_tol=1e-5)
        (rows, cols), (trows, tcols) = t.tile.own, t.tile.own_in_tile
        shown = tiled.whole.prediction[rows.start * p:rows.stop * p, cols.start * p:cols.stop * p]
        own = t.result.prediction[trows.start * p:trows.stop * p, tcols.start * p:tcols.stop * p]
        assert np.array_equal(shown, own)  # each patch is shown from the tile that owns it


class Echo(MaskedImageModel):
    """Predicts every patch as its own input: a stitched prediction must give back the picture."""

    def __init__(self) -> None:
        super().__init__(get_config("simmim_vit_tiny_test"))
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, imgs, mask):
        self.check_input(imgs, mask)
        return self.patchify(imgs) + self.anchor

    def patch_loss(self, imgs, pred):
        return (pred - self.patchify(imgs)).abs().mean(dim=-1)


def test_stitching_puts_every_patch_back_where_it_was():
    model = Echo().eval()
    vimg = prepare_view(model, picture(100, 75, seed=4), "tiles")
    mask = random_mask(vimg.grid, 0.5, seed=2)
    (r,) = reconstruct_view(model, vimg, [mask])
    assert np.abs(r.whole.prediction - vimg.original()).max() < 1e-5
    assert np.array_equal(r.whole.mask, mask) and r.whole.original.shape == (72, 96, 3)
    assert r.view == "tiles 96x72 px"


@pytest.mark.parametrize("name", FAMILIES)
def test_whole_picture_loss_is_the_family_loss_over_all_hidden_patches(models, name):
    model = models[name]
    p, (th, tw) = model.patch_size, model.grid_size
    one = picture(tw * p, th * p, seed=5)  # exactly one tile: the view must equal reconstruct itself
    vimg = prepare_view(model, one, "tiles")
    mask = random_mask(vimg.grid, 0.5, seed=0)
    (r,) = reconstruct_view(model, vimg, [mask])
    (ref,) = reconstruct(model, one, [mask])
    assert math.isclose(r.whole.loss, ref.loss, rel_tol=1e-5)
    assert math.isclose(r.whole.mse, ref.mse, rel_tol=1e-5) and math.isclose(r.whole.psnr, ref.psnr, rel_tol=1e-5)

    four = picture(2 * tw * p, 2 * th * p, seed=6)  # 2×2 tiles, no overlap: the whole is the hidden-weighted mean
    vimg = prepare_view(model, four, "tiles")
    mask = random_mask(vimg.grid, 0.5, seed=1)
    (r,) = reconstruct_view(model, vimg, [mask])
    n = [t.result.masked_patches for t in r.tiles]
    expected = sum(t.result.loss * k for t, k in zip(r.tiles, n, strict=True)) / sum(n)
    assert math.isclose(r.whole.loss, expected, rel_tol=1e-5)
    assert len(r.metrics()["tiles"]) == 4 and r.metrics()["view"] == r.view


def test_whole_picture_loss_formula(models):
    loss = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    mask = np.array([[True, False], [True, True]])
    assert models["mae_vit_tiny_test"].loss_over_hidden(loss, mask) == pytest.approx(8 / 3)
    simmim = models["simmim_vit_tiny_test"]  # 8 px patches
    assert simmim.loss_over_hidden(loss, mask) == pytest.approx(8 * 64 / (3 * 64 + 1e-5), rel=1e-12)
    assert models["mae_vit_tiny_test"].loss_over_hidden(loss, np.zeros((2, 2), bool)) is None


# ------------------------------------------------------------------------------------------- incremental


def test_a_stroke_recomputes_only_the_tiles_it_touched_and_undo_none(models):
    model = models["mae_vit_tiny_test"]
    vimg = prepare_view(model, picture(100, 75, seed=7), "tiles")
    runner = TileRunner(model)
    layout = runner.layout(vimg)
    before = random_mask(vimg.grid, 0.75, seed=3)
    first = runner.run(vimg, before)
    assert first.computed == len(layout.tiles)
    after = before.copy()
    after[1:3, 1:3] = True  # a brush stroke inside the first tile
    touched = layout.touched(before, after)
    assert touched == [0]
    second = runner.run(vimg, after)
    assert second.computed == 1
    fresh = TileRunner(model).run(vimg, after)
    assert np.allclose(second.whole.prediction, fresh.whole.prediction, atol=1e-5)  # batches differ
    assert runner.run(vimg, before).computed == 0  # undo: every tile from the cache


def test_overlap_patch_change_recomputes_both_tiles_that_contain_it(models):
    model = models["mae_vit_tiny_test"]
    vimg = prepare_view(model, picture(88, 32, seed=8), "tiles")  # 11 columns: tiles at 0, 4, 7 share column 7
    runner = TileRunner(model)
    mask = random_mask(vimg.grid, 0.5, seed=0)
    runner.run(vimg, mask)
    mask[0, 7] = not mask[0, 7]
    assert runner.layout(vimg).touched(random_mask(vimg.grid, 0.5, seed=0), mask) == [1, 2]
    assert runner.run(vimg, mask).computed == 2


def test_steps_stream_progress_and_cancel_between_batches(models):
    model = models["simmim_vit_tiny_test"]
    vimg = prepare_view(model, picture(128, 96, seed=9), "tiles")  # 4×3 tiles
    runner = TileRunner(model, batch=2)
    mask = random_mask(vimg.grid, 0.6, seed=0)
    seen = []
    for step in runner.steps(vimg, mask, cancelled=lambda: len(seen) >= 2):
        seen.append(step)
    assert [s.done for s in seen] == [2, 4] and all(s.total == 12 and s.computed == 2 for s in seen)
    assert runner.run(vimg, mask, cancelled=lambda: True) is None  # nothing new may run: no whole result
    steps = list(runner.steps(vimg, mask))
    assert steps[0].computed == 0 and len(steps[0].results) == 4  # the finished tiles come first, from the cache
    assert steps[-1].done == 12 and sum(s.computed for s in steps) == 8


def test_the_cache_is_bounded():
    model = Echo().eval()
    vimg = prepare_view(model, picture(96, 64, seed=1), "tiles")
    runner = TileRunner(model, cache_bytes=1)  # too small for any tile: nothing kept, results still whole
    mask = random_mask(vimg.grid, 0.5, seed=0)
    assert runner.run(vimg, mask).computed == runner.run(vimg, mask).computed == 6


# ------------------------------------------------------------------------------------------- masks


@pytest.mark.parametrize("name", [n for n in MASK_PATTERNS if n != "file"])
def test_every_mask_pattern_works_on_the_full_grid(name):
    grid = (48, 64)  # a 1024×768 picture at patch 16
    mask = make_mask(name, grid, 16, seed=0)
    assert mask.shape == grid and mask.dtype == bool


def test_a_mask_png_of_the_pictures_size_round_trips(models, tmp_path):
    model = models["mae_vit_tiny_test"]
    vimg = prepare_view(model, picture(100, 75), "tiles")
    mask = make_mask("block:0.4", vimg.grid, vimg.patch_size, seed=2)
    path = tmp_path / "mask.png"
    save_mask_png(mask, path, vimg.patch_size)
    with Image.open(path) as saved:
        assert saved.size == vimg.size
    assert np.array_equal(load_mask_png(path, vimg.grid, vimg.patch_size), mask)
    assert np.array_equal(make_mask(f"file:{path}", vimg.grid, vimg.patch_size), mask)


# ------------------------------------------------------------------------------------------- sizes


def test_working_size_cuts_to_whole_patches_or_resizes_the_long_side():
    assert working_size((1023, 767), 16) == (1008, 752)
    assert working_size((4000, 3000), 16, 1024) == (1024, 768)
    assert working_size((3000, 4500), 16, 1024) == (688, 1024)  # 682.7 → the nearest whole patch
    with pytest.raises(ViewError, match="not a multiple of the 16 px patch; 992 or 1008 px are"):
        working_size((4000, 3000), 16, 1000)
    with pytest.raises(ViewError, match="1 px high is less than one 16 px patch"):
        working_size((4000, 1), 16)
    with pytest.raises(ViewError, match="less than one 16 px patch"):
        working_size((4000, 10), 16, 1024)


def test_the_own_size_keeps_pixel_coordinates(models):
    model = models["mae_vit_tiny_test"]
    img = picture(101, 77)
    vimg = prepare_view(model, img, "tiles")
    assert np.array_equal(np.asarray(vimg.image), np.asarray(img)[:72, :96])
    assert vimg.note == "101×77 px cut to 96×72 px (whole patches)"
    assert prepare_view(model, img, "tiles", size=64).size == (64, 48)


def test_refusals_come_before_any_pixel_is_touched(models, monkeypatch):
    model = models["mae_vit_tiny_test"]

    def touched(*_a, **_k):
        raise AssertionError("the picture was resampled before the size was refused")

    monkeypatch.setattr("maskviz.whole.reconstruct.make_working_image", touched)
    with pytest.raises(ViewError, match="at least one 32×32 px model input each way; the picture is 96×24 px"):
        prepare_view(model, picture(96, 24), "tiles")
    with pytest.raises(ViewError, match="1 px high"):
        prepare_view(model, picture(96, 1), "tiles")
    with pytest.raises(ViewError, match="not a multiple of the 8 px patch"):
        prepare_view(model, picture(96, 64), "tiles", size=100)
    monkeypatch.setattr("maskviz.whole.tiles.usable_bytes", lambda device="cpu": 2 * 2**30)
    with pytest.raises(ViewError, match=r"20000×15000 px picture needs about 28.8 GB .* 5456 px or less fits"):
        check_tiles(model, (20000, 15000))
    check_tiles(model, (1024, 768))  # 75 MB: fine


def test_views_are_named_and_checked(models):
    model = models["mae_vit_tiny_test"]
    assert prepare_view(model, picture(50, 40), "model").label == "model"  # as the GUI's figures say
    assert prepare_view(model, picture(128, 96), View("tiles", 64)).label == "tiles 64x48 px"
    with pytest.raises(ViewError, match="unknown view 'whole'"):
        View("whole")
    with pytest.raises(ViewError, match="working size applies to the tiles and native views"):
        View("model", 512)
    assert view_module.view_label("native", (448, 448)) == "native 448 px"


def test_tile_inputs_are_the_exact_model_inputs(models):
    model = models["simmim_vit_tiny_test"]
    vimg = prepare_view(model, picture(90, 32), "tiles")  # 88 px: tiles at 0, 32 and 56 px
    inputs = tile_inputs(model, vimg)
    assert [img.size for _, img in inputs] == [(32, 32)] * 3
    assert np.array_equal(np.asarray(inputs[-1][1]), np.asarray(vimg.image)[:, 56:88])
