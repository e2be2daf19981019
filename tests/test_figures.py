"""The CLI summary panel and the colour maps (maskviz.figures)."""

from __future__ import annotations

import numpy as np
import pytest

from maskviz.figures import COLORMAPS, MIN_PANEL_WIDTH, NAN_COLOR, colormap, render_panel

WHITE = 255


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])


def _ink(img) -> np.ndarray:
    """Boolean map of non-white pixels."""
    return (np.asarray(img) != WHITE).any(axis=-1)


def _dark_image(size: int = 32, seed: int = 0) -> np.ndarray:
    """Random colours that are never white, so the image is easy to find on the page."""
    return np.random.default_rng(seed).integers(0, 200, (size, size, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------- colour maps


@pytest.mark.parametrize("name", ["inferno", "viridis", "magma"])
def test_colormap_luminance_is_monotonic(name):
    rgb = colormap(np.linspace(0, 1, 512), 0.0, 1.0, name)
    assert rgb.shape == (512, 3) and rgb.dtype == np.uint8
    lum = _luminance(rgb)
    assert np.diff(lum).min() > -0.5  # neighbours differ by less than uint8 rounding
    assert np.all(np.diff(lum[::16]) > 0) and lum[-1] - lum[0] > 150


def test_colormap_endpoints_clipping_and_nan():
    out = colormap(np.array([[-5.0, 0.0, 2.0, 4.0, 99.0, np.nan]]), 0.0, 4.0, "inferno")
    assert out.shape == (1, 6, 3)
    assert out[0, 0].tolist() == out[0, 1].tolist() == [0, 0, 4]  # inferno's black end
    assert out[0, 3].tolist() == out[0, 4].tolist() == [252, 255, 164]  # inferno's pale-yellow end
    assert out[0, 5].tolist() == list(NAN_COLOR)
    vir = colormap(np.array([0.0, 1.0]), 0.0, 1.0, "viridis")
    assert vir.tolist() == [[68, 1, 84], [253, 231, 37]]
    assert colormap(np.zeros(3), 0.0, 0.0).tolist() == [[0, 0, 4]] * 3  # empty range: no crash
    assert set(COLORMAPS) >= {"inferno", "viridis", "magma"}
    with pytest.raises(ValueError, match="unknown colour map"):
        colormap(np.zeros(2), 0, 1, "jet")


# ------------------------------------------------------------------------------------------ panel


def _cli_like(n: int, heatmap: bool = True, **kw):
    img = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    panels = [(f"panel {i}", img) for i in range(n)]
    err = ("error", np.random.default_rng(1).random((32, 32)), 0.0, 1.0) if heatmap else None
    return render_panel(panels, heatmap=err, **kw)


def test_size_grows_with_panel_count():
    widths = [_cli_like(n, heatmap=False).width for n in (1, 2, 4)]
    assert widths[0] < widths[1] < widths[2]
    assert _cli_like(2).width > _cli_like(2, heatmap=False).width
    assert _cli_like(1).mode == "RGB"


def test_titles_are_drawn_above_the_images():
    img = _dark_image()
    titled = _ink(render_panel([("original", img), ("reconstruction + visible", img)]))
    bare = _ink(render_panel([("", img), ("", img)]))
    top = int(np.argmax(bare.any(axis=1)))  # first row of the images
    assert top > 0
    assert titled[:top].sum() > 50  # glyph pixels in the title strip


def test_small_images_are_enlarged_with_nearest():
    img = _dark_image(32)
    ink = _ink(render_panel([("", img)]))
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    shown = np.asarray(render_panel([("", img)]))[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    k = -(-MIN_PANEL_WIDTH // 32)
    assert shown.shape == (32 * k, 32 * k, 3)
    assert np.array_equal(shown, img.repeat(k, axis=0).repeat(k, axis=1))  # crisp blocks, no blending


def test_explicit_scale_and_large_images():
    img = _dark_image(32)
    assert render_panel([("", img)], scale=2).width < render_panel([("", img)], scale=3).width
    big = _dark_image(224)
    ink = _ink(render_panel([("", big)]))
    assert ink.any(axis=0).sum() == 224  # already wide enough: shown 1:1


def test_grid_lines_are_light_and_optional():
    img = np.zeros((32, 32, 3), np.uint8)
    plain = np.asarray(render_panel([("", img)], scale=1))
    gridded = np.asarray(render_panel([("", img)], scale=1, grid=8))
    diff = (plain != gridded).any(axis=-1)
    rows = np.flatnonzero(diff.sum(axis=1) == 32)
    assert len(rows) == 3  # interior boundaries at 8, 16, 24 (the edges get none)
    line = gridded[diff][:, 0]
    assert line.min() > 50 and line.max() < 200  # lightened, not painted over


def test_heatmap_colorbar_is_present_and_monotonic():
    img = _dark_image()
    flat = np.full((32, 32), 0.5)  # uniform heatmap: the only vertical gradient is the colour bar
    out = np.asarray(render_panel([("a", img)], heatmap=("error", flat, 0.0, 1.0)))
    best = None
    for x in range(out.shape[1]):
        lum = _luminance(out[:, x])
        coloured = np.flatnonzero((out[:, x] != WHITE).any(axis=-1))
        if len(coloured) < 150:
            continue
        seg = lum[coloured[0] + 2 : coloured[-1] - 1]  # inside the bar outline
        if np.all(np.diff(seg) <= 0) and seg[0] - seg[-1] > 150:
            best = x
    assert best is not None, "no column runs from bright (max, top) to dark (min, bottom)"
    labels = _ink(out)[:, best + 10 :]  # tick labels to the right of the bar
    assert labels.sum() > 30


def test_footer_is_drawn():
    img = _dark_image()
    without = render_panel([("a", img)])
    with_footer = render_panel([("a", img)], footer="loss 0.1234  psnr 21.5 dB")
    assert with_footer.height > without.height
    strip = _ink(with_footer)[without.height - 12 :]
    assert strip.sum() > 50


def test_accepts_grey_and_float_and_rejects_nonsense():
    grey = np.linspace(0, 1, 32 * 32).reshape(32, 32)
    assert render_panel([("grey", grey)]).width > MIN_PANEL_WIDTH
    with pytest.raises(ValueError):
        render_panel([])
    with pytest.raises(ValueError):
        render_panel([("bad", np.zeros((2, 2, 2, 2)))])
