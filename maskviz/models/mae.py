"""MAE: a ViT encoder that sees only the visible patches, and a light decoder with mask tokens.

Module names and state-dict layout are those of facebookresearch/mae ``MaskedAutoencoderViT``
(``models_mae.py``), so official checkpoints load strictly. Built from timm's ``Block`` and
``PatchEmbed``, whose parameter names match the official ones.

The official ``random_masking`` keeps the patches with the smallest noise; here the caller gives
the mask, and the kept patches are gathered in ascending order. Attention and the per-token layers
are permutation-equivariant and the decoder restores the original order, so this equals the
official forward for the same kept patches (up to float summation order).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Block
from torch import Tensor, nn

from maskviz.models.base import MaskedImageModel, ModelConfig


@dataclass
class MAEConfig(ModelConfig):
    kind = "mae_vit"
    family = "mae"

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    decoder_embed_dim: int = 512
    decoder_depth: int = 8
    decoder_num_heads: int = 16
    mlp_ratio: float = 4.0
    norm_eps: float = 1e-6  # official MAE; Hugging Face configs carry 1e-12

    def build(self) -> MAEViT:
        return MAEViT(self)


def _cfg(name: str, **kw) -> MAEConfig:
    return MAEConfig(name=name, **kw)


MAE_CONFIGS: dict[str, MAEConfig] = {
    c.name: c
    for c in [
        _cfg("mae_vit_base_patch16", embed_dim=768, depth=12, num_heads=12),
        _cfg("mae_vit_large_patch16", embed_dim=1024, depth=24, num_heads=16),
        _cfg("mae_vit_huge_patch14", patch_size=14, embed_dim=1280, depth=32, num_heads=16),
        # Small configs: fast tests, quick experiments and the bundled models.
        _cfg(
            "mae_vit_small_patch8_64", img_size=64, patch_size=8, embed_dim=192, depth=6, num_heads=3,
            decoder_embed_dim=128, decoder_depth=2, decoder_num_heads=4,
        ),
        # Candidates for the 14×14-grid bundled MAE (same token count, so nearly the same cost):
        # <= 30 MB as fp16 and <= 40 ms per reconstruction on 2 CPU threads
        # (bench/bench_bundled_latency.py).
        *(
            _cfg(
                f"mae_vit_bundle_patch{patch}_{size}", img_size=size, patch_size=patch, embed_dim=384, depth=6,
                num_heads=6, decoder_embed_dim=256, decoder_depth=3, decoder_num_heads=8,
            )
            for size, patch in ((112, 8), (224, 16))
        ),
        _cfg(
            "mae_vit_tiny_test", img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2,
            decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2,
        ),
    ]
}


def sincos_pos_embed_2d(dim: int, grid: int, cls_token: bool = True) -> Tensor:
    """Fixed 2-D sin-cos table of official MAE (``util/pos_embed.py``), CLS row = zeros.

    Per patch at row r, column c: ``[sin(c·ω) | cos(c·ω) | sin(r·ω) | cos(r·ω)]`` (the official
    code puts w first), each block ``dim/4`` wide, computed in float64 like numpy does there.
    """
    if dim % 4:
        raise ValueError("sin-cos position embedding needs a dimension divisible by 4")
    omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=np.float64) / (dim / 4.0))
    rows, cols = np.meshgrid(np.arange(grid, dtype=np.float64), np.arange(grid, dtype=np.float64), indexing="ij")

    def embed_1d(pos: np.ndarray) -> np.ndarray:
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    table = np.concatenate([embed_1d(cols), embed_1d(rows)], axis=1)
    if cls_token:
        table = np.concatenate([np.zeros((1, dim)), table], axis=0)
    return torch.from_numpy(table).float().unsqueeze(0)


class MAEViT(MaskedImageModel):
    """Masked autoencoder with a ViT backbone (official MAE layout)."""

    config: MAEConfig

    def __init__(self, config: MAEConfig) -> None:
        super().__init__(config)
        c = config
        norm = partial(nn.LayerNorm, eps=c.norm_eps)
        block = partial(Block, mlp_ratio=c.mlp_ratio, qkv_bias=True, norm_layer=norm)
        n = c.num_patches

        # Encoder
        self.patch_embed = PatchEmbed(c.img_size, c.patch_size, c.in_chans, c.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, c.embed_dim), requires_grad=False)
        self.blocks = nn.ModuleList([block(c.embed_dim, c.num_heads) for _ in range(c.depth)])
        self.norm = norm(c.embed_dim)

        # Decoder
        self.decoder_embed = nn.Linear(c.embed_dim, c.decoder_embed_dim, bias=True)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c.decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(torch.zeros(1, n + 1, c.decoder_embed_dim), requires_grad=False)
        self.decoder_blocks = nn.ModuleList(
            [block(c.decoder_embed_dim, c.decoder_num_heads) for _ in range(c.decoder_depth)]
        )
        self.decoder_norm = norm(c.decoder_embed_dim)
        self.decoder_pred = nn.Linear(c.decoder_embed_dim, c.patch_size**2 * c.in_chans, bias=True)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Initialisation of the official code (used when training from scratch)."""
        grid = self.config.grid_size[0]
        self.pos_embed.data.copy_(sincos_pos_embed_2d(self.config.embed_dim, grid))
        self.decoder_pos_embed.data.copy_(sincos_pos_embed_2d(self.config.decoder_embed_dim, grid))
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view([w.shape[0], -1]))
        nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.LayerNorm):
                nn.init.constant_(m.bias, 0)
                nn.init.constant_(m.weight, 1.0)

    @staticmethod
    def keep_indices(mask: Tensor) -> Tensor:
        """Indices ``[B, K]`` of the visible patches, ascending; every row must keep the same count."""
        visible = (~mask).sum(dim=1)
        if visible.numel() and not bool((visible == visible[0]).all()):
            raise ValueError("MAE needs the same number of visible patches in every row of a batch")
        k = int(visible[0]) if visible.numel() else 0
        # A stable sort puts visible (False) before hidden (True), each in patch order.
        return torch.argsort(mask.to(torch.int8), dim=1, stable=True)[:, :k]

    def forward_encoder(self, imgs: Tensor, ids_keep: Tensor) -> Tensor:
        x = self.patch_embed(imgs) + self.pos_embed[:, 1:, :]
        x = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward_decoder(self, latent: Tensor, ids_keep: Tensor) -> Tensor:
        x = self.decoder_embed(latent)
        b, n = x.shape[0], self.config.num_patches
        tokens = self.mask_token.to(x.dtype).expand(b, n, -1).clone()
        tokens.scatter_(1, ids_keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]), x[:, 1:, :])
        x = torch.cat([x[:, :1, :], tokens], dim=1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        x = self.decoder_pred(self.decoder_norm(x))
        return x[:, 1:, :]

    def forward(self, imgs: Tensor, mask: Tensor) -> Tensor:
        self.check_input(imgs, mask)
        ids_keep = self.keep_indices(mask)
        return self.forward_decoder(self.forward_encoder(imgs, ids_keep), ids_keep)

    def target(self, imgs: Tensor) -> Tensor:
        """Pixels per patch, normalised per patch when trained with ``norm_pix_loss``."""
        target = self.patchify(imgs)
        if self.config.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)  # unbiased, as in the official code
            target = (target - mean) / (var + 1.0e-6) ** 0.5
        return target

    def patch_loss(self, imgs: Tensor, pred: Tensor) -> Tensor:
        return ((pred - self.target(imgs)) ** 2).mean(dim=-1)
