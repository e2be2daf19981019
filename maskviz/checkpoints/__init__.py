"""One entry point, :func:`load_model`, for every checkpoint format maskviz reads.

It reads the path (:func:`~maskviz.checkpoints.formats.read_checkpoint`), asks each entry of
:data:`FORMATS` in turn whether it is its format, and the first that is builds the architecture the
weights describe, loads them strictly and reports what it found. Every failure is a
``CheckpointError`` with a sentence a user can act on. A new format is a module with a
:class:`~maskviz.checkpoints.formats.CheckpointFormat` and one line in :data:`FORMATS` (or a
:func:`register_format` call).
"""

from __future__ import annotations

import os

import torch

from maskviz import bundled
from maskviz.checkpoints import hf_swin, hf_vitmae, maskviz_format, official_mae, official_simmim
from maskviz.checkpoints.formats import Checkpoint, CheckpointFormat, read_checkpoint, unrecognised
from maskviz.checkpoints.loaded import DEFAULT_MASK_KEY, LoadedModel, describe_model, training_summary
from maskviz.checkpoints.maskviz_format import save_model
from maskviz.errors import CheckpointError
from maskviz.fileio import check_input_file
from maskviz.models.registry import create_model
from maskviz.sources import model_path

__all__ = ["DEFAULT_MASK_KEY", "FORMATS", "Checkpoint", "CheckpointFormat", "LoadedModel", "describe_model",
           "load_default_model", "load_model", "register_format", "save_model", "training_summary"]

#: Every format maskviz reads, asked in this order (the first whose ``detect`` says yes loads).
FORMATS: list[CheckpointFormat] = [
    maskviz_format.FORMAT,  # its safetensors header says so
    official_simmim.FORMAT,  # encoder.* + decoder.0.*
    official_mae.FORMAT,  # cls_token, pos_embed, blocks.*, ...
    hf_vitmae.FORMAT,  # a Hugging Face folder (config.json), or its weights opened by themselves
    hf_swin.FORMAT,
]


def register_format(fmt: CheckpointFormat, before: str | None = None) -> None:
    """Add a format to :data:`FORMATS` (replacing one of the same name), asked before format
    ``before`` when given, else last."""
    FORMATS[:] = [f for f in FORMATS if f.name != fmt.name]
    names = [f.name for f in FORMATS]
    FORMATS.insert(names.index(before) if before in names else len(FORMATS), fmt)


def load_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", norm_pix: bool | None = None
) -> LoadedModel:
    """Load any supported checkpoint file or folder (or ``bundled:NAME``, or a downloaded catalogue
    name: :func:`maskviz.sources.model_path`); ``norm_pix`` overrides what MAE files leave open."""
    path = model_path(path)
    check_input_file(path, CheckpointError, str(path), allow_dir=True)
    try:
        checkpoint = read_checkpoint(path, norm_pix)
        fmt = next((f for f in FORMATS if f.detect(checkpoint)), None)
        if fmt is None:
            raise unrecognised(checkpoint, FORMATS)
        loaded = fmt.load(checkpoint)
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, ArithmeticError) as exc:
        # Damaged metadata or tensors of an unexpected rank: a plain message, not a traceback.
        detail = f"{type(exc).__name__}: {exc}"
        raise CheckpointError(
            f"cannot read {path.name}: an entry maskviz needs is missing or malformed ({detail})"
        ) from exc
    loaded.format_label = loaded.format_label or fmt.label
    loaded.model.to(device).eval()
    return loaded


def load_default_model(device: str | torch.device = "cpu") -> LoadedModel:
    """The bundled MAE when installed, otherwise a clearly labelled untrained built-in model."""
    models = bundled.bundled_model_paths()
    if models:
        return load_model(next(iter(models.values())), device=device)
    torch.manual_seed(0)
    model = create_model(bundled.BUILTIN_ARCH).to(device).eval()
    return LoadedModel(model, source=f"builtin:{bundled.BUILTIN_ARCH}", format="builtin", notes=[bundled.BUILTIN_NOTE])
