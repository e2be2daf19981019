"""Model families. One file per family; :mod:`maskviz.models.registry` names the configs."""

from maskviz.models.base import MaskedImageModel, ModelConfig, patchify, unpatchify
from maskviz.models.registry import MODEL_CONFIGS, create_model, get_config

__all__ = ["MaskedImageModel", "ModelConfig", "MODEL_CONFIGS", "create_model", "get_config", "patchify", "unpatchify"]
