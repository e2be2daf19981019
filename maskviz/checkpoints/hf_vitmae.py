"""Hugging Face ``ViTMAEForPreTraining`` folders (config.json + model.safetensors / pytorch_model.bin).

Weights are renamed to the official MAE layout (query/key/value fused into ``qkv``) so one model
class serves both. Three naming generations are accepted: the hub files (transformers 4.x),
transformers 5 in memory (``q_proj``, ``mlp.fc1``) and what transformers 5 writes back
(``decoder.decoder_encoder.layer``).
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import Tensor

from maskviz.checkpoints.common import build_checked, load_strict, make_config, nonfinite_warnings
from maskviz.checkpoints.formats import Checkpoint, CheckpointFormat, hf_config_beside
from maskviz.checkpoints.loaded import LoadedModel
from maskviz.checkpoints.official_mae import check_reconstructs
from maskviz.errors import CheckpointError
from maskviz.models.mae import MAEConfig

_TOP_LEVEL = {
    "vit.embeddings.cls_token": "cls_token",
    "vit.embeddings.position_embeddings": "pos_embed",
    "vit.embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
    "vit.embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
    "vit.layernorm.weight": "norm.weight",
    "vit.layernorm.bias": "norm.bias",
    "decoder.mask_token": "mask_token",
    "decoder.decoder_pos_embed": "decoder_pos_embed",
}
_ENCODER_LAYER = re.compile(r"^vit\.(?:encoder\.layer|layers)\.(\d+)\.(.+)$")
_DECODER_LAYER = re.compile(r"^decoder\.(?:decoder_layers|decoder_encoder\.layers?)\.(\d+)\.(.+)$")
_DECODER_TOP = re.compile(r"^decoder\.(decoder_(?:embed|norm|pred)\..+)$")
# Longest names first: "attention.output.dense" must win over "output.dense".
_LAYER_SUFFIXES = [
    ("attention.attention.query.", "q."), ("attention.q_proj.", "q."),
    ("attention.attention.key.", "k."), ("attention.k_proj.", "k."),
    ("attention.attention.value.", "v."), ("attention.v_proj.", "v."),
    ("attention.output.dense.", "attn.proj."), ("attention.o_proj.", "attn.proj."),
    ("intermediate.dense.", "mlp.fc1."), ("mlp.fc1.", "mlp.fc1."),
    ("output.dense.", "mlp.fc2."), ("mlp.fc2.", "mlp.fc2."),
    ("layernorm_before.", "norm1."), ("layernorm_after.", "norm2."),
]


def is_hf_vitmae_state_dict(sd: dict[str, Tensor]) -> bool:
    return "vit.embeddings.cls_token" in sd


def config_from_hf(hf: dict[str, Any], pre: dict[str, Any]) -> tuple[MAEConfig, list[str]]:
    if hf.get("hidden_act", "gelu") != "gelu":
        raise CheckpointError(f"unsupported activation {hf['hidden_act']!r} (official MAE uses gelu)")
    if not hf.get("qkv_bias", True):
        raise CheckpointError("unsupported: qkv_bias=false (official MAE uses query/key/value biases)")
    size = hf.get("image_size", 224)
    size = size[0] if isinstance(size, list) and size else size
    hidden, decoder_hidden = _whole(hf, "hidden_size"), _whole(hf, "decoder_hidden_size")
    notes = []
    mean, std = pre.get("image_mean"), pre.get("image_std")
    if mean and std:
        notes.append(f"normalisation from preprocessor_config.json: mean {mean}, std {std}")
    config = make_config(
        MAEConfig, "config.json",
        img_size=size, patch_size=hf.get("patch_size", 16), in_chans=hf.get("num_channels", 3),
        embed_dim=hidden, depth=hf["num_hidden_layers"], num_heads=hf["num_attention_heads"],
        decoder_embed_dim=decoder_hidden, decoder_depth=hf["decoder_num_hidden_layers"],
        decoder_num_heads=hf["decoder_num_attention_heads"],
        mlp_ratio=_whole(hf, "intermediate_size") / hidden,
        norm_eps=hf.get("layer_norm_eps", 1e-12), norm_pix_loss=bool(hf.get("norm_pix_loss", False)),
        mean=tuple(mean) if mean else MAEConfig.mean, std=tuple(std) if std else MAEConfig.std,
    )
    ratio = _whole(hf, "decoder_intermediate_size", 4 * decoder_hidden) / decoder_hidden
    if ratio != config.mlp_ratio:
        raise CheckpointError("unsupported: encoder and decoder MLP ratios differ")
    notes.append(f"target normalisation from config.json: norm_pix_loss={config.norm_pix_loss}")
    return config, notes


def _whole(hf: dict[str, Any], key: str, default: int | None = None) -> int:
    """A size field of config.json: a whole number of at least 1 (a width of 0 would divide by zero)."""
    value = hf[key] if default is None else hf.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CheckpointError(f"config.json: {key} must be a whole number of at least 1, got {value!r}")
    return value


def convert_hf_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename Hugging Face keys to the official MAE layout; unknown keys pass through unchanged
    so that strict loading names them."""
    out: dict[str, Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, Tensor]] = {}
    for key, value in sd.items():
        if key in _TOP_LEVEL:
            out[_TOP_LEVEL[key]] = value
        elif m := _DECODER_TOP.match(key):
            out[m.group(1)] = value
        elif (m := _ENCODER_LAYER.match(key)) or (m := _DECODER_LAYER.match(key)):
            prefix = ("blocks." if key.startswith("vit.") else "decoder_blocks.") + m.group(1) + "."
            suffix = rename_suffix(m.group(2))
            if suffix[:2] in ("q.", "k.", "v."):
                qkv.setdefault((prefix, suffix[2:]), {})[suffix[0]] = value
            else:
                out[prefix + suffix] = value
        else:
            out[key] = value
    fuse_qkv(qkv, out)
    return out


def fuse_qkv(qkv: dict[tuple[str, str], dict[str, Tensor]], out: dict[str, Tensor]) -> None:
    """Separate query/key/value weights (``{(block prefix, param): {"q"|"k"|"v": tensor}}``) → the
    official fused ``attn.qkv`` (rows q, k, v)."""
    for (prefix, param), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise CheckpointError(f"{prefix}attention: query/key/value {param} incomplete ({sorted(parts)})")
        out[f"{prefix}attn.qkv.{param}"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)


def rename_suffix(suffix: str, renames: list[tuple[str, str]] = _LAYER_SUFFIXES) -> str:
    """The first matching ``(old prefix, new prefix)`` of ``renames`` applied; unknown names unchanged."""
    for old, new in renames:
        if suffix.startswith(old):
            return new + suffix[len(old):]
    return suffix


def hf_model_type(checkpoint: Checkpoint) -> str | None:
    """A Hugging Face folder's model_type, or what a weight file opened by itself holds by its keys."""
    if checkpoint.hf_config is not None:
        return checkpoint.hf_config.get("model_type")
    if is_hf_vitmae_state_dict(checkpoint.tensors):
        return "vit_mae"
    return "swin" if "swin.embeddings.patch_embeddings.projection.weight" in checkpoint.tensors else None


def load(checkpoint: Checkpoint) -> LoadedModel:
    folder, hf, pre = hf_config_beside(checkpoint)
    config, notes = config_from_hf(hf, pre)
    if checkpoint.norm_pix is not None:
        config = config.replace(norm_pix_loss=checkpoint.norm_pix)
        notes.append("target normalisation set by the user")
    sd = convert_hf_state_dict(checkpoint.tensors)
    check_reconstructs(sd, folder.name)
    model = build_checked(config, sd, folder.name)
    bad = load_strict(model, sd, folder.name)
    return LoadedModel(model, str(folder), FORMAT.name, notes, warnings=nonfinite_warnings(bad))


FORMAT = CheckpointFormat("hf-vitmae", "Hugging Face ViTMAEForPreTraining folder",
                          detect=lambda c: hf_model_type(c) == "vit_mae", load=load)
