"""Every fragment method on the same damaged samples -> per-cell JSON parts, results JSON, markdown, pictures.

A cell is one (condition, method). Each finished cell is written atomically to ``parts/`` and skipped
when the bench is run again with the same settings, so a long bench resumes where it stopped.
Timing: wall-clock seconds of the method call only (its construction, model loading and one
warm-up call on sample 0 are excluded), with one BLAS thread (threadpoolctl) and one torch thread.
Memory: peak resident set size of the process during method calls, sampled every 5 ms from
``/proc/self/statm`` (Linux); ``peak_rss_mb`` is absolute (includes the bench's own data), and
``peak_extra_mb`` is the largest rise over the RSS just before a call.
"""

from __future__ import annotations

import contextlib
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from unshuffle.data.imageset import ImageSet
from unshuffle.errors import CheckpointError, ConfigError, UnshuffleError
from unshuffle.evaluation.placement import aggregate_scores, score_solution
from unshuffle.fragments.bags.damage import Condition, apply_damage, parse_condition
from unshuffle.fragments.bags.sampling import FragmentBag, FragmentSampler
from unshuffle.fragments.bags.solution import Solution
from unshuffle.fragments.bags.solution_io import json_ready
from unshuffle.runs.atomic import atomic_write_json, atomic_write_text
from unshuffle.runs.measure import PeakRSS, code_version

BASE_METHODS = ("solver", "autoencoder", "kmeans", "random")
# settings that define the samples: a part file made with other values is never reused
_SAMPLE_KEYS = ("data", "n_data_images", "image_size", "images_per_sample", "grid", "samples", "seed")


@dataclass(frozen=True)
class BenchConfig:
    """What one bench run measures.

    Attributes:
        data: where the images came from (a path or ``"demo"``), recorded with the results.
        conditions: condition specs (see ``damage.parse_condition``), e.g. ``("clean", "noise")``.
        methods: ``solver``, ``solver:opt=value,...`` (a solver ablation: constructor options),
            ``autoencoder`` (needs ``ae_ckpt``), ``kmeans`` (raw pixels), ``random``.
        samples: K bags per condition; bag i is the same for every method and condition.
        images_per_sample: N source images per bag; grid: g (g x g fragments per image).
        image_size: images are centre-cropped and resized to this side on read (None = as stored).
        seed: seed of the sampler and of the damage; ae_ckpt: autoencoder checkpoint or None.
        warmup: run each method once on sample 0 before timing.
        out: the results folder.
    """

    data: str
    conditions: tuple[str, ...] = ("clean",)
    methods: tuple[str, ...] = ("solver", "kmeans", "random")
    samples: int = 100
    images_per_sample: int = 10
    grid: int = 4
    image_size: int | None = None
    seed: int = 0
    ae_ckpt: str | None = None
    warmup: bool = True
    out: str = "results/fragments-bench"
    n_data_images: int = field(default=0, compare=False)

    def validate(self) -> None:
        """Raise ConfigError naming the bad field."""
        for name in ("samples", "images_per_sample", "grid"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.conditions or not self.methods:
            raise ConfigError("give at least one condition and one method")
        for c in self.conditions:
            parse_condition(c)
        for m in self.methods:
            base = m.split(":", 1)[0]
            if base not in BASE_METHODS:
                raise ConfigError(f"unknown method {m!r}; valid: {', '.join(BASE_METHODS)}, solver:opt=value,...")
            if ":" in m and base != "solver":
                raise ConfigError(f"only the solver takes options, got {m!r}")
            if ":" in m:
                parse_options(m.split(":", 1)[1])


def parse_options(text: str) -> dict:
    """``"a=1,b=false,c=mgc"`` -> {"a": 1, "b": False, "c": "mgc"} (JSON literals, else strings)."""
    out = {}
    for item in filter(None, text.split(",")):
        k, eq, v = item.partition("=")
        if not eq or not k.strip():
            raise ConfigError(f"solver option {item!r} is not key=value")
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


@dataclass
class BenchMethod:
    """A constructed method. ``run(fragments, n_images | None, grid | None, rotations, seed) -> Solution``;
    ``oracle_n``: it cannot estimate N, so it is always given the true number of images present."""

    name: str
    run: Callable[[np.ndarray, int | None, int | None, bool, int], Solution]
    oracle_n: bool


def build_method(name: str, ae_ckpt: str | None = None) -> BenchMethod:
    """Construct one method once (start-up: imports, model loading); its ``run`` is what is timed."""
    base, _, opts = name.partition(":")
    if base == "solver":
        from unshuffle.fragments.solver.fragment_solver import FragmentSolver

        options = parse_options(opts)
        return BenchMethod(name, lambda fr, n, g, rot, seed: FragmentSolver(  # options override the condition's turns
            n_images=n, grid=g, seed=seed, **{"rotations": rot, **options}).solve(fr), oracle_n=False)
    if base == "autoencoder":
        if ae_ckpt is None:
            raise ConfigError("method 'autoencoder' needs an autoencoder checkpoint (--ae-ckpt)")
        from unshuffle.fragments.baseline.autoencoder import (
            group_with_autoencoder,
            load_autoencoder,
        )

        model = load_autoencoder(ae_ckpt)
        return BenchMethod(name, lambda fr, n, g, rot, seed: Solution.grouping_only(
            group_with_autoencoder(model, fr, n, seed), {"method": name}), oracle_n=True)
    from unshuffle.fragments.baseline.baselines import random_assignment, raw_pixel_kmeans

    if base == "kmeans":
        return BenchMethod(name, lambda fr, n, g, rot, seed: Solution.grouping_only(
            raw_pixel_kmeans(fr, n, seed), {"method": name}), oracle_n=True)
    return BenchMethod(name, lambda fr, n, g, rot, seed: Solution.grouping_only(
        random_assignment(len(fr), n, seed), {"method": name}), oracle_n=True)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-=." else "_" for ch in text)


def _run_cell(bags: list[FragmentBag], cond: Condition, method: BenchMethod, cfg: BenchConfig,
              desc: str, progress: bool) -> dict:
    from tqdm import tqdm

    def inputs(bag: FragmentBag) -> tuple[int | None, int | None]:
        if method.oracle_n:
            return len(np.unique(bag.source)), cfg.grid
        return (None, None) if cond.unknown_n else (cfg.images_per_sample, cfg.grid)

    if cfg.warmup:
        method.run(bags[0].fragments, *inputs(bags[0]), cond.rotation, cfg.seed)
    measure = PeakRSS.available()
    records, first = [], None
    for i, bag in enumerate(tqdm(bags, desc=desc, unit="sample", leave=False, disable=not progress)):
        n, g = inputs(bag)
        rss = PeakRSS() if measure else None
        with rss or contextlib.nullcontext():
            t0 = time.perf_counter()
            sol = method.run(bag.fragments, n, g, cond.rotation, cfg.seed + i)
            seconds = time.perf_counter() - t0
        scores = score_solution(bag, sol, rotations=cond.rotation)
        scores["seconds"] = seconds
        if rss:
            scores["peak_rss_mb"] = rss.peak / 2**20
            scores["peak_extra_mb"] = (rss.peak - rss.start) / 2**20
        records.append(scores)
        if i == 0:
            first = {k: getattr(sol, k).tolist() for k in ("group", "row", "col", "turn")}
            first["shapes"] = [list(s) for s in sol.shapes]
            first["settings"] = sol.settings
    return {"per_sample": records, "sample0": first, "oracle_n": method.oracle_n}


def _summary_row(cond: str, method: str, part: dict) -> dict:
    if part.get("status") == "failed":
        return {"condition": cond, "method": method, "status": "failed", "error": part["error"]}
    per = part["per_sample"]
    agg = aggregate_scores(per)
    secs = [p["seconds"] for p in per]
    row = {"condition": cond, "method": method, "status": "ok", "samples": len(per),
           "median_seconds": statistics.median(secs),
           "peak_rss_mb": max((p.get("peak_rss_mb", float("nan")) for p in per), default=float("nan")),
           "peak_extra_mb": max((p.get("peak_extra_mb", float("nan")) for p in per), default=float("nan")),
           "oracle_n": part.get("oracle_n", False), "metrics": agg}
    return row


def _fmt(x: float, pct: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def _mb(peak: float | None, extra: float | None) -> str:
    if peak is None or not np.isfinite(peak):
        return "not measured"
    return f"{peak:.0f} (+{extra:.0f})"


def markdown_table(rows: list[dict], cfg: BenchConfig) -> str:
    """The results table: means over samples (nan-free ones); exact-N only where N was estimated."""
    head = ("| condition | method | ARI | NMI | purity | placement | perfect | neighbours | upright | "
            "conf. AUROC | exact N | median s | peak RSS MB (+ rise in call) | samples |")
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['condition']} | {r['method']} | failed: {r['error']} |" + " |" * 11)
            continue
        m = {k: v["mean"] for k, v in r["metrics"].items()}
        unknown = parse_condition(r["condition"]).unknown_n
        oracle = r.get("oracle_n", False)
        exact = "oracle N" if unknown and oracle else (_fmt(m["exact_n"], True) if unknown else "–")
        lines.append(
            f"| {r['condition']} | {r['method']} | {_fmt(m['ari'])} | {_fmt(m['nmi'])} | {_fmt(m['purity'])} | "
            f"{_fmt(m['placement_accuracy'], True)} | {_fmt(m['perfect_rate'], True)} | "
            f"{_fmt(m['neighbour_accuracy'], True)} | {_fmt(m['upright_accuracy'], True)} | "
            f"{_fmt(m['confidence_auroc'])} | {exact} | {r['median_seconds']:.4f} | "
            f"{_mb(r['peak_rss_mb'], r['peak_extra_mb'])} | "
            f"{r['samples']} |")
    return "\n".join(lines) + "\n"


def _environment() -> dict:
    import os

    import sklearn

    from unshuffle.runs.layout import environment_record

    return {**environment_record(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "sklearn": sklearn.__version__, "blas_threads": 1,
            "torch_threads": 1}


def open_bench_data(data: str, image_size: int | None = None) -> ImageSet:
    """``"demo"`` -> the embedded scikit-image photos (default side 64), else ``open_images(data)``."""
    if data == "demo":
        from unshuffle.data.embedded import demo_images

        return demo_images(image_size or 64)
    from unshuffle.data import open_images

    return open_images(data, size=image_size)


def run_bench(cfg: BenchConfig, images: ImageSet | None = None, progress: bool = True) -> dict:
    """Run every (condition, method) cell not yet finished in ``cfg.out``; write results; return them.

    images: the data set bags are drawn from (``FragmentSampler(images, N, grid, seed)``); None
    opens ``cfg.data`` with :func:`open_bench_data`.
    Writes ``parts/<condition>__<method>.json``, ``results.json``, ``results.md`` and
    ``pictures/<condition>.png`` under ``cfg.out``.
    """
    from threadpoolctl import threadpool_limits

    if images is None:
        images = open_bench_data(cfg.data, cfg.image_size)
    cfg = BenchConfig(**{**asdict(cfg), "n_data_images": len(images)})
    cfg.validate()
    out = Path(cfg.out)
    parts = out / "parts"
    key = {k: getattr(cfg, k) for k in _SAMPLE_KEYS}
    code = code_version()
    sampler = FragmentSampler(images, cfg.images_per_sample, cfg.grid, seed=cfg.seed)
    rows = []
    torch_threads = None
    try:
        import torch

        torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    try:
        with threadpool_limits(limits=1):
            for spec in cfg.conditions:
                cond = parse_condition(spec)
                bags: list[FragmentBag] | None = None
                for mname in cfg.methods:
                    path = parts / f"{_slug(cond.name)}__{_slug(mname)}.json"
                    weights = _weights_id(mname, cfg.ae_ckpt)
                    part = _load_part(path, key, code["code_sha256"], weights)
                    if part is None:
                        if mname == "autoencoder" and cfg.ae_ckpt is None:
                            continue  # no checkpoint: the row is left out (noted in the markdown)
                        if bags is None:
                            bags = [apply_damage(sampler.sample(i), cond, cfg.seed, i) for i in range(cfg.samples)]
                        try:
                            method = build_method(mname, cfg.ae_ckpt)
                            part = _run_cell(bags, cond, method, cfg, f"{cond.name} | {mname}", progress)
                            part["status"] = "ok"
                        except (UnshuffleError, ValueError, RuntimeError, ImportError) as e:
                            part = {"status": "failed", "error": f"{type(e).__name__}: {e}"}
                        part.update(key=key, condition=cond.name, method=mname, code=code, weights=weights)
                        atomic_write_json(path, part)
                    rows.append(_summary_row(cond.name, mname, part))
                _picture(out / "pictures" / f"{_slug(cond.name)}.png", sampler, cond, cfg, parts)
    finally:
        if torch is not None and torch_threads is not None:
            torch.set_num_threads(torch_threads)
    result = {"config": asdict(cfg), "environment": {**_environment(), **code}, "rows": rows}
    atomic_write_json(out / "results.json", json_ready(result))
    note = "" if cfg.ae_ckpt or "autoencoder" not in cfg.methods else \
        "\nThe autoencoder row is left out: no checkpoint was given (--ae-ckpt).\n"
    atomic_write_text(out / "results.md", markdown_table(rows, cfg) + note)
    return result


def _weights_id(method: str, ae_ckpt: str | None) -> str | None:
    """sha256 (16 hex) of the checkpoint a method loads, so a new checkpoint recomputes its cells."""
    if method.partition(":")[0] != "autoencoder" or ae_ckpt is None or not Path(ae_ckpt).is_file():
        return None  # no weights, or a missing file (the cell then fails and names it)
    import hashlib

    return hashlib.sha256(Path(ae_ckpt).read_bytes()).hexdigest()[:16]


def _load_part(path: Path, key: dict, code: str, weights: str | None = None) -> dict | None:
    if not path.exists():
        return None
    try:
        part = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: unreadable bench part ({e}); delete it to recompute") from None
    if part.get("key") != key:
        raise CheckpointError(f"{path} was made with other settings ({part.get('key')} vs {key}); "
                              f"use another --out folder or delete it")
    if part.get("status") == "failed":
        return None  # failed cells are retried
    if part.get("code", {}).get("code_sha256") != code:
        print(f"{path}: made by other code ({part.get('code')}); recomputing", file=sys.stderr)
        return None
    if part.get("weights") != weights:
        print(f"{path}: made with other weights ({part.get('weights')} vs {weights}); recomputing", file=sys.stderr)
        return None
    return part


def _picture(path: Path, sampler: FragmentSampler, cond: Condition, cfg: BenchConfig, parts: Path) -> None:
    from unshuffle.fragments.bags.solution import assemble_group
    from unshuffle.plots.reassembly import best_group_per_source, reassembly_figure

    bag = apply_damage(sampler.sample(0), cond, cfg.seed, 0)
    originals = sampler.images.images(bag.image_ids)
    rows = {}
    for mname in cfg.methods:
        p = parts / f"{_slug(cond.name)}__{_slug(mname)}.json"
        if not p.exists():
            continue
        first = json.loads(p.read_text()).get("sample0")
        if not first:
            continue
        sol = Solution(*(np.asarray(first[k], np.int64) for k in ("group", "row", "col", "turn")),
                       np.zeros(len(bag)), [tuple(s) for s in first["shapes"]])
        best = best_group_per_source(bag.source, sol.group, bag.n_images)
        rows[mname] = [None if g is None else assemble_group(bag.fragments, sol, g, gap=1) for g in best]
    if rows:
        shown = "" if bag.n_images <= 10 else f", first 10 of {bag.n_images} images"
        reassembly_figure(originals, rows, path, max_columns=10,
                          title=f"{cond.name}: sample 0 (N={cfg.images_per_sample}, grid {cfg.grid}x{cfg.grid}"
                                f"{shown}); each column: the group holding most of that image")
