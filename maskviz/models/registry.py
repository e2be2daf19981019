"""The builder table: which model class each config class builds, and the one way to make a model.

The configs (:mod:`maskviz.models.configs`) import no model class and no torch; this module knows
both sides. A new family registers here once (:func:`register_family`): its config class (so files
that name its ``kind`` load), its model class, and its named configs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from maskviz.models.base import MaskedImageModel
from maskviz.models.configs import (
    BUNDLE_CANDIDATES,
    CONFIG_CLASSES,
    MODEL_CONFIGS,
    MAEConfig,
    ModelConfig,
    SimMIMSwinConfig,
    SimMIMViTConfig,
    get_config,
)
from maskviz.models.mae import MAEViT
from maskviz.models.simmim import SimMIMSwin, SimMIMViT

__all__ = ["BUILDERS", "BUNDLE_CANDIDATES", "CONFIG_CLASSES", "MODEL_CONFIGS", "create_model", "get_config",
           "register_family"]

Builder = Callable[[ModelConfig], MaskedImageModel]

#: Config class → what builds a freshly initialised model from it.
BUILDERS: dict[type[ModelConfig], Builder] = {
    MAEConfig: MAEViT,
    SimMIMViTConfig: SimMIMViT,
    SimMIMSwinConfig: SimMIMSwin,
}


def register_family(config_class: type[ModelConfig], builder: Builder, configs: Iterable[ModelConfig] = ()) -> None:
    """Make a model family known everywhere: loading (its ``kind``), building and the named configs."""
    if not config_class.kind or not config_class.family:
        raise ValueError(f"{config_class.__name__} must set the class attributes kind and family")
    CONFIG_CLASSES[config_class.kind] = config_class
    BUILDERS[config_class] = builder
    for config in configs:
        MODEL_CONFIGS[config.name] = config


def create_model(name_or_config: str | ModelConfig) -> MaskedImageModel:
    """A freshly initialised model from a registry name or a config (under ``torch.device("meta")``:
    a skeleton without memory, for shapes)."""
    config = get_config(name_or_config) if isinstance(name_or_config, str) else name_or_config
    builder = BUILDERS.get(type(config))
    if builder is None:
        raise ValueError(f"no model family builds {type(config).__name__} configs (see register_family)")
    return builder(config)
