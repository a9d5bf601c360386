"""Every ``unshuffle.x.y`` name the README and the notebook mention can be imported."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NAME = re.compile(r"`(unshuffle(?:\.[A-Za-z_]\w*)+)`")


def _documented() -> list[str]:
    text = (REPO / "README.md").read_text()
    nb = json.loads((REPO / "notebooks" / "fragment_inference.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    found = set(NAME.findall(text))
    for mod, names in re.findall(r"^from (unshuffle[\w.]*) import ([\w, ]+)$", code, flags=re.M):
        found.update(f"{mod}.{n.strip()}" for n in names.split(","))
    return sorted(found)


def _resolve(dotted: str):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def test_some_names_are_documented():
    assert len(_documented()) >= 8


@pytest.mark.parametrize("dotted", _documented())
def test_documented_name_imports(dotted):
    assert _resolve(dotted) is not None
