"""A model family and a checkpoint format defined in this file alone, registered through the tables,
then loaded, reconstructed, swept and compared like the built-in ones: the extension points are real."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic import randomize_
from torch import Tensor, nn

from maskviz.checkpoints import FORMATS, CheckpointFormat, LoadedModel, load_model, register_format, save_model
from maskviz.checkpoints.common import build_checked, load_strict, nonfinite_warnings
from maskviz.compare import compare, sweep_curves, sweep_strategies
from maskviz.errors import CheckpointError
from maskviz.masks import make_mask
from maskviz.models import MaskedImageModel, ModelConfig, create_model
from maskviz.models.base import config_from_dict
from maskviz.models.registry import BUILDERS, CONFIG_CLASSES, MODEL_CONFIGS, register_family
from maskviz.reconstruct import reconstruct
from maskviz.sweep import sweep_curve
from maskviz.train.config import family_default_masks

# --- the family ------------------------------------------------------------------------------------


@dataclass
class ToyConfig(ModelConfig):
    kind = "toy_linear"
    family = "toy"
    display_name = "Toy"
    backbone = "linear"
    default_mask = "center:0.25"
    same_hidden_count = True  # its forward insists, so reconstruct must group masks by count
    loss_name = "MSE, toy pixels"

    img_size: int = 16
    patch_size: int = 4


class ToyModel(MaskedImageModel):
    """Every hidden patch predicted from the mean of the visible ones, through one linear layer."""

    def __init__(self, config: ToyConfig) -> None:
        super().__init__(config)
        d = config.patch_size**2 * config.in_chans
        self.mix = nn.Linear(d, d)

    def forward(self, imgs: Tensor, mask: Tensor) -> Tensor:
        self.check_input(imgs, mask)
        counts = mask.sum(dim=1)
        assert bool((counts == counts[0]).all()), "a toy batch must hide the same number of patches"
        x = self.patchify(imgs)
        visible = (~mask).unsqueeze(-1).to(x.dtype)
        context = (x * visible).sum(1, keepdim=True) / visible.sum(1, keepdim=True).clamp(min=1)
        return self.mix(context).expand_as(x) * (1 - visible) + x * visible

    def patch_loss(self, imgs: Tensor, pred: Tensor) -> Tensor:
        return ((pred - self.patchify(imgs)) ** 2).mean(dim=-1)


TOY = ToyConfig(name="toy_test")

# --- the format: {"toy": config dict, "weights": state dict} -------------------------------------------


def _detect(checkpoint) -> bool:
    return isinstance(checkpoint.raw, dict) and "toy" in checkpoint.raw


def _load(checkpoint) -> LoadedModel:
    config, weights = config_from_dict(checkpoint.raw["toy"]), checkpoint.raw["weights"]
    model = build_checked(config, weights, checkpoint.name)
    bad = load_strict(model, weights, checkpoint.name)
    return LoadedModel(model, str(checkpoint.path), "toy-format", ["read by the toy format"],
                       warnings=nonfinite_warnings(bad))


TOY_FORMAT = CheckpointFormat("toy-format", "toy checkpoint (a test's own format)", _detect, _load)


@pytest.fixture
def toy_tables():
    register_family(ToyConfig, ToyModel, [TOY])
    register_format(TOY_FORMAT, before="official-mae")
    yield
    del CONFIG_CLASSES[ToyConfig.kind], BUILDERS[ToyConfig], MODEL_CONFIGS[TOY.name]
    FORMATS.remove(TOY_FORMAT)


@pytest.fixture
def toy_file(toy_tables, tmp_path):
    model = randomize_(create_model("toy_test"), seed=2)
    path = tmp_path / "toy.pth"
    torch.save({"toy": model.config.to_dict(), "weights": model.state_dict()}, path)
    return path, model


def image(size: int = 48) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))


def test_the_toy_format_loads_a_toy_model_exactly(toy_file):
    path, model = toy_file
    loaded = load_model(path)
    assert loaded.format == "toy-format" and isinstance(loaded.model, ToyModel)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.model.state_dict().items())
    summary = loaded.summary()
    assert summary["format_label"] == "toy checkpoint (a test's own format)" and summary["family"] == "toy"
    assert summary["description"].startswith("Toy linear (toy_test), 16 px, patch 4 (4×4)")
    assert [f.name for f in FORMATS].index("toy-format") == [f.name for f in FORMATS].index("official-mae") - 1


def test_without_registration_the_file_is_refused_plainly(tmp_path):
    model = randomize_(ToyModel(TOY))
    torch.save({"toy": model.config.to_dict(), "weights": model.state_dict()}, tmp_path / "toy.pth")
    with pytest.raises(CheckpointError, match="holds no model weights"):
        load_model(tmp_path / "toy.pth")


def test_reconstruct_groups_by_the_familys_batching_rule_and_names_its_loss(toy_file):
    model = load_model(toy_file[0]).model
    masks = [make_mask(spec, model.grid_size, model.patch_size, seed=1)
             for spec in ("random:0.25", "random:0.5", "center:0.25", "random:0.75")]
    results = reconstruct(model, image(), masks)  # the forward asserts one hidden count per batch
    assert [r.masked_patches for r in results] == [4, 8, 4, 12]
    assert {r.loss_name for r in results} == {"MSE, toy pixels"} and results[0].family == "toy"
    assert all(r.loss is not None and np.isfinite(r.loss) for r in results)


def test_compare_and_sweep_with_a_toy_and_a_mae(toy_file):
    toy = load_model(toy_file[0]).model
    mae = randomize_(create_model("mae_vit_tiny_test")).eval()
    models = {"toy": toy, "mae": mae}
    table = compare(models, image(), ["random:0.5", "center:0.25"], seeds=[0, 1], same_count=True)
    assert {(r.model, r.loss_name) for r in table.rows} == {("toy", "MSE, toy pixels"),
                                                            ("mae", "MSE, normalised pixels")}
    assert len({r.hidden for r in table.rows if r.model == "toy"}) == 1  # same count across strategies
    sweep = compare(models, image(), sweep_strategies(["center"], [0.25, 0.5]), seeds=[0])
    assert [c.label for c in sweep_curves(sweep.rows)] == ["toy · center", "mae · center"]
    curve = sweep_curve(toy, image(), "center", ratios=(0.25, 0.5), seeds=(0, 1))
    assert curve.complete and curve.loss_name == "MSE, toy pixels" and len(curve.points) == 2


def test_family_facts_reach_training_and_maskviz_files(toy_tables, tmp_path):
    assert family_default_masks()["toy"] == "center:0.25"
    model = randomize_(create_model("toy_test"))
    loaded = load_model(save_model(model, tmp_path / "toy.safetensors"))
    assert loaded.format == "maskviz" and isinstance(loaded.config, ToyConfig)
