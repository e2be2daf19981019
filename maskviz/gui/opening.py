"""Opening an image for the viewer off the UI thread (Qt-free: it runs on the worker).

:func:`read_image` decodes the image and, with a model in use, makes what the viewer state would
otherwise make on the UI thread: the image fitted to the model's input and its picture in the view
(a 12 MP JPEG takes ~110 ms to decode and ~90 ms more to resample for a 1024 px tiles view).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any


@dataclass
class OpenedImage:
    """An image read for the viewer, with what the state would otherwise make on the UI thread: the
    image fitted to ``model``'s input and its picture in ``view`` (None in the model view, or when the
    view cannot take it: the state then falls back and says why)."""

    image: Any
    source: str
    model: Any  # the LoadedModel the fitted image and picture were made for (None: none yet)
    view: Any  # the View they were made for
    fitted: Any = None
    picture: Any = None


def read_image(source: str | os.PathLike, loaded: Any, view: Any) -> OpenedImage:
    """Read and decode an image, and (with a model) fit it and make its picture in ``view``: what
    :meth:`Controller.read_image` runs on the worker. Unreadable images raise :class:`MaskvizError`."""
    from maskviz.images import fit_to_model, load_image
    from maskviz.whole.view import ViewError

    image = load_image(source)
    opened = OpenedImage(image, str(source), loaded, view)
    if loaded is not None:
        model = loaded.model
        opened.fitted = fit_to_model(image, model.config.img_size)
        if view.name != "model":
            from maskviz.whole import prepare_view

            with contextlib.suppress(ViewError):
                opened.picture = prepare_view(model, image, view)
    return opened
