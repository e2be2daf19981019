"""Generators of the robustness corpus (tests/test_robustness*.py): odd and hostile inputs, made at test time.

Nothing here is big on disk: crafted checkpoints declare gigabytes through stride-0 views, shared
storage or their config, and must be refused before anything of that size is allocated.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from maskviz.models import MODEL_CONFIGS, create_model
from maskviz.models.mae import MAEConfig


def tiny_state_dict(name: str = "mae_vit_tiny_test", seed: int = 0) -> dict[str, torch.Tensor]:
    from synthetic import randomize_

    return randomize_(create_model(name), seed).state_dict()


def skeleton_shapes(config: MAEConfig) -> dict[str, torch.Size]:
    """Key → shape of an architecture, from a meta-device build (no memory)."""
    with torch.device("meta"):
        return {k: v.shape for k, v in create_model(config).state_dict().items()}


def stride0_checkpoint(path: Path, name: str = "mae_vit_huge_patch14") -> Path:
    """A few KB declaring a whole model (657 M parameters for ViT-H) over one stored float each."""
    one = torch.zeros(1)
    torch.save({"model": {k: one.expand(shape) for k, shape in skeleton_shapes(MODEL_CONFIGS[name]).items()}}, path)
    return path


def overlapping_checkpoint(path: Path, name: str = "mae_vit_large_patch16") -> Path:
    """Every tensor an ``as_strided`` view whose rows overlap (stride 1 in every dimension)."""
    sd = {}
    for k, shape in skeleton_shapes(MODEL_CONFIGS[name]).items():
        base = torch.zeros(sum(shape) + 1)
        sd[k] = base.as_strided(shape, (1,) * len(shape))
    torch.save({"model": sd}, path)
    return path


def shared_storage_checkpoint(path: Path, name: str = "mae_vit_large_patch16") -> Path:
    """Non-overlapping views that all reuse one storage: 1.2 GB declared over 16 MB stored."""
    shapes = skeleton_shapes(MODEL_CONFIGS[name])
    big = torch.zeros(max(s.numel() for s in shapes.values()))
    torch.save({"model": {k: big[: s.numel()].view(s) for k, s in shapes.items()}}, path)
    return path


def deflated_checkpoint(path: Path, source: Path) -> Path:
    """``source`` re-zipped with deflate: torch would unpack it, maskviz must not."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, zin.read(item.filename))
    return path


def maskviz_file(path: Path, config: dict, tensors: dict | None = None, version: str = "1") -> Path:
    """A maskviz ``.safetensors`` whose metadata says ``config`` (tiny tensors: only the header lies)."""
    metadata = {"format": "maskviz", "format_version": version, "config": json.dumps(config), "info": "{}"}
    save_file(tensors or {"w": torch.zeros(1)}, str(path), metadata=metadata)
    return path


def mae_config_dict(**changes) -> dict:
    return {**MODEL_CONFIGS["mae_vit_tiny_test"].to_dict(), **changes}


def hf_folder(folder: Path, **changes) -> Path:
    """A Hugging Face ViTMAE folder (tiny weights) whose config.json is edited by ``changes``."""
    from synthetic import legacy_hf_state_dict, tiny_hf_mae

    folder.mkdir(parents=True, exist_ok=True)
    model = tiny_hf_mae()
    save_file({k: v.contiguous() for k, v in legacy_hf_state_dict(model).items()}, str(folder / "model.safetensors"))
    cfg = json.loads(model.config.to_json_string())
    cfg.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del cfg[key]
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def encoded(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    return buf.getvalue()


def gradient(w: int = 40, h: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 6, yy * 7, (xx + yy) * 3], axis=-1).clip(0, 255).astype(np.uint8)


def png_with_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width``×``height`` (a decompression bomb's header, nothing behind it)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body
