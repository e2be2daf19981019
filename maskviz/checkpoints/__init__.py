"""One entry point, :func:`load_model`, for every checkpoint family maskviz reads.

It detects the format from the path and the key names, builds the architecture the weights
describe, loads them strictly and reports what it found. Every failure is a ``CheckpointError``
with a sentence a user can act on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from maskviz import bundled
from maskviz.checkpoints.common import build_checked, list_keys, load_strict, nonfinite_warnings
from maskviz.checkpoints.hf_swin import config_from_hf_swin, convert_hf_swin_state_dict, is_hf_swin_state_dict
from maskviz.checkpoints.hf_vitmae import (
    config_from_hf,
    convert_hf_state_dict,
    is_hf_vitmae_state_dict,
    read_hf_folder,
)
from maskviz.checkpoints.maskviz_format import is_maskviz_metadata, model_from_maskviz_file, save_model
from maskviz.checkpoints.official_mae import check_reconstructs, infer_mae_config, is_mae_state_dict
from maskviz.checkpoints.official_simmim import check_reconstructs as check_simmim_reconstructs
from maskviz.checkpoints.official_simmim import (
    check_stored_buffers,
    infer_simmim_config,
    is_simmim_state_dict,
    split_recomputed,
)
from maskviz.checkpoints.safe_load import load_safetensors_file, load_torch_file, stub_name
from maskviz.errors import CheckpointError, MaskError
from maskviz.fileio import check_input_file
from maskviz.masks import parse_mask_spec
from maskviz.models.base import MaskedImageModel
from maskviz.models.registry import create_model
from maskviz.sources import model_path

__all__ = ["LoadedModel", "load_model", "load_default_model", "save_model", "describe_model"]

WRAPPER_KEYS = ("model", "state_dict", "module")
#: ``info`` key of a maskviz file: the mask spec a viewer should open the model with (a SimMIM's
#: training cells, say), as :attr:`LoadedModel.default_mask` reads it.
DEFAULT_MASK_KEY = "default_mask"
FORMAT_LABELS = {
    "official-mae": "official MAE checkpoint (facebookresearch/mae)",
    "hf-vitmae": "Hugging Face ViTMAEForPreTraining folder",
    "official-simmim": "official SimMIM checkpoint (microsoft/SimMIM)",
    "hf-swin-simmim": "Hugging Face SwinForMaskedImageModeling folder (SimMIM)",
    "maskviz": "maskviz model file",
}


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
        from maskviz.masks import trained_mask_defaults

        recipe = self.info.get("recipe")
        trained = recipe.get("mask") if isinstance(recipe, dict) else None
        return trained_mask_defaults("|".join(s for s in (self.default_mask, trained) if isinstance(s, str)))

    def summary(self) -> dict[str, Any]:
        """What the GUI details box and the CLI's JSON show."""
        c = self.config
        return {
            "source": self.source,
            "format": self.format,
            "format_label": FORMAT_LABELS.get(self.format, self.format),
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
    family = {"mae": "MAE", "simmim": "SimMIM"}.get(c.family, c.family)
    backbone = "Swin" if "swin" in c.kind else "ViT"
    name = c.name or "custom size"
    return f"{family} {backbone} ({name}), {c.img_size} px, patch {c.patch_size} ({gh}×{gw}), {target}"


def load_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", norm_pix: bool | None = None
) -> LoadedModel:
    """Load any supported checkpoint file or folder (or ``bundled:NAME``, or a downloaded catalogue
    name: :func:`maskviz.sources.model_path`); ``norm_pix`` overrides what MAE files leave open."""
    path = model_path(path)
    check_input_file(path, CheckpointError, str(path), allow_dir=True)
    try:
        loaded = _load_folder(path, norm_pix) if path.is_dir() else _load_file(path, norm_pix)
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, ArithmeticError) as exc:
        # Damaged metadata or tensors of an unexpected rank: a plain message, not a traceback.
        detail = f"{type(exc).__name__}: {exc}"
        raise CheckpointError(
            f"cannot read {path.name}: an entry maskviz needs is missing or malformed ({detail})"
        ) from exc
    loaded.model.to(device).eval()
    return loaded


def load_default_model(device: str | torch.device = "cpu") -> LoadedModel:
    """The bundled MAE when installed, otherwise a clearly labelled untrained built-in model."""
    models = bundled.bundled_model_paths()
    if models:
        return load_model(next(iter(models.values())), device=device)
    torch.manual_seed(0)
    model = create_model(bundled.BUILTIN_ARCH).to(device).eval()
    return LoadedModel(model, source=f"builtin:{bundled.BUILTIN_ARCH}", format="builtin", notes=[bundled.BUILTIN_NOTE])


def _load_folder(path: Path, norm_pix: bool | None) -> LoadedModel:
    """A Hugging Face model folder, or a maskviz run / model folder (best checkpoint first)."""
    for candidate in (path / "model.safetensors", path / "checkpoints" / "best.safetensors",
                      path / "checkpoints" / "last.safetensors"):
        if candidate.exists() and (candidate.parent != path or not (path / "config.json").exists()):
            return _load_file(candidate, norm_pix)
    if (path / "config.json").exists():
        hf, raw, pre = read_hf_folder(path)
        return _load_hf(path, hf, raw, pre, norm_pix)
    raise CheckpointError(
        f"{path.name} is a folder without config.json or a maskviz model: open a checkpoint file, "
        "a Hugging Face ViTMAE or SimMIM Swin folder or a maskviz training run"
    )


def _load_file(path: Path, norm_pix: bool | None) -> LoadedModel:
    check_input_file(path, CheckpointError, path.name)
    if path.suffix == ".safetensors":
        tensors, metadata = load_safetensors_file(path)
        if is_maskviz_metadata(metadata):
            model, info, bad = model_from_maskviz_file(tensors, metadata, path.name)  # read once
            return LoadedModel(model, str(path), "maskviz", info=info, warnings=nonfinite_warnings(bad))
        return _load_state_dict(path, tensors, {}, [], norm_pix)
    obj, stubbed = load_torch_file(path)
    sd, extras = _unwrap(obj, path.name)
    return _load_state_dict(path, sd, extras, stubbed, norm_pix)


def _unwrap(obj: Any, name: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The state dict inside a training checkpoint, and the other top-level entries."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{name} does not hold a state dict (found {type(obj).__name__})")
    for key in WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, dict) and inner and all(isinstance(v, Tensor) for v in inner.values()):
            extras = {k: v for k, v in obj.items() if k != key}
            return _strip_prefix(dict(inner)), extras
    if obj and all(isinstance(v, Tensor) for v in obj.values()):
        return _strip_prefix(dict(obj)), {}
    raise CheckpointError(
        f"{name} holds no model weights: top-level entries are {list_keys(map(str, obj.keys()))}"
    )


def _strip_prefix(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Weights saved from a DistributedDataParallel wrapper carry ``module.`` on every key."""
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return sd


def _load_state_dict(
    path: Path, sd: dict[str, Tensor], extras: dict[str, Any], stubbed: list[str], norm_pix: bool | None
) -> LoadedModel:
    hints = {"filename": path.name, "norm_pix": norm_pix, **extras}
    ignored = [f"{k} ({stub_name(v) or type(v).__name__})" for k, v in extras.items()]
    if stubbed:
        ignored.append("pickled objects read as inert data: " + ", ".join(stubbed))
    if is_simmim_state_dict(sd):
        config, notes = infer_simmim_config(sd, hints)
        model, dropped, bad = _load_simmim(config, sd, path.name)
        return LoadedModel(model, str(path), "official-simmim", notes, ignored + dropped, warnings=bad)
    if is_mae_state_dict(sd):
        check_reconstructs(sd, path.name)
        config, notes = infer_mae_config(sd, hints)
        model = build_checked(config, sd, path.name)
        bad = load_strict(model, sd, path.name)
        return LoadedModel(model, str(path), "official-mae", notes, ignored, warnings=nonfinite_warnings(bad))
    if is_hf_vitmae_state_dict(sd) or is_hf_swin_state_dict(sd):
        if not (path.parent / "config.json").exists():
            raise CheckpointError(
                f"{path.name} holds Hugging Face weights but no config.json lies beside it; "
                "open the model folder instead"
            )
        hf, _, pre = read_hf_folder(path.parent)
        return _load_hf(path.parent, hf, sd, pre, norm_pix)
    raise CheckpointError(
        f"{path.name} is not a checkpoint maskviz recognises (MAE, Hugging Face ViTMAE or Swin SimMIM, "
        f"SimMIM or maskviz); its first keys are {list_keys(list(sd)[:8])}"
    )


def _load_hf(
    folder: Path, hf: dict[str, Any], raw: dict[str, Tensor], pre: dict[str, Any], norm_pix: bool | None
) -> LoadedModel:
    if hf.get("model_type") == "swin":
        return _load_hf_swin(folder, hf, raw, pre)
    config, notes = config_from_hf(hf, pre)
    if norm_pix is not None:
        config = config.replace(norm_pix_loss=norm_pix)
        notes.append("target normalisation set by the user")
    sd = convert_hf_state_dict(raw)
    check_reconstructs(sd, folder.name)
    model = build_checked(config, sd, folder.name)
    bad = load_strict(model, sd, folder.name)
    return LoadedModel(model, str(folder), "hf-vitmae", notes, warnings=nonfinite_warnings(bad))


def _load_hf_swin(folder: Path, hf: dict[str, Any], raw: dict[str, Tensor], pre: dict[str, Any]) -> LoadedModel:
    """SimMIM Swin: renamed to the official layout, then loaded like the official checkpoints."""
    config, notes = config_from_hf_swin(hf, pre)
    model, dropped, bad = _load_simmim(config, convert_hf_swin_state_dict(raw), folder.name)
    return LoadedModel(model, str(folder), "hf-swin-simmim", notes, dropped, warnings=bad)


def _load_simmim(config: Any, sd: dict[str, Tensor], what: str) -> tuple[MaskedImageModel, list[str], list[str]]:
    """Weights loaded strictly, then the stored index tables / attention masks compared with the
    model's own and dropped: (model, dropped buffer names, warnings)."""
    check_simmim_reconstructs(sd)  # a plain refusal for encoder-only and classifier files first
    model = build_checked(config, sd, what)
    weights, stored = split_recomputed(sd)
    bad = load_strict(model, weights, what)
    return model, check_stored_buffers(stored, model), nonfinite_warnings(bad)
