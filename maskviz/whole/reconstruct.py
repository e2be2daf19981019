"""One mechanism for every view: prepare the picture (refusing what cannot run), reconstruct it.

``model`` goes through :func:`maskviz.reconstruct.reconstruct` as always, ``tiles`` through
:class:`~maskviz.whole.tiles.TileRunner`, ``native`` through :func:`~maskviz.whole.native.native_reconstruct`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from maskviz.images import to_rgb
from maskviz.masks import complementary_masks, to_pixel_mask
from maskviz.models.base import MaskedImageModel
from maskviz.reconstruct import Reconstruction, compose_result, full_reconstruction, reconstruct
from maskviz.whole.tiles import TileResult, TileRunner, check_tiles, tile_metrics
from maskviz.whole.view import Size, View, ViewImage, make_working_image, model_view_image, working_size


@dataclass
class ViewResult:
    """One mask's reconstruction in a view: the whole picture, and the tiles it was made of (tiles view)."""

    view: str  # "model", "tiles 1024x768 px", "native 448 px"
    whole: Reconstruction
    tiles: list[TileResult] = field(default_factory=list)

    @property
    def problem(self) -> str | None:
        return self.whole.problem

    def metrics(self) -> dict[str, Any]:
        """The whole picture's metrics, the view, and (tiles) each tile's own."""
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

    Every check runs on the sizes alone (:func:`check_view`), before the picture is resampled or a
    tensor is made.
    """
    view = as_view(view, size)
    image = to_rgb(image)
    c = model.config
    if view.name == "model":
        return model_view_image(image, c.img_size, c.patch_size)
    target = check_view(model, image.size, view, device)
    picture, note = make_working_image(image, target, resized=view.size is not None)
    return ViewImage(view, picture, c.patch_size, image.size, note)


def check_view(model: MaskedImageModel, source: Size, view: View, device: Any = None) -> Size:
    """The working size of a ``tiles`` or ``native`` view of a ``source``-sized image, from the numbers
    alone, or the :class:`ViewError` :func:`prepare_view` would raise: cheap enough for the UI thread."""
    target = working_size(source, model.patch_size, view.size)
    if view.name == "tiles":
        check_tiles(model, target)
    else:
        from maskviz.whole.native import native_plan

        native_plan(model, target, device=device)
    return target


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


def full_view_reconstruction(model: MaskedImageModel, vimg: ViewImage, k: int = 4, seed: int | None = 0,
                             unnormalize: str = "true-patch", precision: str = "fp32",
                             runner: TileRunner | None = None) -> ViewResult:
    """Every patch predicted while hidden, in any view: ``k`` complementary random masks on the view's
    grid, each patch taken from the pass that hid it (as :func:`maskviz.reconstruct.full_reconstruction`)."""
    if vimg.view.name == "model":
        return ViewResult(vimg.label, full_reconstruction(model, vimg.image, k, seed, unnormalize, precision))
    parts = complementary_masks(vimg.grid, k, seed=seed)
    passes = reconstruct_view(model, vimg, parts, unnormalize, precision, runner)
    prediction = np.zeros_like(passes[0].whole.prediction)
    patch_loss = np.zeros(vimg.grid, dtype=np.float32)
    for part, done in zip(parts, passes, strict=True):
        prediction[to_pixel_mask(part, vimg.patch_size)] = done.whole.prediction[to_pixel_mask(part, vimg.patch_size)]
        patch_loss[part] = done.whole.patch_loss[part]
    c, hidden = model.config, np.ones(vimg.grid, dtype=bool)
    whole = compose_result(
        vimg.original(), prediction, hidden, vimg.patch_size, masked_colour=c.mean, patch_loss=patch_loss,
        loss=model.loss_over_hidden(patch_loss, hidden), family=c.family, norm_pix=c.norm_pix_loss,
        unnormalize=passes[0].whole.unnormalize, loss_name=c.loss_name,
        problem=next((r.whole.problem for r in passes if r.whole.problem), None),
    )
    return ViewResult(vimg.label, whole)
