"""Whole photos: the ``model``, ``tiles`` and ``native`` views of an image (issue 23).

The CLI, the GUI and ``explain`` use the same two calls::

    vimg = prepare_view(model, image, View("tiles", 1024))   # refusals happen here, before any work
    masks = [make_mask(spec, vimg.grid, vimg.patch_size, seed=0)]
    results = reconstruct_view(model, vimg, masks)            # one ViewResult per mask

Masks live on the view's grid (the model's for ``model``, the whole picture's otherwise); every
mask pattern, the mask-spec grammar and mask PNGs of the working image's size work there.
For streaming and incremental updates (the GUI) use :class:`~maskviz.whole.tiles.TileRunner`
directly: it yields tiles as they finish and recomputes only the tiles a stroke touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from maskviz.images import to_rgb
from maskviz.models.base import MaskedImageModel
from maskviz.reconstruct import Reconstruction, reconstruct
from maskviz.whole.tiles import TileResult, TileRunner, check_tiles, tile_metrics
from maskviz.whole.view import (
    VIEW_NAMES,
    View,
    ViewError,
    ViewImage,
    make_working_image,
    model_view_image,
    view_label,
    working_size,
)

__all__ = ["VIEW_NAMES", "View", "ViewError", "ViewImage", "ViewResult", "prepare_view", "reconstruct_view",
           "tile_inputs", "view_label"]


@dataclass
class ViewResult:
    """One mask's reconstruction in a view: the whole picture, and the tiles it was made of (tiles view)."""

    view: str  # "model 224 px", "tiles 1024×768 px", "native 448 px"
    whole: Reconstruction
    tiles: list[TileResult] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        out = {**self.whole.metrics(), "view": self.view}
        if self.tiles:
            out["tiles"] = tile_metrics(self.tiles)
        return out


def as_view(view: View | str | None, size: int | None = None) -> View:
    if isinstance(view, View):
        return view if size is None else View(view.name, size)
    return View(view or "model", size)


def prepare_view(model: MaskedImageModel, image: Image.Image, view: View | str | None = "model",
                 size: int | None = None, device: Any = None) -> ViewImage:
    """The picture ``view`` works on, or a :class:`ViewError` saying why this image cannot be shown so.

    Every check runs on the sizes alone, before the picture is resampled or a tensor is made.
    """
    view = as_view(view, size)
    image = to_rgb(image)
    c = model.config
    if view.name == "model":
        return model_view_image(image, c.img_size, c.patch_size)
    target = working_size(image.size, c.patch_size, view.size)
    if view.name == "tiles":
        check_tiles(model, target)
    else:
        from maskviz.whole.native import native_plan

        native_plan(model, target, device=device)
    picture, note = make_working_image(image, target, resized=view.size is not None)
    return ViewImage(view, picture, c.patch_size, image.size, note)


def reconstruct_view(model: MaskedImageModel, vimg: ViewImage, masks: Sequence[np.ndarray],
                     unnormalize: str = "true-patch", precision: str = "fp32",
                     runner: TileRunner | None = None) -> list[ViewResult]:
    """One :class:`ViewResult` per mask on ``vimg.grid``."""
    name = vimg.view.name
    if name == "model":
        return [ViewResult(vimg.label, r) for r in reconstruct(model, vimg.image, masks, unnormalize, precision)]
    if name == "native":
        from maskviz.whole.native import native_reconstruct

        results = native_reconstruct(model, vimg, masks, unnormalize, precision)
        return [ViewResult(vimg.label, r) for r in results]
    runner = runner or TileRunner(model, unnormalize=unnormalize, precision=precision)
    out = []
    for mask in masks:
        tiled = runner.run(vimg, mask)
        assert tiled is not None  # nothing cancels this run
        out.append(ViewResult(vimg.label, tiled.whole, tiled.tiles))
    return out


def tile_inputs(model: MaskedImageModel, vimg: ViewImage) -> list[tuple[Any, Image.Image]]:
    """Each tile and its crop (the exact model input), for code that runs its own forward (``explain``)."""
    layout = TileRunner(model).layout(vimg)
    return [(t, vimg.image.crop(t.box(vimg.patch_size))) for t in layout.tiles]
