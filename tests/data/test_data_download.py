"""Tests of the CIFAR download helper (no real network: urlopen is replaced)."""

from __future__ import annotations

import hashlib
import io
from urllib.error import URLError

import pytest

from unshuffle.data import download
from unshuffle.errors import ConfigError, DataFormatError, UnshuffleError


class _Response(io.BytesIO):
    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


def test_offline_says_what_to_download_and_where(tmp_path, monkeypatch):
    def fail(url, timeout):
        raise URLError("Name or service not known")

    monkeypatch.setattr(download, "urlopen", fail)
    with pytest.raises(UnshuffleError) as err:
        download.download_cifar("cifar100", tmp_path)
    msg = str(err.value)
    assert "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz" in msg
    assert str(tmp_path / "cifar-100-python.tar.gz") in msg and "eb9058c3a382ffc7106e4002c42a8d85" in msg
    assert list(tmp_path.iterdir()) == []


def test_download_checks_md5_and_writes_atomically(tmp_path, monkeypatch):
    payload = b"pretend archive" * 1000
    calls = []
    monkeypatch.setattr(download, "urlopen", lambda url, timeout: calls.append(url) or _Response(payload))
    monkeypatch.setitem(download.CIFAR_ARCHIVES, "cifar10",
                        ("https://example.invalid/cifar-10-python.tar.gz", hashlib.md5(payload).hexdigest()))
    path = download.download_cifar("cifar10", tmp_path, progress=False)
    assert path == tmp_path / "cifar-10-python.tar.gz" and path.read_bytes() == payload
    assert download.download_cifar("cifar10", tmp_path) == path and len(calls) == 1  # present: no download
    # a file with the wrong checksum is reported, not silently replaced
    path.write_bytes(b"damaged")
    with pytest.raises(DataFormatError, match="md5 is .* expected"):
        download.download_cifar("cifar10", tmp_path)


def test_bad_download_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "urlopen", lambda url, timeout: _Response(b"truncated"))
    with pytest.raises(DataFormatError, match="downloaded file has md5"):
        download.download_cifar("cifar10", tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_unknown_name():
    with pytest.raises(ConfigError, match="cifar10, cifar100"):
        download.download_cifar("mnist", "/nonexistent")
