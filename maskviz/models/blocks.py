"""The transformer blocks of the ViT families: a small, torch-only set with timm's names.

Parameter and submodule names are timm's (``norm1``, ``attn.qkv``, ``attn.q_norm``/``k_norm``,
``attn.proj``, ``ls1``, ``drop_path1``, ``norm2``, ``mlp.fc1``/``fc2``; BEiT's ``attn.q_bias``/``v_bias``,
``gamma_1``/``gamma_2``, ``rel_pos_bias.relative_position_bias_table``), so published checkpoints,
timm's and maskviz's own load strictly, and construction draws random numbers in timm's order
(a seeded model is the same one). ``tests/test_blocks.py`` checks them against timm's blocks on the
same weights.

Why our own: importing timm imports torchvision and (through it) torch._dynamo, about a third of
the app's time to its first reconstruction; these few classes are all the ViT families need.
Swin keeps timm's blocks (:mod:`maskviz.models.timm_blocks`, imported when a Swin is built).

Attention is fused (``F.scaled_dot_product_attention``). :func:`record_attention` switches every
attention of a model to the explicit ``softmax(q·kᵀ·scale + bias)`` and records the weights.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the usual name
from torch import Tensor, nn

NormLayer = Callable[[int], nn.Module]


# ------------------------------------------------------------------------------------- attention


@dataclass(frozen=True)
class AttentionRecord:
    """One attention call: the module's name in ``named_modules()`` and its softmax weights.

    ``weights`` is ``[B, heads, N, N]`` (rows: queries, summing to 1); for Swin's windowed
    attention ``[B·windows, heads, w², w²]``, the raw per-window weights.
    """

    name: str
    weights: Tensor


class _Recorder:
    """Where an attention module appends its weights while :func:`record_attention` is active."""

    def __init__(self, name: str, records: list[AttentionRecord]) -> None:
        self.name, self.records = name, records

    def add(self, weights: Tensor) -> None:
        self.records.append(AttentionRecord(self.name, weights.detach()))


def attend(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None, scale: float, recorder: _Recorder | None) -> Tensor:
    """``softmax(q·kᵀ·scale + bias)·v`` for ``[B, heads, N, head_dim]``; fused unless recording."""
    if recorder is None:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    attn = (q * scale) @ k.transpose(-2, -1)
    if bias is not None:
        attn = attn + bias
    attn = attn.softmax(dim=-1)
    recorder.add(attn)
    return attn @ v


class Attention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection (timm's ViT ``Attention``)."""

    recorder: _Recorder | None = None

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False, qk_norm: bool = False,
                 norm_layer: NormLayer | None = None) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} does not split into {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.q_norm = norm_layer(self.head_dim) if qk_norm and norm_layer else nn.Identity()
        self.k_norm = norm_layer(self.head_dim) if qk_norm and norm_layer else nn.Identity()
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(0.0)

    def forward(self, x: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        x = attend(self.q_norm(q), self.k_norm(k), v, attn_mask, self.scale, self.recorder)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(b, n, c)))


class BeitAttention(nn.Module):
    """BEiT's attention (official SimMIM ViT): ``qkv`` without bias plus ``q_bias`` and ``v_bias``
    (the key has none); the relative position bias comes in from the model (shared by all blocks)."""

    recorder: _Recorder | None = None

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} does not split into {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.v_bias = nn.Parameter(torch.zeros(dim)) if qkv_bias else None
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(0.0)

    def forward(self, x: Tensor, shared_rel_pos_bias: Tensor | None = None) -> Tensor:
        b, n, c = x.shape
        bias = None
        if self.q_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        x = attend(q, k, v, shared_rel_pos_bias, self.scale, self.recorder)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(b, n, c)))


# ------------------------------------------------------------------------------------- layers


class Mlp(nn.Module):
    """``fc1 → GELU → fc2`` (timm's ``Mlp``; its dropouts and norm are identities here)."""

    def __init__(self, in_features: int, hidden_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(0.0)
        self.norm = nn.Identity()
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop2 = nn.Dropout(0.0)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop2(self.fc2(self.norm(self.drop1(self.act(self.fc1(x))))))


class LayerScale(nn.Module):
    """Per-channel scale of a residual branch (``gamma``)."""

    def __init__(self, dim: int, init_values: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm ViT block (timm's ``vision_transformer.Block``, official MAE's block)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = False,
                 qk_norm: bool = False, init_values: float | None = None,
                 norm_layer: NormLayer = nn.LayerNorm) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, qk_norm=qk_norm, norm_layer=norm_layer)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.drop_path1 = nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.drop_path2 = nn.Identity()

    def forward(self, x: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x), attn_mask=attn_mask)))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))


class BeitBlock(nn.Module):
    """BEiT block (timm's ``beit.Block``): layer scale as ``gamma_1``/``gamma_2`` on the block itself."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = False, mlp_ratio: float = 4.0,
                 init_values: float | None = None, norm_layer: NormLayer = nn.LayerNorm) -> None:
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = BeitAttention(dim, num_heads, qkv_bias=qkv_bias)
        self.drop_path1 = nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path2 = nn.Identity()
        self.gamma_1 = nn.Parameter(torch.full((dim,), float(init_values))) if init_values else None
        self.gamma_2 = nn.Parameter(torch.full((dim,), float(init_values))) if init_values else None

    def forward(self, x: Tensor, shared_rel_pos_bias: Tensor | None = None) -> Tensor:
        y = self.attn(self.norm1(x), shared_rel_pos_bias=shared_rel_pos_bias)
        x = x + self.drop_path1(y if self.gamma_1 is None else self.gamma_1 * y)
        y = self.mlp(self.norm2(x))
        return x + self.drop_path2(y if self.gamma_2 is None else self.gamma_2 * y)


def relative_position_index(window: tuple[int, int]) -> Tensor:
    """BEiT's index table ``[w·h + 1]²`` into a bias table of ``(2h−1)(2w−1) + 3`` rows.

    Token pairs inside the window index their offset (row-major over the offset grid); the last
    three rows are CLS→token, token→CLS and CLS→CLS.
    """
    h, w = window
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    rows, cols = rows.flatten(), cols.flatten()
    d_row = rows[:, None] - rows[None, :] + h - 1
    d_col = cols[:, None] - cols[None, :] + w - 1
    distances = (2 * h - 1) * (2 * w - 1)
    index = torch.empty(h * w + 1, h * w + 1, dtype=torch.long)
    index[1:, 1:] = d_row * (2 * w - 1) + d_col
    index[0, :] = distances
    index[:, 0] = distances + 1
    index[0, 0] = distances + 2
    return index


class RelativePositionBias(nn.Module):
    """A learned bias per head and relative offset, with CLS entries (BEiT's shared table).

    The index table is deterministic, so it is a non-persistent buffer: checkpoints that store it
    are compared with it by the loaders.
    """

    def __init__(self, window_size: tuple[int, int], num_heads: int) -> None:
        super().__init__()
        self.window_size = tuple(window_size)
        h, w = self.window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * h - 1) * (2 * w - 1) + 3, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(self.window_size), persistent=False)

    def init_non_persistent_buffers(self) -> None:
        """Recompute the index (a model built on the meta device has none yet)."""
        device = self.relative_position_bias_table.device
        self.register_buffer("relative_position_index", relative_position_index(self.window_size).to(device),
                             persistent=False)

    def forward(self) -> Tensor:
        """The bias ``[heads, N, N]`` for ``N = h·w + 1`` tokens (CLS first)."""
        n = self.relative_position_index.shape[0]
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        return bias.permute(2, 0, 1).contiguous()


class PatchEmbed(nn.Module):
    """Non-overlapping patches → tokens ``[B, L, D]`` (timm's ``PatchEmbed``: ``proj``, ``norm``)."""

    def __init__(self, img_size: int, patch_size: int, in_chans: int, embed_dim: int,
                 norm_layer: NormLayer | None = None) -> None:
        super().__init__()
        self.img_size = (img_size, img_size)
        self.patch_size = (patch_size, patch_size)
        self.grid_size = (img_size // patch_size, img_size // patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = norm_layer(embed_dim) if norm_layer else nn.Identity()

    def forward(self, x: Tensor, any_size: bool = False) -> Tensor:
        """``any_size``: a whole number of patches of any size (the native view), row-major."""
        if tuple(x.shape[-2:]) != self.img_size and not any_size:
            raise ValueError(f"input of {tuple(x.shape[-2:])} px, the model takes {self.img_size}")
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


# ------------------------------------------------------------------------------------- recording


@contextmanager
def record_attention(model: nn.Module) -> Iterator[list[AttentionRecord]]:
    """While active, every attention of ``model`` computes its weights explicitly and appends an
    :class:`AttentionRecord` to the list this yields, in call order::

        with record_attention(model) as records:
            model(imgs, mask)
        records[0].name, records[0].weights.shape   # "blocks.0.attn", [B, heads, N, N]

    The outputs equal the fused path's to float tolerance. Swin's windowed attention (timm's) is
    switched to its explicit path and its softmax output recorded. Not for use from two threads
    on one model at once: the switch is on the modules.
    """
    records: list[AttentionRecord] = []
    undo: list[Callable[[], None]] = []
    window_attention = _timm_window_attention()
    try:
        for name, module in model.named_modules():
            if isinstance(module, (Attention, BeitAttention)):
                module.recorder = _Recorder(name, records)
                undo.append(lambda m=module: m.__dict__.pop("recorder", None))
            elif window_attention is not None and isinstance(module, window_attention):
                undo.append(_record_window_attention(name, module, records))
        yield records
    finally:
        for step in reversed(undo):
            step()


def _timm_window_attention() -> type | None:
    """timm's Swin ``WindowAttention`` when a Swin has been built (else no model can hold one)."""
    timm_blocks = sys.modules.get("maskviz.models.timm_blocks")
    return getattr(timm_blocks, "WindowAttention", None)


def _record_window_attention(name: str, module: nn.Module, records: list[AttentionRecord]) -> Callable[[], None]:
    """Explicit path on, a hook on its softmax; returns what undoes both."""
    fused = module.fused_attn
    module.fused_attn = False
    recorder = _Recorder(name, records)
    handle = module.softmax.register_forward_hook(lambda _m, _inputs, out: recorder.add(out))

    def undo() -> None:
        handle.remove()
        module.fused_attn = fused

    return undo
