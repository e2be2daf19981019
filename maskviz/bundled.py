"""What ships with maskviz: sample photos and small default models (``resources/``).

Everything here works offline. ``sample:NAME`` is accepted wherever an image path is.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path
from typing import TYPE_CHECKING

from maskviz.errors import CheckpointError, ImageError

if TYPE_CHECKING:
    import torch

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


def model_path(source: str | os.PathLike) -> Path:
    """A model source as a path: ``bundled:simmim_small`` → the bundled file, a catalogue name
    (``mae-vit-large``, see ``maskviz models``) → its cached copy, anything else → ``~`` expanded."""
    source = str(source)
    if not source.startswith(MODEL_PREFIX):
        path = Path(source).expanduser()
        if os.path.lexists(path):  # never raises: an unreadable path is load_model's to explain
            return path
        from maskviz.zoo.store import resolve_name

        return resolve_name(source) or path
    name, models = source[len(MODEL_PREFIX):], bundled_model_paths()
    if name not in models:
        raise CheckpointError(f"no bundled model named {name!r}; bundled: {', '.join(models) or 'none installed'}")
    return models[name]


def load_default_model(device: str | torch.device = "cpu"):  # noqa: ANN201 - LoadedModel
    """The bundled MAE when installed, otherwise a clearly labelled untrained built-in model."""
    import torch  # here, not at the top: the app's start-up window finds its icon here before torch loads

    from maskviz.checkpoints import LoadedModel, load_model
    from maskviz.models import create_model

    models = bundled_model_paths()
    if models:
        return load_model(next(iter(models.values())), device=device)
    torch.manual_seed(0)
    model = create_model(BUILTIN_ARCH).to(device).eval()
    return LoadedModel(model, source=f"builtin:{BUILTIN_ARCH}", format="builtin", notes=[BUILTIN_NOTE])
