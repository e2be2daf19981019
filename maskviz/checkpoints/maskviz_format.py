"""maskviz's own model format: one ``.safetensors`` file whose header carries JSON metadata.

The metadata makes the file self-describing (architecture, input size, normalisation,
``norm_pix_loss``, provenance), so nothing is guessed on load. Files are written to a temporary
name and renamed, so a crash or a full disk never leaves a broken model behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import Tensor

from maskviz.checkpoints.common import build_checked, load_strict, nonfinite_warnings
from maskviz.checkpoints.formats import Checkpoint, CheckpointFormat
from maskviz.checkpoints.loaded import LoadedModel
from maskviz.errors import CheckpointError
from maskviz.fileio import atomic_write
from maskviz.models.base import MaskedImageModel, config_from_dict

FORMAT_NAME = "maskviz"
FORMAT_VERSION = 1


def is_maskviz_metadata(metadata: dict[str, str]) -> bool:
    return metadata.get("format") == FORMAT_NAME


def save_model(
    model: MaskedImageModel, path: str | os.PathLike, info: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write weights + config (+ free-form ``info``: recipe, data, steps, validation loss...).

    ``dtype`` (e.g. ``torch.float16``) stores the floating-point weights at that precision: half
    the file for the bundled models. Loading always casts them to the model's own (fp32) weights;
    integer buffers keep their type.
    """
    path = Path(path)
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(model.config.to_dict()),
        "info": json.dumps(info or {}),
    }
    tensors = {k: _stored(v, dtype) for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata), error=CheckpointError,
                 make_parents=True)
    return path


def _stored(tensor: Tensor, dtype: torch.dtype | None) -> Tensor:
    tensor = tensor.detach().to("cpu")
    if dtype is not None and tensor.is_floating_point():
        tensor = tensor.to(dtype)
    return tensor.contiguous()


def model_from_maskviz_file(
    tensors: dict[str, Tensor], metadata: dict[str, str], name: str
) -> tuple[MaskedImageModel, dict[str, Any], list[str]]:
    """Build the model a maskviz file's metadata describes and load its weights strictly:
    (model, info, names of weights holding NaN or ±inf)."""
    if not is_maskviz_metadata(metadata):
        raise CheckpointError(f"{name} is not a maskviz model file")
    try:
        version = int(metadata.get("format_version", "0"))
        fields = json.loads(metadata["config"])
        info = json.loads(metadata.get("info", "{}"))
    except (KeyError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{name} has unreadable maskviz metadata: {exc}") from exc
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{name} was written by a newer maskviz (format {version})")
    if not isinstance(fields, dict):
        raise CheckpointError(f"{name} has unreadable maskviz metadata: the config is not a JSON object")
    try:
        config = config_from_dict(fields)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{name} describes a model maskviz cannot build: {exc}") from None
    model = build_checked(config, tensors, name)
    return model, info, load_strict(model, tensors, name)


def load(checkpoint: Checkpoint) -> LoadedModel:
    model, info, bad = model_from_maskviz_file(checkpoint.tensors, checkpoint.metadata, checkpoint.name)
    return LoadedModel(model, str(checkpoint.path), FORMAT.name, info=info, warnings=nonfinite_warnings(bad))


FORMAT = CheckpointFormat("maskviz", "maskviz model file", detect=lambda c: is_maskviz_metadata(c.metadata),
                          load=load)
