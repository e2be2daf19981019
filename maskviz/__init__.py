"""maskviz: explore masked image modeling (MAE, SimMIM).

The core (everything outside ``maskviz.gui``) imports no Qt and is usable from scripts:

    >>> from maskviz import load_model, load_image, reconstruct, parse_mask_spec

These names are imported on first use (:mod:`maskviz.lazy`), so ``import maskviz`` and the CLI's
quick answers (``--version``, ``--help``) do not import torch.
"""

import sys
import types
from typing import TYPE_CHECKING

from maskviz.errors import MaskvizError
from maskviz.lazy import lazy_exports

__version__ = "0.1.0"

_WHERE = {
    "load_model": "maskviz.checkpoints",
    "load_image": "maskviz.images",
    "reconstruct": "maskviz.reconstruct",
    "parse_mask_spec": "maskviz.masks",
}
__all__ = ["MaskvizError", "__version__", "load_image", "load_model", "parse_mask_spec", "reconstruct"]
__getattr__ = lazy_exports(__name__, _WHERE)


class _Package(types.ModuleType):
    """Keeps ``maskviz.reconstruct`` the function: importing the submodule of the same name would
    otherwise bind the module to that attribute (``from maskviz.reconstruct import ...`` still works)."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _WHERE and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:
    from maskviz.checkpoints import load_model
    from maskviz.images import load_image
    from maskviz.masks import parse_mask_spec
    from maskviz.reconstruct import reconstruct
