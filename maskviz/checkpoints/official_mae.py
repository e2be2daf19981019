"""facebookresearch/mae checkpoints: ``mae_visualize_*.pth``, ``mae_pretrain_*_full.pth`` and own runs.

The weights do not say everything: attention heads are not stored, and whether the model was
trained on per-patch normalised pixels (``norm_pix_loss``) is only in the training ``args`` (when
the file still carries them) or in the published file name. Where we assume, the report says so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from torch import Tensor

from maskviz.checkpoints.common import build_checked, load_strict, make_config, nonfinite_warnings
from maskviz.checkpoints.formats import Checkpoint, CheckpointFormat
from maskviz.checkpoints.loaded import LoadedModel
from maskviz.checkpoints.safe_load import stub_field
from maskviz.errors import CheckpointError
from maskviz.models.mae import MAE_CONFIGS, MAEConfig

ENCODER_KEYS = ("cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "norm.weight")
DECODER_KEYS = ("mask_token", "decoder_embed.weight", "decoder_pred.weight", "decoder_pos_embed")
ENCODER_ONLY_ADVICE = (
    "use a checkpoint with its decoder: mae_visualize_vit_{base,large,huge}.pth (pixel targets) or "
    "mae_pretrain_vit_{base,large,huge}_full.pth (normalised-pixel targets)"
)


def is_mae_state_dict(sd: dict[str, Tensor]) -> bool:
    return all(k in sd for k in ENCODER_KEYS)


def check_reconstructs(sd: dict[str, Tensor], name: str) -> None:
    """Refuse encoder-only and classifier checkpoints with advice instead of a random decoder."""
    has_decoder = any(k in sd for k in DECODER_KEYS)
    if "head.weight" in sd and has_decoder:
        raise CheckpointError(
            f"{name} holds an MAE decoder and also a classification head (head.weight): it is neither a "
            "pre-training checkpoint nor a plain classifier, so maskviz will not guess which weights to "
            "trust; remove the head.* entries to reconstruct with its decoder"
        )
    if "head.weight" in sd:
        raise CheckpointError(
            f"{name} is a fine-tuned classifier (it has a classification head and no decoder), "
            f"so it cannot reconstruct images; {ENCODER_ONLY_ADVICE}"
        )
    if not has_decoder:
        raise CheckpointError(
            f"{name} holds only the MAE encoder (no decoder), so it cannot reconstruct images; "
            f"{ENCODER_ONLY_ADVICE}"
        )


def _count(sd: dict[str, Tensor], prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return len({m.group(1) for k in sd if (m := pattern.match(k))})


def infer_mae_config(sd: dict[str, Tensor], hints: dict[str, Any]) -> tuple[MAEConfig, list[str]]:
    """The architecture from key names and shapes; heads and norm-pix from names or hints."""
    notes: list[str] = []
    try:
        embed_dim = sd["cls_token"].shape[-1]
        proj = sd["patch_embed.proj.weight"]
        patch, in_chans = proj.shape[-1], proj.shape[1]
        num_patches = sd["pos_embed"].shape[1] - 1
        decoder_dim = sd["mask_token"].shape[-1]
        hidden = sd["blocks.0.mlp.fc1.weight"].shape[0]
    except KeyError as exc:
        raise CheckpointError(f"MAE checkpoint lacks {exc.args[0]}") from exc
    if embed_dim < 1:
        raise CheckpointError(f"MAE checkpoint: cls_token {list(sd['cls_token'].shape)} gives a width of 0")
    mlp_ratio = hidden / embed_dim
    grid = round(num_patches**0.5)
    if grid * grid != num_patches:
        raise CheckpointError(f"MAE position table has {num_patches} patches, which is not a square grid")
    arch = dict(
        img_size=grid * patch, patch_size=patch, in_chans=in_chans, embed_dim=embed_dim,
        depth=_count(sd, "blocks."), decoder_embed_dim=decoder_dim,
        decoder_depth=_count(sd, "decoder_blocks."), mlp_ratio=mlp_ratio,
    )
    if patch < 1 or grid < 1:
        raise CheckpointError(f"MAE checkpoint: patch size {patch} and {num_patches} patches describe no image")
    named = _match_named(arch)
    if named is not None:
        config = named.replace(in_chans=in_chans)
    else:
        heads, dec_heads = max(1, embed_dim // 64), 16 if decoder_dim % 16 == 0 else max(1, decoder_dim // 32)
        config = make_config(MAEConfig, "the MAE checkpoint", num_heads=heads, decoder_num_heads=dec_heads, **arch)
        notes.append(
            f"not a published MAE size: assumed {heads} encoder heads (64 per head) and {dec_heads} "
            "decoder heads, as the official code would; heads are not stored in the weights"
        )
    norm_pix, how = _norm_pix(hints)
    notes.append(how)
    return config.replace(norm_pix_loss=norm_pix), notes


def _match_named(arch: dict[str, Any]) -> MAEConfig | None:
    for config in MAE_CONFIGS.values():
        if all(getattr(config, k) == v for k, v in arch.items() if k != "in_chans"):
            return config
    return None


def _norm_pix(hints: dict[str, Any]) -> tuple[bool, str]:
    """norm_pix_loss: explicit choice > training args in the file > published file name > pixels."""
    if hints.get("norm_pix") is not None:
        return bool(hints["norm_pix"]), "target normalisation set by the user"
    value = stub_field(hints.get("args"), "norm_pix_loss")
    if isinstance(value, bool):
        return value, "target normalisation read from the training arguments stored in the checkpoint"
    name = Path(hints.get("filename", "")).name
    if "visualize" in name:
        return False, "target normalisation: pixels (mae_visualize_* checkpoints are trained on pixels)"
    if name.endswith("_full.pth"):
        return True, "target normalisation: per-patch normalised (mae_pretrain_*_full checkpoints use norm_pix_loss)"
    return False, (
        "target normalisation unknown (no training args in the file): assumed pixels; "
        "choose norm-pix if the model was trained with --norm_pix_loss"
    )


def load(checkpoint: Checkpoint) -> LoadedModel:
    sd, name = checkpoint.tensors, checkpoint.name
    check_reconstructs(sd, name)
    config, notes = infer_mae_config(sd, checkpoint.hints)
    model = build_checked(config, sd, name)
    bad = load_strict(model, sd, name)
    return LoadedModel(model, str(checkpoint.path), FORMAT.name, notes, checkpoint.ignored,
                       warnings=nonfinite_warnings(bad))


FORMAT = CheckpointFormat("official-mae", "official MAE checkpoint (facebookresearch/mae)",
                          detect=lambda c: is_mae_state_dict(c.tensors), load=load)
