"""Builders of synthetic checkpoints in the published layouts (tiny dims, real key names)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import Tensor

from maskviz.models import create_model


def randomize_(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random values in every parameter, LayerNorms included, so a wrong mapping cannot hide."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return module


def tiny_hf_mae(norm_pix: bool = False, layer_norm_eps: float = 1e-6, seed: int = 0):
    """A random ViTMAEForPreTraining with the dims of maskviz's ``mae_vit_tiny_test``."""
    from transformers import ViTMAEConfig, ViTMAEForPreTraining

    cfg = ViTMAEConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, decoder_hidden_size=16, decoder_num_hidden_layers=1,
        decoder_num_attention_heads=2, decoder_intermediate_size=64, norm_pix_loss=norm_pix,
        layer_norm_eps=layer_norm_eps,
    )
    torch.manual_seed(seed)
    model = ViTMAEForPreTraining(cfg).eval()
    # Keep the fixed sin-cos position tables, randomise everything else.
    fixed = ("position_embeddings", "decoder_pos_embed")
    keep = {n for n, _ in model.named_parameters() if any(f in n for f in fixed)}
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name not in keep:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model


def hf_to_official(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Hugging Face ViTMAE legacy names → facebookresearch/mae names (inverse of the HF converter)."""
    out: dict[str, Tensor] = {}
    top = {
        "vit.embeddings.cls_token": "cls_token", "vit.embeddings.position_embeddings": "pos_embed",
        "vit.embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
        "vit.embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
        "vit.layernorm.weight": "norm.weight", "vit.layernorm.bias": "norm.bias",
        "decoder.mask_token": "mask_token", "decoder.decoder_pos_embed": "decoder_pos_embed",
    }
    layer_names = {
        "layernorm_before": "norm1", "layernorm_after": "norm2", "attention.output.dense": "attn.proj",
        "intermediate.dense": "mlp.fc1", "output.dense": "mlp.fc2",
    }
    for k, v in sd.items():
        if k in top:
            out[top[k]] = v
            continue
        layers = (("vit.encoder.layer.", "blocks."), ("decoder.decoder_layers.", "decoder_blocks."))
        layer = next(((hp, p) for hp, p in layers if k.startswith(hp)), None)
        if layer is None:
            if k.startswith("decoder."):
                out[k[len("decoder."):]] = v
            continue
        hf_prefix, prefix = layer
        i, rest = k[len(hf_prefix):].split(".", 1)
        if not rest.startswith("attention.attention."):  # query/key/value are fused below
            name, param = rest.rsplit(".", 1)
            out[f"{prefix}{i}.{layer_names[name]}.{param}"] = v
    for hf_prefix, prefix in (("vit.encoder.layer.", "blocks."), ("decoder.decoder_layers.", "decoder_blocks.")):
        layers = {k[len(hf_prefix):].split(".", 1)[0] for k in sd if k.startswith(hf_prefix)}
        for i in layers:
            for param in ("weight", "bias"):
                q, kk, v = (sd[f"{hf_prefix}{i}.attention.attention.{n}.{param}"] for n in ("query", "key", "value"))
                out[f"{prefix}{i}.attn.qkv.{param}"] = torch.cat([q, kk, v], dim=0)
    return out


def legacy_hf_state_dict(model) -> dict[str, Tensor]:
    """The hub (transformers 4.x) key names, whatever transformers version is installed."""
    from maskviz.checkpoints.hf_vitmae import convert_hf_state_dict

    official = convert_hf_state_dict(model.state_dict())
    return official_to_legacy_hf(official)


def official_to_legacy_hf(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    top = {
        "cls_token": "vit.embeddings.cls_token", "pos_embed": "vit.embeddings.position_embeddings",
        "patch_embed.proj.weight": "vit.embeddings.patch_embeddings.projection.weight",
        "patch_embed.proj.bias": "vit.embeddings.patch_embeddings.projection.bias",
        "norm.weight": "vit.layernorm.weight", "norm.bias": "vit.layernorm.bias",
        "mask_token": "decoder.mask_token", "decoder_pos_embed": "decoder.decoder_pos_embed",
    }
    names = {"norm1": "layernorm_before", "norm2": "layernorm_after", "attn.proj": "attention.output.dense",
             "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"}
    for k, v in sd.items():
        if k in top:
            out[top[k]] = v
        elif k.startswith(("blocks.", "decoder_blocks.")):
            prefix = "vit.encoder.layer." if k.startswith("blocks.") else "decoder.decoder_layers."
            _, i, rest = k.split(".", 2)
            name, param = rest.rsplit(".", 1)
            if name == "attn.qkv":
                d = v.shape[0] // 3
                for j, n in enumerate(("query", "key", "value")):
                    out[f"{prefix}{i}.attention.attention.{n}.{param}"] = v[j * d:(j + 1) * d]
            else:
                out[f"{prefix}{i}.{names[name]}.{param}"] = v
        else:
            out["decoder." + k] = v
    return out


def save_official_mae(path: Path, model_name: str = "mae_vit_tiny_test", seed: int = 0, with_args: bool = True,
                      norm_pix: bool | None = None, encoder_only: bool = False) -> dict[str, Tensor]:
    """A training-style official MAE checkpoint: {'model', 'optimizer', 'epoch', 'args'}."""
    model = randomize_(create_model(model_name), seed)
    sd = model.state_dict()
    if encoder_only:
        sd = {k: v for k, v in sd.items() if not k.startswith("decoder") and k != "mask_token"}
    ckpt: dict = {"model": sd, "epoch": 7, "optimizer": {"state": {}, "param_groups": []}}
    if with_args:
        ckpt["args"] = argparse.Namespace(norm_pix_loss=bool(norm_pix), model="mae_vit_tiny", blr=1.5e-4)
    torch.save(ckpt, path)
    return sd


def tiny_hf_swin_simmim(seed: int = 0, window_size: int = 4):
    """A random SwinForMaskedImageModeling: 32 px, patch 2, three stages (16, 8, 4 tokens a side),
    shifted windows in the first two, an unshifted last stage; every parameter random."""
    from transformers import SwinConfig, SwinForMaskedImageModeling

    cfg = SwinConfig(
        image_size=32, patch_size=2, embed_dim=16, depths=[2, 2, 2], num_heads=[1, 2, 4],
        window_size=window_size, encoder_stride=8,
    )
    torch.manual_seed(seed)
    return randomize_(SwinForMaskedImageModeling(cfg).eval(), seed)


def legacy_hf_swin_state_dict(model) -> dict[str, Tensor]:
    """The hub (transformers 4.x) names of a SwinForMaskedImageModeling, whatever version is installed:
    ``attention.self.query`` etc. and the stored ``[w², w²]`` index tables."""
    renames = [
        ("attention.q_proj.", "attention.self.query."), ("attention.k_proj.", "attention.self.key."),
        ("attention.v_proj.", "attention.self.value."), ("attention.o_proj.", "attention.output.dense."),
        ("attention.relative_position_bias.", "attention.self."),
        ("mlp.fc1.", "intermediate.dense."), ("mlp.fc2.", "output.dense."),
    ]
    out: dict[str, Tensor] = {}
    for key, value in model.state_dict().items():
        for new, old in renames:
            key = key.replace(new, old)
        out[key] = value.contiguous()
    for name, buf in model.named_buffers():
        if name.endswith("relative_position_index"):
            side = int(round(buf.numel() ** 0.5))
            out[name.replace("attention.relative_position_bias.", "attention.self.")] = buf.reshape(side, side)
    return out
