"""Procedural training images with natural-image statistics: the dead-leaves model.

A handful of photos cannot teach a masked image model what images look like in general; it
memorises them. Dead-leaves images (Matheron; Lee, Mumford & Huang 2001) are stacks of opaque
shapes whose sizes follow the power law ``p(r) ∝ r⁻³``, which makes them scale invariant like
natural scenes: a ``1/f²`` power spectrum, sharp occlusion edges and flat regions at every scale.
Mixed into training they supply endless variety of exactly the structure that inpainting needs
(edges continuing into holes, regions meeting at T-junctions), while the photos supply the rest.
On top of the flat shapes, each leaf gets a colour from a natural palette (or from real photo
pixels), optional shading and a ``1/f`` texture, and the whole image slight blur and sensor noise.

Everything is numpy and comes from the caller's :class:`numpy.random.Generator`, so an image is
a pure function of the generator's state (the training data stream seeds one per sample). A
96 × 96 image takes a few milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image

#: Shapes per image stop when their total area reaches this many image areas: ``1 - e^-5`` of the
#: image is then covered by leaves; the rest shows the background leaf (one more leaf, just deepest).
COVERAGE = 5.0
#: Cap on shapes per image, so an ``rmin`` far below one pixel cannot make an image take seconds.
MAX_SHAPES = 5000
#: Relative frequency of discs, ellipses and rotated rectangles.
SHAPE_WEIGHTS = (0.5, 0.3, 0.2)


def sample_radii(n: int, rmin: float, rmax: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` radii with density ``∝ r⁻³`` on ``[rmin, rmax]`` (inverse-CDF sampling).

    ``r⁻³`` is the density that makes the model scale invariant: every octave of sizes covers
    the same area, so zooming in or out gives statistically the same picture.
    """
    if not 0 < rmin <= rmax:
        raise ValueError(f"need 0 < rmin <= rmax, got rmin={rmin}, rmax={rmax}")
    a, b = rmin**-2.0, rmax**-2.0
    u = rng.random(n)
    return (a - u * (a - b)) ** -0.5


def natural_colours(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n×3`` float colours in ``[0, 1]`` for one image: a few related hues, mostly muted.

    Scenes are not confetti: their colours cluster around a few hues (foliage, earth, sky), with
    low saturation and every brightness. So each call picks 1-4 base hues, mostly earthy, green or
    blue, and each leaf takes one of them with a small hue shift (one leaf in eight any hue), a
    saturation skewed low (Beta(1.2, 3)) and a value skewed mid-bright (Beta(2, 1.6)).
    """
    bases = _base_hues(int(rng.integers(1, 5)), rng)
    h = (bases[rng.integers(0, len(bases), n)] + rng.normal(0.0, 0.03, n)) % 1.0
    h = np.where(rng.random(n) < 0.125, rng.random(n), h)
    s = rng.beta(1.2, 3.0, n)
    v = rng.beta(2.0, 1.6, n)
    return _hsv_to_rgb(h, s, v)


#: Hue ranges (HSV, 0-1) of natural scene colours and how often a base hue comes from each.
_HUE_RANGES = ((0.02, 0.17), (0.17, 0.42), (0.45, 0.65), (0.0, 1.0))  # earth, foliage, sky/water, any
_HUE_WEIGHTS = (0.45, 0.25, 0.2, 0.1)


def _base_hues(k: int, rng: np.random.Generator) -> np.ndarray:
    ranges = np.asarray(_HUE_RANGES)[rng.choice(len(_HUE_RANGES), k, p=_HUE_WEIGHTS)]
    return rng.uniform(ranges[:, 0], ranges[:, 1])


def photo_palette(images: Iterable[Image.Image | np.ndarray], per_image: int = 1024,
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """Colours of real photos (``N×3`` uint8) to paint leaves with: real hues in their real proportions.

    Each image is shrunk to at most 64 px first, so a sample is a region's colour, not one noisy
    pixel.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    parts = []
    for img in images:
        pil = img if isinstance(img, Image.Image) else Image.fromarray(np.asarray(img, dtype=np.uint8))
        small = pil.convert("RGB")
        small.thumbnail((64, 64), Image.Resampling.BOX)
        pixels = np.asarray(small, dtype=np.uint8).reshape(-1, 3)
        parts.append(pixels[rng.integers(0, len(pixels), per_image)])
    if not parts:
        raise ValueError("photo_palette needs at least one image")
    return np.concatenate(parts)


def dead_leaves(
    size: int | tuple[int, int],
    rng: np.random.Generator,
    *,
    rmin: float | None = None,
    rmax: float | None = None,
    palette: np.ndarray | None = None,
    texture: float = 1.0,
    shading: float = 1.0,
    blur: float | None = None,
    noise: float | None = None,
) -> np.ndarray:
    """One dead-leaves image, ``H×W×3`` uint8, a pure function of ``rng``'s state.

    ``size`` is ``S`` or ``(H, W)``. Radii follow :func:`sample_radii` between ``rmin`` (default
    2 % of the longer side, at least 1 px) and ``rmax`` (default 60 % of it). ``palette``
    (``N×3``, uint8 or float in ``[0, 1]``, e.g. from :func:`photo_palette`) replaces
    :func:`natural_colours`. ``texture`` and ``shading`` scale the random per-leaf texture and
    brightness gradients (0 = flat leaves). ``blur`` (Gaussian σ in px) and ``noise`` (σ in
    ``[0, 1]`` units) default to random amounts per image, up to 1 px and 0.015.
    """
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if h < 1 or w < 1:
        raise ValueError(f"image size must be positive, got {h}×{w}")
    side = max(h, w)
    rmin = max(1.0, 0.02 * side) if rmin is None else float(rmin)
    rmax = max(rmin, 0.6 * side) if rmax is None else float(rmax)
    labels, shapes = _paint_leaves(h, w, rmin, rmax, rng)
    n = len(shapes.cy) + 1  # leaf 0 is the background
    colours = _leaf_colours(n, palette, rng)
    image = colours[labels]
    if shading > 0:
        image *= _shading(labels, shapes, shading, rng)[..., None]
    if texture > 0:
        image += _texture(labels, h, w, n, texture, rng)[..., None]
    image = _blur(image, rng.uniform(0.0, 1.0) if blur is None else float(blur))
    sigma = rng.uniform(0.0, 0.015) if noise is None else float(noise)
    if sigma > 0:
        image += rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------ leaves


@dataclass
class _Shapes:
    """Every leaf but the background (leaf k + 1 is row k; later rows lie on top).

    Discs are ellipses with equal half-axes; every leaf is tested in its own rotated frame
    ``u = (dx cos + dy sin) / a``, ``v = (dy cos - dx sin) / b``.
    """

    cy: np.ndarray
    cx: np.ndarray
    r: np.ndarray
    box: np.ndarray  # True: rotated rectangle (|u|, |v| <= 1); False: ellipse (u² + v² <= 1)
    a: np.ndarray
    b: np.ndarray
    cos: np.ndarray
    sin: np.ndarray

    @property
    def reach(self) -> np.ndarray:
        """Half-width of each leaf's axis-aligned bounding box."""
        return np.where(self.box, np.hypot(self.a, self.b), np.maximum(self.a, self.b))

    def inside(self, k: np.ndarray | int, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        """Whether offsets ``(dy, dx)`` from leaf ``k``'s centre fall on it (broadcasts over k)."""
        c, sn, a, b = self.cos[k], self.sin[k], self.a[k], self.b[k]
        u, v = (dx * c + dy * sn) / a, (dy * c - dx * sn) / b
        return np.where(self.box[k], (np.abs(u) <= 1.0) & (np.abs(v) <= 1.0), u * u + v * v <= 1.0)


def _shape_count(h: int, w: int, rmin: float, rmax: float) -> int:
    """Shapes whose expected total area is COVERAGE image areas (E[r²] of the r⁻³ law, exactly)."""
    mean_r2 = rmin * rmin if rmax <= rmin else 2.0 * math.log(rmax / rmin) / (rmin**-2.0 - rmax**-2.0)
    return int(min(MAX_SHAPES, max(1, math.ceil(COVERAGE * h * w / (math.pi * mean_r2)))))


def _sample_shapes(h: int, w: int, rmin: float, rmax: float, rng: np.random.Generator) -> _Shapes:
    n = _shape_count(h, w, rmin, rmax)
    r = sample_radii(n, rmin, rmax, rng)
    # Centres may lie a little outside, so big leaves enter from the borders as often as small ones.
    cy = rng.uniform(-0.1 * h, 1.1 * h, n)
    cx = rng.uniform(-0.1 * w, 1.1 * w, n)
    kind = rng.choice(len(SHAPE_WEIGHTS), n, p=SHAPE_WEIGHTS)
    stretch = np.where(kind == 0, 1.0, np.exp(rng.uniform(-0.5, 0.5, n)))  # elongation up to e:1
    angle = rng.uniform(0.0, math.pi, n)
    # Half-axes keep the disc's area πr² for ellipses (a·b = r²); rectangles get half-sides alike.
    return _Shapes(cy, cx, r, kind == 2, r * stretch, r / stretch, np.cos(angle), np.sin(angle))


#: Stencil half-widths for painting small leaves in vectorised batches; larger ones go one by one.
_BATCH_HALF_WIDTHS = (3, 6, 12)


def _paint_leaves(
    h: int, w: int, rmin: float, rmax: float, rng: np.random.Generator
) -> tuple[np.ndarray, _Shapes]:
    """Label image (leaf index per pixel, 0 = background) with later leaves on top.

    A z-buffer: each pixel keeps the highest leaf index that covers it, so leaves can be painted
    in any order. Most leaves are small (the r⁻³ law), so they are tested in batches on fixed
    square stencils; the few big ones are painted into their bounding-box slices.
    """
    s = _sample_shapes(h, w, rmin, rmax, rng)
    labels = np.zeros((h, w), dtype=np.int32)
    reach = s.reach
    seen = (s.cy + reach > 0) & (s.cy - reach < h) & (s.cx + reach > 0) & (s.cx - reach < w)
    lower = -1.0
    for half in _BATCH_HALF_WIDTHS:
        # A stencil of half-width `half` around floor(centre) holds every pixel within half - 0.5.
        idx = np.flatnonzero(seen & (reach > lower) & (reach <= half - 0.5))
        _paint_batch(labels, s, idx, half)
        lower = half - 0.5
    ys = np.arange(h, dtype=np.float64) + 0.5
    xs = np.arange(w, dtype=np.float64) + 0.5
    for k in np.flatnonzero(seen & (reach > lower)):
        _paint_one(labels, ys, xs, s, int(k), float(reach[k]))
    return labels, s


def _paint_batch(labels: np.ndarray, s: _Shapes, idx: np.ndarray, half: int) -> None:
    if not len(idx):
        return
    h, w = labels.shape
    off = np.arange(-half, half + 1)
    py = np.floor(s.cy[idx]).astype(np.int64)[:, None, None] + off[None, :, None]
    px = np.floor(s.cx[idx]).astype(np.int64)[:, None, None] + off[None, None, :]
    k = idx[:, None, None]
    hit = s.inside(k, (py + 0.5 - s.cy[k]).astype(np.float32), (px + 0.5 - s.cx[k]).astype(np.float32))
    hit &= (py >= 0) & (py < h) & (px >= 0) & (px < w)
    shape = hit.shape
    np.maximum.at(labels, (np.broadcast_to(py, shape)[hit], np.broadcast_to(px, shape)[hit]),
                  np.broadcast_to(k + 1, shape)[hit].astype(np.int32))


def _paint_one(labels: np.ndarray, ys: np.ndarray, xs: np.ndarray, s: _Shapes, k: int, reach: float) -> None:
    cy, cx = s.cy[k], s.cx[k]
    y0, y1 = max(0, int(cy - reach)), min(labels.shape[0], int(cy + reach) + 1)
    x0, x1 = max(0, int(cx - reach)), min(labels.shape[1], int(cx + reach) + 1)
    if y0 >= y1 or x0 >= x1:
        return
    hit = s.inside(k, ys[y0:y1, None] - cy, xs[None, x0:x1] - cx)
    view = labels[y0:y1, x0:x1]
    np.maximum(view, np.where(hit, k + 1, 0).astype(np.int32), out=view)


# ------------------------------------------------------------------------------------------ appearance


def _leaf_colours(n: int, palette: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """``n×3`` float32 colours; without a palette, a random illuminant tints the whole image."""
    if palette is None:
        tint = np.exp(rng.normal(0.0, 0.08, 3))
        return (natural_colours(n, rng) * tint).astype(np.float32)
    pal = np.asarray(palette)
    if pal.ndim != 2 or pal.shape[1] != 3 or len(pal) == 0:
        raise ValueError(f"palette must be an N×3 array of colours, got shape {pal.shape}")
    pal = pal.astype(np.float32) / 255.0 if pal.dtype == np.uint8 else pal.astype(np.float32)
    return pal[rng.integers(0, len(pal), n)].copy()


def _shading(labels: np.ndarray, s: _Shapes, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Per-leaf brightness gradient (light falling across a curved surface), as a multiplier."""
    n = len(s.r) + 1
    # Half the leaves are flat; the others brighten by up to ±35 % across their radius.
    amount = strength * 0.35 * rng.random(n) * (rng.random(n) < 0.5)
    theta = rng.uniform(0.0, 2 * math.pi, n)
    cy = np.concatenate([[labels.shape[0] / 2], s.cy])
    cx = np.concatenate([[labels.shape[1] / 2], s.cx])
    r = np.concatenate([[max(labels.shape)], s.r])
    gy, gx = amount * np.sin(theta) / r, amount * np.cos(theta) / r
    yy, xx = np.indices(labels.shape, dtype=np.float32)
    shade = 1.0 + gy[labels] * (yy - cy[labels]) + gx[labels] * (xx - cx[labels])
    return np.clip(shade, 0.3, 1.7).astype(np.float32)


def _texture(labels: np.ndarray, h: int, w: int, n: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Additive ``1/f^β`` noise, a different window of it per leaf, with per-leaf contrast."""
    field = _power_law_noise(h, w, rng.uniform(0.8, 1.6), rng)
    amp = strength * 0.12 * rng.random(n) ** 2 * (rng.random(n) < 0.6)
    oy, ox = rng.integers(0, h, n), rng.integers(0, w, n)
    yy, xx = np.indices((h, w))
    return (amp[labels] * field[(yy + oy[labels]) % h, (xx + ox[labels]) % w]).astype(np.float32)


def _power_law_noise(h: int, w: int, beta: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance noise with amplitude spectrum ``1/f^β`` (β = 1: natural-image like)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fy * fy + fx * fx)
    f[0, 0] = 1.0
    spectrum = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f**beta
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=(h, w))
    std = field.std()
    return field / std if std > 0 else field


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur by summing shifted copies (fast for the ≤ 3 px radii used here)."""
    if sigma < 0.2:
        return image
    radius = max(1, math.ceil(2.5 * sigma))
    t = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    k /= k.sum()
    for axis in (0, 1):
        pad = [(0, 0)] * image.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(image, pad, mode="reflect" if image.shape[axis] > radius else "edge")
        n = image.shape[axis]
        out = np.zeros_like(image)
        for i, weight in enumerate(k):
            out += weight * np.take(padded, np.arange(i, i + n), axis=axis)
        image = out
    return image


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV → RGB for ``n`` colours (the colorsys formulas)."""
    i = np.floor(h * 6.0).astype(int) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack([np.stack(c, axis=-1) for c in
                      ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    return table[i, np.arange(len(h))]
