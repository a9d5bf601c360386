"""Both reports rendered in headless Chromium: what the DOM shows, every image loaded, no sideways
scrolling at 390 and 1366 px, no network request, and a screenshot that is not blank.

Needs Playwright (the dev extra) and Debian's ``chromium`` (``.ci/run`` and ``make test`` install it);
``UNSHUFFLE_CHROMIUM`` names another binary. Outside CI the tests skip, saying why, when either is
missing; under ``CI=true`` that is a failure. ``UNSHUFFLE_REPORT_SHOTS=DIR`` keeps the screenshots.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from report_runs import HOSTILE_NAMES, make_run

from unshuffle.cli.main import main
from unshuffle.data.embedded import demo_images
from unshuffle.fragments.bags.folders import write_bag
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.report.cluster_report import build_cluster_report

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
WIDTHS = (390, 1366)


def _chromium() -> str | None:
    named = os.environ.get("UNSHUFFLE_CHROMIUM")
    if named:
        return named if os.access(named, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    problem = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "Playwright is not installed (pip install -e '.[dev]')"
    path = _chromium()
    if problem is None and path is None:
        problem = ("no chromium on PATH (apt-get install chromium, or set UNSHUFFLE_CHROMIUM to a binary; "
                   f"UNSHUFFLE_CHROMIUM={os.environ.get('UNSHUFFLE_CHROMIUM')!r})")
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the browser test: {problem}")
        pytest.skip(f"browser test skipped: {problem}")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


def render(browser, path: Path, width: int, shot: Path) -> tuple[object, dict]:
    """Open ``path`` at ``width`` px, load every (lazy) image, take a full-page screenshot to ``shot``.

    Returns (the open page, facts): requests that left file://, images and broken ones, page width."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    outside: list[str] = []

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.resolve().as_uri())
    page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
    page.wait_for_function("[...document.images].every(i => i.complete)", timeout=60_000)
    facts = page.evaluate("""() => ({
        images: document.images.length,
        broken: [...document.images].filter(i => !i.naturalWidth).map(i => i.getAttribute('src')),
        scroll: document.documentElement.scrollWidth, inner: window.innerWidth})""")
    page.screenshot(path=str(shot), full_page=True)
    facts["outside"] = outside
    keep = os.environ.get("UNSHUFFLE_REPORT_SHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
    return page, facts


def assert_rendered(facts: dict, shot: Path) -> None:
    assert facts["outside"] == [], f"network requests: {facts['outside'][:5]}"
    assert facts["images"] > 0 and facts["broken"] == [], f"broken images: {facts['broken'][:5]}"
    assert facts["scroll"] <= facts["inner"], f"scrolls sideways: {facts['scroll']} > {facts['inner']}"
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16)
    assert pixels.std() > 20, "blank screenshot"
    assert len(np.unique(pixels.reshape(-1, 3)[::7], axis=0)) > 100, "screenshot shows next to nothing"


def test_cluster_report_in_a_browser(browser, tmp_path):
    run = make_run(tmp_path, n=450, k=5, names=HOSTILE_NAMES)
    build_cluster_report(run)
    sizes = np.bincount([int(r.split(",")[-3]) for r in (run / "assignments.csv").read_text().splitlines()[1:]],
                        minlength=5)
    big = int(np.argmax(sizes))
    for width in WIDTHS:
        page, facts = render(browser, run / "report" / "index.html", width, tmp_path / f"cluster-index-{width}.png")
        assert page.locator(".card").count() == 5
        assert page.locator(".card .strip img").count() == facts["images"] == int(np.minimum(sizes, 8).sum())
        assert page.locator("svg").count() >= 2
        assert_rendered(facts, tmp_path / f"cluster-index-{width}.png")
        page.close()

        page, facts = render(browser, run / "report" / f"cluster-{big}.html", width,
                             tmp_path / f"cluster-page-{width}.png")
        assert page.locator("figure").count() == facts["images"] == min(200, int(sizes[big]))
        assert page.locator("figure.low").count() >= 1
        assert_rendered(facts, tmp_path / f"cluster-page-{width}.png")
        page.close()
    shown = []
    for c in range(5):
        page, facts = render(browser, run / "report" / f"cluster-{c}.html", 390, tmp_path / f"c{c}.png")
        assert facts["broken"] == [] and facts["scroll"] <= facts["inner"]
        shown += page.locator("figcaption").evaluate_all("fs => fs.map(f => f.firstChild.textContent)")
        page.close()
    assert set(HOSTILE_NAMES) <= set(shown)  # the browser shows the names as text, exactly


def test_solution_report_in_a_browser(browser, tmp_path):
    bag = FragmentSampler(demo_images(32), 8, 4, seed=0).sample(0)
    write_bag(bag, tmp_path / "bag", seed=0)
    out = tmp_path / "solved"
    assert main(["fragments", "solve", str(tmp_path / "bag"), "--out", str(out)]) == 0
    assert main(["fragments", "report", str(out), "--truth", str(tmp_path / "bag" / "truth.json")]) == 0
    import json

    doc = json.loads((out / "groups.json").read_text())
    for width in WIDTHS:
        shot = tmp_path / f"solved-{width}.png"
        page, facts = render(browser, out / "report.html", width, shot)
        assert page.locator("section.grp").count() == len(doc["groups"]) == facts["images"]
        assert page.locator(".cell").count() == len(bag)
        cell = page.locator(".cell").first
        assert cell.evaluate("c => getComputedStyle(c).backgroundColor") == "rgba(0, 0, 0, 0)"
        page.locator(".canvas").first.hover()  # hovering a group tints its cells by confidence
        assert cell.evaluate("c => getComputedStyle(c).backgroundColor") != "rgba(0, 0, 0, 0)"
        assert_rendered(facts, shot)
        page.close()
