"""Checks every report page must pass without a browser: strict HTML5 parse, no network references."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

html5lib = pytest.importorskip("html5lib", reason="html5lib (the dev extra) parses the pages strictly")

# attributes that make a browser fetch something; only relative links inside the report are allowed
_FETCHING = re.compile(r"""(?:src|href|srcset|poster|data|action)\s*=\s*["']?([^"'\s>]+)""", re.I)


def parse_strict(text: str):
    """The page's DOM (ElementTree, no namespaces); any HTML5 parse error raises."""
    return html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(text)


def fetched_urls(text: str) -> list[str]:
    """Every URL the page would load or link to (attributes and CSS url())."""
    return _FETCHING.findall(text) + re.findall(r"url\(([^)]*)\)", text) + re.findall(r"@import", text)


def check_page(path: Path) -> object:
    """Parse ``path`` strictly and check it refers to nothing outside its folder; returns the DOM."""
    text = path.read_text(encoding="utf-8")
    dom = parse_strict(text)
    for url in fetched_urls(text):
        assert not re.match(r"^[a-z][a-z0-9+.-]*:|^//|^/", url, re.I), f"{path.name} refers to {url!r}"
    assert dom.find(".//script") is None, f"{path.name} has a script element"
    return dom
