"""`make demo`'s job: the embedded photos in one bag, every method scored, a picture written."""

import json

import pytest

from unshuffle.errors import ConfigError
from unshuffle.fragments.demo import run_demo


def test_demo_writes_metrics_and_picture(tmp_path):
    out = tmp_path / "demo"
    res = run_demo(out, image_size=32, grid=4)
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["results"]) == set(res["results"])
    assert "raw-pixel KMeans (N given)" in metrics["results"]
    rnd = metrics["results"]["random (N given)"]
    assert -0.1 < rnd["ari"] < 0.1
    assert (out / "demo.png").read_bytes()[:4] == b"\x89PNG"
    assert "| method |" in res["table"]
    # the solved bag as `fragments solve` writes it, scored, with its report
    solved = json.loads((out / "solved" / "groups.json").read_text())
    assert res["report"] == str(out / "solved" / "report.html")
    page = (out / "solved" / "report.html").read_text()
    best = metrics["results"]["solver (N, grid estimated)"]
    assert len(solved["groups"]) == best["groups"] and f"{best['ari']:.4f}" in page
    assert (out / "bag" / "truth.json").is_file()
    with pytest.raises(ConfigError, match="already exists"):
        run_demo(out, image_size=32, grid=4)
    run_demo(out, image_size=32, grid=4, overwrite=True)
