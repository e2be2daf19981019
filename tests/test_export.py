"""The reconstruction export module (maskviz.export): what `maskviz reconstruct --out/--json` and the GUI write."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from synthetic import save_official_mae
from test_figures import svg_texts

from maskviz import export
from maskviz.cli import main
from maskviz.errors import MaskvizError


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    save_official_mae(folder / "mae_visualize_tiny.pth")
    arr = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(arr).save(folder / "img.png")
    return str(folder / "img.png"), str(folder / "mae_visualize_tiny.pth")


def reconstruct(inputs, *extra: str) -> int:
    image, model = inputs
    return main(["reconstruct", image, "--model", model, "--device", "cpu", *extra])


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF-")])
def test_reconstruct_writes_the_format_its_name_says(tmp_path, inputs, suffix, magic):
    out = tmp_path / f"fig{suffix}"
    assert reconstruct(inputs, "--mask", "random:0.75", "--seed", "3", "--out", str(out)) == 0
    assert out.read_bytes().startswith(magic)
    if suffix == ".svg":
        texts = svg_texts(out.read_bytes())
        assert "model mae_visualize_tiny (file) · image img.png · view model" in texts  # as the app names it
        assert "mask random:0.75 · seed 3" in texts and "squared error per pixel" in texts
        assert any(re.match(r"MSE loss \d\.\d{4} · PSNR", t) for t in texts)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left behind


def test_an_unknown_suffix_is_refused_before_any_work(tmp_path, capsys):
    missing_model = str(tmp_path / "no-such-model.pth")
    assert main(["reconstruct", "also-missing.png", "--model", missing_model, "--out", str(tmp_path / "fig.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fig.jpg" in err and ".png, .svg, .pdf" in err  # not the model or image
    assert list(tmp_path.iterdir()) == []


def test_the_cli_and_the_export_function_write_identical_bytes(tmp_path, inputs):
    """The GUI calls the same function with its own spec text (``random:0.75,seed=3``): the same figure."""
    from maskviz.checkpoints import load_model
    from maskviz.images import load_image
    from maskviz.masks import make_mask
    from maskviz.reconstruct import reconstruct as run

    for suffix in (".png", ".svg", ".pdf"):
        cli = tmp_path / f"cli{suffix}"
        assert reconstruct(inputs, "--mask", "random:0.75", "--seed", "3", "--out", str(cli)) == 0
        loaded = load_model(inputs[1], device="cpu")
        mask = make_mask("random:0.75,seed=3", loaded.model.grid_size, loaded.model.patch_size)
        results = run(loaded.model, load_image(inputs[0]), [mask])
        ours = export.write_reconstruction_figure(results, ["random:0.75,seed=3"], tmp_path / f"fn{suffix}",
                                                  export.model_name(loaded), export.image_name(inputs[0]))
        assert ours.read_bytes() == cli.read_bytes(), suffix


def test_several_masks_are_rows_titled_with_spec_and_seed(tmp_path, inputs):
    out = tmp_path / "fig.svg"
    assert reconstruct(inputs, "--mask", "grid:2", "--mask", "random:0.5,seed=7", "--seed", "1", "--out", str(out)) == 0
    texts = svg_texts(out.read_bytes())
    assert "mask grid:2" in texts  # a fixed pattern: no seed
    assert "mask random:0.5 · seed 7" in texts  # the spec's own seed wins, titled like the GUI's


@pytest.mark.parametrize(("spec", "seed", "titled"), [
    ("random:0.75", 3, ("random:0.75", 3)), ("random:0.75,seed=5", 3, ("random:0.75", 5)),
    ("center:0.4", 3, ("center:0.4", None)), ("full:4", 2, ("full:4", 2)), ("painted", 0, ("painted", None)),
    ("random 75 % + edits", 0, ("random 75 % + edits", None)),
])
def test_mask_titles(spec, seed, titled):
    assert export.mask_and_seed(spec, seed) == titled


def test_the_baseline_column_is_drawn_when_asked(tmp_path, inputs):
    from maskviz.baselines import baseline_reconstruction
    from maskviz.checkpoints import load_model
    from maskviz.images import load_image
    from maskviz.masks import make_mask
    from maskviz.reconstruct import reconstruct as run

    loaded = load_model(inputs[1], device="cpu")
    mask = make_mask("center:0.5", loaded.model.grid_size, loaded.model.patch_size)
    result = run(loaded.model, load_image(inputs[0]), [mask])[0]
    fill = baseline_reconstruction("harmonic", result.original, mask, loaded.model.patch_size)
    plain = export.write_reconstruction_figure([result], ["center:0.5"], tmp_path / "a.png", "m", "img.png")
    with_fill = export.write_reconstruction_figure([result], ["center:0.5"], tmp_path / "b.svg", "m", "img.png",
                                                   baseline=("harmonic interpolation", fill))
    texts = svg_texts(with_fill.read_bytes())
    assert "baseline: harmonic interpolation + visible" in texts
    assert any("baseline (harmonic interpolation) PSNR" in t for t in texts)
    wide = export.write_reconstruction_figure([result], ["center:0.5"], tmp_path / "b.png", "m", "img.png",
                                              baseline=("harmonic interpolation", fill))
    with Image.open(plain) as a, Image.open(wide) as b:
        assert b.width > a.width + 100  # one more picture column


def test_metrics_json_names_every_mask(tmp_path, inputs):
    js = tmp_path / "m.json"
    assert reconstruct(inputs, "--mask", "grid:2", "--mask", "center:0.5", "--json", str(js)) == 0
    doc = json.loads(js.read_text())
    assert [r["mask"] for r in doc["results"]] == ["grid:2", "center:0.5"] and doc["mask"] == "grid:2"


def test_a_failed_write_keeps_the_old_file_whole(tmp_path, inputs, monkeypatch):
    from maskviz.checkpoints import load_model
    from maskviz.images import load_image
    from maskviz.masks import make_mask
    from maskviz.reconstruct import reconstruct as run

    loaded = load_model(inputs[1], device="cpu")
    results = run(loaded.model, load_image(inputs[0]), [make_mask("grid:2", loaded.model.grid_size, 8)])
    for name in ("m.json", "fig.svg"):
        (tmp_path / name).write_text("old")

    def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(MaskvizError, match="No space left"):
        export.write_metrics_json(results, ["grid:2"], loaded.summary(), "cpu", 0.1, tmp_path / "m.json")
    with pytest.raises(MaskvizError, match="No space left"):
        export.write_reconstruction_figure(results, ["grid:2"], tmp_path / "fig.svg", "m", "img.png")
    monkeypatch.undo()
    assert [p.read_text() for p in sorted(tmp_path.iterdir())] == ["old", "old"]  # no temporaries either


def test_no_gui_module_imports_the_cli():
    """The GUI and the CLI both call maskviz.export: no import circle cli ↔ gui."""
    gui = Path(__file__).resolve().parents[1] / "maskviz" / "gui"
    for path in gui.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if isinstance(node, ast.ImportFrom) and node.module == "maskviz":
                names = [f"maskviz.{a.name}" for a in node.names]
            assert not any(n == "maskviz.cli" or n.startswith("maskviz.cli.") for n in names), path.name
