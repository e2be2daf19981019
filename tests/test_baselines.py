"""maskviz.baselines: what each non-learned fill predicts, and that it is measured like a model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from maskviz.baselines import (
    BASELINES,
    NO_DATA_COLOUR,
    baseline_reconstruction,
    harmonic_fill,
    mean_fill,
    normalized_convolution,
)
from maskviz.masks import center_mask, empty_mask, full_mask, half_mask, random_mask, to_pixel_mask

P = 8
GRID = (8, 8)


def ramp(grid: tuple[int, int] = GRID) -> np.ndarray:
    """A smooth colour ramp: what any sensible interpolation should continue into a hole."""
    h, w = grid[0] * P, grid[1] * P
    yy, xx = np.mgrid[0:h, 0:w]
    u, v = xx / (w - 1), yy / (h - 1)
    return np.stack([u, v, 0.3 * u + 0.5 * v + 0.1], axis=-1).astype(np.float32)


@pytest.fixture
def noisy(rng) -> np.ndarray:
    return rng.random((GRID[0] * P, GRID[1] * P, 3), dtype=np.float32)


def test_mean_fill_is_the_mean_of_the_visible_pixels(noisy):
    mask = random_mask(GRID, 0.75, seed=2)
    visible = ~to_pixel_mask(mask, P)
    pred = mean_fill(noisy, mask, P)
    assert pred.shape == noisy.shape and pred.dtype == np.float32
    assert np.allclose(pred, noisy[visible].mean(axis=0), atol=1e-6)


@pytest.mark.parametrize("name", list(BASELINES))
@pytest.mark.parametrize("mask", [random_mask(GRID, 0.75, seed=0), half_mask(GRID, "left"), center_mask(GRID, 0.5)])
def test_every_fill_reproduces_a_constant(name, mask):
    image = np.full((GRID[0] * P, GRID[1] * P, 3), (0.2, 0.5, 0.9), dtype=np.float32)
    assert np.allclose(BASELINES[name](image, mask, P), image, atol=1e-5)


def test_normalized_convolution_continues_a_ramp_into_a_hole():
    image, mask = ramp(), center_mask(GRID, 0.25)  # a 32 px hole: wider than the kernel
    hidden = to_pixel_mask(mask, P)
    err = np.abs(normalized_convolution(image, mask, P) - image)[hidden].mean()
    err_mean = np.abs(mean_fill(image, mask, P) - image)[hidden].mean()
    assert err < 0.05 and err < 0.5 * err_mean


def test_harmonic_fill_reproduces_a_ramp_inside_a_hole():
    image, mask = ramp(), center_mask(GRID, 0.25)  # linear functions are harmonic: exact up to convergence
    hidden = to_pixel_mask(mask, P)
    assert np.abs(harmonic_fill(image, mask, P) - image)[hidden].max() < 2e-3


@pytest.mark.parametrize("name", ["normconv", "harmonic"])
@pytest.mark.parametrize("side", ["left", "top"])
def test_a_hidden_half_is_filled_from_the_visible_values(name, side, noisy):
    mask = half_mask(GRID, side)
    visible = ~to_pixel_mask(mask, P)
    pred = BASELINES[name](noisy, mask, P)
    assert np.isfinite(pred).all()
    # Both are weighted averages of visible pixels (the maximum principle, for harmonic).
    lo, hi = noisy[visible].min(axis=0), noisy[visible].max(axis=0)
    assert (pred[~visible] >= lo - 1e-5).all() and (pred[~visible] <= hi + 1e-5).all()


def test_a_wide_hole_is_filled_everywhere_with_a_narrow_kernel():
    image, mask = ramp(), half_mask(GRID, "right")
    pred = normalized_convolution(image, mask, P, sigma=0.5)  # kernel radius 2 px, hole 32 px wide
    hidden = to_pixel_mask(mask, P)
    assert np.isfinite(pred).all()
    # Rows keep their own colour (green follows the vertical ramp), so the pyramid, not a global mean, filled it.
    assert np.corrcoef(pred[hidden][:, 1], image[hidden][:, 1])[0, 1] > 0.95


@pytest.mark.parametrize("name", list(BASELINES))
def test_nothing_visible_gives_the_prior_colour(name, noisy):
    pred = BASELINES[name](noisy, full_mask(GRID), P)
    assert np.allclose(pred, NO_DATA_COLOUR)


@pytest.mark.parametrize("name", list(BASELINES))
def test_reconstruction_pastes_and_measures_like_a_model(name, noisy):
    mask = random_mask(GRID, 0.75, seed=5)
    r = baseline_reconstruction(name, noisy, mask, P)
    px = to_pixel_mask(mask, P)
    assert r.prediction.shape == r.pasted.shape == r.original.shape == noisy.shape
    assert r.prediction.min() >= 0 and r.prediction.max() <= 1
    assert np.array_equal(r.pasted[~px], noisy[~px]) and np.array_equal(r.pasted[px], r.prediction[px])
    assert np.allclose(r.masked_input[px], (0.485, 0.456, 0.406)) and np.array_equal(r.masked_input[~px], noisy[~px])
    expected = float(((r.prediction - noisy) ** 2).mean(-1)[px].mean())
    assert math.isclose(r.mse, expected, rel_tol=1e-6) and r.loss == r.mse
    assert math.isclose(r.psnr, 10 * math.log10(1 / r.mse), rel_tol=1e-9)
    assert math.isclose(float(r.patch_loss[mask].mean()), r.mse, rel_tol=1e-5)  # equal-size patches
    assert r.family == f"baseline:{name}" and r.masked_patches == int(mask.sum())


def test_better_fills_score_higher_on_a_smooth_image():
    image, mask = ramp(), random_mask(GRID, 0.75, seed=1)
    psnr = {name: baseline_reconstruction(name, image, mask, P).psnr for name in BASELINES}
    assert psnr["normconv"] > psnr["mean"] + 6 and psnr["harmonic"] > psnr["mean"] + 6


def test_no_hidden_patch_means_no_error():
    r = baseline_reconstruction("normconv", ramp(), empty_mask(GRID), P)
    assert r.mse is None and r.psnr is None and r.loss is None
    assert np.array_equal(r.pasted, r.original)


def test_uint8_images_and_non_square_grids(rng):
    grid = (4, 6)
    image = rng.integers(0, 256, (grid[0] * P, grid[1] * P, 3), dtype=np.uint8)
    mask = random_mask(grid, 0.5, seed=0)
    r = baseline_reconstruction("harmonic", image, mask, P)
    assert np.allclose(r.original, image / 255.0)
    assert np.allclose(r.prediction, harmonic_fill(image.astype(np.float32) / 255, mask, P))


def test_bad_inputs_are_refused(noisy):
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_reconstruction("nearest", noisy, random_mask(GRID, 0.5, seed=0), P)
    with pytest.raises(ValueError, match="does not fit"):
        normalized_convolution(noisy, random_mask((4, 4), 0.5, seed=0), P)
    with pytest.raises(ValueError, match="sigma"):
        normalized_convolution(noisy, random_mask(GRID, 0.5, seed=0), P, sigma=0)
