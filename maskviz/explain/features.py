"""Features: what the encoder makes of the image under the current mask.

The encoder's output tokens for the patches (class token left out) are projected on their first three
principal components, shown as RGB (the picture self-supervised papers show), and any token can be
compared with all others by cosine similarity. Which tokens there are depends on the family:

* MAE: one token per *visible* patch (hidden patches have none: NaN);
* SimMIM ViT: one token per patch, hidden ones included (they entered as the mask token);
* SimMIM Swin: the last stage's tokens, which the decoder reads; each covers a square of patches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from maskviz.explain.common import ExplainError, ExplainMap, Step, Steps, prepare, run
from maskviz.models.base import MaskedImageModel
from maskviz.models.mae import MAEViT
from maskviz.models.simmim import SimMIMSwin, SimMIMViT

Grid = tuple[int, int] | None  # a whole picture's patch grid (the native view), None: the model's own


@dataclass(frozen=True)
class TokenGrid:
    """Encoder tokens ``[n, D]`` and which token each patch of the grid belongs to (-1: none)."""

    tokens: Tensor
    cells: np.ndarray  # (gh, gw) int


def _mae_tokens(model: MAEViT, x: Tensor, mask: Tensor, grid: Grid) -> TokenGrid:
    ids = model.keep_indices(mask)
    own = grid is None or tuple(grid) == model.grid_size
    grid = model.grid_size if grid is None else grid
    tokens = model.forward_encoder(x, ids, None if own else model.pos_embed_for_grid(grid)[0])[0, 1:]
    cells = np.full(grid[0] * grid[1], -1)
    cells[ids[0].cpu().numpy()] = np.arange(ids.shape[1])
    return TokenGrid(tokens, cells.reshape(grid))


def _simmim_vit_tokens(model: SimMIMViT, x: Tensor, mask: Tensor, grid: Grid) -> TokenGrid:
    tokens = model.encoder.forward_features(x, mask, grid)[0, 1:]
    return TokenGrid(tokens, np.arange(len(tokens)).reshape(grid or model.grid_size))


def _swin_tokens(model: SimMIMSwin, x: Tensor, mask: Tensor, grid: Grid) -> TokenGrid:
    own = grid is None or tuple(grid) == model.grid_size
    fmap = (model.encoder(x, mask) if own else model.encode_grid(x, mask, grid))[0]  # [C, h, w]
    h, w = fmap.shape[-2:]
    gh, gw = grid or model.grid_size
    cells = np.arange(h * w).reshape(h, w).repeat(gh // h, axis=0).repeat(gw // w, axis=1)
    return TokenGrid(fmap.flatten(1).T, cells)


#: Family → how to read its encoder's patch tokens (the first class that matches).
TOKEN_READERS = ((MAEViT, _mae_tokens), (SimMIMViT, _simmim_vit_tokens), (SimMIMSwin, _swin_tokens))


@torch.inference_mode()
def encoder_tokens(model: MaskedImageModel, x: Tensor, mask: Tensor, grid: Grid = None) -> TokenGrid:
    """The encoder's patch tokens; ``grid``: a whole picture's (the native view)."""
    for cls, reader in TOKEN_READERS:
        if isinstance(model, cls):
            return reader(model, x, mask, grid)
    raise ExplainError(f"features are not defined for {type(model).__name__} models")


def principal_components(tokens: Tensor, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``[n, k]`` of the centred tokens on their first ``k`` principal axes, and the share of
    variance each explains. Signs are fixed (each axis' largest loading positive), so the colours of
    one image do not flip between runs; missing axes (fewer tokens or dims than ``k``) score zero."""
    t = tokens.detach().to(dtype=torch.float64)
    centred = t - t.mean(dim=0, keepdim=True)
    _, s, vt = torch.linalg.svd(centred, full_matrices=False)
    m = min(k, vt.shape[0])
    axes = vt[:m]
    axes = axes * torch.sign(axes.gather(1, axes.abs().argmax(dim=1, keepdim=True)))
    scores = np.zeros((len(t), k))
    scores[:, :m] = (centred @ axes.T).cpu().numpy()
    var = (s**2).cpu().numpy()
    explained = np.zeros(k)
    explained[:m] = var[:m] / var.sum() if var.sum() > 0 else 0.0
    return scores, explained


def to_unit_range(scores: np.ndarray) -> np.ndarray:
    """Each column stretched to [0, 1] over the tokens (a constant column becomes 0.5)."""
    lo, hi = scores.min(axis=0), scores.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.where(hi > lo, (scores - lo) / span, 0.5)


@dataclass
class FeatureLens:
    """The encoder tokens of one image and mask, their PCA colours, and similarity on demand."""

    mask: np.ndarray  # (gh, gw) bool
    cells: np.ndarray  # (gh, gw) token index per patch, -1 where no token
    tokens: np.ndarray  # [n, D] float64
    scores: np.ndarray  # [n, 3] principal-component scores
    explained: np.ndarray  # (3,) share of variance per component
    whose: str = "model's"  # whose grid patches are on, for messages ("picture's" in the tiles and native views)

    @property
    def rgb(self) -> np.ndarray:
        """(gh, gw, 3) in [0, 1]: components 1-3 as red, green, blue; NaN where a patch has no token."""
        return _paint(to_unit_range(self.scores), self.cells)

    def similarity(self, patch: Sequence[int]) -> ExplainMap:
        """Cosine similarity of every token to the token of ``patch`` (row, col)."""
        gh, gw = self.cells.shape
        row, col = (int(v) for v in patch)
        if not (0 <= row < gh and 0 <= col < gw):
            raise ExplainError(f"patch ({row}, {col}) is outside the {self.whose} {gh}×{gw} patch grid "
                               f"(rows 0–{gh - 1}, columns 0–{gw - 1})")
        token = self.cells[row, col]
        if token < 0:
            raise ExplainError(f"patch ({row}, {col}) is hidden and MAE's encoder has no token for it: "
                               "pick a visible patch")
        norms = np.linalg.norm(self.tokens, axis=1)
        sim = self.tokens @ self.tokens[token] / np.maximum(norms * norms[token], 1e-12)
        return ExplainMap("similarity", (row, col), _paint(sim[:, None], self.cells)[..., 0], self.mask,
                          unit="cosine similarity of the encoder tokens")


def _paint(per_token: np.ndarray, cells: np.ndarray) -> np.ndarray:
    out = np.full((*cells.shape, per_token.shape[1]), np.nan)
    has = cells >= 0
    out[has] = per_token[cells[has]]
    return out


def iter_features(model: MaskedImageModel, image: Image.Image | np.ndarray, mask: np.ndarray,
                  grid: Grid = None) -> Steps[FeatureLens]:
    """One encoder forward; any mask works, nothing hidden included. ``grid``: the native view's."""
    inp = prepare(model, image, mask, grid)
    tokens = encoder_tokens(model, inp.x, inp.mask_t, inp.native)
    yield Step(1, 1, "features")
    return lens_of(inp.mask, tokens.cells, tokens.tokens, inp.grid_name)


def lens_of(mask: np.ndarray, cells: np.ndarray, tokens: Tensor, whose: str = "model's") -> FeatureLens:
    """The lens of some encoder tokens (one image's, or every tile's of a whole picture together)."""
    if len(tokens) == 0:
        raise ExplainError("the mask hides every patch: MAE's encoder has no token to show")
    scores, explained = principal_components(tokens)
    return FeatureLens(mask, cells, tokens.double().cpu().numpy(), scores, explained, whose)


def feature_lens(model: MaskedImageModel, image: Image.Image | np.ndarray, mask: np.ndarray,
                 grid: Grid = None) -> FeatureLens:
    return run(iter_features(model, image, mask, grid))
