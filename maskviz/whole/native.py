"""The ``native`` view: the whole picture as one longer token sequence through the model.

What each family does at a grid other than its own (the models' ``grid`` argument):

* **MAE** — fixed sin-cos position tables are computed for the picture's grid exactly as the
  official code builds them at that size (rectangles: its ``get_2d_sincos_pos_embed_from_grid`` on
  the rectangle's meshgrid); a learned table is resized bicubically like the official
  ``interpolate_pos_embed`` and transformers' ``interpolate_pos_encoding`` (the decoder's table too,
  in 2-D; transformers resizes the decoder's in 1-D over the flattened sequence). The result equals
  the official model built at that size with the same weights.
* **SimMIM ViT** — its relative position bias table (learned per offset within the trained grid)
  is resized on BEiT's geometric offsets, the method of SimMIM's own fine-tuning code
  (``remap_pretrained_keys_vit``); see ``SimMIMViTEncoder.rel_pos_bias_for_grid``. No official code
  runs this at inference: it shows what the model does with offsets it never saw up close.
* **SimMIM Swin** — the official encoder built at the picture's size on the same weights: square
  pictures whose every stage its windows tile, with each stage keeping the window size its bias
  table was trained for; anything else is refused, saying which rule it breaks.

Before anything is allocated, :func:`native_plan` checks the size (whole patches, at least one)
and the family, and estimates the memory of the forward (activations, attention where it is
materialised, position and bias tables, the picture's panels) against what the device has free;
a size that would not fit is refused with a pointer to the ``tiles`` view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from maskviz.device import model_device
from maskviz.models.base import MaskedImageModel
from maskviz.reconstruct import Reconstruction, reconstruct
from maskviz.whole.memory import human_bytes, usable_bytes
from maskviz.whole.tiles import WHOLE_BYTES_PER_PIXEL
from maskviz.whole.view import Size, ViewError, ViewImage

FLOAT = 4  # bytes; estimates assume fp32 (reduced precision only lowers the need)
#: Live activations of one pre-norm block per token and channel: residual, norm, q/k/v and their
#: head-major copies, attention output and projection, and the MLP's two hidden tensors.
BLOCK_ACTIVATIONS = 12
#: CPU attention with an additive bias (SimMIM ViT) materialises about this many score matrices.
BIASED_SCORE_COPIES = 3
#: Kernel workspace independent of the sequence (packed weights): this many of the widest MLP weight.
#: (bench/bench_whole.py measures MAE ViT-B's peak at 224-896 px: ~22-45 MB fixed + 66 kB a token.)
WORKSPACE_WEIGHTS = 5


@dataclass(frozen=True)
class NativePlan:
    """A size the native view can run, and what it was estimated to need."""

    grid: tuple[int, int]
    tokens: int  # the longest sequence a layer sees
    bytes: int  # estimated peak for one mask (model activations + the picture's panels)


def native_plan(model: MaskedImageModel, size: Size, device: Any = None) -> NativePlan:
    """Check a picture size for the native view from the numbers alone; :class:`ViewError` says why not."""
    w, h = size
    p = model.patch_size
    if w < p or h < p:
        side = "high" if h < p else "wide"
        raise ViewError(f"the picture is {w}×{h} px: {min(w, h)} px {side} is less than one {p} px patch")
    if w % p or h % p:
        raise ViewError(f"the native view needs whole {p} px patches; {w}×{h} px is not (its own size is "
                        f"cut to {w - w % p}×{h - h % p} px, or give a working size that is a multiple of {p})")
    grid = (h // p, w // p)
    why = model.native_refusal(grid)
    if why:
        raise ViewError(f"{why}; the tiles view runs any size")
    device = model_device(model) if device is None else device
    tokens, need = estimate_bytes(model, grid)
    usable = usable_bytes(device)
    if usable is not None and need > usable:
        raise ViewError(f"the native view of a {w}×{h} px picture ({tokens:,} tokens) needs about {human_bytes(need)}, "
                        f"more than the {human_bytes(usable)} free; use the tiles view, or a smaller working size")
    return NativePlan(grid, tokens, need)


def estimate_bytes(model: MaskedImageModel, grid: tuple[int, int]) -> tuple[int, int]:
    """(longest sequence, estimated peak bytes) of one native forward and its panels at ``grid``.

    Read from the architecture's shape, not its name: windowed stages (``stage_window``: Swin),
    an encoder-decoder of global attention (``decoder_embed_dim``: MAE, fused attention keeps no
    score matrix; the worst mask, every patch visible, is assumed), or one global encoder whose
    attention carries a relative position bias (SimMIM ViT: CPU kernels materialise a few score
    matrices, beside the bias and its index table).
    """
    c = model.config
    gh, gw = grid
    n = gh * gw
    pixels = n * c.patch_size**2
    panels = pixels * (WHOLE_BYTES_PER_PIXEL + 4 * c.in_chans * FLOAT)  # + input, prediction, target copies
    per_token_channel = BLOCK_ACTIVATIONS + 2 * c.mlp_ratio
    if hasattr(c, "stage_window"):
        tokens = n
        stages = [(n // 4**s, c.embed_dim * 2**s, c.num_heads[s], c.stage_window(s)[0]) for s in range(c.num_stages)]
        model_bytes = max(t * d * per_token_channel + 2 * t * heads * window**2 for t, d, heads, window in stages)
        width = stages[-1][1]
    elif hasattr(c, "decoder_embed_dim"):
        tokens = n + 1
        width = max(c.embed_dim, c.decoder_embed_dim)
        model_bytes = tokens * width * per_token_channel + tokens * (c.embed_dim + c.decoder_embed_dim)  # + tables
    else:
        tokens = n + 1
        width = c.embed_dim
        scores = c.num_heads * tokens**2
        model_bytes = tokens * width * per_token_channel + scores * (1 + BIASED_SCORE_COPIES) + tokens**2 * 2
    workspace = WORKSPACE_WEIGHTS * width * width * c.mlp_ratio  # packed weights: independent of the size
    return tokens, int((model_bytes + workspace) * FLOAT + panels)


def native_reconstruct(model: MaskedImageModel, vimg: ViewImage, masks: Sequence[np.ndarray],
                       unnormalize: str = "true-patch", precision: str = "fp32") -> list[Reconstruction]:
    """One :class:`Reconstruction` per mask on the picture's grid, the picture run as one sequence.

    Masks run one at a time (the estimate is for one), each through :func:`maskviz.reconstruct.reconstruct`.
    """
    plan = native_plan(model, vimg.size)
    return [reconstruct(model, vimg.image, [mask], unnormalize, precision, grid=plan.grid)[0] for mask in masks]
