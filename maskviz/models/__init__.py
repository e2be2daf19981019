"""Model families. One file per family; :mod:`maskviz.models.configs` names the configs.

The names below are imported on first use (:mod:`maskviz.lazy`), so reading the config table
(``maskviz models``) does not import torch.
"""

from maskviz.lazy import lazy_exports

_WHERE = {
    **dict.fromkeys(["MaskedImageModel", "patchify", "unpatchify"], "maskviz.models.base"),
    **dict.fromkeys(["MODEL_CONFIGS", "ModelConfig", "get_config"], "maskviz.models.configs"),
    **dict.fromkeys(["create_model", "register_family"], "maskviz.models.registry"),
}
__all__ = ["MaskedImageModel", "ModelConfig", "MODEL_CONFIGS", "create_model", "get_config", "patchify",
           "register_family", "unpatchify"]
__getattr__ = lazy_exports(__name__, _WHERE)
