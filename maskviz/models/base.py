"""What every masked image model in maskviz shares: configs, patch layout and the model interface.

One interface for all families, so reconstruction, training and the GUI never special-case them:

* ``model(imgs, mask)`` takes normalised images ``[B, C, H, W]`` and a boolean patch mask
  ``[B, L]`` (True = hidden, row-major patch order) and returns predictions ``[B, L, p*p*C]`` in
  the family's *target space* (normalised pixels; per-patch normalised for norm-pix MAE).
  ``model(imgs, mask, grid=(gh, gw))`` takes a larger image as one longer sequence where the family
  can (:meth:`~MaskedImageModel.native_refusal` says why not; :mod:`maskviz.whole.native`).
* ``model.patch_loss(imgs, pred)`` is the family's own per-patch training loss (all patches).
* ``model.loss(imgs, pred, mask)`` is the family's training loss, reduced exactly like its
  training code (per sample with ``reduce_batch=False``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

# The configs moved to the torch-free maskviz.models.configs; imported here for existing import paths.
from maskviz.models.configs import IMAGENET_MEAN, IMAGENET_STD, ModelConfig, config_from_dict  # noqa: F401


def patchify(imgs: Tensor, patch_size: int) -> Tensor:
    """``[B, C, H, W]`` → ``[B, L, p*p*C]``; inside a patch: pixel row, pixel column, channel (official MAE)."""
    b, c, h, w = imgs.shape
    p = patch_size
    gh, gw = h // p, w // p
    x = imgs.reshape(b, c, gh, p, gw, p)
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(b, gh * gw, p * p * c)


def unpatchify(patches: Tensor, patch_size: int, grid: tuple[int, int], in_chans: int = 3) -> Tensor:
    """Inverse of :func:`patchify`: ``[B, L, p*p*C]`` → ``[B, C, H, W]``."""
    b = patches.shape[0]
    p = patch_size
    gh, gw = grid
    x = patches.reshape(b, gh, gw, p, p, in_chans)
    x = torch.einsum("nhwpqc->nchpwq", x)
    return x.reshape(b, in_chans, gh * p, gw * p)


class MaskedImageModel(nn.Module):
    """Base class of every model family (see module docstring for the interface)."""

    config: ModelConfig

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    @property
    def family(self) -> str:
        return self.config.family

    @property
    def patch_size(self) -> int:
        return self.config.patch_size

    @property
    def grid_size(self) -> tuple[int, int]:
        return self.config.grid_size

    def patchify(self, imgs: Tensor) -> Tensor:
        return patchify(imgs, self.config.patch_size)

    def unpatchify(self, patches: Tensor) -> Tensor:
        return unpatchify(patches, self.config.patch_size, self.config.grid_size, self.config.in_chans)

    def forward(self, imgs: Tensor, mask: Tensor, grid: tuple[int, int] | None = None
                ) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def patch_loss(self, imgs: Tensor, pred: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Per-patch training loss ``[B, L]`` for every patch (visible ones too)."""
        raise NotImplementedError

    def loss(self, imgs: Tensor, pred: Tensor, mask: Tensor, reduce_batch: bool = True) -> Tensor:
        """The family's training loss over the hidden patches (overridden where the formula differs)."""
        per_patch = self.patch_loss(imgs, pred)
        m = mask.to(per_patch.dtype)
        if reduce_batch:
            return (per_patch * m).sum() / m.sum()
        return (per_patch * m).sum(dim=1) / m.sum(dim=1)

    def loss_over_hidden(self, patch_loss: np.ndarray, mask: np.ndarray) -> float | None:
        """:meth:`loss` from the per-patch losses ``(gh, gw)`` of any grid (a whole photo's, where the
        model's own grid does not hold): the mean over hidden patches (overridden where the formula
        differs); None when nothing is hidden."""
        hidden = np.asarray(mask, dtype=bool).reshape(np.shape(patch_loss))
        return float(np.asarray(patch_loss, dtype=np.float64)[hidden].mean()) if hidden.any() else None

    def target(self, imgs: Tensor) -> Tensor:
        """The training target in patch layout ``[B, L, p*p*C]``."""
        return self.patchify(imgs)

    def check_input(self, imgs: Tensor, mask: Tensor, grid: tuple[int, int] | None = None) -> tuple[int, int]:
        """The patch grid of ``imgs``: the model's own, or ``grid`` (the native view: the whole image
        as one longer sequence, where :meth:`native_refusal` allows it)."""
        c = self.config
        gh, gw = c.grid_size if grid is None else grid
        if grid is not None and (gh, gw) != c.grid_size and (why := self.native_refusal((gh, gw))):
            raise ValueError(why)
        h, w = gh * c.patch_size, gw * c.patch_size
        if imgs.ndim != 4 or imgs.shape[1] != c.in_chans or imgs.shape[-2:] != (h, w):
            raise ValueError(f"expected images [B, {c.in_chans}, {h}, {w}], got {list(imgs.shape)}")
        if mask.shape != (imgs.shape[0], gh * gw):
            raise ValueError(f"expected mask [B, {gh * gw}], got {list(mask.shape)}")
        return gh, gw

    def native_refusal(self, grid: tuple[int, int]) -> str | None:
        """Why this model cannot take a ``gh×gw`` patch grid as one sequence (None: it can)."""
        return f"{type(self).__name__} runs only its own {self.config.img_size} px input"


@dataclass
class LoadReport:
    """What loading a checkpoint found, for the CLI, the GUI details box and the logs."""

    source: str
    format: str  # "official-mae", "hf-vitmae", "official-simmim", "maskviz"
    notes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # extra top-level objects / buffers skipped

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
