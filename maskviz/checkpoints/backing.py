"""Memory bounded by what a checkpoint file honestly holds.

A file's declared shapes decide how much memory loading it takes, so a few crafted bytes could
otherwise ask for gigabytes: a tensor saved as a stride-0 view (``torch.zeros(1).expand(...)``)
declares billions of values over one stored number, and a deflate-compressed archive unpacks to
far more than its size. Every loader reads files through :mod:`maskviz.checkpoints.safe_load`,
which calls these checks, so a new loader gets them for free:

* :func:`sniff_torch_file` looks at the first bytes and the zip directory *before* torch unpacks
  anything: images, text and other non-checkpoints get a plain message; compressed members are
  refused with their sizes (``torch.save`` never compresses);
* :func:`check_backed` refuses, after unpickling but before any model is built, tensors that are
  not backed by their stored bytes: stride-0 or self-overlapping views, and views sharing bytes
  that together declare far more than the file stores.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from maskviz.errors import CheckpointError

#: Views may share stored bytes (q/k/v slices of one qkv, tied weights), but all of them together
#: may declare at most this many times the stored bytes, plus a little for tiny tensors.
SHARED_VIEW_FACTOR = 2
SHARED_VIEW_SLACK = 1 << 20

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL = 0x80
_IMAGE_MAGIC = {
    b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image", b"BM": "a BMP image",
    b"II*\x00": "a TIFF image", b"MM\x00*": "a TIFF image",
}


def describe_foreign_file(path: Path) -> str | None:
    """``"X is a PNG image, not a model checkpoint"`` for files that are clearly something else."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    kind = next((what for magic, what in _IMAGE_MAGIC.items() if head.startswith(magic)), None)
    if kind is None and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = "a WebP image"
    if kind is not None:
        return f"{path.name} is {kind}, not a model checkpoint (give images as the image argument)"
    if head and _is_text(head):
        return f"{path.name} is a text file, not a model checkpoint"
    return None


def _is_text(head: bytes) -> bool:
    """Printable UTF-8 (a multi-byte character cut at the end of ``head`` is forgiven)."""
    text = head.decode("utf-8", errors="replace")
    body = text[:-1] if text.endswith("\ufffd") else text
    return bool(body) and all(c.isprintable() or c in "\n\r\t" for c in body)


def sniff_torch_file(path: Path) -> bool:
    """True for a zip archive (the format of ``torch.save``), False for a legacy pickle; refuse the rest.

    Compressed archive members are refused before anything decompresses them.
    """
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == _ZIP_MAGIC:
        _check_stored(path)
        return True
    if head[:1] == bytes([_PICKLE_PROTOCOL]):
        return False
    foreign = describe_foreign_file(path)
    raise CheckpointError(foreign or f"{path.name} is not a PyTorch checkpoint (neither a zip archive "
                                    "written by torch.save nor a pickle)")


def _check_stored(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path.name} as a PyTorch checkpoint: {exc}") from None
    packed = [m for m in members if m.compress_type != zipfile.ZIP_STORED]
    if packed:
        size = sum(m.compress_size for m in packed)
        unpacked = sum(m.file_size for m in packed)
        raise CheckpointError(
            f"refusing to load {path.name}: {len(packed)} of its entries are compressed ({_mb(size)} "
            f"that would unpack to {_mb(unpacked)}); torch.save never compresses, so the file was "
            "altered after saving"
        )


def iter_tensors(obj: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, Tensor]]:
    """Every tensor in a loaded checkpoint (nested dicts, lists and tuples), with a dotted name."""
    if isinstance(obj, Tensor):
        yield prefix or "tensor", obj
    elif depth < 8 and isinstance(obj, dict):
        for key, value in obj.items():
            yield from iter_tensors(value, f"{prefix}.{key}" if prefix else str(key), depth + 1)
    elif depth < 8 and isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from iter_tensors(value, f"{prefix}[{i}]", depth + 1)


def check_backed(what: str, tensors: Iterable[tuple[str, Tensor]], file_bytes: int) -> None:
    """Refuse tensors that declare more values than the file stores for them (see module docstring)."""
    declared = 0
    stored: dict[int, int] = {}
    for name, t in tensors:
        if t.layout != torch.strided or t.is_meta:  # a sparse tensor may declare any dense size
            raise CheckpointError(f"refusing to load {what}: tensor {name} is not a dense tensor ({t.layout}); "
                                  "model weights are stored dense")
        _check_one(what, name, t)
        declared += t.numel() * t.element_size()
        storage = t.untyped_storage()
        stored[storage.data_ptr()] = max(stored.get(storage.data_ptr(), 0), storage.nbytes())
    backed = sum(stored.values())
    if declared > SHARED_VIEW_FACTOR * backed + SHARED_VIEW_SLACK:
        raise CheckpointError(
            f"refusing to load {what}: its tensors declare {_mb(declared)} but share only {_mb(backed)} "
            f"of stored data (file size {_mb(file_bytes)}): views of the same bytes, not real weights"
        )


def _check_one(what: str, name: str, t: Tensor) -> None:
    """A tensor must cover distinct stored values: no stride 0, no overlap, inside its storage."""
    dims = sorted((stride, size) for size, stride in zip(t.shape, t.stride(), strict=True) if size > 1)
    extent = 1
    overlap = False
    for stride, size in dims:
        if stride < extent:
            overlap = True
            break
        extent = stride * (size - 1) + extent
    needed = (t.storage_offset() + extent) * t.element_size() if t.numel() else 0
    if overlap or needed > t.untyped_storage().nbytes():
        stored = t.untyped_storage().nbytes() // max(t.element_size(), 1)
        raise CheckpointError(
            f"refusing to load {what}: tensor {name} declares {t.numel():,} values {list(t.shape)} "
            f"(strides {list(t.stride())}) over {stored:,} stored ones: a stride-0 or overlapping view "
            "that is not backed by the file"
        )


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 100_000 else f"{n:,} bytes"
