"""The bench harness: same samples for every method, resumable parts, tables, pictures, memory probe."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unshuffle.data.imageset import from_array
from unshuffle.errors import CheckpointError, ConfigError
from unshuffle.evaluation.metrics import ari
from unshuffle.fragments import bench
from unshuffle.fragments.bags.damage import apply_damage, parse_condition
from unshuffle.fragments.bags.sampling import FragmentSampler
from unshuffle.fragments.baseline.baselines import random_assignment
from unshuffle.fragments.bench import BenchConfig, PeakRSS, parse_options, run_bench


@pytest.fixture
def images(smooth_images):
    return from_array(smooth_images)


def _cfg(tmp_path, **kw) -> BenchConfig:
    base = dict(data="<test>", conditions=("clean", "rotation+missing+unknown-n"),
                methods=("kmeans", "random", "autoencoder"), samples=2, images_per_sample=3, grid=4,
                out=str(tmp_path / "bench"))
    return BenchConfig(**{**base, **kw})


def test_bench_writes_everything_and_resumes(images, tmp_path, monkeypatch):
    cfg = _cfg(tmp_path)
    res = run_bench(cfg, images, progress=False)
    out = tmp_path / "bench"
    rows = {(r["condition"], r["method"]): r for r in res["rows"]}
    assert set(rows) == {(c, m) for c in ("clean", "rotation+missing=0.2+unknown-n") for m in ("kmeans", "random")}
    for r in rows.values():
        assert r["status"] == "ok" and r["samples"] == 2 and r["oracle_n"] is True
        assert r["median_seconds"] >= 0
        assert np.isnan(r["metrics"]["placement_accuracy"]["mean"])  # grouping only
    # the damaged bags really are 20% smaller (48 -> 38 fragments) and the same for both methods
    km = json.loads((out / "parts" / "rotation_missing=0.2_unknown-n__kmeans.json").read_text())
    rd = json.loads((out / "parts" / "rotation_missing=0.2_unknown-n__random.json").read_text())
    assert [p["n_fragments"] for p in km["per_sample"]] == [38.0] * 2
    assert [p["n_images"] for p in km["per_sample"]] == [p["n_images"] for p in rd["per_sample"]]
    # the harness's seeding, recomputed by hand: random gets seed + i on bag i of the condition
    sampler = FragmentSampler(images, 3, 4, seed=0)
    for i, rec in enumerate(rd["per_sample"]):
        b = apply_damage(sampler.sample(i), parse_condition("rotation+missing+unknown-n"), 0, i)
        assert rec["ari"] == ari(b.source, random_assignment(len(b), len(np.unique(b.source)), i))
    md = (out / "results.md").read_text()
    assert "| clean | kmeans |" in md and "oracle N" in md and "autoencoder row is left out" in md
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["n_data_images"] == 12 and saved["environment"]["blas_threads"] == 1
    for pic in ("clean.png", "rotation_missing=0.2_unknown-n.png"):
        assert (out / "pictures" / pic).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if PeakRSS.available():
        assert rows[("clean", "kmeans")]["peak_rss_mb"] > 10

    # rerun: every cell is read back, no method is built again, same numbers
    def refuse(*a, **k):
        raise AssertionError("a finished cell was recomputed")

    monkeypatch.setattr(bench, "build_method", refuse)
    again = run_bench(cfg, images, progress=False)
    assert [r["metrics"]["ari"] for r in again["rows"]] == [r["metrics"]["ari"] for r in res["rows"]]
    # other sample settings in the same folder are refused
    with pytest.raises(CheckpointError, match="made with other settings"):
        run_bench(_cfg(tmp_path, samples=3), images, progress=False)


def test_bench_is_deterministic_and_records_failures(images, tmp_path):
    a = run_bench(_cfg(tmp_path / "a", methods=("random",), conditions=("noise+missing",)), images, progress=False)
    b = run_bench(_cfg(tmp_path / "b", methods=("random",), conditions=("noise+missing",)), images, progress=False)
    pa = json.loads((tmp_path / "a" / "bench" / "parts" / "noise=8_missing=0.2__random.json").read_text())["per_sample"]
    pb = json.loads((tmp_path / "b" / "bench" / "parts" / "noise=8_missing=0.2__random.json").read_text())["per_sample"]
    assert [p["ari"] for p in pa] == [p["ari"] for p in pb] and len({p["ari"] for p in pa}) == 2
    assert a["rows"][0]["metrics"]["ari"] == b["rows"][0]["metrics"]["ari"]
    bad = run_bench(_cfg(tmp_path / "c", methods=("autoencoder",), conditions=("clean",),
                         ae_ckpt=str(tmp_path / "missing.ckpt")), images, progress=False)
    assert bad["rows"][0]["status"] == "failed" and "missing.ckpt" in bad["rows"][0]["error"]
    assert "failed:" in (tmp_path / "c" / "bench" / "results.md").read_text()


def test_config_validation_and_options():
    with pytest.raises(ConfigError, match="unknown method 'svm'"):
        BenchConfig(data="x", methods=("svm",)).validate()
    with pytest.raises(ConfigError, match="only the solver takes options"):
        BenchConfig(data="x", methods=("kmeans:k=3",)).validate()
    with pytest.raises(ConfigError, match="unknown condition 'blur'"):
        BenchConfig(data="x", conditions=("blur",)).validate()
    with pytest.raises(ConfigError, match="samples must be >= 1"):
        BenchConfig(data="x", samples=0).validate()
    expected = {"learned": False, "k": 5, "measure": "mgc", "w": 0.5}
    assert parse_options("learned=false,k=5,measure=mgc,w=0.5") == expected
    with pytest.raises(ConfigError, match="not key=value"):
        parse_options("learned")


@pytest.mark.skipif(not PeakRSS.available(), reason="needs /proc (Linux)")
def test_peak_rss_sees_an_allocation():
    with PeakRSS(interval=0.001) as probe:
        block = np.ones(80 * 2**20 // 8)  # 80 MiB, touched
        block += 1
        del block
    assert probe.peak - probe.start >= 60 * 2**20


def test_part_is_recomputed_when_code_or_weights_change(tmp_path):
    from unshuffle.fragments.bench import _load_part, _weights_id
    from unshuffle.runs.atomic import atomic_write_json

    ckpt = tmp_path / "ae.ckpt"
    ckpt.write_bytes(b"weights v1")
    w1 = _weights_id("autoencoder", str(ckpt))
    assert _weights_id("kmeans", str(ckpt)) is None and len(w1) == 16
    part = {"status": "ok", "key": {"samples": 2}, "code": {"code_sha256": "c1"}, "weights": w1}
    atomic_write_json(tmp_path / "p.json", part)
    assert _load_part(tmp_path / "p.json", {"samples": 2}, "c1", w1) == part
    assert _load_part(tmp_path / "p.json", {"samples": 2}, "c2", w1) is None  # other code
    ckpt.write_bytes(b"weights v2")
    assert _load_part(tmp_path / "p.json", {"samples": 2}, "c1", _weights_id("autoencoder", str(ckpt))) is None
