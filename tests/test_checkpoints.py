"""Checkpoint loading: detection, exactness, and a plain message for every way it can fail."""

from __future__ import annotations

import argparse
import json
import os
import sys
import types

import pytest
import torch
from safetensors.torch import save_file
from synthetic import randomize_, save_official_mae, tiny_hf_mae

from maskviz.checkpoints import load_model, save_model
from maskviz.checkpoints.safe_load import load_torch_file, stub_field
from maskviz.errors import CheckpointError
from maskviz.models import create_model


def test_official_mae_round_trip_is_exact(tmp_path):
    sd = save_official_mae(tmp_path / "mae.pth", with_args=False)
    loaded = load_model(tmp_path / "mae.pth")
    assert loaded.format == "official-mae" and loaded.config.family == "mae"
    assert all(torch.equal(v, sd[k]) for k, v in loaded.model.state_dict().items())
    assert not loaded.model.training


def test_bare_state_dict_and_ddp_prefix(tmp_path):
    sd = randomize_(create_model("mae_vit_tiny_test")).state_dict()
    torch.save({"module." + k: v for k, v in sd.items()}, tmp_path / "ddp.pth")
    assert load_model(tmp_path / "ddp.pth").config.name == "mae_vit_tiny_test"


@pytest.mark.parametrize(
    ("filename", "expected"),
    [("mae_visualize_vit_tiny.pth", False), ("mae_pretrain_vit_tiny_full.pth", True), ("mine.pth", False)],
)
def test_norm_pix_from_published_file_names(tmp_path, filename, expected):
    save_official_mae(tmp_path / filename, with_args=False)
    loaded = load_model(tmp_path / filename)
    assert loaded.config.norm_pix_loss is expected
    if filename == "mine.pth":
        assert any("unknown" in n for n in loaded.notes)
    assert load_model(tmp_path / filename, norm_pix=not expected).config.norm_pix_loss is (not expected)


def test_unpublished_size_reports_assumed_heads(tmp_path):
    cfg = create_model("mae_vit_tiny_test").config.replace(embed_dim=128, num_heads=2, name="")
    torch.save({"model": create_model(cfg).state_dict()}, tmp_path / "odd.pth")
    loaded = load_model(tmp_path / "odd.pth")
    assert loaded.config.num_heads == 2 and any("assumed" in n for n in loaded.notes)


def test_encoder_only_checkpoint_is_refused_with_advice(tmp_path):
    save_official_mae(tmp_path / "mae_pretrain_vit_base.pth", encoder_only=True)
    with pytest.raises(CheckpointError, match="only the MAE encoder.*cannot reconstruct.*mae_visualize"):
        load_model(tmp_path / "mae_pretrain_vit_base.pth")


def test_classifier_checkpoint_is_refused(tmp_path):
    sd = save_official_mae(tmp_path / "x.pth", encoder_only=True)
    sd["head.weight"], sd["head.bias"] = torch.zeros(10, 32), torch.zeros(10)
    torch.save({"model": sd}, tmp_path / "mae_finetuned_vit_base.pth")
    with pytest.raises(CheckpointError, match="fine-tuned classifier"):
        load_model(tmp_path / "mae_finetuned_vit_base.pth")


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    sd = randomize_(create_model("mae_vit_tiny_test")).state_dict()
    del sd["decoder_norm.weight"]
    sd["extra.thing"] = torch.zeros(1)
    torch.save({"model": sd}, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match=r"missing keys: decoder_norm\.weight.*unexpected keys: extra\.thing"):
        load_model(tmp_path / "broken.pth")


def test_shape_mismatch_is_named(tmp_path):
    sd = randomize_(create_model("mae_vit_tiny_test")).state_dict()
    sd["decoder_pred.weight"] = torch.zeros(100, 16)
    torch.save({"model": sd}, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match=r"decoder_pred\.weight \[100, 16\].*expects \[192, 16\]"):
        load_model(tmp_path / "shape.pth")


def test_unrecognised_keys(tmp_path):
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "resnet.pth")
    with pytest.raises(CheckpointError, match="not a checkpoint maskviz recognises.*conv.weight"):
        load_model(tmp_path / "resnet.pth")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b"this is not a checkpoint", "is a text file, not a model checkpoint"),
     (b"PK\x03\x04garbage", "cannot read")],
)
def test_unreadable_files(tmp_path, content, message):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_model(path)


def test_missing_path(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_model(tmp_path / "nope.pth")


def test_folder_without_model(tmp_path):
    with pytest.raises(CheckpointError, match="without config.json"):
        load_model(tmp_path)


def test_non_tensor_payload(tmp_path):
    torch.save({"epoch": 3, "args": [1, 2]}, tmp_path / "meta.pth")
    with pytest.raises(CheckpointError, match="holds no model weights"):
        load_model(tmp_path / "meta.pth")


def test_hostile_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"model": {"w": torch.zeros(1)}, "payload": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="refusing to load evil.pth: it would call"):
        load_model(tmp_path / "evil.pth")
    assert not marker.exists()


class CfgNode(dict):
    """Pickles as yacs.config.CfgNode, like the config inside SimMIM training checkpoints."""


CfgNode.__module__ = "yacs.config"
CfgNode.__qualname__ = "CfgNode"


def test_foreign_objects_become_inert_data(tmp_path, monkeypatch):
    """A yacs CfgNode loads without yacs installed and without running code."""
    yacs = types.ModuleType("yacs.config")
    yacs.CfgNode = CfgNode
    monkeypatch.setitem(sys.modules, "yacs", types.ModuleType("yacs"))
    monkeypatch.setitem(sys.modules, "yacs.config", yacs)
    cfg = CfgNode(DATA=CfgNode(IMG_SIZE=192))
    torch.save({"model": {"w": torch.ones(2)}, "config": cfg, "args": argparse.Namespace(lr=0.1)},
               tmp_path / "train.pth")
    monkeypatch.delitem(sys.modules, "yacs.config")
    monkeypatch.delitem(sys.modules, "yacs")
    obj, stubbed = load_torch_file(tmp_path / "train.pth")
    assert stubbed == ["argparse.Namespace", "yacs.config.CfgNode"]
    assert stub_field(stub_field(obj["config"], "DATA"), "IMG_SIZE") == 192
    assert stub_field(obj["args"], "lr") == 0.1
    assert torch.equal(obj["model"]["w"], torch.ones(2))


def test_hf_weights_file_needs_its_config(tmp_path):
    hf = tiny_hf_mae()
    save_file({k: v.contiguous() for k, v in hf.state_dict().items()}, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match="no config.json"):
        load_model(tmp_path / "model.safetensors")
    hf.save_pretrained(tmp_path / "folder")
    assert load_model(tmp_path / "folder" / "model.safetensors").format == "hf-vitmae"


def test_hf_folder_of_another_model_type(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(CheckpointError, match="'bert' model"):
        load_model(tmp_path)


def test_maskviz_format_round_trip(tmp_path):
    model = randomize_(create_model("mae_vit_tiny_test").eval())
    model.config = model.config.replace(norm_pix_loss=True)
    save_model(model, tmp_path / "m.safetensors", info={"steps": 12, "val_loss": 0.5})
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.format == "maskviz" and loaded.info == {"steps": 12, "val_loss": 0.5}
    assert loaded.config == model.config
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.model.state_dict().items())
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary files left


def test_summary_describes_the_model(tmp_path):
    save_official_mae(tmp_path / "mae_visualize_vit_tiny.pth")
    s = load_model(tmp_path / "mae_visualize_vit_tiny.pth").summary()
    assert s["family"] == "mae" and s["patch_size"] == 8 and s["input_size"] == 32 and s["norm_pix"] is False
    assert "MAE ViT" in s["description"] and "pixel targets" in s["description"]


def test_training_run_folder_opens_its_best_checkpoint(tmp_path):
    """A maskviz run holds config.json too (the recipe): it must not be taken for a Hugging Face folder."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text('{"data": "imgs", "model": "mae_vit_tiny_test"}')
    best, last = randomize_(create_model("mae_vit_tiny_test"), 1), randomize_(create_model("mae_vit_tiny_test"), 2)
    save_model(best, run / "checkpoints" / "best.safetensors")
    save_model(last, run / "checkpoints" / "last.safetensors")
    loaded = load_model(run)
    assert loaded.source.endswith("best.safetensors")
    assert torch.equal(loaded.model.cls_token, best.cls_token)


def test_a_tiny_file_declaring_a_huge_model_is_refused_before_allocation(tmp_path):
    """Sizes come from the file: zero-size tensors must not make maskviz build a 300 GB model."""
    sd = {
        "cls_token": torch.zeros(1, 1, 16384), "pos_embed": torch.zeros(1, 197, 0),
        "mask_token": torch.zeros(1, 1, 16384), "decoder_pos_embed": torch.zeros(1, 197, 0),
        "patch_embed.proj.weight": torch.zeros(0, 3, 16, 16), "norm.weight": torch.zeros(0),
        "decoder_embed.weight": torch.zeros(0, 0), "decoder_pred.weight": torch.zeros(0, 0),
    }
    for i in range(24):
        sd[f"blocks.{i}.attn.qkv.weight"] = torch.zeros(0, 0)
        sd[f"blocks.{i}.mlp.fc1.weight"] = torch.zeros(65536, 0)
    torch.save({"model": sd}, tmp_path / "bomb.pth")
    assert (tmp_path / "bomb.pth").stat().st_size < 200_000
    with pytest.raises(CheckpointError, match="does not match the architecture"):
        load_model(tmp_path / "bomb.pth")


@pytest.mark.parametrize(
    ("metadata", "message"),
    [({"format": "maskviz", "format_version": "1.0", "config": "{}"}, "unreadable maskviz metadata"),
     ({"format": "maskviz", "format_version": "1", "config": '{"kind": "mae_vit", "embed_dim": "x"}'}, "cannot")],
)
def test_damaged_maskviz_metadata_is_a_plain_error(tmp_path, metadata, message):
    save_file({"w": torch.zeros(1)}, str(tmp_path / "m.safetensors"), metadata=metadata)
    with pytest.raises(CheckpointError, match=message):
        load_model(tmp_path / "m.safetensors")


def test_hf_config_missing_a_field_is_a_plain_error(tmp_path):
    hf = tiny_hf_mae()
    hf.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    del cfg["hidden_size"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="hidden_size"):
        load_model(tmp_path)


def test_code_calling_pickles_become_inert_stand_ins(tmp_path):
    """Globals torch does not block outright (builtins.exec here) are allowed only as inert stubs."""
    marker = tmp_path / "ran"

    class Sneaky:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').close()",))

    sd = randomize_(create_model("mae_vit_tiny_test")).state_dict()
    torch.save({"model": sd, "extra": Sneaky()}, tmp_path / "sneaky.pth")
    loaded = load_model(tmp_path / "sneaky.pth")
    assert not marker.exists()
    assert any("builtins.exec" in item for item in loaded.ignored)
