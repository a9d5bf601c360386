"""Decoding one encoded image (JPEG, PNG, ...) to a uint8 array with Pillow; bombs and damage are errors."""

from __future__ import annotations

import io
import warnings

import numpy as np

from unshuffle.errors import DataFormatError, UnsafeFileError

#: File name endings taken as images (compared in lower case); everything else is skipped.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm"}
)


def is_image_name(name: str) -> bool:
    """True when the path's last component has an image extension and is not hidden (``.``/``._x``)."""
    base = name.rsplit("/", 1)[-1]
    if base.startswith(".") or "__MACOSX/" in f"{name}/":
        return False
    dot = base.rfind(".")
    return dot > 0 and base[dot:].lower() in IMAGE_EXTENSIONS


def decode_image(data: bytes, where: str) -> np.ndarray:
    """Decode encoded image bytes to uint8 (H, W), (H, W, 3) or (H, W, 4).

    Images with more pixels than ``PIL.Image.MAX_IMAGE_PIXELS`` are refused with
    :class:`UnsafeFileError` (Pillow would only warn below twice that limit); damaged or
    truncated files raise :class:`DataFormatError`. ``where`` names the file in messages.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                return _to_array(im, where)
    except DataFormatError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise UnsafeFileError(where, f"refusing a possible decompression bomb ({e})") from e
    except UnidentifiedImageError as e:
        raise DataFormatError(where, "not a readable image (unknown or damaged format)") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise DataFormatError(where, f"damaged or truncated image ({e})") from e


def _to_array(im, where: str) -> np.ndarray:
    """Pillow image -> uint8 array in L, RGB or RGBA (palette, CMYK, 1-bit and 16-bit converted)."""
    mode = im.mode
    if mode in ("L", "RGB", "RGBA"):
        return np.asarray(im, dtype=np.uint8)
    if mode in ("1", "LA"):
        return np.asarray(im.convert("L"), dtype=np.uint8)
    if mode in ("P", "PA"):
        return np.asarray(im.convert("RGBA"), dtype=np.uint8)
    if mode.startswith("I;16"):
        return (np.asarray(im, dtype=np.uint16) >> 8).astype(np.uint8)
    if mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"):
        return np.asarray(im.convert("RGB"), dtype=np.uint8)
    raise DataFormatError(where, f"unsupported pixel mode {mode!r} (expected 8-bit grey, RGB or RGBA)")
