"""`cluster report`: index cards, paged cluster pages, thumbnails made once, escaped names, no network."""

from __future__ import annotations

import json

import numpy as np
import pytest
from page_checks import check_page, parse_strict
from report_runs import HOSTILE_NAMES, make_run

from unshuffle.cli.main import main
from unshuffle.errors import CheckpointError, ConfigError
from unshuffle.report.cluster_report import MAX_PER_PAGE, build_cluster_report, low_confidence_bar


def _texts(dom, xpath: str) -> list[str]:
    return ["".join(e.itertext()) for e in dom.iterfind(xpath)]


def test_strict_parser_rejects_a_broken_page():
    parse_strict("<!DOCTYPE html><html lang=en><head><title>t</title></head><body><p>ok</p></body></html>")
    from html5lib.html5parser import ParseError

    with pytest.raises(ParseError):
        parse_strict("<!DOCTYPE html><html><head><title>t</title></head><body><p>a</b></body></html>")


def test_index_has_one_card_per_cluster_and_every_page_is_well_formed(tmp_path):
    run = make_run(tmp_path, n=90, k=5)
    out = build_cluster_report(run, per_page=20)
    report = run / "report"
    assert out["index"] == str(report / "index.html")
    dom = check_page(report / "index.html")
    cards = dom.findall(".//*[@class='card']") + dom.findall(".//*[@class='card empty']")
    table = json.loads((run / "report.json").read_text())
    sizes = table["methods"]["temi"]["stats"]["sizes"]
    assert len(cards) == 5 == len(sizes)
    for card in dom.iterfind(".//a[@class='card']"):
        c = int(card.get("id")[1:])
        assert f"{sizes[c]} images" in "".join(card.itertext())
        assert len(card.findall(".//img")) == min(8, sizes[c])
    pages = sorted(report.glob("cluster-*.html"))
    assert len(pages) == sum(-(-s // 20) for s in sizes) == out["pages"] - 1
    shown = []
    for p in pages:
        figs = check_page(p).findall(".//figure")
        assert 1 <= len(figs) <= 20
        shown += [f.find(".//img").get("src") for f in figs]
    assert len(shown) == len(set(shown)) == 90  # every image once
    assert all((report / s).is_file() for s in shown)


def test_cluster_pages_sort_by_confidence_and_mark_low_ones(tmp_path):
    run = make_run(tmp_path, n=80, k=2)
    build_cluster_report(run)
    rows = [line.split(",") for line in (run / "assignments.csv").read_text().splitlines()[1:]]
    conf = np.array([float(r[-2]) for r in rows])
    bar = low_confidence_bar(conf)
    for c in (0, 1):
        dom = check_page(run / "report" / f"cluster-{c}.html")
        figs = dom.findall(".//figure")
        values = [float(f.get("title").rsplit("confidence ", 1)[1].rstrip(")")) for f in figs]
        assert values == sorted(values, reverse=True)
        assert [f.get("class") == "low" for f in figs] == [v < bar for v in values]
    assert 0 < (conf < bar).sum() < len(conf)


def test_pages_hold_at_most_200_thumbnails(tmp_path):
    run = make_run(tmp_path, n=450, k=2)
    build_cluster_report(run)
    pages = sorted((run / "report").glob("cluster-*.html"))
    counts = [len(check_page(p).findall(".//figure")) for p in pages]
    assert max(counts) == MAX_PER_PAGE and sum(counts) == 450
    first = check_page(run / "report" / "cluster-0.html")
    assert "cluster-0-p2.html" in [a.get("href") for a in first.iterfind(".//nav//a")]
    with pytest.raises(ConfigError, match="per_page must be in 1..200"):
        build_cluster_report(run, per_page=201)


def test_thumbnails_are_made_once_and_kept(tmp_path):
    run = make_run(tmp_path, n=30, k=3)
    first = build_cluster_report(run)
    assert first["thumbnails"] == {"made": 30, "kept": 0}
    thumbs = run / "report" / "thumbs"
    stamp = {p.name: p.stat().st_mtime_ns for p in thumbs.glob("*.jpg")}
    assert len(stamp) == 30 and all(p.stat().st_size < 4000 for p in thumbs.glob("*.jpg"))
    again = build_cluster_report(run)
    assert again["thumbnails"] == {"made": 0, "kept": 30}
    assert {p.name: p.stat().st_mtime_ns for p in thumbs.glob("*.jpg")} == stamp
    (thumbs / "000004.jpg").unlink()  # a missing one is made again
    assert build_cluster_report(run)["thumbnails"] == {"made": 1, "kept": 29}
    assert build_cluster_report(run, thumb_size=64)["thumbnails"] == {"made": 30, "kept": 0}  # other size


def test_hostile_file_names_are_escaped(tmp_path):
    run = make_run(tmp_path, n=40, k=2, names=HOSTILE_NAMES)
    build_cluster_report(run)
    report = run / "report"
    captions, alts = [], []
    for p in [report / "index.html", *report.glob("cluster-*.html")]:
        text = p.read_text()
        assert "<script" not in text and "<img src=x" not in text
        dom = check_page(p)
        captions += [t for f in dom.iterfind(".//figcaption") for t in [next(iter(f.itertext()))]]
        alts += [img.get("alt") for img in dom.iterfind(".//img")]
    for name in HOSTILE_NAMES:
        assert name in captions and name in alts  # shown as text, exactly


def test_labels_add_the_evaluation_table_and_their_absence_is_said(tmp_path):
    labelled = make_run(tmp_path / "a", labelled=True)
    build_cluster_report(labelled)
    dom = check_page(labelled / "report" / "index.html")
    heads = _texts(dom, ".//table//th")
    assert heads[:5] == ["method", "accuracy", "NMI", "adjusted NMI", "ARI"]
    assert _texts(dom, ".//table//tbody//tr/td[2]")[0] == "1.0000"  # temi == the colour classes

    unlabelled = make_run(tmp_path / "b", labelled=False)
    build_cluster_report(unlabelled)
    text = (unlabelled / "report" / "index.html").read_text()
    assert "No labels with this data" in text and "<table" not in text

    bare = make_run(tmp_path / "c", report=False)
    build_cluster_report(bare)
    assert "No report.json in this run yet" in (bare / "report" / "index.html").read_text()


def test_index_shows_sizes_curves_and_settings(tmp_path):
    run = make_run(tmp_path, n=50, k=3)
    build_cluster_report(run)
    dom = check_page(run / "report" / "index.html")
    svg = "{http://www.w3.org/2000/svg}"
    titles = _texts(dom, f".//{svg}svg/{svg}title")
    assert "images per cluster, largest first" in titles and "training loss by epoch" in titles
    assert len(dom.findall(f".//{svg}svg//{svg}rect")) >= 3
    keys = _texts(dom, ".//dl/dt")
    assert {"temi.clusters", "backbone.name", "data.path"} <= set(keys)


def test_report_refuses_other_images(tmp_path):
    run = make_run(tmp_path, n=20, k=2)
    (tmp_path / "images" / "img_005.png").unlink()
    with pytest.raises(CheckpointError, match="not the ones the run clustered"):
        build_cluster_report(run)


def test_cli_cluster_report(tmp_path, capsys):
    run = make_run(tmp_path, n=25, k=2)
    assert main(["cluster", "report", str(run), "--per-page", "10"]) == 0
    out = capsys.readouterr().out
    assert f"report: {run / 'report' / 'index.html'}" in out and "25 thumbnails made" in out
    assert main(["cluster", "report", str(run), "--per-page", "500"]) == 1
    assert "per_page must be in 1..200" in capsys.readouterr().err


def test_report_needs_no_torch(tmp_path):
    import subprocess
    import sys

    run = make_run(tmp_path, n=12, k=2)
    probe = ("import sys; from unshuffle.cli.main import main; main(['cluster', 'report', sys.argv[1]]); "
             "print(sorted(m for m in ('torch', 'lightning', 'sklearn', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe, str(run)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("[]"), out.stdout
