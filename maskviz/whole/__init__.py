"""Whole photos: the ``model``, ``tiles`` and ``native`` views of an image (issue 23).

The CLI, the GUI and ``explain`` use the same two calls::

    vimg = prepare_view(model, image, View("tiles", 1024))   # refusals happen here, before any work
    masks = [make_mask(spec, vimg.grid, vimg.patch_size, seed=0)]
    results = reconstruct_view(model, vimg, masks)            # one ViewResult per mask

Masks live on the view's grid (the model's for ``model``, the whole picture's otherwise); every
mask pattern, the mask-spec grammar and mask PNGs of the working image's size work there.
For streaming and incremental updates (the GUI) use :class:`~maskviz.whole.tiles.TileRunner`
directly: it yields tiles as they finish and recomputes only the tiles a stroke touched; the
generator jobs in ``stream`` (what the GUI's worker steps) add the picture so far to each step.

Modules: ``view`` (views, the working image), ``tiles``, ``native``, ``memory`` (estimates against
free memory), ``reconstruct`` (the two calls above), ``stream`` (jobs that stream). Names are
imported on first use, so the CLI reads ``VIEW_NAMES`` (from the light ``view`` module) without torch.
"""

from maskviz.lazy import lazy_exports

_WHERE = {
    **dict.fromkeys(["VIEW_NAMES", "View", "ViewError", "ViewImage", "view_label"], "maskviz.whole.view"),
    **dict.fromkeys(["ViewResult", "check_view", "full_view_reconstruction", "prepare_view", "reconstruct_view",
                    "tile_inputs"],
                    "maskviz.whole.reconstruct"),
    **dict.fromkeys(["TileRunner", "TileStep", "TileResult", "TileLayout"], "maskviz.whole.tiles"),
    **dict.fromkeys(["WholeStep", "native_job", "tiles_job"], "maskviz.whole.stream"),
}
__all__ = list(_WHERE)
__getattr__ = lazy_exports(__name__, _WHERE)
