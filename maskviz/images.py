"""Reading, preparing and writing images: every file a user points at becomes plain 8-bit RGB here.

Models only ever see ``[1, 3, H, W]`` normalised tensors made by :func:`to_tensor`, so everything
odd about real files (EXIF rotation, alpha, palettes, 16-bit or float greyscale, CMYK, animation,
corrupt or huge files) is settled once, in :func:`load_image`, with plain :class:`ImageError`
messages instead of Pillow tracebacks.
"""

from __future__ import annotations

import io
import os
import re
import stat
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from maskviz.bundled import resolve_sample
from maskviz.errors import ImageError
from maskviz.fileio import atomic_write, check_input_file, png_writer

ImageSource = str | os.PathLike | Image.Image | bytes
Converter = Callable[[np.ndarray], np.ndarray]  # a band of grey values -> floats on the 0..255 scale

#: Transparent pixels are composited onto white: what viewers and browsers show, and what users expect.
BACKGROUND = (255, 255, 255)

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}


# --------------------------------------------------------------------------------------------- loading


def load_image(source: ImageSource) -> Image.Image:
    """Open ``source`` (path, encoded bytes or a PIL image) as an upright 8-bit RGB image.

    Files and bytes use their first frame; a PIL image is used as given (its current frame).
    Raises :class:`ImageError` with a one-line message for anything a user can get wrong.
    """
    if isinstance(source, Image.Image):
        return _normalise(source, "image")
    fp, label = _resolve(source)
    with _open(fp, label) as img:
        return _normalise(img, label)


def _resolve(source: str | os.PathLike | bytes) -> tuple[Path | io.BytesIO, str]:
    """Turn a source into something Pillow can open plus a label for messages.

    This is the one place that knows what a source string means (``sample:NAME`` = a bundled photo).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise ImageError("cannot read image data: it is empty")
        return io.BytesIO(bytes(source)), "image data"
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"expected a path, bytes or PIL image, got {type(source).__name__}")
    label = str(source)
    sample = resolve_sample(label)
    path = sample if sample is not None else Path(source).expanduser()
    if stat.S_ISDIR(check_input_file(path, ImageError, label, allow_dir=True).st_mode):
        raise ImageError(f"{label} is a directory, not an image")
    return path, label


def _open(fp: Path | io.BytesIO, label: str) -> Image.Image:
    """``Image.open`` + full decode of frame 0, with bomb, I/O and decoder failures made plain."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(fp)
    except Image.DecompressionBombError as e:
        raise _too_large(label, _pixels_from_message(str(e))) from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"cannot read {label} as an image: not a recognised image format") from None
    except OSError as e:
        if e.errno is not None:  # the file system failed (permissions, I/O), not the image data
            raise ImageError(f"cannot read {label}: {e.strerror or _reason(e)}") from None
        raise ImageError(f"cannot read {label} as an image: {_reason(e)}") from None
    except Exception as e:  # headers bad enough that a plugin fails in its own way
        raise ImageError(f"cannot read {label} as an image: {_reason(e)}") from None
    limit = Image.MAX_IMAGE_PIXELS
    if limit and img.width * img.height > limit:  # Pillow only warns between 1x and 2x the limit
        img.close()
        raise _too_large(label, img.width * img.height)
    try:
        img.load()
    except Exception as e:  # decoders raise many types on corrupt data; all mean "unreadable"
        img.close()
        raise ImageError(f"cannot read {label} as an image: {_reason(e)}") from None
    return img


def _pixels_from_message(message: str) -> int | None:
    match = re.search(r"\((\d+) pixels\)", message)
    return int(match.group(1)) if match else None


def _too_large(label: str, pixels: int | None) -> ImageError:
    limit = (Image.MAX_IMAGE_PIXELS or 0) / 1e6
    size = f" is {pixels / 1e6:.3g} megapixels" if pixels else ""
    return ImageError(f"image too large: {label}{size}, the limit is {limit:.3g} megapixels")


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return text or type(e).__name__


# ---------------------------------------------------------------------------------------- conversion


def _normalise(img: Image.Image, label: str) -> Image.Image:
    """Upright RGB copy of ``img`` (never the caller's object).

    Converted first and turned after, and only when EXIF asks: a huge 16-bit or float frame is
    never copied at its own depth.
    """
    if img.width == 0 or img.height == 0:
        raise ImageError(f"cannot use {label}: it has zero size ({img.width}x{img.height})")
    turn = _exif_transpose_method(img, label)
    rgb = to_rgb(img, label)
    if turn is not None:
        return rgb.transpose(turn)
    return rgb.copy() if rgb is img else rgb


_EXIF_ORIENTATION = 0x0112
_TURNS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
          5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
          8: Image.Transpose.ROTATE_90}


def _exif_transpose_method(img: Image.Image, label: str) -> Image.Transpose | None:
    """What EXIF orientation asks for (as ``ImageOps.exif_transpose`` reads it); None = upright."""
    try:
        return _TURNS.get(img.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception as e:  # malformed EXIF must not make an otherwise fine image unusable
        warnings.warn(f"ignoring unreadable EXIF orientation in {label}: {_reason(e)}", stacklevel=4)
        return None


def to_rgb(img: Image.Image, label: str = "image") -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB the way a viewer would show it.

    * alpha (RGBA, LA, PA and palette/grey/RGB images with a transparent colour) is composited
      onto :data:`BACKGROUND` (white) rather than dropped, so transparent areas are not black;
    * 16-bit greyscale (``I;16*``) is scaled by 255/65535, keeping its full range instead of clipping;
    * ``I`` (32-bit int) is read as 16-bit data when it lies in 0..65535, else stretched min..max;
    * ``F`` (float) is read as 0..1 or 0..255 data when it lies there, else stretched min..max;
    * everything else (L, P, 1, CMYK, YCbCr, ...) uses Pillow's own conversion.
    """
    if img.mode == "RGB":
        return img
    if img.mode in _SIXTEEN_BIT_MODES:
        return _grey_to_rgb(img, _sixteen_to_8bit)
    if img.mode == "I":
        return _grey_to_rgb(img, _int_converter(img))
    if img.mode == "F":
        return _grey_to_rgb(img, _float_converter(img))
    try:
        if img.mode in _ALPHA_MODES or "transparency" in img.info:
            return _composite(img.convert("RGBA"))
        return img.convert("RGB")
    except ValueError:
        raise ImageError(f"cannot convert {label} from colour mode {img.mode} to RGB") from None


def _composite(rgba: Image.Image) -> Image.Image:
    background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


#: Greyscale data is converted this many pixels at a time, so a 9400² 16-bit or float frame never
#: gets full-size float64 copies: the peak stays near the source plus its 8-bit result.
BAND_PIXELS = 1 << 18


def _bands(img: Image.Image) -> Iterator[tuple[int, int, np.ndarray]]:
    w, h = img.size
    rows = max(1, BAND_PIXELS // max(w, 1))
    for top in range(0, h, rows):
        bottom = min(h, top + rows)
        yield top, bottom, np.asarray(img.crop((0, top, w, bottom)))


def _grey_to_rgb(img: Image.Image, to_8bit: Converter) -> Image.Image:
    """Apply ``to_8bit`` band by band (values on the 0..255 scale), round, clip, widen to RGB."""
    out = np.empty((img.height, img.width), dtype=np.uint8)
    for top, bottom, band in _bands(img):
        out[top:bottom] = np.clip(np.rint(to_8bit(band)), 0, 255)
    return Image.fromarray(out).convert("RGB")


def _sixteen_to_8bit(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64) / 257.0


def _value_range(img: Image.Image, clean: Converter) -> tuple[float, float]:
    lo, hi = np.inf, -np.inf
    for _, _, band in _bands(img):
        band = clean(band)
        lo, hi = min(lo, float(band.min())), max(hi, float(band.max()))
    return lo, hi


def _int_converter(img: Image.Image) -> Converter:
    lo, hi = _value_range(img, lambda a: a)
    if lo >= 0 and hi <= 65535:
        return _sixteen_to_8bit
    return lambda a: _stretch(a.astype(np.float64), lo, hi)


def _finite(a: np.ndarray) -> np.ndarray:
    return np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)


def _float_converter(img: Image.Image) -> Converter:
    lo, hi = _value_range(img, _finite)
    if lo >= 0 and hi <= 1:
        return lambda a: _finite(a) * 255.0
    if lo >= 0 and hi <= 255:
        return _finite
    return lambda a: _stretch(_finite(a), lo, hi)


def _stretch(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)


# ------------------------------------------------------------------------------------ model geometry


def fit_to_model(
    img: Image.Image, size: int, resample: Image.Resampling | int = Image.BICUBIC
) -> Image.Image:
    """Resize so the shorter side is ``size``, then centre-crop to ``size`` x ``size``.

    Done as one resample of the central square (no intermediate rounding). An image that is
    already ``size`` x ``size`` is returned untouched, so exact-size inputs keep their exact pixels.
    """
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    w, h = img.size
    if (w, h) == (size, size):
        return img
    side = min(w, h)
    left, top = (w - side) / 2, (h - side) / 2
    return img.resize((size, size), resample, box=(left, top, left + side, top + side))


def to_tensor(img: Image.Image, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``[1, 3, H, W]`` float32 tensor ``(x/255 - mean) / std``.

    ``mean``/``std`` are required because they belong to the model's config, not to the image.
    """
    arr = np.asarray(to_rgb(img), dtype=np.float32) / 255.0
    t = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0)
    m, s = _channel_stats(mean, std, torch.float32)
    return ((t - m) / s).contiguous()


def from_normalized(t: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Undo :func:`to_tensor`: ``[B,3,H,W]`` → ``[B,H,W,3]`` (or ``[3,H,W]`` → ``[H,W,3]``) float32.

    Values are in 0..1 display space but *not clipped*: reconstructions overshoot, and error maps
    must see the true values. Use :func:`to_uint8` to display or save.
    """
    if t.ndim not in (3, 4) or t.shape[-3] != len(mean):
        raise ValueError(f"expected [B, {len(mean)}, H, W] or [{len(mean)}, H, W], got {list(t.shape)}")
    x = t.detach().to(device="cpu", dtype=torch.float32)
    m, s = _channel_stats(mean, std, torch.float32)
    x = x * s[0] + m[0] if x.ndim == 3 else x * s + m
    return x.movedim(-3, -1).contiguous().numpy()


def _channel_stats(
    mean: Sequence[float], std: Sequence[float], dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    m = torch.tensor(list(mean), dtype=dtype).view(1, -1, 1, 1)
    s = torch.tensor(list(std), dtype=dtype).view(1, -1, 1, 1)
    return m, s


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """0..1 float array → uint8 (clipped, rounded; NaN → 0). uint8 input is returned as is."""
    arr = np.asarray(arr)
    if arr.dtype == np.uint8:
        return arr
    scaled = np.nan_to_num(arr.astype(np.float64) * 255.0, nan=0.0)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


# -------------------------------------------------------------------------------------------- saving


def save_png(image: Image.Image | np.ndarray, path: str | os.PathLike) -> None:
    """Write ``image`` (PIL image, uint8 array or 0..1 float array) as PNG, atomically
    (:func:`maskviz.fileio.atomic_write`); failures raise :class:`ImageError`."""
    img = image if isinstance(image, Image.Image) else Image.fromarray(to_uint8(image))
    atomic_write(path, png_writer(img), error=ImageError)
