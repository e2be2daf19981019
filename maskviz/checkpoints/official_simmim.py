"""Official SimMIM pre-training checkpoints (microsoft/SimMIM ``simmim_pretrain__*.pth``).

``torch.load(f)["model"]`` is the state dict of the whole ``SimMIM`` module: ``encoder.*`` (a
BEiT-style ViT or a Swin) and ``decoder.0.*`` (the 1×1 conv before PixelShuffle). The architecture
is not stored beside it (at most a yacs config is), so it is read from key names and shapes. The
deterministic buffers (``relative_position_index``, Swin ``attn_mask``) are compared with the ones
maskviz computes, then dropped: a mismatch means another window or input size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from maskviz.checkpoints.common import (
    build_checked,
    check_tensors,
    drop_recomputed_buffer,
    load_strict,
    make_config,
    nonfinite_warnings,
)
from maskviz.checkpoints.formats import Checkpoint, CheckpointFormat
from maskviz.checkpoints.loaded import LoadedModel
from maskviz.errors import CheckpointError
from maskviz.models.base import ModelConfig
from maskviz.models.simmim import SIMMIM_CONFIGS, SimMIMSwinConfig, SimMIMViTConfig

WHAT = "SimMIM checkpoint"
USE_PRETRAINED = "use the pre-trained simmim_pretrain__*.pth checkpoint, which includes the decoder"
RECOMPUTED = ("relative_position_index", ".attn_mask")
PUBLISHED_SWIN_IMG = 192
_SWIN_TABLE = re.compile(r"layers\.\d+\.blocks\.\d+\.attn\.relative_position_bias_table$")


def is_simmim_state_dict(sd: Mapping[str, Any]) -> bool:
    """SimMIM pre-training layout, or a SimMIM-family backbone we can explain the refusal of."""
    keys = set(sd)
    if "encoder.patch_embed.proj.weight" in keys:
        has_body = any(k.startswith(("encoder.blocks.", "encoder.layers.")) for k in keys)
        other_decoder = any(k.startswith("decoder.") and not k.startswith("decoder.0.") for k in keys)
        return has_body and not other_decoder and "encoder_to_decoder.weight" not in keys
    return _is_bare_backbone(keys)


def _is_bare_backbone(keys: set[str]) -> bool:
    """Keys without ``encoder.``: a fine-tuned SimMIM classifier (BEiT-style ViT or Swin)."""
    if "patch_embed.proj.weight" not in keys:
        return False
    beit_vit = any(k.startswith("blocks.") and k.endswith(".attn.q_bias") for k in keys)
    return beit_vit or any(_SWIN_TABLE.match(k) for k in keys)


def check_reconstructs(sd: Mapping[str, Any]) -> None:
    """Refuse, in words a user can act on, checkpoints that have no SimMIM decoder."""
    keys = set(sd)
    head = "head.weight" in keys or "head.fc.weight" in keys
    if head and "decoder.0.weight" in keys:
        raise CheckpointError(
            "This SimMIM checkpoint holds its decoder and also a classification head: it is neither a "
            "pre-training checkpoint nor a plain classifier, so maskviz will not guess which weights to "
            "trust; remove the head.* entries to reconstruct with its decoder."
        )
    if head or not any(k.startswith("encoder.") for k in keys):
        raise CheckpointError(
            "This looks like a fine-tuned SimMIM classifier (a classification head, or keys without the "
            f"'encoder.' prefix): it has no decoder, so it cannot reconstruct images; {USE_PRETRAINED}."
        )
    if "decoder.0.weight" not in keys:
        raise CheckpointError(
            "This SimMIM checkpoint holds only the encoder (decoder.0.weight is missing): it has no "
            f"decoder, so it cannot reconstruct images; {USE_PRETRAINED}."
        )


def infer_simmim_config(
    sd: Mapping[str, Tensor], hints: Mapping[str, Any] | None = None
) -> tuple[ModelConfig, list[str]]:
    """The architecture from key names and shapes, with notes on what had to be assumed."""
    check_reconstructs(sd)
    if any(k.startswith("encoder.layers.") for k in sd):
        config, notes = _infer_swin(sd, hints or {})
    elif any(k.startswith("encoder.blocks.") for k in sd):
        config, notes = _infer_vit(sd)
    else:
        raise CheckpointError(f"{WHAT}: the encoder has neither ViT blocks nor Swin layers")
    _check_decoder(sd, config)
    return named_config(config, notes)


def convert_simmim_state_dict(
    sd: Mapping[str, Tensor], model: nn.Module
) -> tuple[dict[str, Tensor], list[str]]:
    """Weights ready for ``load_strict``, and the stored buffers that were checked and dropped."""
    check_reconstructs(sd)
    weights, stored = split_recomputed(check_tensors(sd, WHAT))
    return weights, check_stored_buffers(stored, model)


def split_recomputed(sd: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """(weights, stored deterministic buffers): the buffers are compared, not loaded."""
    weights = {k: v for k, v in sd.items() if not k.endswith(RECOMPUTED)}
    return weights, {k: v for k, v in sd.items() if k.endswith(RECOMPUTED)}


def check_stored_buffers(stored: Mapping[str, Tensor], model: nn.Module) -> list[str]:
    """Compare stored index tables and attention masks with the model's own (a mismatch means another
    window or input size); returns their names, which are then ignored."""
    ours = dict(model.named_buffers())
    out, dropped = dict(stored), []
    for key in stored:
        if key not in ours:
            raise CheckpointError(
                f"{WHAT}: stored buffer {key} has no counterpart in this architecture "
                "(different window or input size?)"
            )
        drop_recomputed_buffer(out, key, ours[key], WHAT, dropped)
    return dropped


# --- ViT ---------------------------------------------------------------------------------------


def _infer_vit(sd: Mapping[str, Tensor]) -> tuple[SimMIMViTConfig, list[str]]:
    _refuse_vit_variants(sd)
    embed_dim, in_chans, patch, _ = _shape(sd, "encoder.patch_embed.proj.weight")
    rows, heads = _shape(sd, "encoder.rel_pos_bias.relative_position_bias_table")
    grid = _odd_root(rows - 3, "encoder.rel_pos_bias.relative_position_bias_table")
    index = sd.get("encoder.rel_pos_bias.relative_position_index")
    if index is not None and tuple(index.shape) != (grid * grid + 1,) * 2:
        raise CheckpointError(
            f"{WHAT}: relative_position_index {list(index.shape)} does not fit a {grid}×{grid} patch grid"
        )
    config = make_config(
        SimMIMViTConfig, WHAT, img_size=grid * patch, patch_size=patch, in_chans=in_chans, embed_dim=embed_dim,
        depth=_count(sd, "encoder.blocks."), num_heads=heads,
        mlp_ratio=_mlp_ratio(sd, "encoder.blocks.0", embed_dim),
        init_values=0.1 if "encoder.blocks.0.gamma_1" in sd else None,
    )
    notes = [
        f"SimMIM ViT: {config.depth} blocks of width {embed_dim}, {heads} heads, patch {patch}, "
        f"{config.img_size} px input (from the shared relative-position table)",
        "LayerNorm eps 1e-6 assumed (the official SimMIM ViT; not stored in the checkpoint)",
    ]
    return config, notes


def _refuse_vit_variants(sd: Mapping[str, Tensor]) -> None:
    """Only the published variant (shared relative bias, no absolute embedding) is implemented."""
    if "encoder.pos_embed" in sd:
        raise CheckpointError(f"{WHAT}: ViTs with absolute position embeddings (USE_APE) are not supported")
    if "encoder.blocks.0.attn.relative_position_bias_table" in sd:
        raise CheckpointError(f"{WHAT}: ViTs with per-block relative position bias (USE_RPB) are unsupported")
    if "encoder.rel_pos_bias.relative_position_bias_table" not in sd:
        raise CheckpointError(f"{WHAT}: the ViT has no shared relative position bias (USE_SHARED_RPB)")


# --- Swin --------------------------------------------------------------------------------------


def _infer_swin(sd: Mapping[str, Tensor], hints: Mapping[str, Any]) -> tuple[SimMIMSwinConfig, list[str]]:
    embed_dim, in_chans, patch, _ = _shape(sd, "encoder.patch_embed.proj.weight")
    stages = range(_count(sd, "encoder.layers."))
    tables = [_shape(sd, f"encoder.layers.{s}.blocks.0.attn.relative_position_bias_table") for s in stages]
    windows = [_odd_root(rows, f"stage {s} position table") for s, (rows, _) in enumerate(tables)]
    window = max(windows)  # clamping only shrinks later stages (Swin-L/192 ends with 6, not 12)
    img, notes = _swin_img_size(sd, windows, window, patch, hints)
    config = make_config(
        SimMIMSwinConfig, WHAT, img_size=img, patch_size=patch, in_chans=in_chans, embed_dim=embed_dim,
        depths=tuple(_count(sd, f"encoder.layers.{s}.blocks.") for s in stages),
        num_heads=tuple(heads for _, heads in tables), window_size=window,
        mlp_ratio=_mlp_ratio(sd, "encoder.layers.0.blocks.0", embed_dim),
    )
    expected = [config.stage_window(s)[0] for s in stages]
    if expected != windows:
        raise CheckpointError(
            f"{WHAT}: the relative-position tables give windows {windows} per stage, but a {img} px input "
            f"with window {window} gives {expected}: the checkpoint was trained at another input size"
        )
    summary = (
        f"SimMIM Swin: depths {config.depths}, width {embed_dim}, heads {config.num_heads}, "
        f"window {window}, patch {patch}, {img} px input"
    )
    return config, [summary, *notes, "LayerNorm eps 1e-5 assumed (the official Swin; not stored)"]


def _swin_img_size(
    sd: Mapping[str, Tensor], windows: list[int], window: int, patch: int, hints: Mapping[str, Any]
) -> tuple[int, list[str]]:
    """Input size from the buffers when they pin it down, else the training config, else 192."""
    derived = _img_from_attn_mask(sd, windows, patch)
    how = "from the stored attention masks"
    if derived is None:
        clamped = [s for s, w in enumerate(windows) if w < window]
        if clamped:  # a stage whose window shrank is exactly as large as its feature map
            derived, how = windows[clamped[0]] * 2 ** clamped[0] * patch, "from the clamped window sizes"
    hinted = _hint_img_size(hints)
    if derived is not None:
        notes = [f"input size {derived} px read {how}"]
        if hinted is not None and hinted != derived:
            notes.append(f"the stored training config says {hinted} px, the weights' buffers {derived} px")
        return derived, notes
    if hinted is not None:
        return hinted, [f"input size {hinted} px taken from the training config stored in the checkpoint"]
    return PUBLISHED_SWIN_IMG, [
        f"input size not stored in the checkpoint: assumed {PUBLISHED_SWIN_IMG} px like the published models"
    ]


def _img_from_attn_mask(sd: Mapping[str, Tensor], windows: list[int], patch: int) -> int | None:
    """A shifted block's mask ``[nW, w², w²]`` gives its stage's ``√nW · w`` tokens per side."""
    for key, value in sd.items():
        m = re.fullmatch(r"encoder\.layers\.(\d+)\.blocks\.\d+\.attn_mask", key)
        if m and value.ndim == 3:
            stage = int(m.group(1))
            side = math.isqrt(value.shape[0])
            if side * side == value.shape[0] and stage < len(windows):
                return side * windows[stage] * 2**stage * patch
    return None


def _hint_img_size(hints: Mapping[str, Any]) -> int | None:
    """``hints["img_size"]``, or ``DATA.IMG_SIZE`` of the yacs config saved by SimMIM's training code."""
    value = hints.get("img_size")
    if value is None:
        value = _lookup(hints.get("config"), "DATA", "IMG_SIZE")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _lookup(node: Any, *path: str) -> Any:
    """Walk a yacs ``CfgNode`` (a dict with attribute access) or its inert stand-in (a plain dict)."""
    for key in path:
        if node is None:
            return None
        node = node.get(key) if isinstance(node, Mapping) else getattr(node, key, None)
    return node


# --- shared ------------------------------------------------------------------------------------


def _shape(sd: Mapping[str, Tensor], key: str) -> tuple[int, ...]:
    if key not in sd:
        raise CheckpointError(f"{WHAT}: expected key {key} is missing")
    return tuple(sd[key].shape)


def _count(sd: Mapping[str, Tensor], prefix: str) -> int:
    """Number of numbered children under ``prefix`` (``encoder.blocks.`` → depth)."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in sd if (m := pattern.match(k))}
    if not found or found != set(range(len(found))):
        raise CheckpointError(f"{WHAT}: {prefix}N entries are missing or not numbered 0..N-1")
    return len(found)


def _odd_root(n: int, what: str) -> int:
    """``w`` from a relative-position table of ``(2w − 1)²`` rows."""
    side = math.isqrt(max(n, 0))
    if side * side != n or side % 2 == 0:
        raise CheckpointError(f"{WHAT}: {what} has {n} rows, not (2w−1)² for any window w")
    return (side + 1) // 2


def _mlp_ratio(sd: Mapping[str, Tensor], block: str, dim: int) -> float:
    return _shape(sd, f"{block}.mlp.fc1.weight")[0] / dim


def _check_decoder(sd: Mapping[str, Tensor], config: SimMIMViTConfig | SimMIMSwinConfig) -> None:
    stride = config.encoder_stride
    want = (stride**2 * config.in_chans, config.num_features, 1, 1)
    got = _shape(sd, "decoder.0.weight")
    if got != want:
        raise CheckpointError(
            f"{WHAT}: decoder.0.weight {list(got)} does not fit a stride-{stride} decoder on "
            f"{config.num_features} features (expected {list(want)})"
        )


def named_config(config: ModelConfig, notes: list[str]) -> tuple[ModelConfig, list[str]]:
    """Use the registry's name when the inferred architecture is one of the named configs."""
    for name, named in SIMMIM_CONFIGS.items():
        if named.replace(name="") == config.replace(name=""):
            return named.replace(), [f"architecture matches {name}", *notes]
    return config, notes


# --- loading -----------------------------------------------------------------------------------


def load_simmim_weights(
    config: ModelConfig, sd: dict[str, Tensor], what: str
) -> tuple[nn.Module, list[str], list[str]]:
    """Weights loaded strictly, then the stored index tables / attention masks compared with the
    model's own and dropped: (model, dropped buffer names, warnings)."""
    check_reconstructs(sd)  # a plain refusal for encoder-only and classifier files first
    model = build_checked(config, sd, what)
    weights, stored = split_recomputed(sd)
    bad = load_strict(model, weights, what)
    return model, check_stored_buffers(stored, model), nonfinite_warnings(bad)


def load(checkpoint: Checkpoint) -> LoadedModel:
    config, notes = infer_simmim_config(checkpoint.tensors, checkpoint.hints)
    model, dropped, warnings = load_simmim_weights(config, checkpoint.tensors, checkpoint.name)
    return LoadedModel(model, str(checkpoint.path), FORMAT.name, notes, checkpoint.ignored + dropped,
                       warnings=warnings)


FORMAT = CheckpointFormat("official-simmim", "official SimMIM checkpoint (microsoft/SimMIM)",
                          detect=lambda c: is_simmim_state_dict(c.tensors), load=load)
