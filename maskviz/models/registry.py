"""Registry of named model configs (like timm's): kept for its import path; the table lives in
:mod:`maskviz.models.configs`, which imports no torch."""

from maskviz.models.configs import BUNDLE_CANDIDATES, CONFIG_CLASSES, MODEL_CONFIGS, create_model, get_config

__all__ = ["BUNDLE_CANDIDATES", "CONFIG_CLASSES", "MODEL_CONFIGS", "create_model", "get_config"]
