"""Fuzzing the readers with header edits: valid PNG, JPEG, tar, zip, pickle, npz and YAML files whose
header fields (sizes, counts, types, lengths, dtypes, shapes, keys) take hostile values, checksums
fixed or not; plus JPEG random bytes, truncations and byte flips. Each case runs under the alarm of
fuzz_checks and either gives a result (checked) or an UnshuffleError naming the file (checked)."""

from __future__ import annotations

import gzip
import io
import pickle
import pickletools
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
from hostile import corpus as hc
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from unshuffle.clustering.config import TemiConfig, load_config
from unshuffle.errors import UnshuffleError

sys.path.insert(0, str(Path(__file__).parent))
from fuzz_checks import EXAMPLES, FUZZ, check_loader, record, time_limit, workdir  # noqa: E402

# header edits are cheap (a few ms each): twice the examples of the other fuzz tests
HEADERS = settings(FUZZ, max_examples=2 * EXAMPLES)

RNG = np.random.default_rng(7)
IMGS = RNG.integers(0, 256, size=(3, 16, 16, 3), dtype=np.uint8)
# values a header field is set to: edges of every integer width, zero, small, huge
INTS = (st.sampled_from([0, 1, 2, 3, 7, 8, 16, 255, 256, 4095, 65535, 2**31 - 1, 2**31, 2**32 - 1])
        | st.integers(0, 2**32 - 1))


def _put(data: bytearray, at: int, width: int, value: int, order: str = "big") -> None:
    data[at:at + width] = (value % (1 << (8 * width))).to_bytes(width, order)


def _jpeg(img: np.ndarray = IMGS[0], **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", **kw)
    return buf.getvalue()


# ---------------------------------------------------------------- PNG: IHDR fields


_IHDR = {"width": (16, 4), "height": (20, 4), "bit depth": (24, 1), "colour type": (25, 1),
         "compression": (26, 1), "filter": (27, 1), "interlace": (28, 1), "IDAT length": (33, 4)}


@HEADERS
@given(edits=st.lists(st.tuples(st.sampled_from(sorted(_IHDR)), INTS), min_size=1, max_size=3),
       fix_crc=st.booleans())
def test_png_header_edits(tmp_path, edits, fix_crc):
    data = bytearray(hc.png_bytes(IMGS[0]))
    for field, value in edits:
        _put(data, *_IHDR[field], value)
    if fix_crc:  # the IHDR checksum made right again, so the decoder reads the edited fields
        _put(data, 29, 4, zlib.crc32(bytes(data[12:29])))
    path = workdir(tmp_path) / "a.png"
    path.write_bytes(bytes(data))
    check_loader(path, fmt="PNG header edits")


# ---------------------------------------------------------------- JPEG: SOF, DQT, DHT, SOS fields


def _segments(data: bytes) -> dict[int, int]:
    """First offset of each marker's segment (the byte after FF xx) up to the start of scan."""
    out, i = {}, 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        out.setdefault(marker, i + 2)
        if marker == 0xDA:
            break
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return out


_JPEG_FIELDS = {  # (marker, offset in the segment, width)
    "SOF length": (0xC0, 0, 2), "precision": (0xC0, 2, 1), "height": (0xC0, 3, 2), "width": (0xC0, 5, 2),
    "components": (0xC0, 7, 1), "sampling of component 1": (0xC0, 9, 1), "table of component 1": (0xC0, 10, 1),
    "DQT length": (0xDB, 0, 2), "DQT table id": (0xDB, 2, 1), "DHT length": (0xC4, 0, 2),
    "DHT class/id": (0xC4, 2, 1), "SOS length": (0xDA, 0, 2), "SOS components": (0xDA, 2, 1),
    "SOS table selector": (0xDA, 4, 1),
}


@HEADERS
@given(edits=st.lists(st.tuples(st.sampled_from(sorted(_JPEG_FIELDS)), INTS), min_size=1, max_size=3),
       progressive=st.booleans())
def test_jpeg_header_edits(tmp_path, edits, progressive):
    data = bytearray(_jpeg(progressive=progressive))
    where = _segments(bytes(data))
    for field, value in edits:
        marker, offset, width = _JPEG_FIELDS[field]
        if progressive and marker == 0xC0:
            marker = 0xC2  # progressive frames have SOF2
        _put(data, where[marker] + offset, width, value)
    path = workdir(tmp_path) / "a.jpg"
    path.write_bytes(bytes(data))
    check_loader(path, fmt="JPEG header edits")


@HEADERS
@given(body=st.binary(max_size=1500), cut=st.floats(0.0, 1.0),
       flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(1, 255)), max_size=6), random=st.booleans())
def test_jpeg_random_bytes_truncations_and_flips(tmp_path, body, cut, flips, random):
    path = workdir(tmp_path) / "a.jpg"
    if random:  # a JPEG start-of-image marker, then anything
        path.write_bytes(b"\xff\xd8\xff" + body)
        check_loader(path, fmt="JPEG random bytes")
        return
    data = bytearray(_jpeg())
    for where, xor in flips:
        data[int(where * (len(data) - 1))] ^= xor
    path.write_bytes(bytes(data[: max(1, int(cut * len(data)))]))
    check_loader(path, fmt="JPEG damaged")


# ---------------------------------------------------------------- tar: ustar header fields


def _octal(value: int, width: int) -> bytes:
    text = f"{value:o}".encode()[: width - 1]
    return text.rjust(width - 1, b"0") + b"\0"


_TAR_FIELDS = {"name": (0, 100), "mode": (100, 8), "size": (124, 12), "mtime": (136, 12), "checksum": (148, 8),
               "type": (156, 1), "linkname": (157, 100), "magic": (257, 8), "prefix": (345, 155)}
_TAR_VALUES = {
    "name": st.sampled_from([b"", b"../x.png", b"/etc/x.png", b"a.png", b"d/" * 49 + b"x", b"c0/0.png"]),
    "type": st.sampled_from([b"0", b"\0", b"1", b"2", b"3", b"5", b"6", b"7", b"L", b"K", b"x", b"g", b"S", b"Z"]),
    "magic": st.sampled_from([b"ustar\x0000", b"ustar  \0", b"\0" * 8, b"garbage!"]),
    "prefix": st.sampled_from([b"", b"..", b"/abs", b"p" * 155]),
}


@st.composite
def tar_field_value(draw) -> tuple[str, bytes]:
    field = draw(st.sampled_from(sorted(_TAR_FIELDS)))
    width = _TAR_FIELDS[field][1]
    if field in _TAR_VALUES:
        value = draw(_TAR_VALUES[field])
    elif draw(st.booleans()):
        value = _octal(draw(INTS), width)
    elif draw(st.booleans()):  # GNU base-256 numbers
        value = b"\x80" + draw(INTS).to_bytes(width - 1, "big")
    else:
        value = draw(st.binary(min_size=width, max_size=width))
    return field, value.ljust(width, b"\0")[:width]


@HEADERS
@given(edits=st.lists(tar_field_value(), min_size=1, max_size=3), member=st.integers(0, 2),
       fix_checksum=st.booleans(), compress=st.booleans())
def test_tar_header_edits(tmp_path, edits, member, fix_checksum, compress):
    root = workdir(tmp_path)
    pngs = {f"c{i % 2}/{i}.png": hc.png_bytes(im) for i, im in enumerate(IMGS)}
    data = bytearray(hc.tar_of(root / "d.tar", pngs, mode="w").read_bytes())
    headers = [i for i in range(0, len(data) - 512, 512) if data[i + 257:i + 262] == b"ustar"]
    at = headers[member % len(headers)]
    for field, value in edits:
        start, width = _TAR_FIELDS[field]
        data[at + start:at + start + width] = value
    if fix_checksum:
        data[at + 148:at + 156] = b" " * 8
        data[at + 148:at + 156] = _octal(sum(data[at:at + 512]), 7) + b" "
    path = root / ("d.tar.gz" if compress else "d.tar")
    path.write_bytes(gzip.compress(bytes(data), mtime=0) if compress else bytes(data))
    check_loader(path, fmt="tar header edits" + (" (gzipped)" if compress else ""))


# ---------------------------------------------------------------- zip: local, central and end records


_ZIP_FIELDS = {  # (signature, offset after it, width), little-endian
    "local version": (b"PK\x03\x04", 4, 2), "local flags": (b"PK\x03\x04", 6, 2),
    "local method": (b"PK\x03\x04", 8, 2), "local crc": (b"PK\x03\x04", 14, 4),
    "local compressed size": (b"PK\x03\x04", 18, 4), "local size": (b"PK\x03\x04", 22, 4),
    "local name length": (b"PK\x03\x04", 26, 2), "local extra length": (b"PK\x03\x04", 28, 2),
    "central method": (b"PK\x01\x02", 10, 2), "central compressed size": (b"PK\x01\x02", 20, 4),
    "central size": (b"PK\x01\x02", 24, 4), "central name length": (b"PK\x01\x02", 28, 2),
    "central extra length": (b"PK\x01\x02", 30, 2), "central external attributes": (b"PK\x01\x02", 38, 4),
    "central local offset": (b"PK\x01\x02", 42, 4), "end entries": (b"PK\x05\x06", 10, 2),
    "end directory size": (b"PK\x05\x06", 12, 4), "end directory offset": (b"PK\x05\x06", 16, 4),
    "end comment length": (b"PK\x05\x06", 20, 2),
}


@HEADERS
@given(edits=st.lists(st.tuples(st.sampled_from(sorted(_ZIP_FIELDS)), INTS), min_size=1, max_size=3),
       stored=st.booleans(), second=st.booleans())
def test_zip_header_edits(tmp_path, edits, stored, second):
    root = workdir(tmp_path)
    path = root / "d.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as zf:
        for i, im in enumerate(IMGS):
            zf.writestr(f"c{i % 2}/{i}.png", hc.png_bytes(im))
    data = bytearray(path.read_bytes())
    for field, value in edits:
        sig, offset, width = _ZIP_FIELDS[field]
        at = data.find(sig)
        if second and sig != b"PK\x05\x06":  # the second member's record
            at = data.find(sig, at + 1)
        _put(data, at + len(sig) - 4 + offset, width, value, "little")
    path.write_bytes(bytes(data))
    check_loader(path, fmt="zip header edits")


# ---------------------------------------------------------------- pickle batches: opcodes and lengths


_BATCH = pickle.dumps({"data": np.ascontiguousarray(IMGS.transpose(0, 3, 1, 2).reshape(3, -1)), "labels": [1, 2, 3]},
                      protocol=2)
_OPS = [pos for _, _, pos in pickletools.genops(_BATCH)]
_LENGTH_WIDTH = {"BINUNICODE": 4, "BINSTRING": 4, "BINBYTES": 4, "SHORT_BINSTRING": 1, "SHORT_BINBYTES": 1,
                 "SHORT_BINUNICODE": 1}
_LENGTHED = [(pos, _LENGTH_WIDTH[op.name]) for op, _, pos in pickletools.genops(_BATCH) if op.name in _LENGTH_WIDTH]


@HEADERS
@given(edits=st.lists(st.one_of(
    st.tuples(st.just("protocol"), st.sampled_from([0, 1, 2, 3, 4, 5, 6, 255])),
    st.tuples(st.just("opcode"), st.integers(0, len(_OPS) - 1), st.integers(0, 255)),
    st.tuples(st.just("length"), st.integers(0, len(_LENGTHED) - 1), INTS)), min_size=1, max_size=3))
def test_pickle_batch_header_edits(tmp_path, edits):
    data = bytearray(_BATCH)
    for edit in edits:
        if edit[0] == "protocol":
            data[1] = edit[1]
        elif edit[0] == "opcode":  # another opcode where one stood
            data[_OPS[edit[1]]] = edit[2]
        else:  # the length prefix of a string or bytes argument (1 or 4 bytes after the opcode)
            pos, width = _LENGTHED[edit[1]]
            _put(data, pos + 1, width, edit[2], "little")
    path = workdir(tmp_path) / "val_data"
    path.write_bytes(bytes(data))
    check_loader(path, fmt="pickle header edits")


# ---------------------------------------------------------------- npz: the .npy header of each member


_DESCRS = ["|u1", "<u2", ">u2", "<i8", "<f4", "<f8", "|b1", "<c8", "|O", "|V3", "<U5", "garbage", "'", "[('a', '<u1')]"]
_SHAPES = ["()", "(3,)", "(3, 16, 16, 3)", "(3, 16, 16)", "(0, 16, 16, 3)", "(3, 16, 16, 3, 1)", "(-1, 16, 16, 3)",
           "(10**12, 16, 16, 3)", "(1000000000000, 16, 16, 3)", "(3, 0, 16, 3)", "(3, 16, 16, 7)", "(3, 'a')", "x"]


def _npy(arr: np.ndarray, descr: str, fortran: str, shape: str, version: int, length_delta: int) -> bytes:
    body = arr.tobytes()
    header = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape}, }}".encode()
    header += b" " * ((-len(header) - 11) % 64) + b"\n"
    return (b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<H", max(0, len(header) + length_delta) % 65536)
            + header + body)


def _npz(path: Path, member: str | None = None, **edits) -> Path:
    """images (3, 16, 16, 3) uint8 and labels (3,) int64 as a stored zip of .npy files written by hand
    (so the zip checksums fit the edited bytes), the ``member``'s .npy header fields set to ``edits``."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in {"images": IMGS, "labels": np.arange(3, dtype="<i8")}.items():
            fields = {"descr": arr.dtype.str, "fortran": "False", "shape": str(arr.shape), "version": 1,
                      "length_delta": 0}
            if name == member:
                fields.update({k: v for k, v in edits.items() if v is not None})
            zf.writestr(f"{name}.npy", _npy(arr, **fields))
    return path


@HEADERS
@given(member=st.sampled_from(["images", "labels"]), descr=st.none() | st.sampled_from(_DESCRS),
       fortran=st.none() | st.sampled_from(["True", "'x'"]), shape=st.none() | st.sampled_from(_SHAPES),
       version=st.none() | st.sampled_from([2, 3, 0, 255]), length_delta=st.none() | st.sampled_from([-1, 1, -64, 64,
                                                                                                     70000]))
def test_npz_header_edits(tmp_path, member, **edits):
    path = _npz(workdir(tmp_path) / "d.npz", member, **edits)
    check_loader(path, fmt="npz header edits")


def test_header_edits_start_from_valid_files(tmp_path):
    """Control: every file the edits above start from opens, and the YAML loads."""
    root = tmp_path
    (root / "a.png").write_bytes(hc.png_bytes(IMGS[0]))
    (root / "a.jpg").write_bytes(_jpeg())
    (root / "b.jpg").write_bytes(_jpeg(progressive=True))
    (root / "val_data").write_bytes(_BATCH)
    tar = hc.tar_of(root / "d.tar", {f"{i}.png": hc.png_bytes(im) for i, im in enumerate(IMGS)}, mode="w")
    for path in (root / "a.png", root / "a.jpg", root / "b.jpg", root / "val_data", tar, _npz(root / "d.npz")):
        assert check_loader(path, fmt="undamaged") == "ok", path
    (root / "temi.yaml").write_text("".join(_valid_yaml()))
    assert load_config(root / "temi.yaml").clusters == 3


# ---------------------------------------------------------------- YAML: keys and values of a valid config


_YAML_VALUES = ["-1", "0", "1e999", ".nan", "-.inf", "~", "[]", "{}", "'x'", "yes", "0x10", "1_000", "2e-3",
                "!!python/object/apply:os.system ['true']", "!!binary aGVsbG8=", "&a [*a]", "*nowhere",
                "'" + "x" * 5000, "[" * 200, "{a: 1, a: 2}", "!!set {a, b}", "2001-12-14", "\x00", "\t1"]
_YAML_KEYS = ["clusters", "seed", "knn", "optim", "lr", "epochs", "head", "n_heads", "no_such_key", "optim.lr", "",
              "? [1, 2]", "<<", "&k clusters", "*k"]


def _valid_yaml() -> list[str]:
    return ["clusters: 3\n", "seed: 1\n", "knn: 5\n", "optim:\n", "  lr: 0.001\n", "  epochs: 40\n", "head:\n",
            "  n_heads: 2\n"]


@HEADERS
@given(edits=st.lists(st.tuples(st.integers(0, 7), st.booleans(), st.sampled_from(_YAML_VALUES + _YAML_KEYS)),
                      min_size=1, max_size=3),
       raw=st.none() | st.tuples(st.integers(0, 200), st.binary(min_size=1, max_size=4)))
def test_yaml_config_header_edits(tmp_path, edits, raw):
    lines = _valid_yaml()
    for line, key, text in edits:  # a key or a value of one line replaced
        indent = lines[line][: len(lines[line]) - len(lines[line].lstrip())]
        k, _, v = lines[line].strip().partition(":")
        lines[line] = f"{indent}{text if key else k}:{v if key else ' ' + text}\n"
    data = bytearray("".join(lines).encode("utf-8", "surrogatepass"))
    if raw is not None:  # raw bytes (often not UTF-8) written over part of the file
        at = raw[0] % max(len(data), 1)
        data[at:at + len(raw[1])] = raw[1]
    path = workdir(tmp_path) / "temi.yaml"
    path.write_bytes(bytes(data))
    with time_limit():
        try:
            cfg = load_config(path)
            assert isinstance(cfg, TemiConfig) and cfg.clusters > 0
            record("YAML header edits", "result")
        except UnshuffleError as e:  # one line naming the file, or the setting that is out of range
            assert "\n" not in str(e) and ("temi.yaml" in str(e) or " must " in str(e)), str(e)
            record("YAML header edits", type(e).__name__)
