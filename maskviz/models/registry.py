"""Registry of named model configs (like timm's): one place that knows every family."""

from __future__ import annotations

from maskviz.models.base import MaskedImageModel, ModelConfig
from maskviz.models.mae import MAE_CONFIGS, MAEConfig
from maskviz.models.simmim import SIMMIM_CONFIGS, SimMIMSwinConfig, SimMIMViTConfig

CONFIG_CLASSES: dict[str, type[ModelConfig]] = {
    cls.kind: cls for cls in (MAEConfig, SimMIMViTConfig, SimMIMSwinConfig)
}
MODEL_CONFIGS: dict[str, ModelConfig] = {**MAE_CONFIGS, **SIMMIM_CONFIGS}
#: The two geometries with a 14×14 grid that the next bundled models are chosen from
#: (resources/models/train_bundled.py --short tries both).
BUNDLE_CANDIDATES: tuple[str, ...] = (
    "mae_vit_bundle_patch8_112", "simmim_vit_bundle_patch8_112",
    "mae_vit_bundle_patch16_224", "simmim_vit_bundle_patch16_224",
)


def get_config(name: str) -> ModelConfig:
    try:
        return MODEL_CONFIGS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(MODEL_CONFIGS))}") from None


def create_model(name_or_config: str | ModelConfig) -> MaskedImageModel:
    """A freshly initialised model from a registry name or a config."""
    config = get_config(name_or_config) if isinstance(name_or_config, str) else name_or_config
    return config.build()
