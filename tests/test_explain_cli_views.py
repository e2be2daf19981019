"""`maskviz explain --view tiles|native`: masks and targets on the picture's grid, the JSON equals the
views core (maskviz.explain.views) and names the view, the figure is drawn over the working picture."""

from __future__ import annotations

import numpy as np
import pytest
from explain_cli_kit import as_array, run
from PIL import Image

from maskviz.checkpoints import load_model
from maskviz.cli import main
from maskviz.explain import run as run_steps
from maskviz.explain import spread_masks
from maskviz.explain.views import iter_view_attention, iter_view_map, iter_view_spread, tile_layout
from maskviz.images import load_image
from maskviz.masks import make_mask
from maskviz.whole import View, prepare_view


@pytest.fixture
def photo(tmp_path) -> str:
    """An 80×56 px picture: 10×7 patches of the tiny models, so 6 tiles of 4×4 (the last ones shifted)."""
    arr = np.random.default_rng(1).integers(0, 256, (56, 80, 3), dtype=np.uint8)
    path = tmp_path / "wide.png"
    Image.fromarray(arr).save(path)
    return str(path)


def setup(checkpoint, photo, view, size=None, spec="random:0.75", seed=3):
    model = load_model(checkpoint).model
    vimg = prepare_view(model, load_image(photo), View(view, size))
    return model, vimg, make_mask(spec, vimg.grid, vimg.patch_size, seed=seed)


def test_tiles_gradient_json_is_the_owning_tiles_map_on_the_pictures_grid(tmp_path, checkpoint, photo):
    model, vimg, mask = setup(checkpoint, photo, "tiles")
    owner = tile_layout(model, vimg).owner_map()
    target = next(tuple(int(v) for v in p) for p in np.argwhere(mask) if owner[tuple(p)] == 5)
    doc = run(tmp_path, photo, "--model", checkpoint, "--view", "tiles", "--seed", "3",
              "--target", f"{target[0]},{target[1]}", "--method", "gradient")
    core = run_steps(iter_view_map(model, vimg, mask, "gradient", target))
    assert doc["view"] == "tiles 80x56 px" and doc["grid"] == [7, 10] and doc["target"] == list(target)
    assert doc["params"]["tile"] == 5 and doc["params"]["where"] == "tile 5 (rows 3–6, cols 6–9)"
    np.testing.assert_allclose(as_array(doc["map"]), core.values, rtol=1e-6, equal_nan=True)
    assert np.isnan(as_array(doc["map"])[:3]).all()  # outside the owning tile: no value


def test_native_rollout_json_and_figure_name_the_view(tmp_path, checkpoint, photo):
    model, vimg, mask = setup(checkpoint, photo, "native", 64)
    target = tuple(int(v) for v in np.argwhere(mask)[4])
    svg = tmp_path / "fig.svg"
    doc = run(tmp_path, photo, "--model", checkpoint, "--view", "native", "--size", "64", "--seed", "3",
              "--target", f"{target[0]},{target[1]}", "--method", "attention", "--rollout", "--out", str(svg))
    core = run_steps(iter_view_attention(model, vimg, mask)).rollout_map(target)
    assert doc["view"] == "native 64x48 px" and doc["grid"] == [6, 8] and doc["method"] == "rollout"
    np.testing.assert_allclose(as_array(doc["map"]), core.values, rtol=1e-6, equal_nan=True)
    assert "view native 64x48 px" in svg.read_text()


def test_tiles_spread_counts_every_tile_forward(tmp_path, checkpoint, photo, capsys):
    model, vimg, _ = setup(checkpoint, photo, "tiles")
    png = tmp_path / "spread.png"
    doc = run(tmp_path, photo, "--model", checkpoint, "--view", "tiles", "--seed", "3", "--lens", "spread",
              "--masks", "3", "--out", str(png))
    masks = spread_masks("random:0.75", vimg.grid, vimg.patch_size, 3, 3)
    core = run_steps(iter_view_spread(model, vimg, masks))
    assert doc["view"] == "tiles 80x56 px" and doc["grid"] == [7, 10] and doc["masks"] == 3
    assert np.array(doc["hidden_count"]).shape == (7, 10)
    np.testing.assert_allclose(as_array(doc["map"]), core.std, rtol=1e-6, equal_nan=True)
    assert "3 masks × 6 tiles" in capsys.readouterr().err  # the progress line says what it counts
    assert Image.open(png).height > 56


@pytest.mark.parametrize(("argv", "message"), [
    (["--view", "tiles", "--method", "gradient", "--target", "7,0"], "outside the picture's 7×10 patch grid"),
    (["--view", "native", "--method", "occlusion", "--target", "0,10"], "outside the picture's 7×10 patch grid"),
    (["--view", "native", "--size", "60", "--lens", "features"], "not a multiple of the 8 px patch"),
    (["--view", "model", "--size", "64", "--lens", "features"], "working size applies to the tiles and native"),
])
def test_view_errors_are_one_line(checkpoint, photo, capsys, argv, message):
    code = main(["explain", photo, "--model", checkpoint, "--device", "cpu", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
