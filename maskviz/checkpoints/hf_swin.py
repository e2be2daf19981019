"""Hugging Face ``SwinForMaskedImageModeling`` folders (``microsoft/swin-*-simmim-*``).

These are the official SimMIM Swin weights converted by ``convert_swin_simmim_to_pytorch.py``:
the architecture is in config.json, the weights in model.safetensors or pytorch_model.bin. They
are renamed back to the official layout (query/key/value fused into ``qkv``) so maskviz's SimMIM
Swin runs them, and the stored index tables go through the same check-then-drop as the official
files. Two naming generations are accepted: the hub files (transformers 4.x, ``attention.self.query``)
and transformers 5 (``attention.q_proj``, ``relative_position_bias.relative_position_bias_table``).
"""

from __future__ import annotations

import re
from typing import Any

from torch import Tensor

from maskviz.checkpoints.formats import Checkpoint, CheckpointFormat, hf_config_beside
from maskviz.checkpoints.hf_vitmae import fuse_qkv, hf_model_type, rename_suffix
from maskviz.checkpoints.loaded import LoadedModel
from maskviz.checkpoints.official_simmim import load_simmim_weights
from maskviz.checkpoints.official_simmim import named_config as _named_simmim
from maskviz.errors import CheckpointError
from maskviz.models.simmim import SimMIMSwinConfig

PUBLISHED_NORM_EPS = 1e-5  # HF's patch and merging LayerNorms ignore config.layer_norm_eps and use this

_TOP_LEVEL = {
    "swin.embeddings.mask_token": "encoder.mask_token",
    "swin.embeddings.patch_embeddings.projection.weight": "encoder.patch_embed.proj.weight",
    "swin.embeddings.patch_embeddings.projection.bias": "encoder.patch_embed.proj.bias",
    "swin.embeddings.norm.weight": "encoder.patch_embed.norm.weight",
    "swin.embeddings.norm.bias": "encoder.patch_embed.norm.bias",
    "swin.layernorm.weight": "encoder.norm.weight",
    "swin.layernorm.bias": "encoder.norm.bias",
}
_BLOCK = re.compile(r"^swin\.encoder\.layers\.(\d+)\.blocks\.(\d+)\.(.+)$")
_DOWNSAMPLE = re.compile(r"^swin\.encoder\.layers\.(\d+)\.(downsample\..+)$")
# Longest names first: "attention.output.dense" must win over "output.dense".
_BLOCK_SUFFIXES = [
    ("attention.self.query.", "q."), ("attention.q_proj.", "q."),
    ("attention.self.key.", "k."), ("attention.k_proj.", "k."),
    ("attention.self.value.", "v."), ("attention.v_proj.", "v."),
    ("attention.output.dense.", "attn.proj."), ("attention.o_proj.", "attn.proj."),
    ("attention.self.relative_position", "attn.relative_position"),
    ("attention.relative_position_bias.relative_position", "attn.relative_position"),
    ("intermediate.dense.", "mlp.fc1."), ("output.dense.", "mlp.fc2."),
    ("layernorm_before.", "norm1."), ("layernorm_after.", "norm2."),
]


def is_hf_swin_state_dict(sd: dict[str, Any]) -> bool:
    return "swin.embeddings.patch_embeddings.projection.weight" in sd


def config_from_hf_swin(hf: dict[str, Any], pre: dict[str, Any]) -> tuple[SimMIMSwinConfig, list[str]]:
    """maskviz's SimMIM Swin from a ``SwinConfig`` json; refuses what the official model cannot express."""
    _refuse_variants(hf)
    size, patch = _square(hf.get("image_size", 224)), _square(hf.get("patch_size", 4))
    depths, heads = tuple(hf.get("depths", (2, 2, 6, 2))), tuple(hf.get("num_heads", (3, 6, 12, 24)))
    try:
        config = SimMIMSwinConfig(
            img_size=size, patch_size=patch, in_chans=hf.get("num_channels", 3),
            embed_dim=hf.get("embed_dim", 96), depths=depths, num_heads=heads,
            window_size=hf.get("window_size", 7), mlp_ratio=float(hf.get("mlp_ratio", 4.0)),
            norm_eps=PUBLISHED_NORM_EPS,
        )
    except ValueError as exc:
        raise CheckpointError(f"config.json: inconsistent Swin architecture: {exc}") from exc
    stride = hf.get("encoder_stride", 32)
    if stride != config.encoder_stride:
        raise CheckpointError(
            f"config.json: encoder_stride {stride} does not match {len(depths)} stages of patch {patch} "
            f"(the SimMIM decoder upsamples by {config.encoder_stride})"
        )
    notes = [
        f"SimMIM Swin from config.json: depths {config.depths}, width {config.embed_dim}, "
        f"heads {config.num_heads}, window {config.window_size}, patch {patch}, {size} px input",
    ]
    notes += _normalisation_note(pre, config)
    return _named_simmim(config, notes)


def _refuse_variants(hf: dict[str, Any]) -> None:
    checks = [
        (hf.get("use_absolute_embeddings", False), "absolute position embeddings (use_absolute_embeddings)"),
        (hf.get("hidden_act", "gelu") != "gelu", f"activation {hf.get('hidden_act')!r}"),
        (not hf.get("qkv_bias", True), "qkv_bias=false"),
        (hf.get("layer_norm_eps", PUBLISHED_NORM_EPS) != PUBLISHED_NORM_EPS,
         f"layer_norm_eps {hf.get('layer_norm_eps')} (the published models use {PUBLISHED_NORM_EPS})"),
    ]
    for failed, what in checks:
        if failed:
            raise CheckpointError(f"unsupported Swin variant: {what}; maskviz runs the official SimMIM Swin")


def _square(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        if len(set(value)) != 1:
            raise CheckpointError(f"config.json: non-square sizes {list(value)} are not supported")
        value = value[0]
    return int(value)


def _normalisation_note(pre: dict[str, Any], config: SimMIMSwinConfig) -> list[str]:
    """SimMIM was trained on ImageNet-normalised images, whatever the converted preprocessor says
    (the conversion wrote a generic processor, possibly with mean/std 0.5): keep ImageNet's."""
    mean, std = pre.get("image_mean"), pre.get("image_std")
    if mean and std and (tuple(mean), tuple(std)) != (config.mean, config.std):
        return [f"preprocessor_config.json gives mean {mean}, std {std}; using ImageNet's {list(config.mean)}, "
                f"{list(config.std)} as SimMIM's training did"]
    return []


def convert_hf_swin_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename to the official SimMIM layout; unknown keys pass through so strict loading names them."""
    out: dict[str, Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, Tensor]] = {}
    for key, value in sd.items():
        if key in _TOP_LEVEL:
            out[_TOP_LEVEL[key]] = value
        elif m := _BLOCK.match(key):
            prefix = f"encoder.layers.{m.group(1)}.blocks.{m.group(2)}."
            suffix = rename_suffix(m.group(3), _BLOCK_SUFFIXES)
            if suffix[:2] in ("q.", "k.", "v."):
                qkv.setdefault((prefix, suffix[2:]), {})[suffix[0]] = value
            else:
                out[prefix + suffix] = _as_matrix(prefix + suffix, value)
        elif m := _DOWNSAMPLE.match(key):
            out[f"encoder.layers.{m.group(1)}.{m.group(2)}"] = value
        else:
            out[key] = value
    fuse_qkv(qkv, out)
    return out


def _as_matrix(key: str, value: Tensor) -> Tensor:
    """transformers 5 keeps ``relative_position_index`` flattened; the official one is ``[w², w²]``."""
    if key.endswith("relative_position_index") and value.ndim == 1:
        side = int(round(value.numel() ** 0.5))
        if side * side == value.numel():
            return value.reshape(side, side)
    return value


def load(checkpoint: Checkpoint) -> LoadedModel:
    """Renamed to the official SimMIM layout, then loaded like the official checkpoints."""
    folder, hf, pre = hf_config_beside(checkpoint)
    config, notes = config_from_hf_swin(hf, pre)
    model, dropped, warnings = load_simmim_weights(config, convert_hf_swin_state_dict(checkpoint.tensors),
                                                   folder.name)
    return LoadedModel(model, str(folder), FORMAT.name, notes, dropped, warnings=warnings)


FORMAT = CheckpointFormat("hf-swin-simmim", "Hugging Face SwinForMaskedImageModeling folder (SimMIM)",
                          detect=lambda c: hf_model_type(c) == "swin", load=load)
