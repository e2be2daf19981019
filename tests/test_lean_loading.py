"""Loading builds no random model: the file's tensors become the weights (one copy), buffers are
computed, NaN/inf found while taking the weights over, strict-key errors as clear as ever."""

from __future__ import annotations

import pytest
import torch
from synthetic import randomize_, save_official_mae

from maskviz.checkpoints import load_model, save_model
from maskviz.checkpoints.common import build_checked, is_finite, load_strict
from maskviz.errors import CheckpointError
from maskviz.models import create_model, get_config
from maskviz.models.mae import MAEViT


def test_the_file_tensors_become_the_weights_without_random_init(monkeypatch):
    sd = randomize_(create_model("mae_vit_tiny_test")).state_dict()
    config = get_config("mae_vit_tiny_test")

    def no_init(self):
        if not self.pos_embed.is_meta:
            raise AssertionError("a loaded model was initialised randomly")

    monkeypatch.setattr(MAEViT, "initialize_weights", no_init)
    model = build_checked(config, sd, "test")
    assert all(p.is_meta for p in model.parameters())  # the skeleton takes no memory
    assert load_strict(model, sd, "test") == []
    for name, param in model.named_parameters():
        assert param.data_ptr() == sd[name].data_ptr(), name  # the same storage: no second copy
    assert not model.pos_embed.requires_grad and model.blocks[0].attn.qkv.weight.requires_grad  # as built


def test_loaded_models_train_like_built_ones(tmp_path):
    save_official_mae(tmp_path / "mae.pth", with_args=False)
    model = load_model(tmp_path / "mae.pth").model
    built = create_model("mae_vit_tiny_test")
    assert {n: p.requires_grad for n, p in model.named_parameters()} == \
        {n: p.requires_grad for n, p in built.named_parameters()}
    assert all(isinstance(p, torch.nn.Parameter) for p in model.parameters())


@pytest.mark.parametrize("name", ["simmim_vit_tiny_test", "simmim_swin_tiny_test"])
def test_buffers_of_a_skeleton_are_computed_like_a_built_models(name):
    built = randomize_(create_model(name))
    model = build_checked(built.config, built.state_dict(), "test")
    load_strict(model, built.state_dict(), "test")
    ours, theirs = dict(model.named_buffers()), dict(built.named_buffers())
    assert ours.keys() == theirs.keys() and ours
    assert all(torch.equal(ours[k], theirs[k]) and not ours[k].is_meta for k in ours)
    x = torch.randn(1, 3, built.config.img_size, built.config.img_size)
    mask = torch.rand(1, built.config.num_patches) < 0.5
    with torch.no_grad():
        assert torch.equal(model.eval()(x, mask), built.eval()(x, mask))


def test_a_module_that_cannot_recompute_its_buffers_is_built_for_real(monkeypatch):
    from maskviz.models.blocks import RelativePositionBias

    built = randomize_(create_model("simmim_vit_tiny_test"))
    monkeypatch.delattr(RelativePositionBias, "init_non_persistent_buffers")
    model = build_checked(built.config, built.state_dict(), "test")
    assert not any(p.is_meta for p in model.parameters())
    load_strict(model, built.state_dict(), "test")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), built.state_dict().values(),
                                                  strict=True))


def test_fp16_files_load_as_fp32_and_nan_is_found_while_converting(tmp_path):
    model = randomize_(create_model("mae_vit_tiny_test"))
    with torch.no_grad():
        model.blocks[1].mlp.fc2.weight[0, 0] = float("nan")
    path = save_model(model, tmp_path / "half.safetensors", dtype=torch.float16)
    loaded = load_model(path)
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
    assert loaded.warnings and "blocks.1.mlp.fc2.weight" in loaded.warnings[0]


def test_strict_errors_are_as_clear_as_before(tmp_path):
    sd = save_official_mae(tmp_path / "x.pth", with_args=False)
    sd = dict(sd)
    sd["blocks.0.attn.qkv.weight"] = torch.zeros(5, 5)
    sd.pop("norm.bias")
    torch.save({"model": sd}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as info:
        load_model(tmp_path / "bad.pth")
    text = str(info.value)
    assert "bad.pth does not match the architecture" in text
    assert "missing keys: norm.bias" in text and "blocks.0.attn.qkv.weight [5, 5] (model expects [96, 32])" in text


def test_is_finite_is_exact():
    assert is_finite(torch.tensor([3e38, 3e38]))  # the fast check overflows, the values are finite
    assert is_finite(torch.tensor([1e20, 1.0]))
    for where in (0, 4097, 10_000):  # inside and at the tails of vectorised loops
        for bad in (float("nan"), float("inf"), -float("inf")):
            t = torch.randn(10_001)
            t[where] = bad
            assert not is_finite(t) and not is_finite(t.double()) and not is_finite(t.view(73, 137).t())
    assert not is_finite(torch.tensor([1.0, float("nan")]))
    assert not is_finite(torch.tensor([float("inf"), float("-inf")]))
    assert not is_finite(torch.tensor([-float("inf"), 2.0], dtype=torch.float16))
    assert is_finite(torch.zeros(0))
