"""loss_sweep: the numbers behind the GUI's loss-vs-ratio curve."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from maskviz.errors import MaskError
from maskviz.masks import mask_ratio, parse_mask_spec
from maskviz.models import create_model
from maskviz.reconstruct import reconstruct
from maskviz.sweep import (
    Curve,
    SweepPoint,
    final_points,
    loss_sweep,
    sweep_curve,
    sweep_family,
    sweep_label,
    sweep_points,
    sweep_spec,
    with_ratio,
)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return create_model("mae_vit_tiny_test").eval()


def test_family_keeps_the_pattern_when_it_has_a_ratio():
    assert str(sweep_spec("block:0.3,min_block=2,seed=4")) == "block:min_block=2"
    assert str(sweep_spec("~random:0.2,seed=1")) == "random"  # inversion and seed are the sweep's to set
    assert sweep_label("block:0.3,min_block=2") == "block (min_block=2)"


@pytest.mark.parametrize("spec", ["grid:2", "half:left", "none", None])
def test_patterns_without_a_ratio_sweep_random_masks(spec):
    assert str(sweep_spec(spec)) == "random"


def test_center_sweeps_its_declared_amount_like_every_pattern_with_one():
    """The hidden amount is a declared role (center calls it fraction), not a parameter name."""
    family = sweep_spec("center:0.3")
    assert str(family) == "center" and sweep_label("center:0.3") == "center"
    assert with_ratio(family, 0.5).params == {"fraction": 0.5}
    assert [str(spec) for _, spec in sweep_points(sweep_family("~center:0.3"), [0.25])] == ["~center:fraction=0.25"]
    with pytest.raises(MaskError, match="grid masks have no ratio to sweep; sweep random, block, simmim, center"):
        sweep_family("grid:2")


def test_loss_curve_of_center_masks(tiny):
    image = Image.new("RGB", (32, 32), (120, 60, 30))
    curve = sweep_curve(tiny, image, "center:0.3", ratios=(0.25, 0.75), seeds=(0,))
    assert curve.family == "center" and curve.complete and curve.loss_name == "MSE, normalised pixels"
    assert [round(p.actual, 2) for p in curve.points] == [0.25, 0.56]  # what a 4×4 grid can centre


def test_curve_keeps_one_point_per_amount_in_order():
    curve = Curve("random", total=2, seeds=(0, 1))
    curve = curve.with_point(SweepPoint(0.5, (1.0,))).with_point(SweepPoint(0.25, (2.0, 3.0)))
    curve = curve.with_point(SweepPoint(0.5, (1.0, 1.5)))
    assert [(p.ratio, p.losses) for p in curve.points] == [(0.25, (2.0, 3.0)), (0.5, (1.0, 1.5))]
    assert curve.complete and curve.label == "random"
    assert curve.points[0].loss.n == 2 and curve.points[0].hidden_fraction == 0.25


def test_with_ratio_generates_the_asked_fraction():
    spec = with_ratio(sweep_spec("random:0.1"), 0.5)
    assert spec.params == parse_mask_spec("random:0.5").params == {"ratio": 0.5}
    assert mask_ratio(spec.generate((8, 8), 8, seed=0)) == 0.5


def test_one_point_per_ratio_with_the_model_loss_per_seed(tiny):
    image = Image.new("RGB", (32, 32), (120, 60, 30))
    stream = list(loss_sweep(tiny, image, "random", ratios=(0.25, 0.5), seeds=(0, 1)))
    assert [(p.ratio, len(p.losses)) for p in stream] == [(0.25, 1), (0.25, 2), (0.5, 1), (0.5, 2)]  # one per forward
    points = final_points(stream)
    assert [p.ratio for p in points] == [0.25, 0.5]
    assert all(len(p.losses) == 2 for p in points)
    # each value is the core's own loss for that mask
    mask = with_ratio(sweep_spec("random"), 0.5).generate(tiny.grid_size, tiny.patch_size, seed=1)
    assert points[1].losses[1] == pytest.approx(reconstruct(tiny, image, [mask])[0].loss)


def test_ratio_zero_has_no_loss_and_is_skipped(tiny):
    image = Image.new("RGB", (32, 32), (10, 20, 30))
    assert [p.ratio for p in loss_sweep(tiny, image, None, ratios=(0.0, 0.5), seeds=(0, 1))] == [0.5, 0.5]


def test_point_statistics():
    p = SweepPoint(0.5, (1.0, 2.0, 3.0))
    assert (p.mean, p.low, p.high) == (2.0, 1.0, 3.0)
    assert p.std == pytest.approx(np.std([1, 2, 3]))
