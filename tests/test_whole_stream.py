"""Whole-picture jobs (what the GUI's worker steps): partial pictures, the final result, reuse of tiles."""

from __future__ import annotations

import math
from itertools import count

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic import randomize_

from maskviz.masks import random_mask, to_pixel_mask
from maskviz.models import create_model
from maskviz.whole import prepare_view, reconstruct_view
from maskviz.whole.stream import native_job, run_to_end, tiles_job
from maskviz.whole.tiles import TileRunner


def picture(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return randomize_(create_model("mae_vit_tiny_test"), seed=3).eval()


def steps_and_result(job):
    steps = []
    while True:
        try:
            steps.append(next(job))
        except StopIteration as end:
            return steps, end.value


def test_the_job_returns_what_reconstruct_view_computes(model):
    vimg = prepare_view(model, picture(100, 75, seed=1), "tiles")
    mask = random_mask(vimg.grid, 0.75, seed=2)
    steps, result = steps_and_result(tiles_job(TileRunner(model, batch=2), vimg, mask))
    (expected,) = reconstruct_view(model, vimg, [mask])
    assert result.view == expected.view == "tiles 96x72 px"
    for name in ("prediction", "pasted", "masked_input", "error_map", "patch_loss"):
        assert np.allclose(getattr(result.whole, name), getattr(expected.whole, name), atol=1e-5), name
    assert result.whole.loss == pytest.approx(expected.whole.loss, rel=1e-5)
    assert [s.done for s in steps][-1] == steps[-1].total == len(expected.tiles)
    assert sorted(i for s in steps for i in s.tiles) == list(range(len(expected.tiles)))


def test_partial_pictures_show_the_masked_input_where_tiles_are_pending(model):
    vimg = prepare_view(model, picture(128, 96, seed=3), "tiles")  # 4×3 tiles of 32 px
    mask = random_mask(vimg.grid, 0.5, seed=4)
    clock = count()  # every call a second later: every step stitches a picture
    steps, result = steps_and_result(tiles_job(TileRunner(model, batch=1), vimg, mask, every_s=0.5,
                                               clock=lambda: float(next(clock))))
    first = steps[0]
    assert first.done == 1 and first.picture is not None
    done = np.zeros(vimg.grid, dtype=bool)
    done[0:4, 0:4] = True  # tile 0
    pending = to_pixel_mask(~done, vimg.patch_size)
    pic = first.picture
    assert np.array_equal(pic.prediction[pending], pic.masked_input[pending])  # nothing invented
    assert (pic.error_map[pending] == 0).all() and np.isnan(pic.patch_loss[~done]).all()
    assert np.allclose(pic.prediction[~pending], result.whole.prediction[~pending], atol=1e-5)
    hidden_done = to_pixel_mask(mask & done, vimg.patch_size)
    assert pic.mse == pytest.approx(float(result.whole.error_map[hidden_done].mean()), rel=1e-4)
    assert steps[-1].picture is None  # the last step's picture is the result itself


def test_pictures_are_throttled(model):
    vimg = prepare_view(model, picture(128, 96, seed=3), "tiles")
    mask = random_mask(vimg.grid, 0.5, seed=4)
    steps, _ = steps_and_result(tiles_job(TileRunner(model, batch=1), vimg, mask, clock=lambda: 0.0))
    assert [s.picture is not None for s in steps].count(True) == 1  # the clock never moves: only the first


def test_a_second_job_after_a_stroke_computes_only_the_touched_tile(model):
    vimg = prepare_view(model, picture(100, 75, seed=5), "tiles")
    runner = TileRunner(model)
    before = random_mask(vimg.grid, 0.75, seed=6)
    run_to_end(tiles_job(runner, vimg, before))
    after = before.copy()
    after[1:3, 1:3] = True
    steps, result = steps_and_result(tiles_job(runner, vimg, after))
    assert steps[-1].computed == 1 and steps[0].done == steps[0].total - 1  # the cached ones first
    assert np.allclose(result.whole.prediction, reconstruct_view(model, vimg, [after])[0].whole.prediction,
                       atol=1e-5)


def test_a_closed_job_keeps_its_finished_tiles(model):
    vimg = prepare_view(model, picture(128, 96, seed=7), "tiles")
    runner = TileRunner(model, batch=2)
    mask = random_mask(vimg.grid, 0.5, seed=8)
    job = tiles_job(runner, vimg, mask)
    next(job)
    finished = next(job).done  # MAE batches keep one visible count: up to 2 tiles a step
    job.close()  # what the worker does with a superseded job
    steps, _ = steps_and_result(tiles_job(runner, vimg, mask))
    assert steps[0].done == finished >= 2 and steps[0].computed == 0
    assert steps[-1].computed == 12 - finished


def test_native_job_is_the_native_view(model):
    vimg = prepare_view(model, picture(64, 48, seed=9), "native")
    mask = random_mask(vimg.grid, 0.5, seed=1)
    result = native_job(model, vimg, mask)
    assert result.view == "native 64x48 px"
    assert np.allclose(result.whole.prediction, reconstruct_view(model, vimg, [mask])[0].whole.prediction)
    assert not math.isnan(result.whole.loss)
