"""Download of the official CIFAR-10/100 python archives, checked against their published md5 sums."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from unshuffle.errors import ConfigError, DataFormatError, UnshuffleError

#: name -> (URL, md5 of the archive) as published on https://www.cs.toronto.edu/~kriz/cifar.html
CIFAR_ARCHIVES: dict[str, tuple[str, str]] = {
    "cifar10": ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),
    "cifar100": ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),
}
TIMEOUT_S = 30


def file_md5(path: Path) -> str:
    """Hex md5 of a file's bytes (the checksum CIFAR's site publishes)."""
    from unshuffle.runs.measure import file_digest

    return file_digest(path, "md5")


def download_cifar(name: str, root: str | Path, *, progress: bool = True) -> Path:
    """The path of ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz`` under ``root``, downloading it if absent.

    The archive is written to a temporary file, checked against the official md5 and only then
    renamed into place, so an interrupted or corrupted download never leaves a file behind. An
    existing file with the wrong md5 raises DataFormatError (it is not overwritten). When the
    network is unreachable an UnshuffleError says which file to fetch from where and where to put
    it. Open the result with ``open_images(path, split="train")``.
    """
    if name not in CIFAR_ARCHIVES:
        raise ConfigError(f"name: expected one of {', '.join(CIFAR_ARCHIVES)}, got {name!r}")
    url, md5 = CIFAR_ARCHIVES[name]
    dest = Path(root) / url.rsplit("/", 1)[-1]
    if dest.exists():
        got = file_md5(dest)
        if got != md5:
            raise DataFormatError(dest, f"md5 is {got}, expected {md5}; delete it and download again")
        return dest
    from tqdm import tqdm

    from unshuffle.runs.atomic import atomic_path

    try:
        with urlopen(url, timeout=TIMEOUT_S) as resp, atomic_path(dest) as tmp, open(tmp, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            h = hashlib.md5()
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                for block in iter(lambda: resp.read(1 << 20), b""):
                    out.write(block)
                    h.update(block)
                    bar.update(len(block))
            out.flush()
            if h.hexdigest() != md5:
                raise DataFormatError(url, f"downloaded file has md5 {h.hexdigest()}, expected {md5}")
    except (URLError, TimeoutError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        raise UnshuffleError(
            f"could not download {url} ({reason}). Without network access, download it elsewhere from "
            f"{url} (md5 {md5}), copy it to {dest}, and run again; it is read in place, not extracted."
        ) from e
    return dest
