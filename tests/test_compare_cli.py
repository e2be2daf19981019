"""`maskviz compare` end to end on a folder, its files (CSV/JSON schema), Ctrl-C, and the figures it draws."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image
from synthetic import randomize_, save_official_mae

from maskviz.cli import main
from maskviz.compare import CSV_FIELDS, compare, sweep_curves, sweep_strategies
from maskviz.compare_export import SCHEMA, grid_figure, summary_dict
from maskviz.figures import PIXEL_UNIT, error_image, error_scales, nice_ceiling, render_figure, sweep_image
from maskviz.models import create_model


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for i, name in enumerate(["a.png", "b.jpg", "sub/c.png"]):
        arr = np.random.default_rng(i).integers(0, 256, (40 + 8 * i, 36, 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / name)
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def checkpoints(tmp_path):
    paths = [tmp_path / "mae_a.pth", tmp_path / "mae_b.pth"]
    for seed, path in enumerate(paths):
        save_official_mae(path, seed=seed)
    return [str(p) for p in paths]


def _csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_compare_folder_writes_grid_sweep_csv_and_json(folder, checkpoints, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["compare", str(folder), "--model", checkpoints[0], "--model", checkpoints[1],
                 "--mask", "random:0.75", "--mask", "grid:2", "--mask", "center:0.5", "--seeds", "2",
                 "--same-count", "--sweep", "0.25:0.75:0.25", "--out", str(out), "--device", "cpu"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "metrics.csv", "summary.json", "sweep.png"]
    rows = _csv(out / "metrics.csv")
    assert tuple(rows[0]) == CSV_FIELDS
    strategies = 3 + 2 * 3  # three masks, plus random and center at three ratios
    assert len(rows) == 2 * 3 * strategies * 2  # models × images × strategies × seeds
    assert {r["image"] for r in rows} == {"a.png", "b.jpg", "sub/c.png"}
    assert {r["model"] for r in rows} == {"mae_a (file)", "mae_b (file)"}
    plain = [r for r in rows if not r["sweep"]]
    assert {r["hidden"] for r in plain} == {"12"}  # --same-count: as many as random:0.75 hides
    assert all(float(r["loss"]) > 0 and float(r["psnr"]) > 0 for r in rows)
    doc = json.loads((out / "summary.json").read_text())
    assert doc["schema"] == SCHEMA and doc["complete"] is True and doc["rows"] == len(rows)
    assert [m["label"] for m in doc["models"]] == ["mae_a (file)", "mae_b (file)"]
    assert doc["models"][0]["family"] == "mae"
    assert doc["strategies"] == ["random:0.75", "grid:2", "center:0.5"] and doc["seeds"] == [0, 1]
    entry = doc["summary"][0]
    assert entry["images"] == 3 and set(entry["loss"]) == {"mean", "std", "n", "ci95"} and entry["loss"]["n"] == 3
    assert [(s["model"], s["strategy"]) for s in doc["sweep"]][:2] == [("mae_a (file)", "random"),
                                                                       ("mae_a (file)", "center")]
    assert [p["ratio"] for p in doc["sweep"][0]["points"]] == [0.25, 0.5, 0.75]
    with Image.open(out / "grid.png") as grid, Image.open(out / "sweep.png") as sweep:
        assert grid.width > 6 * 128 and sweep.width > 600
    assert "mae_a (file)  random:0.75: MSE loss" in capsys.readouterr().out  # the unit, never a bare "loss"


def test_ctrl_c_keeps_what_is_done(folder, checkpoints, tmp_path, monkeypatch):
    import maskviz.compare as cmp

    real, calls = cmp.run_one, []

    def interrupt_on_second_image(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(cmp, "run_one", interrupt_on_second_image)
    out = tmp_path / "out"
    assert main(["compare", str(folder), "--model", checkpoints[0], "--out", str(out)]) == 130
    rows = _csv(out / "metrics.csv")
    assert {r["image"] for r in rows} == {"a.png"} and len(rows) == 4  # the four default masks
    assert json.loads((out / "summary.json").read_text())["complete"] is False
    assert (out / "grid.png").exists()


@pytest.mark.parametrize("argv", [["--mask", "nope:1"], ["--mask", "grid:2", "--sweep", "0.1:0.5:0.1"],
                                  ["--sweep", "1:0:1"], ["--seeds", "0"], ["--same-count", "999"]])
def test_bad_input_is_one_line_and_writes_nothing(folder, checkpoints, tmp_path, capsys, argv):
    out = tmp_path / "out"
    assert main(["compare", str(folder), "--model", checkpoints[0], "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("maskviz: error:") and err.count("\n") == 1 and not out.exists()


def test_missing_folder_is_an_input_error(checkpoints, tmp_path, capsys):
    assert main(["compare", str(tmp_path / "nowhere"), "--model", checkpoints[0], "--out", str(tmp_path / "o")]) == 2
    assert "maskviz: error:" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ figures


@pytest.fixture(scope="module")
def table():
    models = {"mae": randomize_(create_model("mae_vit_tiny_test")).eval(),
              "simmim": randomize_(create_model("simmim_vit_tiny_test"), seed=2).eval()}
    image = Image.fromarray(np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    strategies = ["random:0.75", "center:0.5", *sweep_strategies(["random"], [0.25, 0.75])]
    return compare(models, image, strategies, seeds=[0, 1], with_pictures=True)


def test_one_pixel_scale_for_the_whole_grid_and_one_per_loss_unit(table):
    results = [r.result for r in table.rows]
    assert list(error_scales(results, "pixel")) == [PIXEL_UNIT]
    units = error_scales(results, "patch")
    assert len(units) == 2 and any("L1" in u for u in units) and any("MSE" in u for u in units)
    top = error_scales(results, "pixel")[PIXEL_UNIT]
    hidden = np.concatenate([r.error_map[np.kron(r.mask, np.ones((8, 8), bool))] for r in results])
    assert top == nice_ceiling(float(np.percentile(hidden, 99)))  # from the data, hidden pixels only


def test_error_maps_dim_visible_patches_unless_asked(table):
    r = table.select(model="mae", strategy="center:0.5", seed=0)[0].result
    hidden = np.kron(r.mask, np.ones((8, 8), bool))
    dimmed, full = error_image(r, 0.1), error_image(r, 0.1, show_all=True)
    np.testing.assert_array_equal(dimmed[hidden], full[hidden])
    assert dimmed[~hidden].astype(int).sum() > full[~hidden].astype(int).sum()  # faded toward white


def test_grid_figure_names_every_input_and_grows_with_models(table):
    fig = grid_figure(table)
    assert fig.groups == ["mae", "simmim"] and fig.title == "image image · view model"
    assert [row.title for row in fig.rows] == ["mask random:0.75 · seed 0", "mask center:0.5"]  # fixed: no seed
    assert "seeds" in fig.footer  # the ± legend
    both = render_figure(fig)
    fig.groups, fig.rows = fig.groups[:1], [type(r)(r.title, r.cells[:1]) for r in fig.rows]
    assert render_figure(fig).width < both.width


def test_sweep_plot_draws_every_curve(table):
    curves = sweep_curves(table.rows)
    assert [c.label for c in curves] == ["mae · random", "simmim · random"]
    img = np.asarray(sweep_image(curves, "title"))
    for colour in ((31, 119, 180), (255, 127, 14)):  # the first two palette colours appear
        assert (np.abs(img.astype(int) - colour).sum(-1) < 30).sum() > 50
    assert summary_dict(table)["sweep"][0]["points"][1]["ratio"] == 0.75
