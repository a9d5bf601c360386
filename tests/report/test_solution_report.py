"""report.html of a solved bag: written by `fragments solve`, rebuilt (with a score) by `fragments report`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from page_checks import check_page
from PIL import Image
from report_runs import HOSTILE_NAMES

from unshuffle.cli.main import main
from unshuffle.data.embedded import demo_images
from unshuffle.fragments.bags.folders import write_bag
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.bags.truth import score_solution_folder


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """A bag of 4 embedded photos (32 px, 4x4) solved by the CLI: (bag folder, solved folder)."""
    root = tmp_path_factory.mktemp("solved")
    images = demo_images(32)
    bag = FragmentSampler(images, 4, 4, seed=0).sample(0)
    write_bag(bag, root / "bag", seed=1)
    assert main(["fragments", "solve", str(root / "bag"), "--out", str(root / "solved")]) == 0
    return root / "bag", root / "solved"


def _sections(dom):
    return dom.findall(".//section")


def test_solve_writes_a_report_of_every_group(solved):
    _, out = solved
    doc = json.loads((out / "groups.json").read_text())
    dom = check_page(out / "report.html")
    sections = _sections(dom)
    assert sorted(s.get("id") for s in sections) == sorted(f"g{g['id']}" for g in doc["groups"])
    confs = [g["confidence"] for g in doc["groups"]]
    shown = [float("".join(s.itertext()).split("confidence ")[1][:4]) for s in sections]
    assert shown == sorted(shown, reverse=True) and sorted(shown) == sorted(round(c, 2) for c in confs)
    for s in sections:
        g = doc["groups"][int(s.get("id")[1:])]
        text = "".join(s.itertext())
        assert f"{g['size']} fragments" in text and f"{g['rows']}x{g['cols']} cells" in text
        src = s.find(".//img").get("src")
        assert (out / src).is_file()
        cells = s.findall(".//span")
        assert len(cells) == g["size"]
        files = {f["file"] for f in g["fragments"]}
        assert {c.get("title").split(":")[0] for c in cells} == files
        assert all("--c:hsl(" in c.get("style") for c in cells)
    page = (out / "report.html").read_text()
    assert "images: " in page and "(estimated)" in page and "edge measure" in page
    assert "No truth file given" in page


def test_report_command_adds_the_score(solved, capsys):
    bag, out = solved
    assert main(["fragments", "report", str(out), "--truth", str(bag / "truth.json")]) == 0
    assert f"report: {out / 'report.html'}" in capsys.readouterr().out
    dom = check_page(out / "report.html")
    rows = {tr.findall("td")[0].text: tr.findall("td")[1].text for tr in dom.iterfind(".//tbody/tr")}
    expected = score_solution_folder(out, bag / "truth.json")
    assert rows["ari"] == f"{expected['ari']:.4f}" and rows["n_fragments"] == "64"
    assert "No truth file given" not in (out / "report.html").read_text()
    assert main(["fragments", "report", str(out)]) == 0  # rebuilt without: the score goes again
    assert "No truth file given" in (out / "report.html").read_text()


def test_report_command_names_a_damaged_folder(tmp_path, capsys):
    (tmp_path / "groups.json").write_text("{not json")
    assert main(["fragments", "report", str(tmp_path)]) == 1
    assert "groups.json" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


def test_hostile_fragment_names_are_escaped(tmp_path):
    images = demo_images(32)
    bag = FragmentSampler(images, 2, 4, seed=0).sample(0)
    folder = tmp_path / "bag"
    folder.mkdir()
    names = [f"{i:02d}{HOSTILE_NAMES[i % len(HOSTILE_NAMES)].removesuffix('.png')[:60]}.png" for i in range(len(bag))]
    truth = {}
    for name, frag, s, r, c in zip(names, bag.fragments, bag.source, bag.row, bag.col, strict=True):
        Image.fromarray(np.ascontiguousarray(frag)).save(folder / name, format="PNG")
        truth[name] = [int(s), int(r), int(c)]
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    out = tmp_path / "solved"
    assert main(["fragments", "solve", str(folder), "--out", str(out)]) == 0
    assert main(["fragments", "report", str(out), "--truth", str(tmp_path / "truth.json"),
                 "--fragments", str(folder)]) == 0
    text = (out / "report.html").read_text()
    assert "<script" not in text and "<img src=x" not in text
    dom = check_page(out / "report.html")
    titles = {c.get("title").rsplit(": row", 1)[0] for c in dom.iterfind(".//section//span")}
    assert titles == set(names)
