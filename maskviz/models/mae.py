"""MAE: a ViT encoder that sees only the visible patches, and a light decoder with mask tokens.

Module names and state-dict layout are those of facebookresearch/mae ``MaskedAutoencoderViT``
(``models_mae.py``), so official checkpoints load strictly. Built from :mod:`maskviz.models.blocks`
(timm's ``Block`` and ``PatchEmbed`` names, which are the official ones).

The official ``random_masking`` keeps the patches with the smallest noise; here the caller gives
the mask, and the kept patches are gathered in ascending order. Attention and the per-token layers
are permutation-equivariant and the decoder restores the original order, so this equals the
official forward for the same kept patches (up to float summation order).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual name
from torch import Tensor, nn

from maskviz.models.base import MaskedImageModel
from maskviz.models.blocks import Block, PatchEmbed
from maskviz.models.configs import MAE_CONFIGS, MAEConfig  # noqa: F401 - also imported from here

#: Values of the largest sin-cos table built (the checked geometry stays far below).
MAX_TABLE_VALUES = 1 << 28


def sincos_pos_embed_2d(dim: int, grid: int | tuple[int, int], cls_token: bool = True) -> Tensor:
    """Fixed 2-D sin-cos table of official MAE (``util/pos_embed.py``), CLS row = zeros.

    Per patch at row r, column c: ``[sin(c·ω) | cos(c·ω) | sin(r·ω) | cos(r·ω)]`` (the official
    code puts w first), each block ``dim/4`` wide. ``grid`` is a side (square, as the official
    ``get_2d_sincos_pos_embed`` takes it) or ``(rows, columns)``: the official
    ``get_2d_sincos_pos_embed_from_grid`` on ``meshgrid(arange(columns), arange(rows))``. A patch's
    row depends only on its own row and column, so a rectangle's table is the top-left part of a
    larger square one. One line is computed in float64 like numpy does there and broadcast into the
    float32 table, so the only full-size array is the result, whose size is checked first.
    """
    if dim % 4:
        raise ValueError("sin-cos position embedding needs a dimension divisible by 4")
    gh, gw = (grid, grid) if isinstance(grid, int) else grid
    rows = gh * gw + int(cls_token)
    if rows * dim > MAX_TABLE_VALUES:
        raise ValueError(f"a sin-cos table of {rows:,}×{dim:,} values is beyond what maskviz builds")
    omega = 1.0 / 10000 ** (np.arange(dim // 4, dtype=np.float64) / (dim / 4.0))
    angles = np.einsum("m,d->md", np.arange(max(gh, gw), dtype=np.float64), omega)
    line = torch.from_numpy(np.concatenate([np.sin(angles), np.cos(angles)], axis=1)).float()
    table = torch.zeros(rows, dim)
    body = table[int(cls_token):].view(gh, gw, dim)
    body[..., : dim // 2] = line[:gw].unsqueeze(0)  # by column
    body[..., dim // 2 :] = line[:gh].unsqueeze(1)  # by row
    return table.unsqueeze(0)


#: A stored table this close to the sin-cos one is that table (fp16-saved checkpoints round to ~5e-4).
SINCOS_TOLERANCE = 2e-3


def table_for_grid(table: Tensor, own: tuple[int, int], grid: tuple[int, int]) -> Tensor:
    """A position table ``[1, 1 + h·w, D]`` of the ``own`` grid carried to another ``grid``.

    The fixed sin-cos table is computed for ``grid`` exactly as the official code builds it at that
    size. Any other (learned) table is resized bicubically, CLS row kept, as the official
    ``interpolate_pos_embed`` and transformers' ``interpolate_pos_encoding`` do.
    """
    dim = table.shape[-1]
    if torch.allclose(table.float(), sincos_pos_embed_2d(dim, own).to(table.device), atol=SINCOS_TOLERANCE, rtol=0):
        return sincos_pos_embed_2d(dim, grid).to(table)
    body = table[:, 1:].float().reshape(1, *own, dim).permute(0, 3, 1, 2)
    body = F.interpolate(body, size=tuple(grid), mode="bicubic", align_corners=False)
    return torch.cat([table[:, :1], body.permute(0, 2, 3, 1).reshape(1, -1, dim).to(table.dtype)], dim=1)


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
        if self.pos_embed.is_meta:  # a skeleton for shape checks: nothing to fill, no table to build
            return
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

    def native_refusal(self, grid: tuple[int, int]) -> str | None:
        """None: every grid has position tables (:meth:`pos_embed_for_grid`)."""
        return None

    def pos_embed_for_grid(self, grid: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """Encoder and decoder position tables for a patch grid: the stored ones at the model's own
        grid, else each carried to ``grid`` by :func:`table_for_grid` (sin-cos computed, learned resized)."""
        own = self.config.grid_size
        if tuple(grid) == own:
            return self.pos_embed, self.decoder_pos_embed
        return table_for_grid(self.pos_embed, own, grid), table_for_grid(self.decoder_pos_embed, own, grid)

    def forward_encoder(self, imgs: Tensor, ids_keep: Tensor, pos_embed: Tensor | None = None) -> Tensor:
        """Encoded kept patches, CLS first; ``pos_embed`` for an image of another grid (the native view)."""
        pos = self.pos_embed if pos_embed is None else pos_embed
        x = self.patch_embed(imgs, any_size=pos_embed is not None) + pos[:, 1:, :]
        x = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        cls = (self.cls_token + pos[:, :1, :]).expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward_decoder(self, latent: Tensor, ids_keep: Tensor, pos_embed: Tensor | None = None) -> Tensor:
        pos = self.decoder_pos_embed if pos_embed is None else pos_embed
        x = self.decoder_embed(latent)
        b, n = x.shape[0], pos.shape[1] - 1
        tokens = self.mask_token.to(x.dtype).expand(b, n, -1).clone()
        tokens.scatter_(1, ids_keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]), x[:, 1:, :])
        x = torch.cat([x[:, :1, :], tokens], dim=1) + pos
        for blk in self.decoder_blocks:
            x = blk(x)
        x = self.decoder_pred(self.decoder_norm(x))
        return x[:, 1:, :]

    def forward(self, imgs: Tensor, mask: Tensor, grid: tuple[int, int] | None = None) -> Tensor:
        """Predictions for every patch; ``grid``: the patch grid of a larger image (the native view)."""
        grid = self.check_input(imgs, mask, grid)
        ids_keep = self.keep_indices(mask)
        if grid == self.config.grid_size:
            return self.forward_decoder(self.forward_encoder(imgs, ids_keep), ids_keep)
        pos, decoder_pos = self.pos_embed_for_grid(grid)
        return self.forward_decoder(self.forward_encoder(imgs, ids_keep, pos), ids_keep, decoder_pos)

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
