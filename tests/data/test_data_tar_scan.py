"""Tests of the lean tar header reader against the standard library's tarfile."""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unshuffle.data.tar_scan import tar_members
from unshuffle.errors import DataFormatError

LONG = "deep/" + "d" * 120 + "/" + "f" * 110 + ".png"  # > 100 chars: needs prefix, GNU 'L' or pax
NAMES = ["a.png", "dir/b.JPEG", "ünïcode/ç.png", LONG, "empty.png"]


def _archive(fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        d = tarfile.TarInfo("dir")
        d.type = tarfile.DIRTYPE
        tf.addfile(d)
        for k, name in enumerate(NAMES):
            data = b"" if name == "empty.png" else bytes([k]) * (700 * k + 3)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        s = tarfile.TarInfo("link.png")
        s.type, s.linkname = tarfile.SYMTYPE, "a.png"
        tf.addfile(s)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])  # ustar: see the next test
def test_members_match_tarfile(fmt):
    raw = _archive(fmt)
    f = io.BytesIO(raw)
    got = [(kind, name, size, bytes(raw[off : off + size])) for kind, name, size, off in tar_members(f, "t.tar")]
    expected = []
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        for m in tf:
            kind = "file" if m.isreg() else "link" if m.issym() else "other"
            data = tf.extractfile(m).read() if m.isreg() else b""
            expected.append((kind, m.name, m.size, data if m.isreg() else raw[m.offset_data : m.offset_data]))
    assert got == expected
    assert [g[1] for g in got if g[0] == "file"] == NAMES


def test_ustar_prefix_names():
    name = "p" * 90 + "/" + "q" * 60 + ".png"  # fits ustar only through the prefix field
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        info = tarfile.TarInfo(name)
        info.size = 5
        tf.addfile(info, io.BytesIO(b"hello"))
    raw = buf.getvalue()
    assert raw[345:350] == b"ppppp"  # the prefix field is really used
    assert [(n, s) for _, n, s, _ in tar_members(io.BytesIO(raw), "t.tar")] == [(name, 5)]


def test_checksum_and_truncation_errors():
    raw = bytearray(_archive(tarfile.GNU_FORMAT))
    bad = bytearray(raw)
    bad[600] ^= 0xFF  # inside the second header (the first is the directory)
    with pytest.raises(DataFormatError, match="t.tar: corrupt tar header at byte 512"):
        list(tar_members(io.BytesIO(bytes(bad)), "t.tar"))
    with pytest.raises(DataFormatError, match="truncated tar"):
        list(tar_members(io.BytesIO(bytes(raw[:1000])), "t.tar"))


_SEGMENT = st.text(alphabet=st.characters(min_codepoint=48, max_codepoint=0x2FF, exclude_characters="/\\"),
                   min_size=1, max_size=60)


@settings(max_examples=40, deadline=None)
@given(
    members=st.lists(st.tuples(st.lists(_SEGMENT, min_size=1, max_size=4).map("/".join),
                               st.integers(0, 1500)), min_size=1, max_size=6, unique_by=lambda m: m[0]),
    fmt=st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]),
)
def test_members_match_tarfile_on_random_names(members, fmt):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for k, (name, size) in enumerate(members):
            info = tarfile.TarInfo(name)
            info.size = size
            tf.addfile(info, io.BytesIO(bytes([k % 256]) * size))
    raw = buf.getvalue()
    got = [(n, bytes(raw[o : o + s])) for _, n, s, o in tar_members(io.BytesIO(raw), "r.tar")]
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        expected = [(m.name, tf.extractfile(m).read()) for m in tf]
    assert got == expected
