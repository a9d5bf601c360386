"""One decoder for every pixel mode: 1, L, LA, P, RGB, RGBA, CMYK, I;16, I;16B and 16-bit RGB PNGs
come out as uint8 with 16-bit values scaled (v >> 8); 32-bit I and F are refused by name; 16-bit grey
and 16-bit RGB fragment bags read as the same uint8 fragments as their 8-bit originals."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from unshuffle.data.decode import decode_image
from unshuffle.data.imageset import to_rgb
from unshuffle.errors import DataFormatError

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)


def _png16_rgb(arr16: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG written by hand (Pillow cannot write one)."""
    h, w, _ = arr16.shape
    raw = b"".join(b"\x00" + arr16[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _encode(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK"])  # PA: Pillow cannot write it
def test_8_bit_modes_decode_to_uint8_rgb_equivalents(mode):
    im = Image.fromarray(RGB).convert(mode)
    fmt = "TIFF" if mode in ("CMYK",) else "PNG"
    out = decode_image(_encode(im, fmt), "x")
    assert out.dtype == np.uint8 and out.shape[:2] == RGB.shape[:2]
    np.testing.assert_array_equal(to_rgb(out), np.asarray(im.convert("RGB")))


@pytest.mark.parametrize("mode", ["I;16", "I;16B"])
def test_16_bit_grey_is_scaled_to_8_bits(mode):
    grey16 = (RGB[..., 0].astype(np.uint16) * 257 + RNG.integers(0, 257, RGB.shape[:2])).astype(np.uint16)
    im = Image.fromarray(grey16)  # I;16
    data = _encode(im) if mode == "I;16" else _encode(im, "TIFF")
    out = decode_image(data, "x")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, (grey16 >> 8).astype(np.uint8))


def test_16_bit_rgb_png_is_scaled_to_8_bits():
    rgb16 = RGB.astype(np.uint16) * 257
    out = decode_image(_png16_rgb(rgb16), "x")
    np.testing.assert_array_equal(out, RGB)  # Pillow reduces it to mode RGB (v >> 8)


@pytest.mark.parametrize("mode", ["I", "F"])
def test_32_bit_integer_and_float_images_are_refused_by_name(mode):
    arr = RGB[..., 0].astype(np.int32 if mode == "I" else np.float32)
    with pytest.raises(DataFormatError, match=f"x.tif: unsupported pixel mode '{mode}'"):
        decode_image(_encode(Image.fromarray(arr), "TIFF"), "x.tif")


@pytest.mark.parametrize("depth", ["grey16", "rgb16"])
def test_16_bit_fragments_read_as_their_8_bit_originals(tmp_path, depth):
    from unshuffle.fragments.bags.folders import read_fragment_folder

    frags = RNG.integers(0, 256, (8, 4, 4, 3), dtype=np.uint8)
    if depth == "grey16":
        frags[..., 1] = frags[..., 2] = frags[..., 0]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for i, f in enumerate(frags):
        Image.fromarray(f).save(tmp_path / "a" / f"{i}.png")
        data = _encode(Image.fromarray(f[..., 0].astype(np.uint16) * 257)) if depth == "grey16" else \
            _png16_rgb(f.astype(np.uint16) * 257)
        (tmp_path / "b" / f"{i}.png").write_bytes(data)
    a, b = read_fragment_folder(tmp_path / "a"), read_fragment_folder(tmp_path / "b")
    arr_a = np.asarray(getattr(a, "fragments", a[0] if isinstance(a, tuple) else a))
    arr_b = np.asarray(getattr(b, "fragments", b[0] if isinstance(b, tuple) else b))
    assert arr_b.dtype == np.uint8 and arr_b.shape == (8, 4, 4, 3)
    np.testing.assert_array_equal(arr_a, arr_b)  # identical input: the solver's result is identical too
