"""Occlusion: how much the target's prediction changes when one more visible patch is hidden.

For each visible patch v the model runs again with v hidden as well (MAE drops its token, SimMIM
shows the mask token there: each family's own way of hiding), and the value is the root-mean-square
change of the target patch's raw output (the model's target space: normalised pixels, per-patch
normalised for norm-pix MAE). Exact counterfactual influence, one forward per visible patch, run in
batches sized by :func:`~maskviz.explain.common.plan_batch`. Hidden patches have no value (NaN).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from maskviz.explain.common import ExplainMap, Step, Steps, check_target, chunks, plan_batch, prepare, run, steps_for
from maskviz.models.base import MaskedImageModel
from maskviz.reconstruct import predict


def iter_occlusion(model: MaskedImageModel, image: Image.Image | np.ndarray, mask: np.ndarray,
                   target: Sequence[int], batch: int | None = None, precision: str = "fp32",
                   grid: tuple[int, int] | None = None) -> Steps[ExplainMap]:
    """The occlusion map for one hidden target; yields after the reference forward and after each batch.
    ``grid``: the native view's (the image as it is, one sequence)."""
    inp = prepare(model, image, mask, grid)
    row, col = check_target(inp.mask, target, inp.grid_name)
    index = row * inp.grid[1] + col
    flat = inp.mask_t[0]
    visible = torch.nonzero(~flat).flatten()
    size = batch or plan_batch(model, len(visible) - 1, grid=inp.native)
    total = 1 + steps_for(len(visible), size)

    reference = predict(model, inp.x, flat[None], precision, inp.native)[0, index]
    yield Step(1, total, "occlusion")
    values = np.full(inp.mask.size, np.nan)
    for done, part in enumerate(chunks(visible, size), start=2):
        masks = flat.expand(len(part), -1).clone()
        masks[torch.arange(len(part)), part] = True
        pred = predict(model, inp.x, masks, precision, inp.native)[:, index]
        values[part.cpu().numpy()] = ((pred - reference) ** 2).mean(dim=-1).sqrt().double().cpu().numpy()
        yield Step(done, total, "occlusion")
    return ExplainMap("occlusion", (row, col), values.reshape(inp.grid), inp.mask,
                      unit="RMS change of the target's prediction", params={"batch": size})


def occlusion_map(model: MaskedImageModel, image: Image.Image | np.ndarray, mask: np.ndarray,
                  target: Sequence[int], batch: int | None = None, precision: str = "fp32",
                  grid: tuple[int, int] | None = None) -> ExplainMap:
    return run(iter_occlusion(model, image, mask, target, batch, precision, grid))
