"""Hugging Face SwinForMaskedImageModeling folders load into maskviz's SimMIM Swin and compute what
transformers computes: same reconstruction, same loss, for the same ``bool_masked_pos``."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from synthetic import legacy_hf_swin_state_dict, tiny_hf_swin_simmim

from maskviz.checkpoints import load_model
from maskviz.errors import CheckpointError


def _write_folder(folder, hf, weights: str = "model.safetensors", sd=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(hf.config.to_json_string(), encoding="utf-8")
    sd = legacy_hf_swin_state_dict(hf) if sd is None else sd
    if weights.endswith(".safetensors"):
        save_file(sd, str(folder / weights))
    else:
        torch.save(sd, folder / weights)
    return folder


def _assert_parity(loaded, hf) -> None:
    g = torch.Generator().manual_seed(1)
    imgs = torch.randn(2, 3, 32, 32, generator=g)
    mask = torch.rand(2, 256, generator=g) < 0.6
    with torch.no_grad():
        ref = hf(imgs, bool_masked_pos=mask)
        ours = loaded.model.reconstruct_image(imgs, mask)
        loss = loaded.model.loss(imgs, loaded.model(imgs, mask), mask)
    assert (ours - ref.reconstruction).abs().max().item() <= 1e-5
    assert loss.item() == pytest.approx(ref.loss.item(), rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("weights", ["model.safetensors", "pytorch_model.bin"])
def test_hub_layout_matches_transformers(tmp_path, weights):
    hf = tiny_hf_swin_simmim()
    loaded = load_model(_write_folder(tmp_path / "swin", hf, weights))
    assert loaded.format == "hf-swin-simmim"
    assert loaded.config.name == "simmim_swin_tiny_test"
    assert any("relative_position_index" in k for k in loaded.ignored)  # checked against ours, then dropped
    _assert_parity(loaded, hf)


def test_folder_written_by_installed_transformers(tmp_path):
    hf = tiny_hf_swin_simmim(seed=3)
    hf.save_pretrained(tmp_path)
    loaded = load_model(tmp_path)
    _assert_parity(loaded, hf)
    assert load_model(tmp_path / "model.safetensors").format == "hf-swin-simmim"  # the weights file alone


def test_imagenet_normalisation_kept_over_a_generic_preprocessor(tmp_path):
    folder = _write_folder(tmp_path, tiny_hf_swin_simmim())
    (folder / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.5] * 3, "image_std": [0.5] * 3}))
    loaded = load_model(folder)
    assert loaded.config.mean == (0.485, 0.456, 0.406)
    assert any("preprocessor_config.json gives mean" in n for n in loaded.notes)


def test_missing_and_renamed_weights_are_named(tmp_path):
    hf = tiny_hf_swin_simmim()
    sd = legacy_hf_swin_state_dict(hf)
    sd.pop("decoder.0.weight")
    with pytest.raises(CheckpointError, match="decoder"):
        load_model(_write_folder(tmp_path / "a", hf, sd=sd))
    sd = legacy_hf_swin_state_dict(hf)
    sd["swin.encoder.layers.0.blocks.0.surprise.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="surprise"):
        load_model(_write_folder(tmp_path / "b", hf, sd=sd))


def test_wrong_window_in_config_is_a_clear_error(tmp_path):
    hf = tiny_hf_swin_simmim()
    folder = _write_folder(tmp_path, hf)
    config = json.loads((folder / "config.json").read_text())
    config["window_size"] = 8  # tables stored for window 4
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="relative_position_bias_table"):
        load_model(folder)


def test_unsupported_variant_is_refused(tmp_path):
    hf = tiny_hf_swin_simmim()
    folder = _write_folder(tmp_path, hf)
    config = json.loads((folder / "config.json").read_text())
    config["use_absolute_embeddings"] = True
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="absolute position embeddings"):
        load_model(folder)
