"""Non-learned fills for hidden patches: the yardstick a masked image model has to beat.

A model that cannot beat *mean fill* has learned nothing about images; one that cannot beat
*interpolation* (filling holes from the pixels around them) has learned nothing that smoothness
does not already give. Every fill here takes what a model takes — the model-sized image
(``H×W×3`` float in ``[0, 1]``) and its patch mask (``(gh, gw)`` bool, True = hidden) — and returns
a full ``H×W×3`` prediction in ``[0, 1]``; :func:`baseline_reconstruction` wraps it in the same
:class:`~maskviz.reconstruct.Reconstruction` the model views show, so CLI, GUI and benchmarks treat
a baseline exactly like a model.

Fills (see :data:`BASELINES`):

* ``mean`` — the mean colour of the visible pixels everywhere;
* ``normconv`` — Gaussian normalised convolution (Knutsson & Westin): blur of the visible pixels
  divided by the blur of the visibility, so each hidden pixel is a distance-weighted average of
  the visible ones. Holes wider than the kernel are filled "pull-push" style from the same filter
  run on a half-resolution pyramid, down to one pixel, so every hidden pixel gets a value;
* ``harmonic`` — the smoothest (Laplace) surface through the visible pixels, solved coarse to
  fine by over-relaxed Gauss-Seidel (it scores best of the three; a biharmonic fill, tried too,
  scored 0.1-0.3 dB lower and took longer).

Everything is plain torch on the CPU: at 64 px, ``normconv`` takes about 2 ms, ``harmonic`` 20-40 ms.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from maskviz.masks import to_pixel_mask
from maskviz.models.base import IMAGENET_MEAN
from maskviz.reconstruct import Reconstruction, compose_result

Fill = Callable[[np.ndarray, np.ndarray, int], np.ndarray]

#: Gaussian σ of ``normconv`` as a fraction of the patch size: 2 px at patch 8. Measured on the
#: held-out sample crops (bench/bench_quality.py, 64 px, patch 8): σ = 1-2 px score within 0.1 dB
#: of each other and 0.3 dB above σ = 4 px; wider kernels smear edges into the holes, while the
#: pyramid already carries the estimate across wide holes.
SIGMA_PER_PATCH = 0.25
#: Weight of the coarser pyramid level in ``normconv``, in units of "fraction of the kernel that
#: is visible": where less than about this much of the kernel sees visible pixels, the estimate
#: comes from the coarser level instead of from a few far-away pixels.
PYRAMID_BLEND = 1e-3
#: Red-black SOR sweeps per pyramid level of ``harmonic`` and their over-relaxation factor: with
#: coarse-to-fine start values, 15 sweeps at ω = 1.8 land within 0.05 dB of the converged fill
#: (measured as above), in 20-40 ms for a 64 px image on a shared 2-core machine.
HARMONIC_SWEEPS = 15
HARMONIC_OMEGA = 1.8
#: What a fill returns when nothing at all is visible: the usual dataset mean, the same prior the
#: model views fall back on.
NO_DATA_COLOUR = IMAGENET_MEAN
_TINY = 1e-12


# ------------------------------------------------------------------------------------------ checks


def _check_inputs(image: np.ndarray, mask: np.ndarray, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Float32 image and bool patch mask that fit each other; the fills rely on exact geometry."""
    img = np.asarray(image)
    img = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32, copy=False)
    hidden = np.asarray(mask, dtype=bool)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 image, got shape {img.shape}")
    if hidden.ndim != 2:
        raise ValueError(f"expected a (rows, columns) patch mask, got shape {hidden.shape}")
    p = int(patch_size)
    if img.shape[:2] != (hidden.shape[0] * p, hidden.shape[1] * p):
        raise ValueError(f"a {hidden.shape[0]}×{hidden.shape[1]} mask of {p} px patches does not fit a "
                         f"{img.shape[1]}×{img.shape[0]} image")
    return img, hidden


def _visible_weights(hidden: np.ndarray, patch_size: int) -> np.ndarray:
    """``H×W`` float32: 1 where a pixel is visible, 0 where hidden."""
    return (~to_pixel_mask(hidden, patch_size)).astype(np.float32)


def _constant(shape: tuple[int, ...], colour: np.ndarray | tuple[float, ...]) -> np.ndarray:
    return np.broadcast_to(np.asarray(colour, dtype=np.float32), shape).copy()


# ------------------------------------------------------------------------------------------ fills


def mean_fill(image: np.ndarray, mask: np.ndarray, patch_size: int) -> np.ndarray:
    """The mean colour of the visible pixels, everywhere: the floor any model must clear."""
    img, hidden = _check_inputs(image, mask, patch_size)
    visible = _visible_weights(hidden, patch_size).astype(bool)
    if not visible.any():
        return _constant(img.shape, NO_DATA_COLOUR)
    return _constant(img.shape, img[visible].mean(axis=0))


def normalized_convolution(
    image: np.ndarray, mask: np.ndarray, patch_size: int, sigma: float | None = None,
    blend: float = PYRAMID_BLEND,
) -> np.ndarray:
    """Gaussian normalised convolution with a pull-push pyramid for holes wider than the kernel.

    ``sigma`` is in pixels (default :data:`SIGMA_PER_PATCH` × ``patch_size``). Each level computes
    ``blur(w·I)`` and ``blur(w)`` for visibility weights ``w``; a pixel's value is
    ``(blur(w·I) + blend·coarse) / (blur(w) + blend)``, where ``coarse`` is the same estimate one
    level down (half resolution, weights averaged), upsampled. Near visible pixels the fine ratio
    dominates; deep inside a large hole, where the kernel sees nothing, the coarse level takes over.
    """
    img, hidden = _check_inputs(image, mask, patch_size)
    weights = _visible_weights(hidden, patch_size)
    if not weights.any():
        return _constant(img.shape, NO_DATA_COLOUR)
    sigma = SIGMA_PER_PATCH * patch_size if sigma is None else float(sigma)
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    w = torch.from_numpy(weights)[None, None]
    x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
    with torch.no_grad():
        out = _pull_push(x * w, w, _gaussian_kernel(sigma), blend)
    return out[0].permute(1, 2, 0).clamp(0, 1).numpy()


def harmonic_fill(
    image: np.ndarray, mask: np.ndarray, patch_size: int, sweeps: int = HARMONIC_SWEEPS,
    omega: float = HARMONIC_OMEGA,
) -> np.ndarray:
    """The Laplace (membrane) interpolant: visible pixels fixed, each hidden one the mean of its neighbours.

    Solved coarse to fine: a weighted-average pyramid gives every level's known pixels, the
    coarsest level is the visible mean, and each finer level starts from the upsampled solution,
    so a few red-black SOR sweeps per level remove what is left (mostly fine detail).
    """
    img, hidden = _check_inputs(image, mask, patch_size)
    weights = _visible_weights(hidden, patch_size)
    if not weights.any():
        return _constant(img.shape, NO_DATA_COLOUR)
    if not 0 < omega < 2:
        raise ValueError(f"omega must be between 0 and 2 for SOR to converge, got {omega}")
    w = torch.from_numpy(weights)[None, None]
    x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
    with torch.no_grad():
        out = _harmonic(x * w, w, sweeps, omega)
    return out[0].permute(1, 2, 0).clamp(0, 1).numpy()


#: Every non-learned fill by name, in the order tables and panels list them.
BASELINES: dict[str, Fill] = {
    "mean": mean_fill,
    "normconv": normalized_convolution,
    "harmonic": harmonic_fill,
}

#: Human-readable names for tables and panels.
BASELINE_LABELS: dict[str, str] = {
    "mean": "mean fill",
    "normconv": "normalised convolution",
    "harmonic": "harmonic interpolation",
}


# ------------------------------------------------------------------------------------------ result


def baseline_reconstruction(
    name: str, original: np.ndarray, mask: np.ndarray, patch_size: int,
    masked_colour: tuple[float, float, float] = IMAGENET_MEAN,
) -> Reconstruction:
    """Fill ``original`` with the baseline ``name`` and measure it like a model's reconstruction.

    The result is a :class:`Reconstruction` (family ``baseline:<name>``), so every view can show it
    beside a model's: ``prediction`` is the fill, ``pasted`` keeps the visible pixels, ``mse`` and
    ``psnr`` cover the hidden pixels only. A baseline has no training loss of its own: ``loss``
    and ``patch_loss`` are its pixel MSE (over the hidden pixels, and per patch).
    ``masked_colour`` paints the hidden patches of ``masked_input`` (a model view uses its
    normalisation mean; the ImageNet mean by default).
    """
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; baselines: {', '.join(BASELINES)}")
    img, hidden = _check_inputs(original, mask, patch_size)
    prediction = np.clip(BASELINES[name](img, hidden, patch_size), 0.0, 1.0).astype(np.float32)
    p = int(patch_size)
    gh, gw = hidden.shape
    error = ((prediction - img) ** 2).mean(axis=-1)
    patch_mse = error.reshape(gh, p, gw, p).mean(axis=(1, 3)).astype(np.float32)
    result = compose_result(
        img, prediction, hidden, p, masked_colour=masked_colour, patch_loss=patch_mse, loss=None,
        family=f"baseline:{name}",
    )
    result.loss = result.mse  # a fill has no training loss: report its pixel MSE
    return result


# ------------------------------------------------------------------------------------------ torch helpers


def _gaussian_kernel(sigma: float) -> Tensor:
    """1-D normalised Gaussian cut at 3σ: beyond that its weights no longer change an estimate."""
    radius = max(1, math.ceil(3.0 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _blur(x: Tensor, kernel: Tensor) -> Tensor:
    """Separable blur of ``[1, C, H, W]`` with zero padding: outside the image counts as unseen."""
    c, r = x.shape[1], kernel.numel() // 2
    kh = kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1)
    kw = kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1)
    x = F.conv2d(x, kh, padding=(r, 0), groups=c)
    return F.conv2d(x, kw, padding=(0, r), groups=c)


def _halve(x: Tensor) -> Tensor:
    """Average 2×2 blocks (odd edges keep their partial blocks); a 1-pixel side stays 1."""
    h, w = x.shape[-2:]
    if h == 1 and w == 1:
        return x
    return F.avg_pool2d(x, (min(2, h), min(2, w)), ceil_mode=True)


def _pull_push(num: Tensor, den: Tensor, kernel: Tensor, blend: float) -> Tensor:
    """Normalised convolution of ``num / den`` blended with the same estimate one level coarser."""
    n, d = _blur(num, kernel), _blur(den, kernel)
    h, w = den.shape[-2:]
    if h == 1 and w == 1:  # the visible mean: den > 0 because some pixel is visible
        return n / d.clamp_min(_TINY)
    coarse = _pull_push(_halve(num), _halve(den), kernel, blend)
    up = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return (n + blend * up) / (d + blend)


_NEIGHBOURS = torch.tensor([[0.0, 0.25, 0.0], [0.25, 0.0, 0.25], [0.0, 0.25, 0.0]])


def _harmonic(num: Tensor, den: Tensor, sweeps: int, omega: float) -> Tensor:
    """Coarse-to-fine red-black SOR for Laplace's equation; pixels with any visible weight are fixed."""
    h, w = den.shape[-2:]
    known = den > 0
    values = num / den.clamp_min(_TINY)
    if h == 1 and w == 1:
        return values
    coarse = _harmonic(_halve(num), _halve(den), sweeps, omega)
    x = torch.where(known, values, F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False))
    c = x.shape[1]
    stencil = _NEIGHBOURS.view(1, 1, 3, 3).expand(c, 1, 3, 3)
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    red = ((rows + cols) % 2 == 0)[None, None]
    colours = (red & ~known, ~red & ~known)  # each colour's neighbours are all of the other colour
    for _ in range(sweeps):
        for free in colours:
            # Replicated borders: no flux through the image edge (Neumann), as a membrane would hang.
            avg = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), stencil, groups=c)
            x = torch.where(free, x + omega * (avg - x), x)
    return x
