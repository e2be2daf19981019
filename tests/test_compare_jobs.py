"""compare_jobs: the Compare dock's job is the CLI's comparison, in steps of one forward (Qt-free)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image

from maskviz.compare import as_strategy, compare, painted_strategy, sweep_strategies
from maskviz.compare_jobs import CompareJob, Snapshot, TooLong, compare_steps, estimate_seconds, mask_groups
from maskviz.models import create_model


@pytest.fixture
def model():
    torch.manual_seed(0)
    return create_model("mae_vit_tiny_test").eval()


@pytest.fixture
def image():
    return Image.fromarray(np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8))


def _strategies():
    specs = [as_strategy(s) for s in ("random:0.75", "grid:2", "center:0.5")]
    return specs + sweep_strategies(["random"], [0.25, 0.5])


def _slow(model, seconds: float) -> None:
    for blocks in (model.blocks, model.decoder_blocks):
        for block in blocks:
            block.register_forward_pre_hook(lambda *_: time.sleep(seconds))


def _run(job: CompareJob) -> tuple[list, object]:
    steps, gen = [], compare_steps(job)
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as end:
            return steps, end.value


def test_the_job_s_table_is_the_cli_s_to_the_last_digit(model, image):
    strategies = _strategies()
    job = CompareJob({"m": model}, {"m": {}}, {}, {"img": image}, None, strategies, [0, 1])
    _, done = _run(job)
    assert isinstance(done, Snapshot) and done.finished and done.table.complete
    cli = compare({"m": model}, {"img": image}, strategies, [0, 1])
    assert [r.record() for r in done.table.rows] == [r.record() for r in cli.rows]  # same rows, same order


def test_a_slow_model_runs_one_distinct_mask_per_step(model, image):
    _slow(model, 0.02)  # each forward ≈ 0.1 s: longer than a step's budget
    strategies = [painted_strategy(np.eye(4, dtype=bool), 8, "viewer"), *_strategies()]
    job = CompareJob({"m": model}, {"m": {}}, {}, {"img": image}, None, strategies, [0, 1, 2])
    forwards: list[int] = []
    model.register_forward_pre_hook(lambda _m, args: forwards.append(len(args[1])))
    steps, done = _run(job)
    distinct = len(mask_groups(_plans(model, strategies), "m"))
    assert done.done == done.total == distinct
    assert forwards == [1] * distinct and len(steps) >= distinct  # a turn after every forward


def _plans(model, strategies):
    from maskviz.compare import plan_masks

    return plan_masks({"m": model}, strategies, [0, 1, 2])


def test_a_job_with_a_budget_stops_once_it_knows_it_would_take_longer(model, image):
    _slow(model, 0.05)  # ≈ 0.25 s a forward, ~40 distinct masks: ~10 s
    job = CompareJob({"m": model}, {"m": {}}, {}, {"img": image}, None, _strategies(), [0, 1, 2, 3], budget=2.0)
    start = time.perf_counter()
    _, done = _run(job)
    assert isinstance(done, TooLong) and done.seconds > 2.0
    assert time.perf_counter() - start < done.seconds / 2  # it stopped early, after measuring its pace
    assert not done.snapshot.finished and 0 < done.snapshot.done < done.snapshot.total


def test_the_estimate_counts_forwards_and_scales_by_model_size(model):
    strategies = _strategies()  # 3 seeded (random, 2 sweep points) + 2 fixed
    assert estimate_seconds({"m": model}, strategies, [0, 1], 1, 0.1) == pytest.approx((3 * 2 + 2) * 0.1)
    big = create_model("mae_vit_small_patch8_64")
    ratio = sum(p.numel() for p in big.parameters()) / sum(p.numel() for p in model.parameters())
    both = estimate_seconds({"m": model, "big": big}, strategies, [0, 1], 3, 0.1)
    assert both == pytest.approx((3 * 2 + 2) * 0.1 * 3 * (1 + ratio))


def test_the_estimate_counts_a_models_parameters_once(model, monkeypatch):
    """It runs on the UI thread at every viewer change: counting ViT-B's parameters each time took ~7 ms."""
    fresh = create_model("mae_vit_small_patch8_64")
    calls = []
    real = fresh.parameters
    monkeypatch.setattr(fresh, "parameters", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    first = estimate_seconds({"m": model, "f": fresh}, _strategies(), [0], 1, 0.1)
    assert estimate_seconds({"m": model, "f": fresh}, _strategies(), [0], 1, 0.1) == first and calls == [1]


def test_in_the_tiles_view_the_job_s_table_is_the_cli_s(model):
    """The Compare dock in a whole view: masks on each picture's grid, rows as ``compare --view tiles``."""
    from maskviz.compare import iter_compare, new_table
    from maskviz.whole import View

    wide = Image.fromarray(np.random.default_rng(4).integers(0, 256, (72, 100, 3), dtype=np.uint8))
    small = Image.fromarray(np.zeros((20, 60, 3), dtype=np.uint8))  # less than one 32 px tile: skipped
    images, strategies = {"wide": wide, "small": small}, _strategies()
    job = CompareJob({"m": model}, {"m": {}}, {}, images, None, strategies, [0, 1], view=View("tiles"))
    _, done = _run(job)
    assert done.finished and done.done == done.total
    cli = new_table({"m": model}, list(images.items()), strategies, [0, 1], False)
    for _ in iter_compare({"m": model}, images, strategies, [0, 1], table=cli, view=View("tiles")):
        pass
    assert [r.record() for r in done.table.rows] == [r.record() for r in cli.rows]
    assert {r.view for r in done.table.rows} == {"tiles 96x72 px"} and done.table.view == "tiles"
    assert {r.mask.shape for r in done.table.rows} == {(9, 12)}
    assert [name for name, _ in done.table.skipped] == ["small"] and "tiles view" in done.table.skipped[0][1]
