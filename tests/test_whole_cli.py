"""`maskviz reconstruct` and `maskviz compare` with --view tiles|native and --size."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from maskviz.cli import main


def photo(tmp_path, w: int, h: int, name: str = "photo.png") -> str:
    path = tmp_path / name
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_reconstruct_tiles_names_the_view_and_lists_the_tiles(tmp_path, checkpoint, capsys):
    js, out = tmp_path / "m.json", tmp_path / "p.png"
    code = main(["reconstruct", photo(tmp_path, 100, 75), "--model", checkpoint, "--view", "tiles",
                 "--mask", "random:0.75", "--json", str(js), "--out", str(out)])
    assert code == 0
    doc = json.loads(js.read_text())
    assert doc["view"] == "tiles 96x72 px" and doc["total_patches"] == 12 * 9
    assert doc["masked_patches"] == 81 and len(doc["tiles"]) == 9
    assert sum(t["masked_patches"] for t in doc["tiles"]) > 81  # shifted edge tiles overlap their neighbours
    assert Image.open(out).width > 96
    captured = capsys.readouterr()
    assert "[tiles 96x72 px]  (9 tiles)" in captured.out
    assert "100×75 px cut to 96×72 px" in captured.err


def test_reconstruct_native_at_a_working_size_and_full(tmp_path, checkpoint):
    js = tmp_path / "m.json"
    assert main(["reconstruct", photo(tmp_path, 200, 100), "--model", checkpoint, "--view", "native", "--size", "64",
                 "--full", "4", "--json", str(js)]) == 0
    doc = json.loads(js.read_text())
    assert doc["view"] == "native 64x32 px" and doc["masked_patches"] == doc["total_patches"] == 32
    assert "tiles" not in doc


@pytest.mark.parametrize(("args", "message"), [
    (["--view", "model", "--size", "64"], "a working size applies to the tiles and native views"),
    (["--view", "tiles", "--size", "60"], "a working size of 60 px is not a multiple of the 8 px patch; 56 or 64"),
    (["--view", "tiles", "--size", "24"], "the tiles view needs at least one 32×32 px model input each way"),
])
def test_reconstruct_view_errors_are_one_line(tmp_path, checkpoint, capsys, args, message):
    code = main(["reconstruct", photo(tmp_path, 100, 75), "--model", checkpoint, *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_compare_tiles_names_the_view_and_skips_what_it_cannot_take(tmp_path, checkpoint, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    photo(folder, 100, 75, "big.png")
    photo(folder, 40, 20, "small.png")  # less than one 32 px model input high
    out = tmp_path / "cmp"
    code = main(["compare", str(folder), "--model", checkpoint, "--view", "tiles", "--mask", "random:0.5",
                 "--mask", "block:0.4", "--out", str(out)])
    assert code == 0
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert {r["view"] for r in rows} == {"tiles 96x72 px"} and {r["image"] for r in rows} == {"big.png"}
    assert {r["total"] for r in rows} == {"108"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["view"] == "tiles"
    assert summary["skipped"][0]["image"] == "small.png" and "model input" in summary["skipped"][0]["reason"]
    assert "skipped small.png" in capsys.readouterr().err
