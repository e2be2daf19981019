"""maskviz.train.dead_leaves: deterministic, varied procedural images with natural-image statistics."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from maskviz.train.dead_leaves import dead_leaves, natural_colours, photo_palette, sample_radii

FLAT = {"texture": 0.0, "shading": 0.0, "blur": 0.0, "noise": 0.0}


def spectrum_slope(img: np.ndarray) -> float:
    """Log-log slope of the grey-level power spectrum between 2 cycles/image and 1/4 cycle/px."""
    g = img.astype(np.float64).mean(-1)
    power = np.abs(np.fft.fft2(g - g.mean())) ** 2
    h, w = g.shape
    f = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :])
    band = (f > 2 / h) & (f < 0.25)
    return float(np.polyfit(np.log(f[band]), np.log(power[band]), 1)[0])


def test_an_image_is_a_pure_function_of_the_generator_state():
    a = dead_leaves(64, np.random.default_rng(7))
    b = dead_leaves(64, np.random.default_rng(7))
    c = dead_leaves(64, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_successive_images_from_one_generator_differ():
    rng = np.random.default_rng(0)
    assert not np.array_equal(dead_leaves(48, rng), dead_leaves(48, rng))


@pytest.mark.parametrize(("size", "shape"), [(96, (96, 96, 3)), ((48, 80), (48, 80, 3)), ((5, 7), (5, 7, 3)),
                                             (1, (1, 1, 3))])
def test_shape_and_dtype(size, shape):
    img = dead_leaves(size, np.random.default_rng(0))
    assert img.shape == shape and img.dtype == np.uint8


def test_images_vary_within_and_between_each_other():
    rng = np.random.default_rng(3)
    images = [dead_leaves(64, rng) for _ in range(16)]
    for img in images:
        assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50  # many regions and shades
        assert img.astype(np.float32).std() > 10  # real contrast, not a flat wash
    means = np.array([img.reshape(-1, 3).mean(0) for img in images])
    assert means.std(axis=0).min() > 5  # images differ in overall colour, channel by channel


def test_flat_leaves_are_piecewise_constant_and_come_from_the_palette():
    palette = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [240, 240, 240]], dtype=np.uint8)
    img = dead_leaves(64, np.random.default_rng(1), palette=palette, **FLAT)
    colours = {tuple(c) for c in np.unique(img.reshape(-1, 3), axis=0)}
    assert colours <= {tuple(c) for c in palette} and len(colours) >= 3


def test_the_spectrum_falls_like_a_natural_image():
    rng = np.random.default_rng(2)
    slopes = [spectrum_slope(dead_leaves(128, rng, **FLAT)) for _ in range(4)]
    assert -3.5 < float(np.mean(slopes)) < -1.5  # natural images: about -2


def test_radii_follow_the_inverse_cube_law():
    r = sample_radii(200_000, 1.0, 100.0, np.random.default_rng(0))
    assert r.min() >= 1.0 and r.max() <= 100.0
    octave = [int(((r >= lo) & (r < 2 * lo)).sum()) for lo in (2.0, 4.0, 8.0)]
    # p(r) ∝ r⁻³: each octave up holds a quarter as many radii (and so the same total area).
    assert 3.6 < octave[0] / octave[1] < 4.4 and 3.4 < octave[1] / octave[2] < 4.6


def test_natural_colours_are_mostly_muted():
    rgb = natural_colours(5000, np.random.default_rng(0))
    assert rgb.shape == (5000, 3) and rgb.min() >= 0 and rgb.max() <= 1
    saturation = (rgb.max(1) - rgb.min(1)) / np.maximum(rgb.max(1), 1e-6)
    assert np.median(saturation) < 0.35


def test_photo_palette_samples_real_colours(rng):
    red = np.zeros((40, 30, 3), dtype=np.uint8)
    red[..., 0] = 220
    blue = Image.new("RGB", (50, 20), (10, 20, 230))
    pal = photo_palette([red, blue], per_image=100, rng=rng)
    assert pal.shape == (200, 3) and pal.dtype == np.uint8
    assert {tuple(c) for c in np.unique(pal, axis=0)} == {(220, 0, 0), (10, 20, 230)}
    img = dead_leaves(32, rng, palette=pal, **FLAT)
    assert {tuple(c) for c in np.unique(img.reshape(-1, 3), axis=0)} <= {(220, 0, 0), (10, 20, 230)}


def test_bad_arguments_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="size"):
        dead_leaves(0, rng)
    with pytest.raises(ValueError, match="palette"):
        dead_leaves(16, rng, palette=np.zeros((4, 2)))
    with pytest.raises(ValueError, match="rmin"):
        dead_leaves(16, rng, rmin=5, rmax=2)
    with pytest.raises(ValueError, match="at least one image"):
        photo_palette([])


def test_fast_enough_to_make_on_the_fly():
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(20):
        dead_leaves(96, rng)
    # A few ms each on a laptop; 0.25 s each would still only be a shared, loaded CI machine.
    assert time.perf_counter() - start < 5.0
