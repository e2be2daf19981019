"""What the next bundled models rely on: fp16 storage, a stored default mask, the candidate sizes,
and the held-out photo extraction of resources/models/heldout_photos.py."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from maskviz.checkpoints import load_model, save_model
from maskviz.cli import main
from maskviz.models import create_model
from maskviz.models.registry import BUNDLE_CANDIDATES, get_config

REPO = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "resources" / "models" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fp16_storage_halves_the_file_and_loads_as_fp32(tmp_path):
    torch.manual_seed(0)
    model = create_model("simmim_vit_tiny_test")  # has integer index buffers beside the float weights
    full = save_model(model, tmp_path / "full.safetensors")
    half = save_model(model, tmp_path / "half.safetensors", dtype=torch.float16)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded = load_model(half).model
    for name, value in loaded.state_dict().items():
        original = model.state_dict()[name]
        assert value.dtype == original.dtype, name  # fp32 weights, integer buffers untouched
        expected = original.half().to(original.dtype) if original.is_floating_point() else original
        assert torch.equal(value, expected), name


def test_default_mask_is_read_from_the_file_and_used_by_the_cli(tmp_path):
    model = create_model("simmim_vit_tiny_test")  # 32 px, patch 8: a 4×4 grid, 2×2 cells of 16 px
    path = save_model(model, tmp_path / "m.safetensors", {"default_mask": "simmim: 0.5, mask_patch=16"})
    loaded = load_model(path)
    assert loaded.default_mask == "simmim:0.5,mask_patch=16"
    assert loaded.summary()["default_mask"] == loaded.default_mask
    image = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(image)
    out = tmp_path / "r.json"
    assert main(["reconstruct", str(image), "--model", str(path), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["mask"] == "simmim:0.5,mask_patch=16" and doc["masked_patches"] == 8  # 2 of 4 cells
    assert main(["reconstruct", str(image), "--model", str(path), "--mask", "random:0.75", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["masked_patches"] == 12  # an explicit --mask wins


@pytest.mark.parametrize("info", [{}, {"default_mask": "no-such-pattern:3"}, {"default_mask": 7}])
def test_missing_or_unreadable_default_mask_is_none(tmp_path, info):
    path = save_model(create_model("mae_vit_tiny_test"), tmp_path / "m.safetensors", info)
    assert load_model(path).default_mask is None


@pytest.mark.parametrize("name", BUNDLE_CANDIDATES)
def test_bundle_candidates_have_a_14x14_grid_and_fit_30_mb_in_fp16(name):
    config = get_config(name)
    with torch.device("meta"):
        model = create_model(config)
    assert config.grid_size == (14, 14)
    assert sum(p.numel() for p in model.parameters()) * 2 <= 30e6


def _pzl(photo: Image.Image, atlas_size: int = 96) -> bytes:
    """A jigzo puzzle as the game stores it: a text header naming the photo's rectangle in an atlas."""
    atlas = Image.new("RGB", (atlas_size, atlas_size), (0, 0, 0))
    atlas.paste(photo, (0, 0))
    thumb, big = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (20, 15), (0, 200, 0)).save(thumb, "JPEG")  # another picture: must not be taken
    atlas.save(big, "JPEG", quality=95)
    header = f"PzlF\n0.1\nx\ncrop000 0 0 10 10\nimage 0 0 {photo.width} {photo.height} 1 1\n".encode()
    return header + thumb.getvalue() + b"\n" + big.getvalue()


def test_heldout_photo_is_the_atlas_rectangle_and_licences_follow_the_copyright_file():
    heldout = _script("heldout_photos")
    photo = Image.new("RGB", (64, 48), (200, 40, 40))
    got = heldout.photo_of(_pzl(photo))
    assert got.size == (64, 48)
    inside = np.asarray(got, dtype=int)[8:-8, 8:-8]  # JPEG blurs colour across the rectangle's edge
    assert np.abs(inside - (200, 40, 40)).max() < 12
    default, per_file = heldout.licences(
        "Format: x\n\nFiles: *\nCopyright: 2005 Someone\nLicense: GPL-2+\n\n"
        "Files: puzzles/00_default/penguin-3x2.pzl\nCopyright: Other\nLicense: CC-BY-NC-SA-1.0\n"
    )
    assert default == ("GPL-2+", "2005 Someone")
    assert per_file == {"penguin-3x2.pzl": ("CC-BY-NC-SA-1.0", "Other")}
    assert "CC-BY-NC-SA-1.0" not in heldout.FREE


@pytest.mark.parametrize("geometry", ["112", "224"])
def test_recipe_masks_fit_each_geometry(geometry):
    """Every pattern of the SimMIM mixture, and each default mask, hides some but not all of the grid."""
    from maskviz.masks import make_mask
    from maskviz.train.config import parse_mask_mixture

    recipe = _script("train_bundled")
    config = get_config(recipe.model_name("simmim", geometry))
    specs = parse_mask_mixture(recipe.mask_option("simmim", geometry))
    specs += [recipe.DEFAULT_MASK[f].format(cell=recipe.cell(geometry)) for f in recipe.FAMILIES]
    for spec in specs:
        hidden = make_mask(spec, config.grid_size, config.patch_size, seed=3).sum()
        assert 0 < hidden < 196, spec
    names = {s.name for s in parse_mask_mixture(recipe.mask_option("simmim", geometry))}
    assert names >= {"random", "block", "simmim", "grid", "center", "border", "stripes", "checkerboard", "half"}
