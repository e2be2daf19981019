"""Robustness corpus, part 1: odd and hostile images and mask specs (generated at test time).

Every case goes through the CLI in-process and asserts the exit code, a one-line message of the
right kind, and that no output was written for a refused input; good-but-odd files must convert
to the right picture.
"""

from __future__ import annotations

import os
import re
import stat

import numpy as np
import pytest
from PIL import Image
from robust_corpus import encoded, gradient, png_with_header
from synthetic import save_official_mae

from maskviz.cli import main
from maskviz.errors import ImageError, MaskError
from maskviz.images import load_image
from maskviz.masks import make_mask

RGB = Image.fromarray(gradient())


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def _float(values: np.ndarray) -> Image.Image:
    return Image.fromarray(values.astype(np.float32), mode="F")


_grey = gradient()[..., 0]
_anim = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (10, 200)]

# name -> (bytes of the file, expected (width, height) after upright conversion, or a check of pixels)
GOOD_IMAGES = {
    "rgb.png": (encoded(RGB, "PNG"), (40, 32)),
    "rgba.png": (encoded(RGB.convert("RGBA"), "PNG"), (40, 32)),
    "transparent.png": (encoded(Image.new("RGBA", (8, 8), (0, 0, 0, 0)), "PNG"), "white"),
    "la.png": (encoded(RGB.convert("LA"), "PNG"), (40, 32)),
    "palette.png": (encoded(RGB.convert("P"), "PNG"), (40, 32)),
    "palette.gif": (encoded(RGB.convert("P"), "GIF"), (40, 32)),
    "grey.png": (encoded(RGB.convert("L"), "PNG"), (40, 32)),
    "bilevel.png": (encoded(RGB.convert("1"), "PNG"), (40, 32)),
    "bilevel.tif": (encoded(RGB.convert("1"), "TIFF"), (40, 32)),
    "sixteen.png": (encoded(Image.fromarray(_grey.astype(np.uint16) * 257), "PNG"), "grey-exact"),
    "sixteen_full_range.png": (encoded(Image.fromarray(np.array([[0, 65535]], np.uint16)), "PNG"), "black-white"),
    "int32.tif": (encoded(Image.fromarray(_grey.astype(np.int32) * 257), "TIFF"), "grey-exact"),
    "int32_negative.tif": (encoded(Image.fromarray(np.array([[-5, 5]], np.int32)), "TIFF"), "black-white"),
    "float01.tif": (encoded(_float(_grey / 255.0), "TIFF"), "grey-exact"),
    "float255.tif": (encoded(_float(_grey.astype(np.float32)), "TIFF"), "grey-exact"),
    "float_wide.tif": (encoded(_float(np.array([[-1e6, 1e6]])), "TIFF"), "black-white"),
    "float_nan.tif": (encoded(_float(np.array([[np.nan, 1.0, np.inf, -np.inf]])), "TIFF"), (4, 1)),
    "float_constant.tif": (encoded(_float(np.full((3, 3), 7e9)), "TIFF"), (3, 3)),
    "cmyk.jpg": (encoded(RGB.convert("CMYK"), "JPEG"), (40, 32)),
    "cmyk.tif": (encoded(RGB.convert("CMYK"), "TIFF"), (40, 32)),
    "ycbcr.jpg": (encoded(RGB, "JPEG", quality=95), (40, 32)),
    "grey.jpg": (encoded(RGB.convert("L"), "JPEG"), (40, 32)),
    "progressive.jpg": (encoded(RGB, "JPEG", progressive=True), (40, 32)),
    "exif_rotate_90.jpg": (encoded(RGB, "JPEG", exif=_exif(6)), (32, 40)),
    "exif_rotate_180.jpg": (encoded(RGB, "JPEG", exif=_exif(3)), (40, 32)),
    "exif_transpose.jpg": (encoded(RGB, "JPEG", exif=_exif(5)), (32, 40)),
    "exif_bogus_value.jpg": (encoded(RGB, "JPEG", exif=_exif(99)), (40, 32)),
    "animated.gif": (encoded(_anim[0], "GIF", save_all=True, append_images=_anim[1:]), (8, 8)),
    "animated.webp": (encoded(_anim[0], "WEBP", save_all=True, append_images=_anim[1:], lossless=True), (8, 8)),
    "lossless.webp": (encoded(RGB, "WEBP", lossless=True), (40, 32)),
    "plain.bmp": (encoded(RGB, "BMP"), (40, 32)),
    "plain.ppm": (encoded(RGB, "PPM"), (40, 32)),
    "plain.tga": (encoded(RGB, "TGA"), (40, 32)),
    "one_pixel.png": (encoded(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"), (1, 1)),
    "thin.png": (encoded(Image.new("RGB", (300, 1), (9, 9, 9)), "PNG"), (300, 1)),
    "png_named.jpg": (encoded(RGB, "PNG"), (40, 32)),
    "multipage.tif": (encoded(_anim[0], "TIFF", save_all=True, append_images=_anim[1:]), (8, 8)),
}

_good = encoded(RGB, "PNG")
# name -> (content or a maker, expected message pattern)
BAD_IMAGES = {
    "empty.png": (b"", "the file is empty"),
    "text.png": (b"hello, I am not a picture\n", "not a recognised image format"),
    "truncated.png": (_good[: len(_good) // 2], "cannot read .* as an image"),
    "garbage_after_header.png": (_good[:40] + os.urandom(200), "cannot read .* as an image"),
    "bomb.png": (png_with_header(30000, 30000), "image too large"),
    "zero_width.bmp": (b"BM" + b"\x00" * 52, "cannot read .* as an image"),
    "folder": ("dir", "is a directory"),
    "missing.png": ("missing", "no such file"),
    "fifo.png": ("fifo", "a FIFO .*not a regular file"),
    "loop.png": ("loop", "symlink loop"),
    "dangling.png": ("dangling", "no such file"),
}


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "mae_visualize_tiny.pth"
    save_official_mae(path)
    return str(path)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("maskviz: error: "), err
    return err


@pytest.mark.parametrize("name", sorted(GOOD_IMAGES))
def test_odd_images_convert(tmp_path, name):
    content, expected = GOOD_IMAGES[name]
    path = tmp_path / name
    path.write_bytes(content)
    img = load_image(path)
    arr = np.asarray(img)
    assert img.mode == "RGB"
    if expected == "white":
        assert (arr == 255).all()
    elif expected == "grey-exact":
        assert (arr[..., 0] == _grey).all() and (arr[..., 0] == arr[..., 2]).all()
    elif expected == "black-white":
        assert arr[0, 0].tolist() == [0, 0, 0] and arr[0, -1].tolist() == [255, 255, 255]
    else:
        assert img.size == expected


def _make_bad(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content == "fifo":
        os.mkfifo(path)
    elif content == "loop":
        os.symlink(path, path)
    elif content == "dangling":
        os.symlink(tmp_path / "nowhere.png", path)
    elif content != "missing":
        path.write_bytes(content)
    return str(path)


@pytest.mark.parametrize("name", sorted(BAD_IMAGES))
def test_bad_images_are_one_line_errors_and_write_nothing(tmp_path, name, model_file, capsys):
    content, pattern = BAD_IMAGES[name]
    path = _make_bad(tmp_path, name, content)
    with pytest.raises(ImageError, match=pattern):
        load_image(path)
    out = tmp_path / "panel.png"
    code = main(["reconstruct", path, "--model", model_file, "--out", str(out), "--device", "cpu"])
    assert code == 2 and re.search(pattern, _one_line_error(capsys))
    assert not out.exists()


def test_a_device_is_not_an_image(model_file, capsys):
    with pytest.raises(ImageError, match="a device, not a regular file"):
        load_image("/dev/zero")
    assert main(["reconstruct", "/dev/zero", "--model", model_file]) == 2
    assert "a device" in _one_line_error(capsys)


def test_image_in_a_folder_without_search_permission(tmp_path, capsys):
    """Root may search any folder, so the refusal is only observable for other users."""
    if os.geteuid() == 0:
        pytest.skip("running as root: a folder without search permission is still searchable")
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "a.png").write_bytes(_good)
    folder.chmod(0)
    try:
        with pytest.raises(ImageError, match="permission denied"):
            load_image(folder / "a.png")
    finally:
        folder.chmod(stat.S_IRWXU)


def test_huge_sixteen_bit_and_float_images_stay_within_three_times_their_8bit_size(tmp_path):
    """Peak resident memory while loading: at most ~3× the decoded 8-bit RGB image (no float64 frames)."""
    if not os.path.exists("/proc/self/clear_refs"):
        pytest.skip("needs Linux /proc to measure peak memory")
    n = 2000
    ramp = (np.arange(n * n, dtype=np.uint32).reshape(n, n) % 65536).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "big16.png", compress_level=1)
    Image.fromarray(ramp.astype(np.float32) / 65535, mode="F").save(tmp_path / "bigf.tif")
    del ramp
    eight_bit = n * n * 3
    for name in ("big16.png", "bigf.tif"):
        peak = _peak_growth(lambda name=name: load_image(tmp_path / name))
        assert peak <= 3.2 * eight_bit, f"{name}: {peak / 1e6:.0f} MB for a {eight_bit / 1e6:.0f} MB RGB image"


def _status(field: str) -> int:
    text = open("/proc/self/status").read()
    return int(re.search(rf"{field}:\s+(\d+)", text).group(1)) * 1024


def _peak_growth(action) -> int:
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset the peak (VmHWM) to the current resident size
    base = _status("VmRSS")
    result = action()
    peak = _status("VmHWM") - base
    del result
    return peak


# ------------------------------------------------------------------------------------ mask specs

GOOD_SPECS = {
    "random:0.75": 12, "random:0": 0, "random:1": 16, "random:0.5,seed=3": 8, "block:0.5": 8,
    "block:0.5,min_block=1000000": 8, "block:0.5,max_block=none": 8,
    "simmim:0.6": 10,  # cells follow the model: 16 one-patch cells, ceil(16 × 0.6)
    "simmim:0.6,mask_patch=1000000": 16, "simmim:0.6,mask_patch=2147483640": 16, "grid:2": 12,
    "grid:2,row_offset=3": 12, "grid:2,row_offset=2147483647": 12, "center:0.25": 4, "border:1": 12,
    "border:1000000": 16, "stripes:h": 8, "checkerboard:1": 8, "half:left": 8, "none": 0, "all": 16,
    "~none": 16, "~center:0.25": 12,
}

BAD_SPECS = {
    "random:1.5": "between 0 and 1", "random:-0.1": "between 0 and 1", "random:nan": "finite",
    "random:inf": "finite", "random:0.5,0.6": "at most 1 positional", "random:ratio=0.5,ratio=0.6": "twice",
    "random:0.5,foo=1": "Unknown parameter 'foo'", "random:ratio=0.5,0.3": "follows a keyword",
    "random:0.5,seed=-1": "at least 0", "block:0.5,min_aspect=0": "between", "simmim:0.6,mask_patch=12": "multiple",
    "simmim:0.6,mask_patch=99999999999": "too large", "grid:0": "at least 1", "grid:2,row_offset=1e20": "whole number",
    "grid:2,row_offset=100000000000000000000": "too large", "center:2": "between", "stripes:x": "one of h, v",
    "stripes:h,period=0": "at least 1", "stripes:h,2,3": "between", "checkerboard:1,phase=2": "between",
    "half:middle": "one of left", "file:": "Missing file path", "file:nowhere.png": "not found",
    "zigzag:3": "Unknown mask pattern", "": "Empty mask spec", "random:0.5,": "Empty or incomplete",
}


@pytest.mark.parametrize("spec", sorted(GOOD_SPECS))
def test_mask_specs_at_the_edges_make_the_right_mask(spec):
    mask = make_mask(spec, (4, 4), 8, seed=0)
    assert mask.shape == (4, 4) and int(mask.sum()) == GOOD_SPECS[spec]


@pytest.mark.parametrize("spec", sorted(BAD_SPECS))
def test_bad_mask_specs_are_mask_errors(spec):
    with pytest.raises(MaskError, match=re.escape(BAD_SPECS[spec]) if "(" in BAD_SPECS[spec] else BAD_SPECS[spec]):
        make_mask(spec, (4, 4), 8, seed=0)


@pytest.mark.parametrize(
    ("args", "pattern"),
    [(["--mask", "grid:2,row_offset=100000000000000000000"], "too large"),
     (["--mask", "simmim:0.6,mask_patch=12"], "multiple"),
     (["--seed", "-5"], "seed must be a whole number from 0 up"),
     (["--full", "0"], "between 1 and 16, got 0"),
     (["--full", "17"], "between 1 and 16, got 17"),
     (["--full", "2", "--seed", "-1"], "seed must be a whole number from 0 up")],
)
def test_bad_mask_options_on_the_command_line(tmp_path, model_file, capsys, args, pattern):
    img = tmp_path / "a.png"
    img.write_bytes(_good)
    out = tmp_path / "panel.png"
    code = main(["reconstruct", str(img), "--model", model_file, "--out", str(out), "--device", "cpu", *args])
    assert code == 2 and re.search(pattern, _one_line_error(capsys), re.IGNORECASE)
    assert not out.exists()


def test_huge_mask_patch_is_fast_and_exact(tmp_path, model_file, capsys):
    img = tmp_path / "a.png"
    img.write_bytes(_good)
    code = main(["reconstruct", str(img), "--model", model_file, "--mask", "simmim:0.6,mask_patch=1000000",
                 "--device", "cpu"])
    assert code == 0 and "masked 16/16" in capsys.readouterr().out


# ------------------------------------------------------------------------- hand-edited run folders

_PLAN = dict(world_size=1, effective_batch=2, train_images=4, val_images=0, skipped_files=0, images_fingerprint="x",
             family="mae", model_config={}, base_model="", base_model_info={})


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [({"config": {"steps": "ten"}}, "--steps must be a whole number"),
     ({"config": {"batch": 0}}, "--batch must be a whole number"),
     ({"config": {"seed": -5}}, "--seed must be a whole number of at least 0"),
     ({"config": {"mask": "zigzag"}}, "Unknown mask pattern"),
     ({"config": {"lr": "fast"}}, "is damaged"),
     ({"version": "x"}, "version 'x' is not a number"),
     ({"plan": {"model_config": {"kind": "mae_vit", "patch_size": 0}}}, "patch size must be a whole number"),
     ({"plan": {"nope": 1}}, "unexpected keyword argument 'nope'")],
)
def test_hand_edited_run_config_is_a_one_line_error(tmp_path, capsys, edit, pattern):
    import json

    from maskviz.train.config import TrainConfig

    config = TrainConfig(data=str(tmp_path), model="mae_vit_tiny_test", out=str(tmp_path / "run"), steps=2).to_dict()
    doc = {"format": "maskviz-train-run", "version": 1, "config": {**config, **edit.get("config", {})},
           "plan": {**_PLAN, **edit.get("plan", {})}}
    if "version" in edit:
        doc["version"] = edit["version"]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(json.dumps(doc))
    assert main(["train", "--resume", str(tmp_path / "run")]) == 2
    assert re.search(re.escape(pattern), _one_line_error(capsys))
