"""The one renderer (maskviz.figures): colour maps, exact pixels, formats, glyphs, units, layout, start-up."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from maskviz.figures import (
    COLORMAPS,
    MIN_PANEL_WIDTH,
    NAN_COLOR,
    ColorBar,
    FigureError,
    Heat,
    Inputs,
    Legend,
    Marker,
    Panel,
    Plot,
    Row,
    Series,
    Sheet,
    colormap,
    figure_format,
    heat_rgb,
    loss_unit,
    render,
    render_panel,
    to_image,
    write_figure,
)

WHITE = 255
SVG = "{http://www.w3.org/2000/svg}"


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])


def _ink(img) -> np.ndarray:
    """Boolean map of non-white pixels."""
    return (np.asarray(img) != WHITE).any(axis=-1)


def _dark_image(size: int = 32, seed: int = 0) -> np.ndarray:
    """Random colours that are never white, so the image is easy to find on the page."""
    return np.random.default_rng(seed).integers(0, 200, (size, size, 3), dtype=np.uint8)


def svg_texts(data: bytes) -> list[str]:
    """Every text of an SVG (it must parse as XML)."""
    root = ET.fromstring(data)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def _find(big: np.ndarray, small: np.ndarray) -> tuple[int, int] | None:
    """Top-left corner where ``small`` appears exactly in ``big``."""
    h, w = small.shape[:2]
    ys, xs = np.nonzero((big[: big.shape[0] - h + 1, : big.shape[1] - w + 1] == small[0, 0]).all(axis=-1))
    for y, x in zip(ys, xs, strict=True):
        if np.array_equal(big[y : y + h, x : x + w], small):
            return int(y), int(x)
    return None


# ------------------------------------------------------------------------------------- colour maps


@pytest.mark.parametrize("name", ["inferno", "viridis", "magma"])
def test_colormap_luminance_is_monotonic(name):
    rgb = colormap(np.linspace(0, 1, 512), 0.0, 1.0, name)
    assert rgb.shape == (512, 3) and rgb.dtype == np.uint8
    lum = _luminance(rgb)
    assert np.diff(lum).min() > -0.5  # neighbours differ by less than uint8 rounding
    assert np.all(np.diff(lum[::16]) > 0) and lum[-1] - lum[0] > 150


def test_colormap_endpoints_clipping_and_nan():
    out = colormap(np.array([[-5.0, 0.0, 2.0, 4.0, 99.0, np.nan]]), 0.0, 4.0, "inferno")
    assert out.shape == (1, 6, 3)
    assert out[0, 0].tolist() == out[0, 1].tolist() == [0, 0, 4]  # inferno's black end
    assert out[0, 3].tolist() == out[0, 4].tolist() == [252, 255, 164]  # inferno's pale-yellow end
    assert out[0, 5].tolist() == list(NAN_COLOR)
    vir = colormap(np.array([0.0, 1.0]), 0.0, 1.0, "viridis")
    assert vir.tolist() == [[68, 1, 84], [253, 231, 37]]
    assert colormap(np.zeros(3), 0.0, 0.0).tolist() == [[0, 0, 4]] * 3  # empty range: no crash
    assert set(COLORMAPS) >= {"inferno", "viridis", "magma"}
    with pytest.raises(ValueError, match="unknown colour map"):
        colormap(np.zeros(2), 0, 1, "jet")


def test_heat_dims_and_blends_exactly():
    values = np.linspace(0, 1, 16).reshape(4, 4)
    dim = np.zeros((2, 2), bool)
    dim[0, 0] = True  # a patch-grid mask: the top-left 2×2 pixels
    full = colormap(values, 0, 1)
    rgb = heat_rgb(Heat(values, 0, 1, dim=dim))
    np.testing.assert_array_equal(rgb[2:, 2:], full[2:, 2:])
    assert (rgb[:2, :2].astype(int) > full[:2, :2]).all()  # faded toward the white page
    under = np.full((4, 4, 3), 100, np.uint8)
    half = heat_rgb(Heat(values, 0, 1, alpha=0.5), under)
    np.testing.assert_array_equal(half, np.rint(under * 0.5 + full * 0.5).astype(np.uint8))


# ------------------------------------------------------------------------------------------ panel


def _cli_like(n: int, heatmap: bool = True, **kw):
    img = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    panels = [(f"panel {i}", img) for i in range(n)]
    err = ("error", np.random.default_rng(1).random((32, 32)), 0.0, 1.0) if heatmap else None
    return render_panel(panels, heatmap=err, **kw)


def test_size_grows_with_panel_count():
    widths = [_cli_like(n, heatmap=False).width for n in (1, 2, 4)]
    assert widths[0] < widths[1] < widths[2]
    assert _cli_like(2).width > _cli_like(2, heatmap=False).width
    assert _cli_like(1).mode == "RGB"


def test_titles_are_drawn_above_the_images():
    img = _dark_image()
    titled = np.asarray(render_panel([("original", img), ("reconstruction + visible", img)]))
    k = -(-MIN_PANEL_WIDTH // 32)
    top, _ = _find(titled, img.repeat(k, axis=0).repeat(k, axis=1))
    assert top > 12
    assert _ink(titled[:top]).sum() > 50  # glyph pixels in the title strip


def test_small_images_are_enlarged_with_nearest_pixel_for_pixel():
    img = _dark_image(32)
    k = -(-MIN_PANEL_WIDTH // 32)
    out = np.asarray(render_panel([("", img)]))
    assert _find(out, img.repeat(k, axis=0).repeat(k, axis=1)) is not None  # crisp blocks, no blending
    assert _ink(out).sum() == (32 * k) ** 2  # nothing else drawn (no title, no frame)


def test_explicit_scale_and_large_images():
    img = _dark_image(32)
    assert render_panel([("", img)], scale=2).width < render_panel([("", img)], scale=3).width
    big = _dark_image(224)
    out = np.asarray(render_panel([("", big)]))
    assert _find(out, big) is not None  # already wide enough: shown 1:1, the exact pixels


def test_grid_lines_are_light_and_optional():
    img = np.zeros((32, 32, 3), np.uint8)
    plain = np.asarray(render_panel([("", img)], scale=1))
    gridded = np.asarray(render_panel([("", img)], scale=1, grid=8))
    diff = (plain != gridded).any(axis=-1)
    rows = np.flatnonzero(diff.sum(axis=1) == 32)
    assert len(rows) == 3  # interior boundaries at 8, 16, 24 (the edges get none)
    line = gridded[diff][:, 0]
    assert line.min() > 50 and line.max() < 200  # lightened, not painted over


def test_heatmap_colorbar_is_present_and_monotonic():
    img = _dark_image()
    flat = np.full((32, 32), 0.5)  # uniform heatmap: the only vertical gradient is the colour bar
    out = np.asarray(render_panel([("a", img)], heatmap=("error", flat, 0.0, 1.0)))
    best = None
    for x in range(out.shape[1]):
        lum = _luminance(out[:, x])
        coloured = np.flatnonzero((out[:, x] != WHITE).any(axis=-1))
        if len(coloured) < 150:
            continue
        seg = lum[coloured[0] + 2 : coloured[-1] - 1]  # inside the bar outline
        if np.all(np.diff(seg) <= 0) and seg[0] - seg[-1] > 150:
            best = x
    assert best is not None, "no column runs from bright (max, top) to dark (min, bottom)"
    labels = _ink(out)[:, best + 10 :]  # tick labels to the right of the bar
    assert labels.sum() > 30


def test_footer_is_drawn():
    img = _dark_image()
    without = render_panel([("a", img)])
    with_footer = render_panel([("a", img)], footer="loss 0.1234  psnr 21.5 dB")
    assert with_footer.height > without.height
    strip = _ink(with_footer)[without.height - 12 :]
    assert strip.sum() > 50


def test_accepts_grey_and_float_and_rejects_nonsense():
    grey = np.linspace(0, 1, 32 * 32).reshape(32, 32)
    assert render_panel([("grey", grey)]).width > MIN_PANEL_WIDTH
    with pytest.raises(ValueError):
        render_panel([])
    with pytest.raises(ValueError):
        render_panel([("bad", np.zeros((2, 2, 2, 2)))])


# ------------------------------------------------------------------------------------- primitives


def _explain_like() -> Sheet:
    """The kind of sheet the explain figures draw: an overlay with a marker and its own bar, a plot, a shared bar."""
    img = _dark_image(32)
    attn = np.linspace(0, 1, 32 * 32).reshape(32, 32)
    inputs = Inputs("mae_small", "coffee.jpg", "random:0.75", 0)
    overlay = Panel(img, Heat(attn, 0, 1, unit="attention", alpha=0.5),
                    markers=[Marker(8, 8, 8, 8, "target"), Marker(24, 24)], colorbar=True, title="attention")
    plot = Plot([Series("loss", [0.1, 0.5, 0.9], [0.2, 0.4, 0.8], band=([0.1, 0.3, 0.7], [0.3, 0.5, 0.9]))],
                "fraction of patches hidden", "loss (MSE)", title="curve")
    return Sheet([Row([Panel(img, title="masked input"), overlay], title="mask random:0.75 · seed 0"),
                  Row([plot]), Row([Legend(plot.series)])],
                 title=inputs.describe(), side=[ColorBar(0, 0.05, unit="squared error per pixel")], footer="a note")


def test_primitives_compose_into_one_figure_with_exact_pictures():
    sheet = _explain_like()
    out = np.asarray(to_image(sheet))
    img = _dark_image(32)
    k = -(-MIN_PANEL_WIDTH // 32)
    assert _find(out, img.repeat(k, 0).repeat(k, 1)) is not None  # the plain panel: exact pixels
    texts = svg_texts(render(sheet, "svg"))
    assert "model mae_small · image coffee.jpg · mask random:0.75 · seed 0 · view model" in texts
    for text in ("masked input", "attention", "target", "curve", "loss (MSE)", "fraction of patches hidden",
                 "squared error per pixel", "a note", "mask random:0.75 · seed 0", "loss"):
        assert text in texts, text


def test_a_marker_is_drawn_where_it_points():
    img = np.full((32, 32, 3), 60, np.uint8)
    cross = to_image(Sheet([Row([Panel(img, markers=[Marker(16, 16, color="#00ff00")])])], scale=4))
    plain = to_image(Sheet([Row([Panel(img)])], scale=4))
    diff = np.argwhere((np.asarray(cross) != np.asarray(plain)).any(axis=-1))
    top, left = _find(np.asarray(plain), img.repeat(4, 0).repeat(4, 1))
    centre = diff.mean(axis=0) - (top, left)
    np.testing.assert_allclose(centre, (64, 64), atol=2)  # source pixel 16 × 4


def test_the_legend_is_below_the_plots_never_over_a_curve():
    from maskviz.figures import sweep_sheet

    sheet = sweep_sheet(_curves(), "title")
    root = ET.fromstring(render(sheet, "svg"))
    ys = {}
    for t in root.iter(f"{SVG}text"):
        ys.setdefault("".join(t.itertext()), []).append(float(t.get("y")))
    axis_bottom = max(ys["fraction of patches hidden"])
    legend_top = min(y for text, values in ys.items() if "(loss:" in text for y in values)
    assert legend_top > axis_bottom


# --------------------------------------------------------------------------------------- formats


def test_every_format_is_real_and_deterministic(tmp_path):
    sheet = _explain_like()
    magic = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-"}
    for fmt, head in magic.items():
        path = write_figure(sheet, tmp_path / f"fig.{fmt.upper() if fmt == 'pdf' else fmt}")
        data = path.read_bytes()
        assert data.startswith(head), fmt
        assert render(sheet, fmt) == data  # the same inputs give the same bytes
    with Image.open(tmp_path / "fig.png") as png:
        assert png.mode == "RGB" and png.size == to_image(sheet).size
    assert svg_texts((tmp_path / "fig.svg").read_bytes())  # parses as XML, text kept as text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.PDF", "fig.png", "fig.svg"]  # no temporaries


def _rasterise_pdf(pdf, png) -> bool:
    """The PDF's page as a PNG at 100 dpi, by poppler or Ghostscript (False when neither is installed)."""
    import shutil

    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "100", "-singlefile", str(pdf), str(png.with_suffix(""))], check=True)
    elif shutil.which("gs"):
        subprocess.run(["gs", "-q", "-sDEVICE=png16m", "-r100", "-o", str(png), str(pdf)], check=True)
    else:
        return False
    return True


def test_the_pdf_holds_the_same_picture(tmp_path):
    img = _dark_image(32)
    sheet = Sheet([Row([Panel(img, title="masked input")])], title="pdf check", scale=4)
    pdf = write_figure(sheet, tmp_path / "fig.pdf")
    if not _rasterise_pdf(pdf, tmp_path / "page.png"):
        pytest.skip("neither pdftoppm nor Ghostscript is installed")
    expected = np.asarray(to_image(sheet))
    with Image.open(tmp_path / "page.png") as page:
        shown = np.asarray(page.convert("RGB"))
    assert shown.shape == expected.shape  # 100 px per inch: the same layout
    picture = img.repeat(4, 0).repeat(4, 1)
    assert _find(shown, picture) == _find(expected, picture) is not None  # the exact pixels, in the same place


@pytest.mark.parametrize("name", ["fig.jpg", "fig.svgz", "panel.png.txt"])
def test_an_unknown_suffix_is_one_clear_error_and_writes_nothing(tmp_path, name):
    with pytest.raises(FigureError, match=r"must end in \.png, \.svg, \.pdf"):
        write_figure(_explain_like(), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_no_suffix_means_png():
    assert figure_format("/dev/stdout") == "png" and figure_format("x.SVG") == "svg"


# ---------------------------------------------------------------------------------------- glyphs

#: Every character beyond ASCII that maskviz writes into figures (titles, captions, notes), and the
#: training comparison's strings that showed boxes (issue 22.7).
GLYPHS = "–—…·±×∞≥≤÷²→"
SEEN_AS_BOXES = ["error (0 – 0.5)", "base: … — loss 0.1234 · PSNR ∞", "± = standard deviation"]


def _title_ink(text: str) -> np.ndarray:
    img = np.zeros((8, 8, 3), np.uint8)
    out = np.asarray(render_panel([(text, img)], scale=24))
    top, _ = _find(out, np.zeros((192, 192, 3), np.uint8))
    return _ink(out[:top])


def test_every_glyph_used_is_in_the_font_not_a_missing_glyph_box():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reference: a private-use character no font has
        missing = _title_ink("\ue000")
    for ch in GLYPHS:
        assert not np.array_equal(_title_ink(ch), missing), f"{ch!r} is drawn as the missing-glyph box"


def test_no_glyph_is_missing_anywhere_in_the_figures():
    """matplotlib warns 'Glyph ... missing from font' where a box is drawn: here that is an error."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Glyph .* missing")
        render_panel([(s, _dark_image()) for s in SEEN_AS_BOXES], footer="\n".join(SEEN_AS_BOXES))
        for fmt in ("png", "svg", "pdf"):
            render(_explain_like(), fmt)
        with pytest.raises(UserWarning, match="Glyph .* missing"):
            render_panel([("\ue000", _dark_image())])  # the check itself works


# ----------------------------------------------------------------------------------------- units


def test_loss_units_are_the_familys_names():
    assert loss_unit("MSE, normalised pixels") == "MSE"
    assert loss_unit("MSE, per-patch normalised pixels") == "norm-pix MSE"
    assert loss_unit("L1, normalised pixels") == "L1"
    assert loss_unit("Huber, pixels") == "Huber, pixels"  # an unknown family's name is shown whole


@pytest.fixture(scope="module")
def table():
    from PIL import Image as PILImage
    from synthetic import randomize_

    from maskviz.compare import compare, sweep_strategies
    from maskviz.models import create_model

    models = {"mae": randomize_(create_model("mae_vit_tiny_test")).eval(),
              "simmim": randomize_(create_model("simmim_vit_tiny_test"), seed=2).eval()}
    image = PILImage.fromarray(np.random.default_rng(3).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    strategies = ["random:0.75", "center:0.5", *sweep_strategies(["random"], [0.25, 0.75])]
    return compare(models, image, strategies, seeds=[0, 1], with_pictures=True)


def _curves():
    from maskviz.compare import Curve, Stat, Summary

    def point(ratio, loss, name, family):
        stat = Stat.of([loss, loss * 1.1])
        return Summary("m", "random", "random", ratio, family, name, stat, stat, Stat.of([20.0, 21.0]), ratio, 1, 2,
                       ())

    mae = Curve(model="mae", family="random", loss_name="MSE, normalised pixels",
                points=tuple(point(r, r, "MSE, normalised pixels", "mae") for r in (0.25, 0.5, 0.75)))
    simmim = Curve(model="simmim", family="random", loss_name="L1, normalised pixels",
                   points=tuple(point(r, 2 * r, "L1, normalised pixels", "simmim") for r in (0.25, 0.5, 0.75)))
    return [mae, simmim]


def test_grid_names_each_models_loss_with_its_unit(table):
    from maskviz.compare_export import grid_figure

    for heat in ("pixel", "patch"):
        texts = svg_texts(render(grid_figure(table, heat=heat).sheet(), "svg"))
        numbers = [t for t in texts if re.search(r"loss \d", t)]
        assert any(t.startswith("MSE loss ") for t in numbers) and any(t.startswith("L1 loss ") for t in numbers)
        assert all(re.match(r"(mean )?(MSE|L1) loss \d", t) for t in numbers), numbers  # never a bare "loss"
        if heat == "patch":
            assert {"loss per patch (MSE)", "loss per patch (L1)"} <= set(texts)  # column titles and bars
        else:
            assert "squared error per pixel" in texts and "error per pixel" in texts


def test_sweep_has_one_loss_axis_per_unit():
    from maskviz.figures import sweep_sheet

    texts = svg_texts(render(sweep_sheet(_curves(), "title"), "svg"))
    assert {"loss (MSE)", "loss (L1)", "PSNR (dB, hidden pixels)"} <= set(texts)
    assert "mae · random  (loss: MSE)" in texts and "simmim · random  (loss: L1)" in texts


def test_compare_csv_names_every_loss(table):
    import csv
    import io

    from maskviz.compare_export import metrics_csv

    rows = list(csv.DictReader(io.StringIO(metrics_csv(table))))
    units = {r["model"]: loss_unit(r["loss_name"]) for r in rows}
    assert units == {"mae": "MSE", "simmim": "L1"}


# -------------------------------------------------------------------------------------- start-up

PROBE = """
import sys
{code}
print("matplotlib" in sys.modules)
"""


@pytest.mark.parametrize("code", [
    "import maskviz.figures, maskviz.export, maskviz.compare_export",
    "from maskviz.cli import main\nfor argv in (['--version'], ['--help'], ['models']):\n"
    "    try:\n        main(argv)\n    except SystemExit:\n        pass",
    "import maskviz.gui.app as app, importlib, maskviz.gui.main_window\n"
    "[importlib.import_module(m) for m in getattr(app, 'PRELOAD', ())]",
])
def test_matplotlib_is_imported_only_when_a_figure_is_drawn(code):
    out = subprocess.run([sys.executable, "-c", PROBE.format(code=code)], capture_output=True, text=True,
                         timeout=300, env={"QT_QPA_PLATFORM": "offscreen", **__import__("os").environ})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "False"


def test_the_renderer_and_the_export_module_need_no_torch():
    """Scripts can draw figures without PyTorch; and no figure module reaches up into compare or the CLI."""
    code = "import sys, maskviz.figures, maskviz.export\nprint(sorted(m for m in ('torch', 'maskviz.compare', " \
           "'maskviz.cli', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["inferno", "viridis", "magma"])
def test_colormap_picks_exactly_what_matplotlib_does(name):
    from matplotlib import colormaps

    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(-0.5, 2.5, 20000), np.linspace(0, 2, 4097), [0.0, 2.0, np.inf, -np.inf]])
    t = np.clip(values / 2.0, 0.0, 1.0)
    expected = np.rint(colormaps[name](t)[..., :3] * 255).astype(np.uint8)
    np.testing.assert_array_equal(colormap(values, 0.0, 2.0, name), expected)
