"""Checkpoint formats as table entries: what was read from a path, and the (name, detect, load, label)
each format adds to :data:`maskviz.checkpoints.FORMATS`.

Reading is the same for every format (safely, see :mod:`maskviz.checkpoints.safe_load`): a file's
tensors and top-level entries, a safetensors header, or a Hugging Face folder's config.json and
weights. Each format then looks at that :class:`Checkpoint` (``detect``) and, the first one that
recognises it, builds the model (``load``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import Tensor

from maskviz.checkpoints.common import list_keys
from maskviz.checkpoints.loaded import LoadedModel
from maskviz.checkpoints.safe_load import load_safetensors_file, load_torch_file, stub_name
from maskviz.errors import CheckpointError
from maskviz.fileio import check_input_file

WRAPPER_KEYS = ("model", "state_dict", "module")
#: A folder of a maskviz run or model: the first of these that exists is opened.
RUN_FILES = ("model.safetensors", "checkpoints/best.safetensors", "checkpoints/last.safetensors")


@dataclass
class Checkpoint:
    """What was read from a file or folder, for the formats to recognise and load."""

    path: Path  # the file, or the folder of a Hugging Face model
    tensors: dict[str, Tensor] = field(default_factory=dict)  # the weights ('model' unwrapped, 'module.' stripped)
    metadata: dict[str, str] = field(default_factory=dict)  # a safetensors header's metadata
    extras: dict[str, Any] = field(default_factory=dict)  # top-level entries beside the weights (args, epoch…)
    raw: Any = None  # the whole object a torch file held (for formats with a layout of their own)
    stubbed: list[str] = field(default_factory=list)  # foreign pickled objects read as inert data
    norm_pix: bool | None = None  # the user's choice where a file leaves the MAE target open
    hf_config: dict[str, Any] | None = None  # a Hugging Face folder's config.json
    hf_preprocessor: dict[str, Any] = field(default_factory=dict)  # and its preprocessor_config.json
    no_weights: str = ""  # why no weights were found (said when no format recognises the file)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def hints(self) -> dict[str, Any]:
        """What a format may use where the weights do not say (file name, training args, config)."""
        return {"filename": self.name, "norm_pix": self.norm_pix, **self.extras}

    @property
    def ignored(self) -> list[str]:
        """The top-level entries and pickled objects that are not weights, for the load report."""
        out = [f"{k} ({stub_name(v) or type(v).__name__})" for k, v in self.extras.items()]
        if self.stubbed:
            out.append("pickled objects read as inert data: " + ", ".join(self.stubbed))
        return out


@dataclass(frozen=True)
class CheckpointFormat:
    """One format maskviz reads: ``detect(checkpoint)`` says whether it is this format, ``load`` builds
    the model (raising ``CheckpointError`` with a sentence a user can act on), ``label`` names it."""

    name: str  # recorded as LoadedModel.format
    label: str  # "official MAE checkpoint (facebookresearch/mae)"
    detect: Callable[[Checkpoint], bool]
    load: Callable[[Checkpoint], LoadedModel]


def read_checkpoint(path: Path, norm_pix: bool | None = None) -> Checkpoint:
    """Read a checkpoint file, a maskviz run or model folder, or a Hugging Face model folder."""
    return _read_folder(path, norm_pix) if path.is_dir() else _read_file(path, norm_pix)


def _read_folder(path: Path, norm_pix: bool | None) -> Checkpoint:
    has_config = (path / "config.json").exists()
    for candidate in (path / name for name in RUN_FILES):
        if candidate.exists() and (candidate.parent != path or not has_config):
            return _read_file(candidate, norm_pix)
    if has_config:
        config, pre = read_hf_config(path)
        return Checkpoint(path, read_hf_weights(path), norm_pix=norm_pix, hf_config=config, hf_preprocessor=pre)
    raise CheckpointError(
        f"{path.name} is a folder without config.json or a maskviz model: open a checkpoint file, "
        "a Hugging Face ViTMAE or SimMIM Swin folder or a maskviz training run"
    )


def _read_file(path: Path, norm_pix: bool | None) -> Checkpoint:
    check_input_file(path, CheckpointError, path.name)
    if path.suffix == ".safetensors":
        tensors, metadata = load_safetensors_file(path)
        return Checkpoint(path, tensors, metadata, norm_pix=norm_pix)
    obj, stubbed = load_torch_file(path)
    try:
        tensors, extras, why = *unwrap(obj, path.name), ""
    except CheckpointError as exc:
        tensors, extras, why = {}, {}, str(exc)
    return Checkpoint(path, tensors, extras=extras, raw=obj, stubbed=stubbed, norm_pix=norm_pix, no_weights=why)


# --- Hugging Face folders (config.json + weights) ---------------------------------------------------

HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
HF_MODEL_TYPES = {"vit_mae": "ViTMAEForPreTraining", "swin": "SwinForMaskedImageModeling"}


def read_hf_config(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Hugging Face folder's config.json and preprocessor_config.json (empty when absent)."""
    config = _read_json(folder / "config.json")
    if config.get("model_type") not in HF_MODEL_TYPES:
        known = ", ".join(f"{cls} (model_type {kind!r})" for kind, cls in HF_MODEL_TYPES.items())
        raise CheckpointError(
            f"{folder.name}/config.json describes a {config.get('model_type')!r} model; "
            f"maskviz reads Hugging Face folders of {known}"
        )
    pre = folder / "preprocessor_config.json"
    return config, (_read_json(pre) if pre.exists() else {})


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path.parent.name} has no {path.name}") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path.name}: {exc}") from exc


def read_hf_weights(folder: Path) -> dict[str, Tensor]:
    index = folder / "model.safetensors.index.json"
    if index.exists():  # sharded: load every shard the index names
        shards = sorted(set(_read_json(index).get("weight_map", {}).values()))
        weights: dict[str, Tensor] = {}
        for shard in shards:
            weights.update(load_safetensors_file(folder / shard)[0])
        return weights
    for name in HF_WEIGHT_FILES:
        path = folder / name
        if path.exists():
            if name.endswith(".safetensors"):
                return load_safetensors_file(path)[0]
            obj, _ = load_torch_file(path)
            if not isinstance(obj, dict):
                raise CheckpointError(f"{name} does not hold a state dict")
            return obj
    raise CheckpointError(f"{folder.name} has no weights ({' or '.join(HF_WEIGHT_FILES)})")



def hf_config_beside(checkpoint: Checkpoint) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """(folder, config.json, preprocessor config) of a Hugging Face model: the folder that was
    opened, or the one a weight file opened by itself lies in."""
    if checkpoint.hf_config is not None:
        return checkpoint.path, checkpoint.hf_config, checkpoint.hf_preprocessor
    folder = checkpoint.path.parent
    if not (folder / "config.json").exists():
        raise CheckpointError(
            f"{checkpoint.name} holds Hugging Face weights but no config.json lies beside it; "
            "open the model folder instead"
        )
    return (folder, *read_hf_config(folder))


# --- the weights of a training checkpoint --------------------------------------------------------


def unwrap(obj: Any, name: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The state dict inside a training checkpoint, and the other top-level entries."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{name} does not hold a state dict (found {type(obj).__name__})")
    for key in WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, dict) and inner and all(isinstance(v, Tensor) for v in inner.values()):
            extras = {k: v for k, v in obj.items() if k != key}
            return _strip_prefix(dict(inner)), extras
    if obj and all(isinstance(v, Tensor) for v in obj.values()):
        return _strip_prefix(dict(obj)), {}
    raise CheckpointError(
        f"{name} holds no model weights: top-level entries are {list_keys(map(str, obj.keys()))}"
    )


def _strip_prefix(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Weights saved from a DistributedDataParallel wrapper carry ``module.`` on every key."""
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return sd


def unrecognised(checkpoint: Checkpoint, formats: list[CheckpointFormat]) -> CheckpointError:
    """The error for a file no format recognises: why it has no weights, or what its keys are."""
    if checkpoint.no_weights:
        return CheckpointError(checkpoint.no_weights)
    known = "; ".join(f.label for f in formats)
    return CheckpointError(
        f"{checkpoint.name} is not a checkpoint maskviz recognises ({known}); "
        f"its first keys are {list_keys(list(checkpoint.tensors)[:8])}"
    )
