"""A lean sequential tar header reader (ustar, GNU long names, pax paths): ~10x faster than tarfile.

``tarfile`` spends about 150 us of Python per member parsing headers, which makes listing a
50,000-member .tar.gz take 10 s on a slow core. Reading images needs only the member name, type,
size and data position, so this module parses exactly that, verifying each header checksum, and
raises :class:`DataFormatError` on anything it does not understand instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from unshuffle.errors import DataFormatError

BLOCK = 512
_ZERO = bytes(BLOCK)
_REGULAR = (b"0", b"\0", b"7")
_LINKS = (b"1", b"2")
_OTHER = (b"3", b"4", b"5", b"6", b"V", b"D", b"M", b"S")  # devices, dirs, fifos, GNU volume/dir/multi/sparse


def _number(field: bytes, where: Path, what: str) -> int:
    """A numeric header field: NUL/space-padded octal, or GNU base-256 when the top bit is set."""
    if field[:1] and field[0] & 0x80:
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text or b"0", 8)
    except ValueError:
        raise DataFormatError(where, f"corrupt tar header (bad {what} field {field!r})") from None


def _read_exact(f: IO[bytes], n: int, where: Path) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise DataFormatError(where, f"truncated tar (wanted {n} bytes, the archive ends after {len(data)})")
    return data


def _pax_records(data: bytes, where: Path) -> dict[str, str]:
    """Pax extended-header records ``"<len> key=value\\n"`` -> {key: value}."""
    out, pos = {}, 0
    while pos < len(data) and data[pos:pos + 1] != b"\0":
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise DataFormatError(where, "corrupt tar pax header") from None
        record = data[space + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        out[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


def tar_members(f: IO[bytes], where: Path) -> Iterator[tuple[str, str, int, int]]:
    """Yield ``(kind, name, size, data_offset)`` for each member of the tar stream ``f``.

    ``kind`` is ``"file"``, ``"link"`` or ``"other"``; ``name`` is the raw member name (check it
    with :func:`unshuffle.data.archives.safe_member_name`). After each yield the stream may have
    been read anywhere inside the member's data; the generator moves on to the next header itself.
    """
    long_name: str | None = None
    pax: dict[str, str] = {}
    pos = 0  # offset of the next header in the uncompressed stream
    while True:
        if f.tell() != pos:
            f.seek(pos)  # skip the rest of the previous member's data (compressed streams read forward)
        hdr = f.read(BLOCK)
        if not hdr or hdr == _ZERO:
            return  # end-of-archive blocks (or a file that simply stops after its last member)
        if len(hdr) != BLOCK:
            raise DataFormatError(where, "truncated tar (the archive ends inside a header)")
        stored = _number(hdr[148:156], where, "checksum")
        if stored != sum(hdr) - sum(hdr[148:156]) + 8 * 32:
            raise DataFormatError(where, f"corrupt tar header at byte {pos} (checksum mismatch)")
        size = _number(hdr[124:136], where, "size")
        typ = hdr[156:157]
        data_at = pos + BLOCK
        pos = data_at + (size + BLOCK - 1) // BLOCK * BLOCK
        if typ in (b"L", b"x", b"g"):
            body = _read_exact(f, size, where)
            if typ == b"L":
                long_name = body.rstrip(b"\0").decode("utf-8", "surrogateescape")
            elif typ == b"x":
                pax = _pax_records(body, where)
            continue
        if "size" in pax:
            size = int(pax["size"])
            pos = data_at + (size + BLOCK - 1) // BLOCK * BLOCK
        name = pax.get("path") or long_name
        if name is None:
            name = hdr[0:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            if hdr[257:263] == b"ustar\x00":  # POSIX ustar: a 155-byte prefix completes the name
                prefix = hdr[345:500].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                name = f"{prefix}/{name}" if prefix else name
        long_name, pax = None, {}
        name = name.rstrip("/")  # directories are stored as "dir/"
        if typ in _REGULAR:
            kind = "file"
        elif typ in _LINKS:
            kind = "link"
        elif typ in _OTHER:
            kind = "other"
        else:
            raise DataFormatError(where, f"unsupported tar member type {typ!r} for {name!r}")
        yield kind, name, size, data_at
