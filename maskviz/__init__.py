"""maskviz: explore masked image modeling (MAE, SimMIM).

The core (everything outside ``maskviz.gui``) imports no Qt and is usable from scripts:

    >>> from maskviz import load_model, load_image, reconstruct, parse_mask_spec
"""

__version__ = "0.1.0"

from maskviz.errors import MaskvizError  # noqa: E402

__all__ = ["MaskvizError", "__version__"]
