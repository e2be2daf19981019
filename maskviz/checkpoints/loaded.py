"""What loading a checkpoint gives: the model, where it came from, and what loading found."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from maskviz.errors import MaskError
from maskviz.masks import parse_mask_spec, trained_mask_defaults
from maskviz.models.base import MaskedImageModel

#: ``info`` key of a maskviz file: the mask spec a viewer should open the model with (a SimMIM's
#: training cells, say), as :attr:`LoadedModel.default_mask` reads it.
DEFAULT_MASK_KEY = "default_mask"


@dataclass
class LoadedModel:
    """A ready model (eval mode) and what loading it found."""

    model: MaskedImageModel
    source: str
    format: str
    notes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)  # maskviz files: recipe, data, metrics...
    warnings: list[str] = field(default_factory=list)  # the model loaded but will misbehave (NaN weights)
    format_label: str = ""  # the format in words (its entry in maskviz.checkpoints.FORMATS)

    @property
    def default_mask(self) -> str | None:
        """The mask spec the model's file recommends, canonical; None when it names none (or one
        this maskviz cannot read: a file from a newer version must still open)."""
        spec = self.info.get(DEFAULT_MASK_KEY)
        if not isinstance(spec, str):
            return None
        try:
            return str(parse_mask_spec(spec))
        except MaskError:
            return None

    @property
    def config(self):  # noqa: ANN201 - ModelConfig subclass
        return self.model.config

    def mask_defaults(self) -> dict[str, dict[str, Any]]:
        """Pattern defaults from the mask specs stored in the model file (SimMIM's cell size), for
        ``MaskSpec.generate(defaults=...)``: the CLI and the GUI both make masks with them. The file's
        :attr:`default_mask` wins over the masks it was trained with."""
        recipe = self.info.get("recipe")
        trained = recipe.get("mask") if isinstance(recipe, dict) else None
        return trained_mask_defaults("|".join(s for s in (self.default_mask, trained) if isinstance(s, str)))

    def summary(self) -> dict[str, Any]:
        """What the GUI details box and the CLI's JSON show."""
        c = self.config
        return {
            "source": self.source,
            "format": self.format,
            "format_label": self.format_label or self.format,
            "family": c.family,
            "architecture": c.name or c.kind,
            "description": describe_model(self.model),
            "input_size": c.img_size,
            "patch_size": c.patch_size,
            "grid": list(c.grid_size),
            "norm_pix": c.norm_pix_loss,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "ignored": list(self.ignored),
            "default_mask": self.default_mask,
            "info": dict(self.info),
            "training": training_summary(self.info),
        }


def training_summary(info: dict[str, Any]) -> str:
    """``"maskviz train: 1680 of 2400 steps on 125 images, val loss 0.414"`` ('' for other files)."""
    if info.get("trained_by") != "maskviz train":
        return ""
    text = f"maskviz train: {info.get('steps')} of {info.get('total_steps')} steps"
    if info.get("train_images"):
        text += f" on {info['train_images']} images"
    if isinstance(info.get("val_loss"), (int, float)):
        text += f", val loss {info['val_loss']:.3f}"
    if info.get("base_model_info"):
        text += ", continued from an earlier maskviz run"
    return text


def describe_model(model: MaskedImageModel) -> str:
    """``MAE ViT (mae_vit_base_patch16), 224 px, patch 16 (14×14), pixel targets``."""
    c = model.config
    gh, gw = c.grid_size
    target = "per-patch normalised targets (norm-pix)" if c.norm_pix_loss else "pixel targets"
    family = c.display_name or c.family
    name = c.name or "custom size"
    return f"{family} {c.backbone} ({name}), {c.img_size} px, patch {c.patch_size} ({gh}×{gw}), {target}"
