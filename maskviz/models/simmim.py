"""SimMIM: the encoder sees every patch (hidden ones replaced by a learned mask token) and a 1×1 conv
plus PixelShuffle predicts the whole image; the L1 loss counts only the hidden pixels.

Module names follow microsoft/SimMIM ``models/simmim.py`` (``encoder.*``, ``decoder.0.*``) so the
official pre-training checkpoints load strictly. Built from blocks whose parameter names and maths
equal the official ones:

* ViT: the BEiT-style ``BeitBlock`` (``q_bias``/``v_bias``, layer scale ``gamma_1``/``gamma_2``) and
  ``RelativePositionBias`` (the table shared by all blocks, with its three CLS entries) of
  :mod:`maskviz.models.blocks`, which carry timm's names.
* Swin: ``timm.models.swin_transformer`` ``SwinTransformerBlock`` and ``PatchMerging`` (timm is
  imported when a Swin is built, :mod:`maskviz.models.timm_blocks`). For square
  inputs their window/shift clamping and 2×2 concatenation order are the official ones; the tree is
  laid out officially (``layers.{s}.downsample`` ends stage ``s``; timm would start stage ``s+1``).

The deterministic buffers (``relative_position_index``, ``attn_mask``) are non-persistent here: the
checkpoint loader compares the stored copies with ours and drops them.
"""

from __future__ import annotations

import math
import warnings
from functools import partial

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.init import trunc_normal_

from maskviz.models.base import MaskedImageModel
from maskviz.models.blocks import BeitBlock, PatchEmbed, RelativePositionBias, relative_position_index
from maskviz.models.configs import SIMMIM_CONFIGS, SimMIMSwinConfig, SimMIMViTConfig  # noqa: F401 - also imported from here


def _init_official(m: nn.Module, conv: bool) -> None:
    """Per-module init of the official encoders: truncated normal (std .02) weights, zero biases."""
    if isinstance(m, nn.Linear) or (conv and isinstance(m, nn.Conv2d)):
        trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def _blend_mask_token(x: Tensor, mask: Tensor, token: Tensor) -> Tensor:
    """Official SimMIM masking: hidden patch embeddings are replaced by the learned token."""
    w = mask.flatten(1).unsqueeze(-1).to(x.dtype)
    return x * (1.0 - w) + token.to(x.dtype) * w


class SimMIMViTEncoder(nn.Module):
    """Official ``VisionTransformerForSimMIM`` (shared relative position bias, no absolute one)."""

    def __init__(self, c: SimMIMViTConfig) -> None:
        super().__init__()
        norm = partial(nn.LayerNorm, eps=c.norm_eps)
        self.grid = c.grid_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
        self.patch_embed = PatchEmbed(c.img_size, c.patch_size, c.in_chans, c.embed_dim)
        self.rel_pos_bias = RelativePositionBias(window_size=c.grid_size, num_heads=c.num_heads)
        self.blocks = nn.ModuleList(
            [
                BeitBlock(c.embed_dim, c.num_heads, qkv_bias=True, mlp_ratio=c.mlp_ratio,
                          init_values=c.init_values, norm_layer=norm)
                for _ in range(c.depth)
            ]
        )
        self.norm = norm(c.embed_dim)

    def forward_features(self, imgs: Tensor, mask: Tensor, grid: tuple[int, int] | None = None) -> Tensor:
        """Normalised tokens ``[B, 1 + L, D]``, CLS first (what timm's BEiT returns unmasked);
        ``grid``: the patch grid of a larger image (the native view)."""
        x = _blend_mask_token(self.patch_embed(imgs, any_size=grid is not None), mask, self.mask_token)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)
        bias = self.rel_pos_bias() if grid is None else self.rel_pos_bias_for_grid(grid)
        for blk in self.blocks:
            x = blk(x, shared_rel_pos_bias=bias)
        return self.norm(x)

    def rel_pos_bias_for_grid(self, grid: tuple[int, int]) -> Tensor:
        """The shared bias ``[heads, N, N]`` for another patch grid, the table resized as BEiT does.

        The table is learned per offset within the trained grid; SimMIM's own code
        (``utils.remap_pretrained_keys_vit``, for fine-tuning at another size) resamples it on
        geometrically spaced offsets, square grids only, with SciPy's ``interp2d`` (gone from
        SciPy 1.14). timm's ``resize_rel_pos_bias_table`` is that method per axis (so rectangles
        work) with linear interpolation; the three CLS entries are kept.
        """
        from timm.layers.pos_embed_rel import resize_rel_pos_bias_table  # imports timm: only on this path

        (gh, gw), table = grid, self.rel_pos_bias.relative_position_bias_table
        with warnings.catch_warnings():  # timm's interpolator trips two torch deprecation notices
            warnings.simplefilter("ignore", UserWarning)
            table = resize_rel_pos_bias_table(table, new_window_size=(gh, gw), old_window_size=self.grid,
                                              new_bias_shape=((2 * gh - 1) * (2 * gw - 1) + 3, table.shape[1]))
        index = relative_position_index((gh, gw)).to(table.device)
        n = index.shape[0]
        return table[index.view(-1)].view(n, n, -1).permute(2, 0, 1).contiguous()

    def forward(self, imgs: Tensor, mask: Tensor, grid: tuple[int, int] | None = None) -> Tensor:
        """Patch features as a map ``[B, D, gh, gw]`` for the convolutional decoder."""
        x = self.forward_features(imgs, mask, grid)[:, 1:]
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *(grid or self.grid))


class SimMIMSwinStage(nn.Module):
    """One official ``BasicLayer``: the blocks, then the patch merging that ends the stage."""

    def __init__(self, c: SimMIMSwinConfig, stage: int) -> None:
        from maskviz.models.timm_blocks import PatchMerging, SwinTransformerBlock  # timm: only for Swin

        super().__init__()
        norm = partial(nn.LayerNorm, eps=c.norm_eps)
        dim, res = c.embed_dim * 2**stage, c.stage_resolution(stage)
        self.blocks = nn.ModuleList(
            [
                SwinTransformerBlock(
                    dim=dim, input_resolution=(res, res), num_heads=c.num_heads[stage],
                    window_size=c.window_size, shift_size=0 if i % 2 == 0 else c.window_size // 2,
                    mlp_ratio=c.mlp_ratio, qkv_bias=True, norm_layer=norm,
                )
                for i in range(c.depths[stage])
            ]
        )
        self.downsample = PatchMerging(dim=dim, norm_layer=norm) if stage < c.num_stages - 1 else None
        self._check_windows(c.stage_window(stage))

    def _check_windows(self, expected: tuple[int, int]) -> None:
        """Guard against a timm release that clamps windows differently from the official code."""
        window, shift = expected
        for i, blk in enumerate(self.blocks):
            want = ((window, window), (shift, shift) if i % 2 else (0, 0))
            if (tuple(blk.window_size), tuple(blk.shift_size)) != want:
                got = (blk.window_size, blk.shift_size)
                raise RuntimeError(f"timm Swin block {i} has window/shift {got}, the official code {want}")

    def forward(self, x: Tensor) -> Tensor:
        """``[B, H, W, C]`` → ``[B, H/2, W/2, 2C]`` (same size after the last stage)."""
        for blk in self.blocks:
            x = blk(x)
        return x if self.downsample is None else self.downsample(x)


class SimMIMSwinEncoder(nn.Module):
    """Official ``SwinTransformerForSimMIM`` (no absolute position embedding, patch LayerNorm)."""

    def __init__(self, c: SimMIMSwinConfig) -> None:
        super().__init__()
        norm = partial(nn.LayerNorm, eps=c.norm_eps)
        self.grid = c.grid_size
        self.mask_token = nn.Parameter(torch.zeros(1, 1, c.embed_dim))
        self.patch_embed = PatchEmbed(c.img_size, c.patch_size, c.in_chans, c.embed_dim, norm_layer=norm)
        self.layers = nn.ModuleList([SimMIMSwinStage(c, s) for s in range(c.num_stages)])
        self.norm = norm(c.num_features)

    def forward(self, imgs: Tensor, mask: Tensor) -> Tensor:
        """Last-stage features ``[B, C, H/stride, W/stride]``; masking follows the patch LayerNorm."""
        x = _blend_mask_token(self.patch_embed(imgs), mask, self.mask_token)
        x = x.reshape(x.shape[0], *self.grid, x.shape[-1])
        for layer in self.layers:
            x = layer(x)
        return self.norm(x).permute(0, 3, 1, 2)


class SimMIMModel(MaskedImageModel):
    """Shared SimMIM head: decoder, predictions in patch layout and the official L1 loss."""

    encoder: nn.Module

    def _make_decoder(self, num_features: int, stride: int) -> nn.Sequential:
        out = stride**2 * self.config.in_chans  # official: stride² · 3
        return nn.Sequential(nn.Conv2d(num_features, out, kernel_size=1), nn.PixelShuffle(stride))

    def reconstruct_image(self, imgs: Tensor, mask: Tensor, grid: tuple[int, int] | None = None) -> Tensor:
        """The decoder's whole image ``[B, C, H, W]`` in normalised pixels, visible patches included;
        ``grid``: the patch grid of a larger image (the native view, where :meth:`native_refusal` allows)."""
        grid = self.check_input(imgs, mask, grid)
        if grid == self.config.grid_size:
            return self.decoder(self.encoder(imgs, mask))
        return self.decoder(self.encode_grid(imgs, mask, grid))

    def encode_grid(self, imgs: Tensor, mask: Tensor, grid: tuple[int, int]) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, imgs: Tensor, mask: Tensor, grid: tuple[int, int] | None = None) -> Tensor:
        return self.patchify(self.reconstruct_image(imgs, mask, grid))

    def pixel_mask(self, mask: Tensor) -> Tensor:
        """Patch mask ``[B, L]`` → pixel mask ``[B, 1, H, W]``, upsampled like ``SimMIM.forward``."""
        p = self.patch_size
        m = mask.reshape(mask.shape[0], *self.grid_size)
        return m.repeat_interleave(p, 1).repeat_interleave(p, 2).unsqueeze(1)

    def loss(self, imgs: Tensor, pred: Tensor, mask: Tensor, reduce_batch: bool = True) -> Tensor:
        """Official loss ``Σ|x − x_rec|·m / (Σm + 1e-5) / C`` over hidden pixels (per sample if asked)."""
        m = self.pixel_mask(mask).to(imgs.dtype)
        err = (imgs - self.unpatchify(pred)).abs() * m
        c = self.config.in_chans
        if reduce_batch:
            return err.sum() / (m.sum() + 1e-5) / c
        return err.sum(dim=(1, 2, 3)) / (m.sum(dim=(1, 2, 3)) + 1e-5) / c

    def loss_over_hidden(self, patch_loss: np.ndarray, mask: np.ndarray) -> float | None:
        """The official loss from per-patch losses on any grid: a patch's loss is its mean over
        ``p²·C`` values, so the L1 sum over hidden pixels is ``Σ loss · p² · C``; divided by the hidden
        pixel count + 1e-5 and by ``C`` as :meth:`loss` does."""
        hidden = np.asarray(mask, dtype=bool).reshape(np.shape(patch_loss))
        n, p2 = int(hidden.sum()), self.patch_size**2
        if not n:
            return None
        return float(np.asarray(patch_loss, dtype=np.float64)[hidden].sum() * p2 / (n * p2 + 1e-5))

    def patch_loss(self, imgs: Tensor, pred: Tensor) -> Tensor:
        """Mean absolute error per patch ``[B, L]`` (the loss's terms, for every patch)."""
        return (pred - self.patchify(imgs)).abs().mean(dim=-1)


class SimMIMViT(SimMIMModel):
    """SimMIM with the BEiT-style ViT of the official ``simmim_pretrain__vit_base`` config."""

    config: SimMIMViTConfig

    def __init__(self, config: SimMIMViTConfig) -> None:
        super().__init__(config)
        self.encoder = SimMIMViTEncoder(config)
        self.decoder = self._make_decoder(config.num_features, config.encoder_stride)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Official encoder init (training from scratch); the decoder keeps PyTorch's default like there."""
        enc = self.encoder
        enc.apply(partial(_init_official, conv=True))
        for i, blk in enumerate(enc.blocks):  # official fix_init_weight: damp deeper residual branches
            blk.attn.proj.weight.data.div_(math.sqrt(2.0 * (i + 1)))
            blk.mlp.fc2.weight.data.div_(math.sqrt(2.0 * (i + 1)))
        trunc_normal_(enc.cls_token, std=0.02)
        trunc_normal_(enc.mask_token, std=0.02, a=-0.02, b=0.02)

    def native_refusal(self, grid: tuple[int, int]) -> str | None:
        """None: attention is global and the bias table is resized (``SimMIMViTEncoder.rel_pos_bias_for_grid``)."""
        return None

    def encode_grid(self, imgs: Tensor, mask: Tensor, grid: tuple[int, int]) -> Tensor:
        return self.encoder(imgs, mask, grid)


class SimMIMSwin(SimMIMModel):
    """SimMIM with the Swin Transformer of the official ``simmim_pretrain__swin_*`` configs."""

    config: SimMIMSwinConfig

    def __init__(self, config: SimMIMSwinConfig) -> None:
        super().__init__(config)
        self.encoder = SimMIMSwinEncoder(config)
        self.decoder = self._make_decoder(config.num_features, config.encoder_stride)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """Official encoder init (the patch conv and the decoder keep PyTorch's default, as there)."""
        self.encoder.apply(partial(_init_official, conv=False))
        trunc_normal_(self.encoder.mask_token, std=0.02)

    def native_refusal(self, grid: tuple[int, int]) -> str | None:
        """Why the official Swin cannot be built for this grid with these weights (None: it can).

        It is built for one square size (``IMG_SIZE``); its windows must tile every stage, and a stage
        whose window the official clamping rule changes would need a bias table the weights lack.
        """
        c, (gh, gw) = self.config, grid
        if gh != gw:
            return (f"SimMIM's Swin is built for one square input size; a {gw * c.patch_size}×{gh * c.patch_size} "
                    "px picture is not square (use the tiles view, or a square picture)")
        try:
            other = c.replace(img_size=gh * c.patch_size)
        except ValueError as exc:
            return f"SimMIM's Swin cannot be built at {gh * c.patch_size} px: {exc}"
        for s in range(c.num_stages):
            (trained, _), (window, _) = c.stage_window(s), other.stage_window(s)
            if window != trained:
                return (f"at {other.img_size} px stage {s} of SimMIM's Swin attends in {window}×{window} windows; "
                        f"its weights have a bias table for {trained}×{trained} windows only")
        return None

    def encode_grid(self, imgs: Tensor, mask: Tensor, grid: tuple[int, int]) -> Tensor:
        return self.encoder_for_grid(grid)(imgs, mask)

    def encoder_for_grid(self, grid: tuple[int, int]) -> SimMIMSwinEncoder:
        """The official encoder built at ``grid``'s size on these very weights (shared, not copied):
        its stages, windows, shifts and attention masks are those of that size."""
        config = self.config.replace(img_size=grid[0] * self.config.patch_size)
        with torch.device("meta"):
            encoder = SimMIMSwinEncoder(config)
        encoder.load_state_dict(self.encoder.state_dict(), assign=True)
        device = self.encoder.mask_token.device
        for module in encoder.modules():  # the deterministic buffers, computed for this size
            for name, buffer in module.named_buffers(recurse=False):
                if buffer.is_meta:
                    module.register_buffer(name, torch.empty_like(buffer, device=device), persistent=False)
            if hasattr(module, "init_non_persistent_buffers"):
                module.init_non_persistent_buffers()
        return encoder.train(self.encoder.training)
