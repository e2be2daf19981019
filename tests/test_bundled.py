"""What ships with maskviz: the two bundled models, ``bundled:NAME`` sources, and that the models learned.

The quality checks are a small, fast slice of ``bench/bench_quality.py`` (whole held-out photos
rather than 150 crops): enough to fail if a bundled file were untrained, swapped or mis-loaded.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from maskviz.baselines import baseline_reconstruction
from maskviz.bundled import HELD_OUT_SAMPLES, bundled_model_paths, sample_path
from maskviz.checkpoints import load_default_model, load_model, training_summary
from maskviz.cli import main
from maskviz.errors import CheckpointError
from maskviz.images import fit_to_model, load_image
from maskviz.masks import block_mask, random_mask
from maskviz.reconstruct import reconstruct


@pytest.fixture(scope="module")
def mae():
    return load_model("bundled:mae_small")


@pytest.fixture(scope="module")
def simmim():
    return load_model("bundled:simmim_small")


def test_both_models_ship_small_with_their_provenance(mae, simmim):
    paths = bundled_model_paths()
    assert list(paths) == ["mae_small", "simmim_small"]  # the default first
    assert sum(p.stat().st_size for p in paths.values()) <= 30 * 2**20
    assert (mae.config.family, simmim.config.family) == ("mae", "simmim")
    assert mae.config.norm_pix_loss is False  # pixel targets: shown as predicted
    for loaded in (mae, simmim):
        info = loaded.info
        assert info["trained_by"] == "maskviz train" and info["steps"] > 0
        assert info["command"].startswith("maskviz train --data") and "train_bundled.py" in info["bundled_by"]
        assert info["val_loss"] > 0 and info["data_recipe"].startswith("resources/models/get_training_data.sh")
        assert info["base_model_info"]["trained_by"] == "maskviz train"  # stage 1 kept in the chain


def test_default_model_is_the_bundled_mae(mae):
    default = load_default_model()
    assert default.format == "maskviz" and default.notes == []
    assert default.source == mae.source


def test_unknown_bundled_name_lists_the_bundled_ones():
    with pytest.raises(CheckpointError, match="no bundled model named 'nope'; bundled: mae_small, simmim_small"):
        load_model("bundled:nope")


def test_cli_uses_bundled_models(tmp_path, capsys):
    js = tmp_path / "m.json"
    assert main(["reconstruct", "sample:cat", "--mask", "random:0.75", "--json", str(js)]) == 0
    doc = json.loads(js.read_text())
    assert doc["model"]["format"] == "maskviz" and doc["model"]["source"].endswith("maskviz_mae_small.safetensors")
    assert "random weights" not in capsys.readouterr().err
    assert main(["reconstruct", "sample:cat", "--model", "bundled:simmim_small", "--json", str(js)]) == 0
    assert json.loads(js.read_text())["family"] == "simmim"


def _held_out_psnr(loaded, make_mask) -> tuple[float, float]:
    """Mean masked-region PSNR of the model and of mean fill over the held-out photos (whole, resized)."""
    model, fill = [], []
    for i, name in enumerate(HELD_OUT_SAMPLES):
        img = np.asarray(fit_to_model(load_image(sample_path(name)), loaded.config.img_size))
        mask = make_mask(loaded.config.grid_size, i)
        model.append(reconstruct(loaded.model, img, [mask])[0].psnr)
        base = baseline_reconstruction("mean", img.astype(np.float32) / 255, mask, loaded.config.patch_size)
        fill.append(base.psnr)
    return float(np.mean(model)), float(np.mean(fill))


def test_bundled_mae_fills_held_out_photos_far_better_than_mean_colour(mae):
    model, fill = _held_out_psnr(mae, lambda grid, seed: random_mask(grid, 0.75, seed=seed))
    assert model > fill + 1.5, (model, fill)


def test_bundled_simmim_fills_held_out_photos_better_than_mean_colour(simmim):
    model, fill = _held_out_psnr(simmim, lambda grid, seed: block_mask(grid, 0.5, seed=seed))
    assert model > fill + 0.5, (model, fill)


def test_training_continues_from_a_bundled_model(tmp_path):
    from PIL import Image

    data = tmp_path / "imgs"
    data.mkdir()
    for i in range(3):
        Image.new("RGB", (72, 72), (40 * i, 90, 160)).save(data / f"{i}.png")
    assert main(["train", "--data", str(data), "--model", "bundled:mae_small", "--out", str(tmp_path / "run"),
                 "--steps", "1", "--batch", "2", "--val-split", "0"]) == 0
    info = load_model(tmp_path / "run" / "checkpoints" / "last.safetensors").info
    assert info["base_model"].endswith("maskviz_mae_small.safetensors")
    assert info["base_model_info"]["bundled_by"]


def test_info_shows_how_a_bundled_model_was_trained(mae, capsys):
    assert main(["info", "bundled:mae_small"]) == 0
    out = capsys.readouterr().out
    steps = mae.info["steps"]
    assert f"trained: maskviz train: {steps} of {mae.info['total_steps']} steps on 125 images, val loss" in out
    assert "continued from an earlier maskviz run" in out and "command: maskviz train --data" in out
    assert training_summary({}) == "" and mae.summary()["training"] in out
