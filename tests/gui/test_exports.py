"""The GUI's exports draw what the CLI draws for the same inputs, in PNG, SVG or PDF, with the baseline on screen."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from guikit import WAIT_MS, settle
from PIL import Image

from maskviz import export
from maskviz.cli import main
from maskviz.figures import error_image, error_scales

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_figures import _find, svg_texts  # noqa: E402


def _cli_args(window, image: str, model: str, out: Path) -> list[str]:
    spec, seed = export.mask_and_seed(window.state.pattern_spec, None)
    return ["reconstruct", image, "--model", model, "--mask", spec, "--seed", str(seed or 0), "--device", "cpu",
            "--out", str(out)]


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_export_panels_equals_the_cli_figure(window, photo, tiny_model_path, tmp_path, suffix):
    gui, cli = tmp_path / f"gui{suffix}", tmp_path / f"cli{suffix}"
    assert window.export_panels(gui)
    assert main(_cli_args(window, photo, tiny_model_path, cli)) == 0
    assert gui.read_bytes() == cli.read_bytes()


def test_exported_error_map_greys_out_visible_patches(window, tmp_path):
    r = window.state.result.result
    assert r.mask.any() and not r.mask.all()
    png = tmp_path / "p.png"
    assert window.export_panels(png)
    shown = np.asarray(Image.open(png).convert("RGB"))
    vmax = error_scales([r])["squared error per pixel"]
    k = 128 // r.original.shape[0]
    greyed = error_image(r, vmax).repeat(k, 0).repeat(k, 1)
    assert _find(shown, greyed) is not None
    assert _find(shown, error_image(r, vmax, show_all=True).repeat(k, 0).repeat(k, 1)) is None


def test_export_includes_the_baseline_the_viewer_shows(window, qtbot, tmp_path):
    plain = tmp_path / "plain.svg"
    assert window.export_panels(plain)
    assert not any(t.startswith("baseline") for t in svg_texts(plain.read_bytes()))
    window.state.set_option("baseline", "mean")  # what View → Baseline → mean fill does
    qtbot.waitUntil(lambda: window.state.baseline_result is not None, timeout=WAIT_MS)
    settle(qtbot, window)
    with_fill = tmp_path / "fill.svg"
    assert window.export_panels(with_fill)
    texts = svg_texts(with_fill.read_bytes())
    assert "baseline: mean fill + visible" in texts
    assert any("baseline (mean fill) PSNR" in t for t in texts)


def test_an_unknown_suffix_is_one_dialog_and_nothing_written(window, dialogs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert window.export_panels(out / "p.jpg") is False
    assert len(dialogs) == 1 and ".png, .svg, .pdf" in dialogs[0][2]
    assert list(out.iterdir()) == []


def test_training_before_after_has_every_glyph(qtbot):
    """Issue 22.7: "error (0 – 0.5)" and "base: … — loss" were drawn with missing-glyph boxes."""
    from types import SimpleNamespace

    from synthetic import randomize_

    from maskviz.gui.training.before_after import BeforeAfterView
    from maskviz.gui.training.state import ComparisonShown, TrainingState
    from maskviz.masks import make_mask
    from maskviz.models import create_model
    from maskviz.reconstruct import reconstruct
    from maskviz.train.before_after import Comparison

    image = Image.fromarray(np.random.default_rng(5).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    mask = make_mask("center:0.5", (4, 4), 8)
    base, tuned = (reconstruct(randomize_(create_model("mae_vit_tiny_test"), seed=s).eval(), image, [mask])[0]
                   for s in (0, 1))
    state = TrainingState(Path("runs"))
    view = BeforeAfterView(state, SimpleNamespace(open_result=lambda which: None, use_result=lambda: None))
    qtbot.addWidget(view)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Glyph .* missing")
        state.set_comparison(ComparisonShown(Comparison(base, tuned, "base: mae_vit_tiny_test … ×2",
                                                        "fine-tuned, final (step 30)", Path("run/last.safetensors"))))
    assert view.shown == 2
