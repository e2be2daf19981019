"""What ships with maskviz: sample photos and small default models (``resources/``), found by name.

Everything here works offline and imports nothing heavy. ``sample:NAME`` is accepted wherever an
image path is, ``bundled:NAME`` wherever a model is (:mod:`maskviz.sources` resolves every source;
:func:`maskviz.checkpoints.load_default_model` opens the default model).
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from maskviz.errors import ImageError

SAMPLE_PREFIX = "sample:"
MODEL_PREFIX = "bundled:"
DEFAULT_MODEL = "mae_small"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
BUILTIN_ARCH = "mae_vit_small_patch8_64"
# Samples no bundled model is trained on: the quality benchmark measures on these.
HELD_OUT_SAMPLES = ("astronaut", "brick", "clock", "coffee", "retina", "rocket")
BUILTIN_NOTE = (
    "built-in demo model with random weights (no bundled model is installed): the reconstructions "
    "are noise; open a checkpoint to see what a trained model does"
)


def resources_dir() -> Path:
    return Path(str(importlib.resources.files("maskviz.resources")))


def sample_paths() -> dict[str, Path]:
    """Bundled sample photos by name (file stem), sorted."""
    folder = resources_dir() / "samples"
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    return {p.stem: p for p in files}


def sample_path(name: str) -> Path:
    samples = sample_paths()
    if name not in samples:
        raise ImageError(f"no bundled sample named {name!r}; samples: {', '.join(samples) or 'none installed'}")
    return samples[name]


def resolve_sample(source: str) -> Path | None:
    """``sample:coffee`` → the bundled file; None for anything else."""
    return sample_path(source[len(SAMPLE_PREFIX):]) if source.startswith(SAMPLE_PREFIX) else None


def default_sample() -> str:
    samples = sample_paths()
    return "sample:" + ("coffee" if "coffee" in samples else next(iter(samples), ""))


def bundled_model_paths() -> dict[str, Path]:
    """Bundled models by name (``mae_small`` for ``maskviz_mae_small.safetensors``), the default first."""
    folder = resources_dir() / "models"
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    named = {p.stem.removeprefix("maskviz_"): p for p in files}
    return dict(sorted(named.items(), key=lambda item: (item[0] != DEFAULT_MODEL, item[0])))
