"""Reconstruct one image under many masks: the pictures and numbers every view of maskviz shows.

``reconstruct(model, image, masks)`` runs all masks in as few batched forwards as the family
allows (its config's batching rule: MAE batches need equal visible counts, so masks are grouped by
that count) and returns one :class:`Reconstruction` per mask.

Display conventions (see ``checkpoint-formats.md`` §1.7-1.8):

* images are float32 ``H×W×3`` in ``[0, 1]``; the masked input shows hidden patches in the
  normalisation mean colour, as ``x * (1 - mask)`` does in the official demo;
* norm-pix MAE predictions are per-patch normalised and need statistics to be shown:
  ``true-patch`` uses each hidden patch's true mean/variance (the community convention, which
  leaks information the model never saw); ``visible`` uses each visible patch's own statistics and,
  for hidden patches, statistics pooled over the visible ones (honest, approximate);
* MSE and PSNR are measured on what is shown (clipped to ``[0, 1]``) over the hidden pixels;
  ``loss`` is the family's own training loss, computed exactly as its training code does.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from maskviz.device import autocast, model_device
from maskviz.images import fit_to_model, to_rgb, to_tensor, to_uint8
from maskviz.masks import complementary_masks, to_pixel_mask
from maskviz.models.base import MaskedImageModel, unpatchify

UNNORMALIZE_MODES = ("true-patch", "visible")
NAN_PROBLEM = "the model produced NaN (or infinite) values; check the checkpoint's weights"
MAX_BATCH = 16
DEFAULT_LOSS_NAME = "MSE, normalised pixels"


@dataclass
class Reconstruction:
    """Everything shown for one image and one mask."""

    mask: np.ndarray  # (gh, gw) bool, True = hidden
    original: np.ndarray  # (H, W, 3) float32 in [0, 1]
    masked_input: np.ndarray
    prediction: np.ndarray  # the model's output for every patch, clipped to [0, 1]
    pasted: np.ndarray  # prediction in the hidden patches, original in the visible ones
    error_map: np.ndarray  # (H, W) squared error of `prediction`, mean over channels
    patch_loss: np.ndarray  # (gh, gw) the family's own loss per patch
    loss: float | None  # family's training loss over the hidden patches; None if none is hidden
    mse: float | None
    psnr: float | None
    family: str
    norm_pix: bool
    unnormalize: str  # "none" (pixel targets), "true-patch" or "visible"
    problem: str | None = None  # e.g. "the model produced NaN": the panels cannot be trusted
    loss_name: str = DEFAULT_LOSS_NAME  # the family's training loss in words: the unit of loss, patch_loss

    @property
    def masked_patches(self) -> int:
        return int(self.mask.sum())

    @property
    def total_patches(self) -> int:
        return int(self.mask.size)

    def metrics(self) -> dict[str, Any]:
        return {
            "loss": self.loss,
            "mse": self.mse,
            "psnr": self.psnr,
            "masked_patches": self.masked_patches,
            "total_patches": self.total_patches,
            "mask_ratio": self.masked_patches / self.total_patches,
            "family": self.family,
            "norm_pix": self.norm_pix,
            "unnormalize": self.unnormalize,
            "problem": self.problem,
        }


def prepare_input(model: MaskedImageModel, image: Image.Image | np.ndarray,
                  grid: tuple[int, int] | None = None) -> tuple[np.ndarray, Tensor]:
    """The image as the model sees it: display array in [0, 1] and the normalised tensor.

    With ``grid`` (the native view) the image is taken as it is and must be that many patches.
    """
    if isinstance(image, np.ndarray):  # uint8, or floats in [0, 1] as the panels hold them
        image = Image.fromarray(image if image.dtype == np.uint8 else to_uint8(image))
    c = model.config
    if grid is None:
        fitted = fit_to_model(to_rgb(image), c.img_size)  # the same mode rules as a file (alpha over white)
    else:
        fitted = to_rgb(image)
        if fitted.size != (grid[1] * c.patch_size, grid[0] * c.patch_size):
            raise ValueError(f"a {fitted.width}×{fitted.height} px image is not a {grid[0]}×{grid[1]} patch grid")
    original = np.asarray(fitted, dtype=np.float32) / 255.0
    return original, to_tensor(fitted, c.mean, c.std)


@torch.inference_mode()
def predict(model: MaskedImageModel, x: Tensor, masks: Tensor, precision: str = "fp32",
            grid: tuple[int, int] | None = None) -> Tensor:
    """Predictions ``[K, L, D]`` for one normalised image ``x [1, C, H, W]`` under K masks ``[K, L]``
    (or one image per mask, ``x [K, C, H, W]``); ``grid``: the patch grid of a larger image (native view).

    Families whose batches need the same visible count (``config.same_hidden_count``: MAE) get their
    masks grouped by that count; every group runs in batches of at most ``MAX_BATCH``.
    """
    device = model_device(model)
    x, masks = x.to(device), masks.to(device)
    groups: dict[int, list[int]] = defaultdict(list)
    by_count = model.config.same_hidden_count
    for i, m in enumerate(masks):
        groups[int((~m).sum()) if by_count else 0].append(i)
    out: Tensor | None = None
    with autocast(device, precision):
        for indices in groups.values():
            for start in range(0, len(indices), MAX_BATCH):
                idx = torch.tensor(indices[start:start + MAX_BATCH], device=device)
                batch = x.expand(len(idx), -1, -1, -1) if x.shape[0] == 1 else x[idx]
                pred = (model(batch, masks[idx]) if grid is None else model(batch, masks[idx], grid=grid)).float()
                if out is None:
                    out = torch.empty((len(masks), *pred.shape[1:]), device=device)
                out[idx] = pred
    assert out is not None
    return out


def reconstruct(
    model: MaskedImageModel,
    image: Image.Image | np.ndarray,
    masks: Sequence[np.ndarray],
    unnormalize: str = "true-patch",
    precision: str = "fp32",
    grid: tuple[int, int] | None = None,
) -> list[Reconstruction]:
    """One :class:`Reconstruction` per patch mask (``(gh, gw)`` bool, True = hidden).

    ``grid``: the image is used at its own size as one longer sequence of ``gh×gw`` patches (the
    native view, :mod:`maskviz.whole.native`, which checks the size first).
    """
    if unnormalize not in UNNORMALIZE_MODES:
        raise ValueError(f"unnormalize must be one of {UNNORMALIZE_MODES}")
    original, x = prepare_input(model, image, grid)
    mask_t = _stack_masks(model, masks, grid)
    pred = predict(model, x, mask_t, precision, grid)
    return [
        _result(model, original, x, pred[i : i + 1], mask_t[i : i + 1], unnormalize, grid)
        for i in range(len(masks))
    ]


def reconstruct_pairs(
    model: MaskedImageModel,
    images: Sequence[Image.Image | np.ndarray],
    masks: Sequence[np.ndarray],
    unnormalize: str = "true-patch",
    precision: str = "fp32",
) -> list[Reconstruction]:
    """One :class:`Reconstruction` per (image, mask) pair, batched like :func:`reconstruct`.

    Each result equals ``reconstruct(model, images[i], [masks[i]])[0]`` (the tiles of a whole photo
    run this way: every tile its own crop and its own part of the mask).
    """
    if unnormalize not in UNNORMALIZE_MODES:
        raise ValueError(f"unnormalize must be one of {UNNORMALIZE_MODES}")
    if len(images) != len(masks):
        raise ValueError(f"{len(images)} images but {len(masks)} masks: give one mask per image")
    prepared = [prepare_input(model, image) for image in images]
    mask_t = _stack_masks(model, masks)
    x = torch.cat([t for _, t in prepared])
    pred = predict(model, x, mask_t, precision)
    return [
        _result(model, original, t, pred[i : i + 1], mask_t[i : i + 1], unnormalize)
        for i, (original, t) in enumerate(prepared)
    ]


def full_reconstruction(
    model: MaskedImageModel,
    image: Image.Image | np.ndarray,
    k: int = 4,
    seed: int | None = 0,
    unnormalize: str = "true-patch",
    precision: str = "fp32",
) -> Reconstruction:
    """Every patch predicted while hidden: k passes with complementary masks (facebookresearch/mae#194).

    Patches are split at random into k groups; pass i hides group i. The result's mask hides every
    patch, and its prediction takes each patch from the pass that hid it.
    """
    original, x = prepare_input(model, image)
    parts = complementary_masks(model.grid_size, k, seed=seed)
    mask_t = _stack_masks(model, parts)
    pred = predict(model, x, mask_t, precision)
    device = pred.device
    # Each patch is hidden in exactly one pass: pick that pass's prediction.
    combined = (pred * mask_t.to(device).unsqueeze(-1).float()).sum(dim=0, keepdim=True)
    all_hidden = torch.ones_like(mask_t[:1])
    return _result(model, original, x, combined, all_hidden, unnormalize)


def _stack_masks(model: MaskedImageModel, masks: Sequence[np.ndarray], grid: tuple[int, int] | None = None) -> Tensor:
    if not len(masks):
        raise ValueError("reconstruct needs at least one mask")
    grid = grid or model.grid_size
    for m in masks:
        if tuple(np.shape(m)) != grid:
            raise ValueError(f"mask of shape {np.shape(m)} does not fit the model's {grid[0]}×{grid[1]} patch grid")
    return torch.from_numpy(np.stack([np.asarray(m, dtype=bool).reshape(-1) for m in masks]))


@torch.inference_mode()
def _result(
    model: MaskedImageModel, original: np.ndarray, x: Tensor, pred: Tensor, mask: Tensor, unnormalize: str,
    grid: tuple[int, int] | None = None,
) -> Reconstruction:
    x, mask = x.to(pred.device), mask.to(pred.device)
    c = model.config
    grid = tuple(grid or c.grid_size)
    hidden = mask[0]
    n_hidden = int(hidden.sum())
    patch_loss = model.patch_loss(x, pred)[0]
    if grid == c.grid_size:
        loss = float(model.loss(x, pred, mask)) if n_hidden else None
    else:
        loss = model.loss_over_hidden(patch_loss.float().cpu().numpy(), hidden.cpu().numpy())

    mode = "none"
    pixels = pred
    if c.norm_pix_loss:
        mode = unnormalize
        pixels = _denormalize_patches(model.patchify(x), pred, hidden, unnormalize)
    problem = None if bool(torch.isfinite(pred).all()) else NAN_PROBLEM
    mean = torch.tensor(c.mean, device=pred.device).view(1, 3, 1, 1)
    std = torch.tensor(c.std, device=pred.device).view(1, 3, 1, 1)
    pixels = unpatchify(pixels, c.patch_size, grid, c.in_chans)
    prediction = (pixels * std + mean).clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()

    return compose_result(
        original, prediction.astype(np.float32), hidden.view(grid).cpu().numpy(), c.patch_size,
        masked_colour=c.mean, patch_loss=patch_loss.view(grid).float().cpu().numpy(), loss=loss,
        family=c.family, norm_pix=c.norm_pix_loss, unnormalize=mode, problem=problem, loss_name=c.loss_name,
    )


def compose_result(
    original: np.ndarray, prediction: np.ndarray, mask: np.ndarray, patch_size: int, *,
    masked_colour: Sequence[float], patch_loss: np.ndarray, loss: float | None, family: str,
    norm_pix: bool = False, unnormalize: str = "none", problem: str | None = None,
    loss_name: str = DEFAULT_LOSS_NAME,
) -> Reconstruction:
    """The panels and display-space metrics of a prediction (any source: a model or a baseline fill).

    ``masked_input`` paints hidden patches in ``masked_colour``; ``mse`` and ``psnr`` cover the
    hidden pixels of the shown (clipped) prediction.
    """
    pixel_mask = to_pixel_mask(mask, patch_size)
    px = pixel_mask[..., None]
    error_map = ((prediction - original) ** 2).mean(axis=-1).astype(np.float32)
    mse = float(error_map[pixel_mask].mean()) if pixel_mask.any() else None
    return Reconstruction(
        mask=np.asarray(mask, dtype=bool).copy(),
        original=original,
        masked_input=np.where(px, np.asarray(masked_colour, dtype=np.float32), original).astype(np.float32),
        prediction=prediction,
        pasted=np.where(px, prediction, original).astype(np.float32),
        error_map=error_map,
        patch_loss=patch_loss,
        loss=loss,
        mse=mse,
        psnr=psnr_from_mse(mse),
        family=family,
        norm_pix=norm_pix,
        unnormalize=unnormalize,
        problem=problem,
        loss_name=loss_name,
    )


def _denormalize_patches(target: Tensor, pred: Tensor, hidden: Tensor, mode: str) -> Tensor:
    """Give per-patch normalised predictions a mean and scale (statistics as in the MAE loss)."""
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    if mode == "visible":
        visible = ~hidden
        if bool(visible.any()):
            pooled_mean = mean[:, visible].mean(dim=1, keepdim=True)
            pooled_var = var[:, visible].mean(dim=1, keepdim=True)
        else:  # nothing visible: the honest guess is the dataset mean with unit variance
            pooled_mean, pooled_var = torch.zeros_like(mean[:, :1]), torch.ones_like(var[:, :1])
        h = hidden.view(1, -1, 1)
        mean = torch.where(h, pooled_mean, mean)
        var = torch.where(h, pooled_var, var)
    return pred * (var + 1.0e-6) ** 0.5 + mean


def psnr_from_mse(mse: float | None) -> float | None:
    """PSNR in dB for images in [0, 1]; infinite for a perfect match."""
    if mse is None:
        return None
    return math.inf if mse <= 0 else 10.0 * math.log10(1.0 / mse)
