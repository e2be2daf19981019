"""`maskviz explain` end to end: its JSON equals the core's result, its one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from explain_cli_kit import as_array, run
from PIL import Image

from maskviz.checkpoints import load_model
from maskviz.cli import main
from maskviz.explain import attention_capture, feature_lens, gradient_map, occlusion_map, spread_lens, spread_masks
from maskviz.export import model_name
from maskviz.images import load_image
from maskviz.masks import make_mask


def inputs(checkpoint, image32, spec="random:0.75", seed=3):
    model = load_model(checkpoint).model
    return model, load_image(image32), make_mask(spec, model.grid_size, model.patch_size, seed=seed)


def hidden_target(mask):
    return tuple(int(v) for v in np.argwhere(mask)[0])


@pytest.mark.parametrize("method", ["gradient", "occlusion"])
def test_method_json_holds_the_map_and_its_inputs(tmp_path, checkpoint, image32, method):
    model, image, mask = inputs(checkpoint, image32)
    target = hidden_target(mask)
    doc = run(tmp_path, image32, "--model", checkpoint, "--mask", "random:0.75", "--seed", "3",
              "--target", f"{target[0]},{target[1]}", "--method", method)
    core = (gradient_map if method == "gradient" else occlusion_map)(model, image, mask, target)
    assert doc["method"] == method and doc["target"] == list(target) and doc["grid"] == [4, 4]
    assert doc["model"] == model_name(load_model(checkpoint), checkpoint) and doc["image"] == "img.png"
    assert doc["mask"] == "random:0.75" and doc["seed"] == 3 and doc["hidden_patches"] == 12
    np.testing.assert_allclose(as_array(doc["map"]), core.values, rtol=1e-6, equal_nan=True)
    if method == "occlusion":
        assert all(v is None for row, m in zip(doc["map"], mask, strict=True) for v, h in zip(row, m, strict=True)
                   if h)


def test_attention_json_layer_and_rollout(tmp_path, checkpoint, image32):
    model, image, mask = inputs(checkpoint, image32)
    target = hidden_target(mask)
    capture = attention_capture(model, image, mask)
    base = [image32, "--model", checkpoint, "--seed", "3", "--target", f"{target[0]},{target[1]}",
            "--method", "attention"]
    doc = run(tmp_path, *base, "--layer", "0", "--head", "1")
    np.testing.assert_allclose(as_array(doc["map"]), capture.layer_map(target, 0, 1).values, rtol=1e-6)
    assert doc["params"]["layer_name"] == "decoder_blocks.0.attn" and doc["params"]["head"] == 1
    doc = run(tmp_path, *base, "--rollout")
    assert doc["method"] == "rollout"
    np.testing.assert_allclose(as_array(doc["map"]), capture.rollout_map(target).values, rtol=1e-6,
                               equal_nan=True)


def test_features_and_spread_json(tmp_path, checkpoint, image32):
    model, image, mask = inputs(checkpoint, image32, seed=0)
    doc = run(tmp_path, image32, "--model", checkpoint, "--lens", "features", "--target", "0,1", "--mask",
              "random:0.5")
    lens = feature_lens(model, image, make_mask("random:0.5", (4, 4), 8, seed=0))
    rgb = np.array([[[np.nan] * 3 if v is None else v for v in row] for row in doc["map"]], dtype=float)
    np.testing.assert_allclose(rgb, lens.rgb, rtol=1e-6, equal_nan=True)
    assert doc["lens"] == "features" and len(doc["explained_variance"]) == 3
    if lens.cells[0, 1] >= 0:
        assert doc["similarity"]["target"] == [0, 1]

    doc = run(tmp_path, image32, "--model", checkpoint, "--lens", "spread", "--masks", "4")
    spread = spread_lens(model, image, spread_masks("random:0.75", (4, 4), 8, 4, seed=0))
    assert doc["lens"] == "spread" and doc["masks"] == 4 and doc["hidden_count"] == spread.count.tolist()
    np.testing.assert_allclose(as_array(doc["map"]), spread.std, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("argv,message", [
    (["--method", "gradient", "--target", "{visible}"], "is visible under this mask"),
    (["--method", "occlusion", "--target", "0,4"], "outside the model's 4×4 patch grid"),
    (["--method", "attention", "--target", "0,0", "--mask", "none"], "hides no patch"),
    (["--lens", "spread", "--masks", "1"], "at least 2 masks"),
    (["--lens", "spread", "--mask", "grid:2"], "same every time"),
    (["--method", "gradient"], "give --target ROW,COL"),
    (["--method", "gradient", "--target", "{hidden}", "--rollout"], "go with --method attention"),
    (["--method", "attention", "--target", "{hidden}", "--rollout", "--layer", "1"], "leave out --layer"),
    (["--method", "attention", "--target", "{hidden}", "--layer", "5"], "layer 5 does not exist"),
])
def test_one_line_errors(tmp_path, checkpoint, image32, capsys, argv, message):
    _, _, mask = inputs(checkpoint, image32, seed=0)
    fill = {"visible": "{},{}".format(*np.argwhere(~mask)[0]), "hidden": "{},{}".format(*np.argwhere(mask)[0])}
    argv = [a.format(**fill) for a in argv]
    code = main(["explain", image32, "--model", checkpoint, *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0] and err[0].startswith("maskviz: error:")


def test_bad_target_text_is_an_argument_error(image32, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["explain", image32, "--method", "gradient", "--target", "3"])
    assert exit_info.value.code == 2 and "expected ROW,COL" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--method", "gradient", "--target", "{hidden}"],
                                  ["--method", "attention", "--target", "{hidden}", "--rollout"],
                                  ["--lens", "features", "--target", "{visible}"],
                                  ["--lens", "spread", "--masks", "3"]])
def test_figure_names_its_inputs(tmp_path, checkpoint, image32, argv):
    _, _, mask = inputs(checkpoint, image32)
    fill = {"visible": "{},{}".format(*np.argwhere(~mask)[0]), "hidden": "{},{}".format(*np.argwhere(mask)[0])}
    svg, png = tmp_path / "fig.svg", tmp_path / "fig.png"
    for out in (svg, png):
        assert main(["explain", image32, "--model", checkpoint, "--mask", "random:0.75", "--seed", "3",
                     *[a.format(**fill) for a in argv], "--out", str(out), "--device", "cpu"]) == 0
    text = svg.read_text()
    for name in (f"model {model_name(load_model(checkpoint), checkpoint)}", "image img.png", "mask random:0.75",
                 "seed 3", "view model"):
        assert name in text
    picture = Image.open(png)
    assert picture.format == "PNG" and picture.width > 2 * 192


def test_figure_shows_the_map_at_patch_resolution(checkpoint, image32):
    from maskviz.explain.figure import explain_sheet
    from maskviz.figures import Inputs
    from maskviz.reconstruct import prepare_input

    model, image, mask = inputs(checkpoint, image32)
    result = occlusion_map(model, image, mask, hidden_target(mask))
    original = prepare_input(model, image)[0]
    sheet = explain_sheet(result, original, 8, Inputs("m", "i", "random:0.75", 3))
    masked, shown = sheet.rows[0].blocks
    np.testing.assert_array_equal(shown.heat.values[::8, ::8], result.values)
    assert shown.heat.values.shape == (32, 32) and shown.colorbar
    assert (masked.image[mask.repeat(8, 0).repeat(8, 1)] == np.float32(model.config.mean[0])).any()
    assert shown.markers[0].x == result.target[1] * 8 and shown.markers[0].y == result.target[0] * 8
    assert "occlusion for patch" in sheet.title and "seed 3" in sheet.title
