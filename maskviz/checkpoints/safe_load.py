"""Read ``.pth``/``.bin``/``.safetensors`` files without ever executing code from them.

``torch.load`` always runs with ``weights_only=True``. Real training checkpoints also pickle
objects beside the weights (MAE: an ``argparse.Namespace``; SimMIM: a yacs ``CfgNode``), which
``weights_only`` refuses. For those we list the foreign globals *without unpickling*
(``torch.serialization.get_unsafe_globals_in_checkpoint``) and allow each one under its own name
as an inert stub: it records the arguments and state it is given and runs nothing.
So a hostile ``os.system`` reduce becomes a harmless record, and the weights still load.
"""

from __future__ import annotations

import os
import pickle
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from maskviz.checkpoints.backing import check_backed, describe_foreign_file, iter_tensors, sniff_torch_file
from maskviz.errors import CheckpointError

STUB_TAG = "_maskviz_stub"


def _stub_class(qualified_name: str) -> type:
    """An allow-listed stand-in for one foreign global.

    Instantiating it (NEWOBJ or REDUCE) yields a plain ``OrderedDict`` tagged with the global's
    name: torch's weights-only unpickler lets items be set on it (yacs ``CfgNode`` is a dict) and
    its ``__dict__`` be updated (``argparse.Namespace`` state), and nothing else can happen.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> OrderedDict:
        obj: OrderedDict = OrderedDict()
        obj.__dict__[STUB_TAG] = qualified_name
        obj.__dict__["_stub_args"] = args
        return obj

    return type("Stub_" + qualified_name.replace(".", "_"), (), {"__new__": __new__})


# numpy scalars and arrays (e.g. a best-accuracy value) rebuild through these; none can run code.
_NUMPY_SAFE = re.compile(
    r"numpy\.(?:_?core\.multiarray\.(?:scalar|_reconstruct)|dtype|ndarray|dtypes\.\w+DType)$"
)


def _numpy_global(name: str) -> Any:
    if not _NUMPY_SAFE.match(name):
        return None
    import importlib

    module, _, attr = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return None


def _numpy_dtype_classes() -> list[tuple[Any, str]]:
    import numpy as np

    return [(getattr(np.dtypes, n), f"numpy.dtypes.{n}") for n in dir(np.dtypes) if n.endswith("DType")]


def stub_name(obj: object) -> str | None:
    """The pickled global a stub replaced, or None for real data."""
    return getattr(obj, "__dict__", {}).get(STUB_TAG) if isinstance(obj, OrderedDict) else None


def stub_field(obj: object, name: str, default: Any = None) -> Any:
    """A field of a stubbed object, stored as attribute (Namespace) or item (CfgNode)."""
    if not isinstance(obj, OrderedDict):
        return default
    if name in obj.__dict__:
        return obj.__dict__[name]
    return obj.get(name, default)


def load_torch_file(path: str | os.PathLike) -> tuple[Any, list[str]]:
    """Load a torch pickle safely; return the object and the foreign globals that were stubbed.

    Before anything is unpacked the file must look like what ``torch.save`` writes (a stored zip
    archive or a legacy pickle); after, every tensor must be backed by stored bytes.
    """
    path = Path(path)
    archive = sniff_torch_file(path)
    try:
        obj, unsafe = torch.load(path, map_location="cpu", weights_only=True), []
    except pickle.UnpicklingError:
        obj, unsafe = _load_with_stubs(path, archive)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        raise CheckpointError(f"cannot read {path.name} as a PyTorch checkpoint: {_first_line(exc)}") from exc
    check_backed(path.name, iter_tensors(obj), path.stat().st_size)
    return obj, sorted(unsafe)


def _load_with_stubs(path: Path, archive: bool) -> tuple[Any, list[str]]:
    """Foreign globals, each allowed as an inert stub (numpy scalars as themselves)."""
    if archive:
        try:
            unsafe = list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        except Exception as exc:  # noqa: BLE001 - any failure here means an unreadable file
            raise CheckpointError(f"cannot read {path.name} as a PyTorch checkpoint: {_first_line(exc)}") from exc
    else:
        unsafe = []  # legacy pickles cannot be listed without unpickling: learn them one refusal at a time
    for _ in range(MAX_FOREIGN_GLOBALS):
        try:
            with torch.serialization.safe_globals(_allowed(unsafe)):
                return torch.load(path, map_location="cpu", weights_only=True), unsafe
        except Exception as exc:  # noqa: BLE001
            missing = re.search(r"Unsupported global: GLOBAL (\S+) was not an allowed global", str(exc))
            if archive or missing is None or missing.group(1) in unsafe:
                raise _refusal(path, exc) from exc
            unsafe.append(missing.group(1))
    raise CheckpointError(f"refusing to load {path.name}: it pickles more than {MAX_FOREIGN_GLOBALS} foreign objects")


def _allowed(unsafe: list[str]) -> list[Any]:
    allowed = [(_numpy_global(name) or _stub_class(name), name) for name in unsafe]
    if any(_NUMPY_SAFE.match(name) for name in unsafe):
        allowed += _numpy_dtype_classes()  # instances of these get BUILD, their names never appear
    return allowed


def _refusal(path: Path, exc: BaseException) -> CheckpointError:
    # torch refuses some modules outright (os, subprocess, builtins.eval...): say which.
    blocked = re.search(r"unsupported GLOBAL (\S+)", str(exc))
    detail = f"it would call {blocked.group(1)}" if blocked else _first_line(exc)
    return CheckpointError(f"refusing to load {path.name}: {detail} (maskviz never runs code from a checkpoint)")


MAX_FOREIGN_GLOBALS = 64


def load_safetensors_file(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and header metadata of a ``.safetensors`` file."""
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no items()
    except Exception as exc:  # noqa: BLE001 - safetensors raises several private error types
        foreign = describe_foreign_file(path)
        raise CheckpointError(foreign or f"cannot read {path.name} as a safetensors file: {_first_line(exc)}") from exc
    return tensors, metadata


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
