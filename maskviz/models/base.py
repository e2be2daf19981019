"""What every masked image model in maskviz shares: configs, patch layout and the model interface.

One interface for all families, so reconstruction, training and the GUI never special-case them:

* ``model(imgs, mask)`` takes normalised images ``[B, C, H, W]`` and a boolean patch mask
  ``[B, L]`` (True = hidden, row-major patch order) and returns predictions ``[B, L, p*p*C]`` in
  the family's *target space* (normalised pixels; per-patch normalised for norm-pix MAE).
* ``model.patch_loss(imgs, pred)`` is the family's own per-patch training loss (all patches).
* ``model.loss(imgs, pred, mask)`` is the family's training loss, reduced exactly like its
  training code (per sample with ``reduce_batch=False``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

#: Geometry maskviz runs. Published models stay far inside (at most 2304 patches, depth 32, width
#: 1536); the limits exist so that a config typed by hand or crafted in a file is refused before
#: any layer, position table or index table is built, instead of allocating gigabytes.
MAX_PATCHES = 16384  # a 128×128 patch grid (windowed attention: Swin at 512 px, patch 4)
MAX_ATTENDED = 4096  # tokens under global attention (ViT): a 64×64 grid, 1024 px at patch 16
MAX_WINDOW = 32
MAX_DEPTH = 256
MAX_WIDTH = 16384
MAX_CHANNELS = 64

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


@dataclass
class ModelConfig:
    """Architecture and data conventions of one model; JSON-serialisable via :meth:`to_dict`.

    Subclasses add the architecture fields and set ``family`` and ``kind``.
    """

    family: ClassVar[str] = ""
    kind: ClassVar[str] = ""

    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    norm_pix_loss: bool = False
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    name: str = ""  # registry name when it is one of the named configs

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise ``ValueError`` (a plain sentence) for geometry no model can have or maskviz cannot run.

        Runs on construction, before any table is sized from these numbers; subclasses add their
        own fields by overriding and calling ``super().check()`` first.
        """
        whole_number("image size", self.img_size, 1)
        whole_number("patch size", self.patch_size, 1)
        whole_number("input channels", self.in_chans, 1, MAX_CHANNELS)
        if self.img_size % self.patch_size:
            raise ValueError(f"image size {self.img_size} is not a multiple of patch size {self.patch_size}")
        gh, gw = self.grid_size
        if gh * gw > MAX_PATCHES:
            raise ValueError(f"a {self.img_size} px input with patch {self.patch_size} has {gh}×{gw} = "
                             f"{gh * gw:,} patches; maskviz runs at most {MAX_PATCHES:,}")

    @property
    def grid_size(self) -> tuple[int, int]:
        return (self.img_size // self.patch_size, self.img_size // self.patch_size)

    @property
    def num_patches(self) -> int:
        gh, gw = self.grid_size
        return gh * gw

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["kind"] = self.kind
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    def build(self) -> MaskedImageModel:
        raise NotImplementedError


def whole_number(what: str, value: Any, lo: int, hi: int | None = None) -> int:
    """``value`` if it is an int in ``[lo, hi]``, else ``ValueError`` saying what was expected."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        bound = f"from {lo:,} to {hi:,}" if hi is not None else f"of at least {lo:,}"
        raise ValueError(f"{what} must be a whole number {bound}, got {value!r}")
    return value


def check_width(what: str, width: Any, heads: Any) -> None:
    """A transformer width that attention heads split evenly."""
    whole_number(what, width, 1, MAX_WIDTH)
    whole_number(f"{what} heads", heads, 1, width)
    if width % heads:
        raise ValueError(f"{what} {width} does not split into {heads} attention heads")


def check_attended(config: ModelConfig) -> None:
    """Global attention costs the square of the token count: bound it (ViT families)."""
    if config.num_patches > MAX_ATTENDED:
        gh, gw = config.grid_size
        raise ValueError(f"a {config.img_size} px input with patch {config.patch_size} gives {gh}×{gw} = "
                         f"{gh * gw:,} patches under global attention; maskviz runs at most {MAX_ATTENDED:,}")


def check_ratio(what: str, value: Any, hi: float = 64.0) -> None:
    """A positive finite number (MLP ratio, LayerNorm eps) no larger than ``hi``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= hi:
        raise ValueError(f"{what} must be a number above 0 and at most {hi:g}, got {value!r}")


def config_from_dict(d: dict[str, Any]) -> ModelConfig:
    """Rebuild a config written by :meth:`ModelConfig.to_dict` (maskviz's own checkpoint format)."""
    from maskviz.models.registry import CONFIG_CLASSES

    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in CONFIG_CLASSES:
        raise ValueError(f"unknown model kind {kind!r}")
    cls = CONFIG_CLASSES[kind]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown fields for {kind}: {sorted(unknown)}")
    for key in ("mean", "std"):
        if key in d:
            d[key] = tuple(d[key])
    for f in dataclasses.fields(cls):
        if f.name in d and isinstance(d[f.name], list):
            d[f.name] = tuple(d[f.name])
    return cls(**d)


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

    def forward(self, imgs: Tensor, mask: Tensor) -> Tensor:  # pragma: no cover - abstract
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

    def target(self, imgs: Tensor) -> Tensor:
        """The training target in patch layout ``[B, L, p*p*C]``."""
        return self.patchify(imgs)

    def check_input(self, imgs: Tensor, mask: Tensor) -> None:
        c = self.config
        if imgs.ndim != 4 or imgs.shape[1] != c.in_chans or imgs.shape[-2:] != (c.img_size, c.img_size):
            raise ValueError(
                f"expected images [B, {c.in_chans}, {c.img_size}, {c.img_size}], got {list(imgs.shape)}"
            )
        if mask.shape != (imgs.shape[0], c.num_patches):
            raise ValueError(f"expected mask [B, {c.num_patches}], got {list(mask.shape)}")


@dataclass
class LoadReport:
    """What loading a checkpoint found, for the CLI, the GUI details box and the logs."""

    source: str
    format: str  # "official-mae", "hf-vitmae", "official-simmim", "maskviz"
    notes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # extra top-level objects / buffers skipped

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
