"""One name for a model wherever it is shown: a short name and where it came from, torch-free.

Every column, window title, model line and figure names a model through :func:`display_name`, from
the source it was opened with (what :func:`maskviz.sources.model_path` takes) or the path it
resolved to, so the same model reads the same everywhere::

    bundled:simmim_small                          → simmim_small (bundled)
    mae-vit-base, or its copy in the cache        → mae-vit-base (catalogue)
    …/hub/models--facebook--vit-mae-base/snapshots/<40 hex>
                                                  → hf-vit-mae-base (catalogue), never the hash
    RUNS/20261206-052000/checkpoints/best.safetensors
                                                  → 20261206-052000 best (training run)
    builtin:mae_vit_small_patch8_64               → mae_vit_small_patch8_64 (random weights)
    ~/ckpt/mae_finetuned.pth                      → mae_finetuned (file); a folder → its name (folder)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from maskviz import bundled
from maskviz.bundled import MODEL_PREFIX
from maskviz.sources import models_dir
from maskviz.zoo.catalogue import entries, find_entry

BUILTIN_PREFIX = "builtin:"
RUN_CHECKPOINTS = {"last": "final", "best": "best"}  # checkpoint stem → what a run's list calls it


@dataclass(frozen=True)
class ModelName:
    """``short`` (``simmim_small``) and ``origin`` (``bundled``, ``catalogue``, ``hub``, ``training run``,
    ``file``, ``folder``, ``random weights``); ``str()`` is the display name."""

    short: str
    origin: str

    def __str__(self) -> str:
        return f"{self.short} ({self.origin})" if self.origin else self.short


def model_name(source: str | os.PathLike | None) -> ModelName:
    """What a model source (or the path it resolved to) is called; see the module doc."""
    if source is None:
        return ModelName("default model", "bundled")
    text = os.fspath(source)
    if text.startswith(MODEL_PREFIX):
        return ModelName(text[len(MODEL_PREFIX):], "bundled")
    if text.startswith(BUILTIN_PREFIX):
        return ModelName(text[len(BUILTIN_PREFIX):], "random weights")
    if find_entry(text) is not None and not os.path.lexists(text):
        return ModelName(text, "catalogue")
    path = Path(text).expanduser()
    return (_bundled(path) or _cached_entry(path) or _hub_snapshot(path) or _run_checkpoint(path)
            or ModelName(path.stem if path.suffix else path.name or text, "folder" if path.is_dir() else "file"))


def display_name(source: str | os.PathLike | None) -> str:
    """``simmim_small (bundled)``: :func:`model_name` as text."""
    return str(model_name(source))


def loaded_display_name(loaded: object, source: str | os.PathLike | None = None) -> str:
    """A loaded model's display name: from the source it was opened with when known (a catalogue
    name stays a catalogue name), else from where it was loaded from."""
    return display_name(source if source is not None else getattr(loaded, "source", None))


def _bundled(path: Path) -> ModelName | None:
    for name, file in bundled.bundled_model_paths().items():
        if _same(path, file):
            return ModelName(name, "bundled")
    return None


def _cached_entry(path: Path) -> ModelName | None:
    """``<cache>/models/NAME/FILE`` or a hub folder put by hand at ``<cache>/models/NAME``."""
    root = models_dir()
    for folder in (path, path.parent):
        if _same(folder.parent, root) and find_entry(folder.name) is not None:
            return ModelName(folder.name, "catalogue")
    return None


def _hub_snapshot(path: Path) -> ModelName | None:
    """huggingface_hub's ``models--ORG--NAME/snapshots/<hash>[/file]``: the catalogue's name for that
    repository, else the repository id."""
    for folder in (path, path.parent):
        if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
            repo_id = folder.parent.parent.name.removeprefix("models--").replace("--", "/")
            entry = next((e for e in entries().values() if e.repo_id == repo_id), None)
            return ModelName(entry.name, "catalogue") if entry is not None else ModelName(repo_id, "hub")
    return None


def _run_checkpoint(path: Path) -> ModelName | None:
    """``RUN/checkpoints/last.safetensors`` (the final model) or ``best.safetensors``; a run folder itself."""
    if path.parent.name == "checkpoints" and path.stem in RUN_CHECKPOINTS and path.suffix == ".safetensors":
        return ModelName(f"{path.parent.parent.name} {RUN_CHECKPOINTS[path.stem]}", "training run")
    if (path / "config.json").is_file() and (path / "metrics.jsonl").exists():
        return ModelName(path.name, "training run")
    return None


def _same(a: Path, b: Path) -> bool:
    try:
        return a == b or os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):
        return False
