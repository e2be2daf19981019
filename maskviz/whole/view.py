"""Views of an image: what picture a model works on and on which patch grid.

* ``model`` — today's behaviour: the image fitted to the model's input (centre crop, resized).
* ``tiles`` — the image at its own size (or a working size), one patch grid across the whole
  picture, reconstructed in model-sized tiles (:mod:`maskviz.whole.tiles`).
* ``native`` — the same picture as one long token sequence (:mod:`maskviz.whole.native`).

The *working image* of ``tiles`` and ``native`` has whole patches on both sides:

* at its own size (``size=None``) the last ``< patch`` pixels on the right and at the bottom are
  left out, so every pixel keeps its coordinates (a mask painted on the photo lines up);
* at a working size the long side becomes ``size`` (a multiple of the patch) and the short side
  the nearest multiple of the patch (the aspect ratio changes by less than half a patch).

Sizes are decided from the numbers alone (:func:`working_size`), so a size that must be refused
is refused before any pixel is resampled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from maskviz.errors import MaskvizError

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

#: The views, also ``--view``'s choices: this module imports neither torch nor numpy nor Pillow at
#: import time, so the CLI's ``--help`` stays quick.
VIEW_NAMES = ("model", "tiles", "native")
Size = tuple[int, int]  # (width, height) in pixels, as Pillow counts


class ViewError(MaskvizError):
    """A view that cannot show this image (too small, too large, a size the model cannot take)."""


@dataclass(frozen=True)
class View:
    """A view's name and working size (the long side in pixels; None = the image's own size)."""

    name: str = "model"
    size: int | None = None

    def __post_init__(self) -> None:
        if self.name not in VIEW_NAMES:
            raise ViewError(f"unknown view {self.name!r}; choose one of {', '.join(VIEW_NAMES)}")
        if self.size is not None:
            if self.name == "model":
                raise ViewError("a working size applies to the tiles and native views; the model view "
                                "always fits the image to the model's input")
            if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
                raise ViewError(f"the working size must be a whole number of pixels, got {self.size!r}")


def view_label(name: str, size: Size) -> str:
    """What figures and JSON call a view: ``tiles 1024x768 px``, ``native 448 px`` (an ASCII x: any font has it)."""
    w, h = size
    return f"{name} {w} px" if w == h else f"{name} {w}x{h} px"


@dataclass(frozen=True)
class ViewImage:
    """The picture a view works on: RGB, whole patches on both sides, and the grid over it."""

    view: View
    image: Image.Image
    patch_size: int
    source_size: Size  # the image as loaded
    note: str = ""  # how the working image was made from the source, when it is not the source

    @property
    def size(self) -> Size:
        return self.image.size

    @property
    def grid(self) -> tuple[int, int]:
        w, h = self.image.size
        return h // self.patch_size, w // self.patch_size

    @property
    def label(self) -> str:
        """``tiles 1024x768 px``; the model view is just ``model`` (its size is the model's, and the
        figures of the GUI and the CLI call it so)."""
        return "model" if self.view.name == "model" else view_label(self.view.name, self.size)

    def original(self) -> np.ndarray:
        """The working image as display floats ``H×W×3`` in ``[0, 1]``."""
        import numpy as np

        return np.asarray(self.image, dtype=np.float32) / 255.0


def working_size(source: Size, patch: int, size: int | None = None) -> Size:
    """The working image's ``(width, height)``: whole patches, from the numbers alone (see module doc)."""
    w, h = source
    if size is not None:
        if size % patch:
            lo, hi = size - size % patch, size - size % patch + patch
            nearest = f"{lo} or {hi} px are" if lo else f"{hi} px is"
            raise ViewError(f"a working size of {size} px is not a multiple of the {patch} px patch; {nearest}")
        scale = size / max(w, h)
        short = round(min(w, h) * scale / patch) * patch
        if short < patch:
            raise ViewError(f"at {size} px on the long side a {w}×{h} px image is "
                            f"{min(w, h) * scale:.2g} px {'high' if w >= h else 'wide'}: "
                            f"less than one {patch} px patch")
        return (size, short) if w >= h else (short, size)
    if w < patch or h < patch:
        side = "high" if h < patch else "wide"
        raise ViewError(f"the image is {w}×{h} px: {min(w, h)} px {side} is less than one {patch} px patch")
    return w - w % patch, h - h % patch


def make_working_image(image: Image.Image, target: Size, resized: bool) -> tuple[Image.Image, str]:
    """The source cut (own size) or resized (a working size) to ``target`` from :func:`working_size`,
    and a note saying which, when anything changed."""
    w, h = image.size
    tw, th = target
    if (tw, th) == (w, h):
        return image, ""
    if not resized:
        return image.crop((0, 0, tw, th)), f"{w}×{h} px cut to {tw}×{th} px (whole patches)"
    from PIL import Image

    return image.resize((tw, th), Image.Resampling.BICUBIC), f"{w}×{h} px resized to {tw}×{th} px"


def model_view_image(image: Image.Image, img_size: int, patch: int) -> ViewImage:
    """The ``model`` view: the image fitted to the model's square input, as :func:`reconstruct` does."""
    from maskviz.images import fit_to_model

    return ViewImage(View("model"), fit_to_model(image, img_size), patch, image.size)
