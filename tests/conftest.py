"""Shared fixtures: tiny synthetic images and models keep the suite fast and offline."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic import save_official_mae

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def photo(tmp_path) -> str:
    """A smooth 48×40 RGB test image with some structure, saved as PNG."""
    yy, xx = np.mgrid[0:40, 0:48]
    arr = np.stack([xx * 5, yy * 6, (xx + yy) * 3], axis=-1).clip(0, 255).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(arr).save(path)
    return str(path)


@pytest.fixture
def checkpoint(tmp_path) -> str:
    """A tiny MAE saved in the official facebookresearch/mae layout (.pth)."""
    path = tmp_path / "mae_visualize_vit_tiny.pth"
    save_official_mae(path)
    return str(path)


@pytest.fixture
def image32(tmp_path) -> str:
    """A 32×32 random RGB PNG: the tiny models' input size."""
    arr = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    path = tmp_path / "img.png"
    Image.fromarray(arr).save(path)
    return str(path)
