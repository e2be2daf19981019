"""Image loading, model geometry, normalisation and atomic PNG writing (maskviz.images)."""

from __future__ import annotations

import errno
import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from maskviz.errors import ImageError
from maskviz.images import fit_to_model, from_normalized, load_image, save_png, to_tensor, to_uint8
from maskviz.models.base import IMAGENET_MEAN, IMAGENET_STD


def _px(img: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    return tuple(img.getpixel(xy))


def _save(img: Image.Image, tmp_path, name: str, **kw) -> str:
    path = tmp_path / name
    img.save(path, **kw)
    return str(path)


# ------------------------------------------------------------------------------------------ modes


def test_rgb_passes_through(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    img = load_image(_save(Image.fromarray(arr), tmp_path, "a.png"))
    assert img.mode == "RGB" and img.size == (10, 12)
    assert np.array_equal(np.asarray(img), arr)


def test_grey_L(tmp_path):
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = np.asarray(load_image(_save(Image.fromarray(grey), tmp_path, "l.png")))
    assert out.shape == (16, 16, 3)
    assert all(np.array_equal(out[..., c], grey) for c in range(3))


def test_LA_composites_onto_white(tmp_path):
    img = Image.new("LA", (4, 1), (50, 255))
    img.putpixel((0, 0), (50, 0))  # fully transparent
    img.putpixel((1, 0), (0, 128))  # half-transparent black
    out = load_image(_save(img, tmp_path, "la.png"))
    assert _px(out, (0, 0)) == (255, 255, 255)
    assert all(abs(v - 127) <= 1 for v in _px(out, (1, 0)))
    assert _px(out, (2, 0)) == (50, 50, 50)


def _palette_image() -> Image.Image:
    img = Image.new("P", (4, 2), 1)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    img.putpixel((0, 0), 0)
    return img


def test_palette_without_transparency(tmp_path):
    out = load_image(_save(_palette_image(), tmp_path, "p.png"))
    assert _px(out, (0, 0)) == (255, 0, 0) and _px(out, (1, 0)) == (0, 0, 255)


def test_palette_with_transparency_is_white(tmp_path):
    out = load_image(_save(_palette_image(), tmp_path, "pt.png", transparency=0))
    assert _px(out, (0, 0)) == (255, 255, 255) and _px(out, (1, 0)) == (0, 0, 255)


def test_rgba_composites_onto_white(tmp_path):
    img = Image.new("RGBA", (3, 1), (10, 200, 30, 255))
    img.putpixel((0, 0), (0, 0, 0, 0))
    img.putpixel((1, 0), (255, 0, 0, 128))
    out = load_image(_save(img, tmp_path, "rgba.png"))
    assert _px(out, (0, 0)) == (255, 255, 255)
    r, g, b = _px(out, (1, 0))
    assert r == 255 and abs(g - 127) <= 1 and abs(b - 127) <= 1
    assert _px(out, (2, 0)) == (10, 200, 30)


def test_16bit_grey_uses_full_range(tmp_path):
    ramp = np.linspace(0, 65535, 256).round().astype(np.uint16)[None].repeat(4, axis=0)
    src = Image.fromarray(ramp)
    assert src.mode == "I;16"
    out = np.asarray(load_image(_save(src, tmp_path, "g16.png")))[0, :, 0]
    assert out[0] == 0 and out[-1] == 255  # scaled, not clipped at 255/65535
    assert np.all(np.diff(out.astype(int)) >= 0) and len(np.unique(out)) > 200


def test_32bit_int_grey_is_read_as_16bit(tmp_path):
    ramp = np.linspace(0, 65535, 64).round().astype(np.int32)[None].repeat(2, axis=0)
    src = Image.fromarray(ramp)
    assert src.mode == "I"
    out = np.asarray(load_image(_save(src, tmp_path, "i.tif")))[0, :, 0]
    assert out[0] == 0 and out[-1] == 255 and np.all(np.diff(out.astype(int)) >= 0)


def test_float_grey_0_to_1(tmp_path):
    src = Image.fromarray(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8))
    assert src.mode == "F"
    out = np.asarray(load_image(_save(src, tmp_path, "f.tif")))[..., 0].ravel()
    assert out[0] == 0 and out[-1] == 255 and np.all(np.diff(out.astype(int)) >= 0)


def test_cmyk(tmp_path):
    out = load_image(_save(Image.new("CMYK", (4, 4), (255, 0, 0, 0)), tmp_path, "c.tif"))
    assert _px(out, (0, 0)) == (0, 255, 255)


def test_bilevel(tmp_path):
    img = Image.new("1", (2, 1), 0)
    img.putpixel((1, 0), 1)
    out = load_image(_save(img, tmp_path, "b.png"))
    assert _px(out, (0, 0)) == (0, 0, 0) and _px(out, (1, 0)) == (255, 255, 255)


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    assert _px(load_image(path), (4, 4)) == (255, 0, 0)


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 8, 8))  # marker in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    out = load_image(_save(img, tmp_path, "rot.jpg", exif=exif.tobytes(), quality=95))
    assert out.size == (20, 40)
    r, g, b = _px(out, (16, 3))  # the marker is now top-right
    assert r > 200 and b < 60
    assert _px(out, (3, 3))[2] > 200


def test_bytes_and_pil_sources():
    buf = io.BytesIO()
    Image.new("L", (5, 3), 77).save(buf, format="PNG")
    assert _px(load_image(buf.getvalue()), (0, 0)) == (77, 77, 77)
    src = Image.new("RGB", (5, 3), (1, 2, 3))
    out = load_image(src)
    assert out is not src and out.tobytes() == src.tobytes()


# ----------------------------------------------------------------------------------------- errors


def _error(source) -> str:
    with pytest.raises(ImageError) as info:
        load_image(source)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path):
    assert "no such file" in _error(tmp_path / "nope.png")


def test_directory(tmp_path):
    assert "directory" in _error(tmp_path)


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("definitely not a PNG\n")
    message = _error(path)
    assert "cannot read" in message and "as an image" in message


def test_truncated_png(tmp_path):
    arr = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    message = _error(path)
    assert "cannot read" in message and "as an image" in message


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert "empty" in _error(path)


def test_zero_size_image():
    assert "zero size" in _error(Image.new("RGB", (0, 5)))


@pytest.mark.parametrize("side", [40, 100])  # 1600 px: Pillow only warns; 10000 px: Pillow raises
def test_decompression_bomb(tmp_path, monkeypatch, side):
    path = _save(Image.new("RGB", (side, side)), tmp_path, "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        message = _error(path)
    assert "too large" in message and "megapixels" in message


# -------------------------------------------------------------------------------- model geometry


def test_exact_size_is_untouched():
    arr = np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    out = fit_to_model(img, 32)
    assert np.array_equal(np.asarray(out), arr)


def _bands(size: tuple[int, int], vertical: bool) -> Image.Image:
    """Red | green | blue bands; the green one is exactly the central square."""
    w, h = size
    img = Image.new("RGB", size, (0, 255, 0))
    side = min(w, h)
    if vertical:  # landscape: bands left/right
        img.paste((255, 0, 0), (0, 0, (w - side) // 2, h))
        img.paste((0, 0, 255), ((w + side) // 2, 0, w, h))
    else:  # portrait: bands top/bottom
        img.paste((255, 0, 0), (0, 0, w, (h - side) // 2))
        img.paste((0, 0, 255), (0, (h + side) // 2, w, h))
    return img


@pytest.mark.parametrize("size", [(400, 200), (200, 400), (300, 120), (90, 250)])
def test_resize_then_centre_crop(size):
    out = fit_to_model(_bands(size, size[0] > size[1]), 64)
    assert out.size == (64, 64)
    inner = np.asarray(out)[2:-2, 2:-2].astype(int)
    assert np.abs(inner - [0, 255, 0]).max() <= 2  # only the central square survives


def test_small_image_is_upscaled():
    out = fit_to_model(Image.new("RGB", (10, 20), (9, 99, 199)), 32)
    assert out.size == (32, 32) and _px(out, (16, 16)) == (9, 99, 199)


def test_normalise_round_trip():
    arr = np.random.default_rng(3).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    t = to_tensor(Image.fromarray(arr), IMAGENET_MEAN, IMAGENET_STD)
    assert t.shape == (1, 3, 16, 24) and t.dtype == torch.float32
    expected = (arr[..., 0] / 255 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]
    assert torch.allclose(t[0, 0], torch.from_numpy(expected).float(), atol=1e-5)
    back = from_normalized(t, IMAGENET_MEAN, IMAGENET_STD)
    assert back.shape == (1, 16, 24, 3) and back.dtype == np.float32
    assert np.abs(back[0] - arr / 255).max() < 1e-5
    assert np.array_equal(to_uint8(back[0]), arr)
    assert from_normalized(t[0], IMAGENET_MEAN, IMAGENET_STD).shape == (16, 24, 3)


def test_unnormalised_values_are_not_clipped():
    t = torch.full((3, 2, 2), 10.0)
    out = from_normalized(t, IMAGENET_MEAN, IMAGENET_STD)
    assert out.max() > 1.0
    assert to_uint8(out).max() == 255
    assert to_uint8(np.array([-0.5, 0.5, 0.502, np.nan])).tolist() == [0, 128, 128, 0]


# --------------------------------------------------------------------------------------- saving


def test_save_png_round_trip_and_no_leftovers(tmp_path):
    arr = np.random.default_rng(4).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    target = tmp_path / "out.png"
    save_png(arr, target)
    save_png(Image.fromarray(arr[::-1].copy()), target)  # overwrite in place
    assert np.array_equal(np.asarray(Image.open(target)), arr[::-1])
    save_png(arr.astype(np.float32) / 255, tmp_path / "float.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "float.png")), arr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["float.png", "out.png"]


def test_save_png_missing_folder(tmp_path):
    with pytest.raises(ImageError, match="could not write"):
        save_png(np.zeros((2, 2, 3), np.uint8), tmp_path / "no" / "such" / "out.png")
    assert list(tmp_path.iterdir()) == []


def test_failed_save_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    save_png(np.zeros((2, 2, 3), np.uint8), target)
    before = target.read_bytes()

    def disk_full(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    with pytest.raises(ImageError, match="could not write .*No space left on device"):
        save_png(np.ones((2, 2, 3), np.uint8), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
