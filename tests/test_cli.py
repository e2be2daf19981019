"""`maskviz reconstruct` / `info` / `models` end to end, and their one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from maskviz.cli import main


def test_reconstruct_writes_panel_and_metrics(tmp_path, checkpoint, image32, capsys):
    out, js = tmp_path / "panel.png", tmp_path / "m.json"
    code = main(["reconstruct", image32, "--model", checkpoint, "--mask", "random:0.75", "--seed", "3",
                 "--out", str(out), "--json", str(js), "--device", "cpu"])
    assert code == 0
    doc = json.loads(js.read_text())
    for key in ("loss", "mse", "psnr", "masked_patches", "total_patches", "family", "norm_pix", "device"):
        assert key in doc
    assert doc["masked_patches"] == 12 and doc["total_patches"] == 16 and doc["family"] == "mae"
    assert doc["device"] == "cpu" and doc["norm_pix"] is False and doc["loss"] > 0
    assert doc["model"]["architecture"] == "mae_vit_tiny_test"
    panel = Image.open(out)
    assert panel.width > 5 * 32 and panel.mode == "RGB"
    assert "loss" in capsys.readouterr().out


def test_same_seed_same_numbers(tmp_path, checkpoint, image32):
    docs = []
    for i in range(2):
        js = tmp_path / f"{i}.json"
        assert main(["reconstruct", image32, "--model", checkpoint, "--seed", "5", "--json", str(js)]) == 0
        docs.append(json.loads(js.read_text()))
    assert docs[0]["loss"] == docs[1]["loss"]


def test_several_masks_and_file_mask(tmp_path, checkpoint, image32):
    mask_png = tmp_path / "mask.png"
    Image.fromarray(np.kron(np.eye(4, dtype=np.uint8), np.ones((8, 8), np.uint8)) * 255).save(mask_png)
    js = tmp_path / "m.json"
    code = main(["reconstruct", image32, "--model", checkpoint, "--mask", "grid:2", "--mask", f"file:{mask_png}",
                 "--json", str(js), "--out", str(tmp_path / "p.png")])
    assert code == 0
    results = json.loads(js.read_text())["results"]
    assert [r["masked_patches"] for r in results] == [12, 4]


def test_full_reconstruction(tmp_path, checkpoint, image32):
    js = tmp_path / "m.json"
    assert main(["reconstruct", image32, "--model", checkpoint, "--full", "4", "--json", str(js)]) == 0
    assert json.loads(js.read_text())["masked_patches"] == 16


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["reconstruct", "{missing}", "--model", "{ckpt}"], "no such file"),
        (["reconstruct", "{image}", "--model", "{missing}"], "no such file or folder"),
        (["reconstruct", "{image}", "--model", "{ckpt}", "--mask", "zigzag:3"], "zigzag"),
        (["reconstruct", "{image}", "--model", "{ckpt}", "--mask", "random:1.5"], "random"),
        (["reconstruct", "{image}", "--model", "{ckpt}", "--device", "cuda"], "not available"),
        (["reconstruct", "{image}", "--model", "{ckpt}", "--precision", "bf16", "--device", "cpu"], "GPUs only"),
        (["reconstruct", "{bad_image}", "--model", "{ckpt}"], "cannot read"),
        (["reconstruct", "{image}", "--model", "{bad_image}"], "not a model checkpoint"),
    ],
)
def test_bad_input_is_one_line_on_stderr(tmp_path, checkpoint, image32, capsys, args, message):
    import torch

    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    paths = {"missing": str(tmp_path / "missing.png"), "ckpt": checkpoint, "image": image32, "bad_image": str(bad)}
    code = main([a.format(**paths) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_debug_shows_traceback(tmp_path, checkpoint, capsys):
    assert main(["--debug", "reconstruct", str(tmp_path / "none.png"), "--model", checkpoint]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_info_reports_what_was_found(checkpoint, capsys):
    assert main(["info", checkpoint]) == 0
    out = capsys.readouterr().out
    assert "MAE ViT" in out and "official MAE checkpoint" in out and "note:" in out


def test_models_lists_named_configs(capsys):
    assert main(["models"]) == 0
    assert "mae_vit_base_patch16" in capsys.readouterr().out


def test_console_entry_point_end_to_end(tmp_path, checkpoint, image32):
    """The real process: exit code, stdout line, files."""
    out = tmp_path / "panel.png"
    proc = subprocess.run([sys.executable, "-m", "maskviz", "reconstruct", image32, "--model", checkpoint,
                           "--mask", "block:0.5", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "block:0.5" in proc.stdout and out.exists()
    bad = subprocess.run([sys.executable, "-m", "maskviz", "reconstruct", "nothere.png", "--model", checkpoint],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("maskviz: error:") and "Traceback" not in bad.stderr


def test_reconstruct_without_any_bundled_model_falls_back_to_the_builtin(tmp_path, capsys, monkeypatch):
    """A stripped install (no bundled models): the random built-in model, and a warning saying so.
    With the bundled models present, tests/test_bundled.py checks the default."""
    monkeypatch.setattr("maskviz.bundled.bundled_model_paths", lambda: {})
    js = tmp_path / "m.json"
    assert main(["reconstruct", "sample:cat", "--mask", "random:0.75", "--json", str(js)]) == 0
    doc = json.loads(js.read_text())
    assert doc["family"] == "mae" and doc["total_patches"] == doc["model"]["grid"][0] * doc["model"]["grid"][1]
    assert doc["model"]["format"] == "builtin" and "random weights" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly(monkeypatch, capsys):
    """`maskviz models | head`: the reader goes away; no error message, the shell's SIGPIPE status."""
    import io

    from maskviz import cli

    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert cli.main(["models"]) == cli.EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""
