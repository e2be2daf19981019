"""Gradient: how strongly the target patch's own training loss reacts to each input patch.

The loss is the family's per-patch training loss for the target alone (MSE over its target, per-patch
normalised for norm-pix MAE; SimMIM's L1), differentiated with respect to the model's input tensor
(after its normalisation). The target pixels are the ground truth here and held fixed, so the gradient
flows only through the prediction: it is exactly zero on every hidden patch (MAE drops their tokens,
SimMIM replaces them by the mask token), the target included. One value per patch: the L2 norm of
the gradient over that patch's pixels and channels.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from maskviz.explain.common import ExplainMap, Step, Steps, check_target, prepare, run
from maskviz.models.base import MaskedImageModel


@contextlib.contextmanager
def frozen_parameters(model: nn.Module) -> Iterator[None]:
    """No parameter records a gradient for a while: autograd then keeps only what the input's needs."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def input_gradient(model: MaskedImageModel, x: Tensor, mask: Tensor, index: int,
                   grid: tuple[int, int] | None = None) -> Tensor:
    """``∂ loss_target / ∂ x`` ``[1, C, H, W]``: patch ``index``'s own loss, its target held fixed
    (``grid``: a whole picture's, the native view)."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad(), frozen_parameters(model):
        pred = model(x, mask) if grid is None else model(x, mask, grid=grid)
        loss = model.patch_loss(x.detach(), pred)[0, index]
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def iter_gradient(model: MaskedImageModel, image: Image.Image | np.ndarray, mask: np.ndarray,
                  target: Sequence[int], grid: tuple[int, int] | None = None) -> Steps[ExplainMap]:
    """The gradient map for one hidden target (one forward and one backward pass); ``grid``: the
    native view's (the image as it is, one sequence)."""
    inp = prepare(model, image, mask, grid)
    row, col = check_target(inp.mask, target, inp.grid_name)
    gw = inp.grid[1]
    grad = input_gradient(model, inp.x, inp.mask_t, row * gw + col, inp.native)
    yield Step(1, 1, "gradient")
    per_patch = model.patchify(grad)[0].norm(dim=-1).view(inp.grid)
    return ExplainMap("gradient", (row, col), per_patch.double().cpu().numpy(), inp.mask,
                      unit=f"‖∂ loss / ∂ input‖ per patch ({loss_name(model)})")


def gradient_map(model: MaskedImageModel, image: Image.Image | np.ndarray, mask: np.ndarray,
                 target: Sequence[int], grid: tuple[int, int] | None = None) -> ExplainMap:
    return run(iter_gradient(model, image, mask, target, grid))


def loss_name(model: MaskedImageModel) -> str:
    if model.family == "simmim":
        return "L1 loss"
    return "MSE on norm-pix targets" if model.config.norm_pix_loss else "MSE loss"
