"""The browsable report of a clustering run: RUN/report/index.html, paged cluster pages, thumbnails."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from unshuffle.errors import CheckpointError, ConfigError
from unshuffle.report.charts import bar_chart, line_chart
from unshuffle.report.html import esc, page, settings_list, table, write_page
from unshuffle.report.thumbs import THUMB_SIZE, ensure_thumbnails, thumb_name

MAX_PER_PAGE = 200  # thumbnails on one cluster page, at most
STRIP = 8  # most confident images on each cluster's card
LOW_CONFIDENCE = 0.5  # an image below this share of the run's median confidence is marked as doubtful


def low_confidence_bar(confidence: np.ndarray, share: float = LOW_CONFIDENCE) -> float:
    """The confidence under which an image is marked: ``share`` times the run's median confidence.

    confidence: (N,) float. Confidences rank images well, but their scale depends on K and the data
    (10 digit clusters sit near 0.4), so the bar is relative to the run, as for fragment bags."""
    return float(share * np.median(confidence)) if len(confidence) else 0.0


def build_cluster_report(run_dir: str | Path, out: str | Path | None = None, *, per_page: int = MAX_PER_PAGE,
                         thumb_size: int = THUMB_SIZE, low_share: float = LOW_CONFIDENCE, progress=None) -> dict:
    """Write ``out`` (default ``RUN/report``): index.html (a card per cluster, sizes and training
    curves, the evaluation table when report.json has scores, the run's settings) and for each
    cluster pages of at most ``per_page`` thumbnails, most confident first, images with confidence
    below :func:`low_confidence_bar` (``low_share`` times the median) marked. Thumbnails go to
    ``out/thumbs`` and are kept on later builds.

    The images are reopened from the path the run records and must be the ones it clustered.
    progress: called as ``progress(done, total)`` while thumbnails are made. Returns {"index",
    "pages", "clusters", "images", "thumbnails": {"made", "kept"}, "seconds"}.
    """
    from unshuffle.clustering.outputs import CSV_NAME, read_assignments_csv
    from unshuffle.data import open_images
    from unshuffle.runs.layout import RunDir

    if not 1 <= int(per_page) <= MAX_PER_PAGE:
        raise ConfigError(f"per_page must be in 1..{MAX_PER_PAGE}, got {per_page}")
    if not 0 <= float(low_share) <= 1:
        raise ConfigError(f"low_share must be in [0, 1], got {low_share}")
    if not 16 <= int(thumb_size) <= 512:
        raise ConfigError(f"thumb_size must be in 16..512 pixels, got {thumb_size}")
    start = time.perf_counter()
    run = RunDir(Path(run_dir))
    saved = run.read_config()
    cfg = saved["config"]
    assignments = read_assignments_csv(run.path / CSV_NAME)
    images = open_images(cfg["data"]["path"], split=cfg["data"].get("split"))
    names = assignments["file"]
    if list(images.names) != names:
        raise CheckpointError(f"{run.path}: the images at {cfg['data']['path']} are not the ones the run "
                              f"clustered ({len(images)} now, {len(names)} in {CSV_NAME})")
    out = Path(out) if out is not None else run.path / "report"
    out.mkdir(parents=True, exist_ok=True)
    thumbs = ensure_thumbnails(images, range(len(names)), out / "thumbs", size=thumb_size, progress=progress)

    clusters, conf, ranks = assignments["cluster"], assignments["confidence"], assignments["rank"]
    low = low_confidence_bar(conf, low_share)
    n_clusters = max(int(cfg["temi"]["clusters"]), int(clusters.max()) + 1 if len(clusters) else 0)
    order = np.lexsort((ranks, clusters))  # by cluster, then rank (most confident first)
    sizes = np.bincount(clusters, minlength=n_clusters)
    starts = np.r_[0, np.cumsum(sizes)]
    members = {c: order[starts[c]:starts[c + 1]] for c in range(n_clusters)}
    width = len(str(max(n_clusters - 1, 0)))
    for old in out.glob("cluster-*.html"):
        old.unlink()
    n_pages = 0
    for c in range(n_clusters):
        if sizes[c]:
            n_pages += _write_cluster_pages(out, c, width, members[c], names, conf, ranks, per_page, low, thumb_size)
    index = out / "index.html"
    write_page(index, _index_page(run, saved, names, conf, members, sizes, width, (low, low_share), out))
    return {"index": str(index), "pages": n_pages + 1, "clusters": int((sizes > 0).sum()), "images": len(names),
            "thumbnails": thumbs, "seconds": round(time.perf_counter() - start, 3)}


def cluster_page_name(cluster: int, width: int, page_no: int = 1) -> str:
    """``cluster-07.html`` for the first page of cluster 7, ``cluster-07-p2.html`` for the second."""
    return f"cluster-{cluster:0{width}d}.html" if page_no == 1 else f"cluster-{cluster:0{width}d}-p{page_no}.html"


def _figure(i: int, names: list[str], conf: np.ndarray, ranks: np.ndarray, low: float, size: int) -> str:
    name, p = esc(names[i]), float(conf[i])
    is_low = p < low
    badge = " <span class=\"badge\">low</span>" if is_low else ""
    cls = " class=\"low\"" if is_low else ""
    return (f"<figure{cls} title=\"{name} (confidence {p:.3f})\">"
            f"<img src=\"thumbs/{thumb_name(int(i))}\" loading=\"lazy\" decoding=\"async\" width=\"{size}\" "
            f"height=\"{size}\" alt=\"{name}\"><figcaption>{name}<br><span class=\"muted\">#{int(ranks[i])} "
            f"&middot; {p:.3f}</span>{badge}</figcaption></figure>")


def _pager(cluster: int, width: int, here: int, count: int) -> str:
    if count <= 1:
        return ""
    links = [f"<span class=\"here\">{k}</span>" if k == here
             else f"<a href=\"{cluster_page_name(cluster, width, k)}\">{k}</a>" for k in range(1, count + 1)]
    return f"<nav class=\"pager\" aria-label=\"pages\">{''.join(links)}</nav>"


def _write_cluster_pages(out: Path, c: int, width: int, idx: np.ndarray, names: list[str], conf: np.ndarray,
                         ranks: np.ndarray, per_page: int, low: float, size: int) -> int:
    """Write every page of cluster ``c`` (idx: its image indices, most confident first); returns the count."""
    count = -(-len(idx) // per_page)
    mean = float(conf[idx].mean())
    n_low = int((conf[idx] < low).sum())
    for k in range(1, count + 1):
        chunk = idx[(k - 1) * per_page : k * per_page]
        pager = _pager(c, width, k, count)
        body = (f"<p><a href=\"index.html\">&larr; all clusters</a></p>"
                f"<h1>Cluster #{c}</h1><p>{len(idx)} images &middot; mean confidence {mean:.3f} &middot; "
                f"{n_low} marked low (confidence &lt; {low:.3f}, red frame) &middot; page {k} of {count}, "
                f"images {(k - 1) * per_page + 1}&ndash;{(k - 1) * per_page + len(chunk)}, most confident "
                f"first</p>{pager}<div class=\"thumbs\">"
                + "".join(_figure(int(i), names, conf, ranks, low, size) for i in chunk)
                + f"</div>{pager}")
        write_page(out / cluster_page_name(c, width, k), page(f"Cluster #{c} ({k}/{count})", body))
    return count


def _card(c: int, width: int, idx: np.ndarray, names: list[str], conf: np.ndarray, low: float) -> str:
    if not len(idx):
        return (f"<div class=\"card empty\" id=\"c{c}\"><h3>#{c}</h3>"
                f"<div class=\"muted\">empty: no image was assigned here</div></div>")
    strip = "".join(f"<img src=\"thumbs/{thumb_name(int(i))}\" loading=\"lazy\" decoding=\"async\" width=\"48\" "
                    f"height=\"48\" alt=\"{esc(names[int(i)])}\" title=\"{esc(names[int(i)])}\">" for i in idx[:STRIP])
    n_low = int((conf[idx] < low).sum())
    return (f"<a class=\"card\" id=\"c{c}\" href=\"{cluster_page_name(c, width)}\"><h3>#{c}</h3>"
            f"<div class=\"muted\">{len(idx)} images &middot; mean confidence {float(conf[idx].mean()):.3f}"
            f"{f' &middot; {n_low} low' if n_low else ''}</div><div class=\"strip\">{strip}</div></a>")


def _evaluation(run_path: Path) -> str:
    """The evaluation table of report.json, or a sentence saying why there is none."""
    path = run_path / "report.json"
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        return ("<p class=\"note\">No report.json in this run yet: <code>unshuffle cluster evaluate RUN</code> "
                "writes it (scores need labelled data).</p>")
    except (OSError, ValueError) as e:
        return f"<p class=\"note\">report.json could not be read ({esc(e)}).</p>"
    if not report.get("labelled"):
        return ("<p class=\"note\">No labels with this data: the run was not scored (accuracy, NMI and ARI "
                "need the true classes). The cluster sizes below need none.</p>")
    rows = []
    for name, m in report.get("methods", {}).items():
        s, st = m.get("scores") or {}, m.get("stats", {})
        rows.append([name, s.get("accuracy"), s.get("nmi"), s.get("adjusted_nmi"), s.get("ari"),
                     f"{st.get('occupied', '-')}/{st.get('n_clusters', '-')}", st.get("largest")])
    text = table(["method", "accuracy", "NMI", "adjusted NMI", "ARI", "occupied", "largest"], rows,
                 numeric={1, 2, 3, 4, 5, 6})
    if "knn_loo_accuracy" in report:
        text += (f"<p class=\"muted\">kNN (leave-one-out, a supervised reference): accuracy "
                 f"{float(report['knn_loo_accuracy']):.4f}</p>")
    if report.get("diagnostics"):
        text += "<p class=\"muted\">Labels were used only for these scores, never to train or choose.</p>"
    return text


def _curves(records: list[dict]) -> str:
    last = {r["epoch"]: r for r in records
            if isinstance(r.get("epoch"), int) and isinstance(r.get("loss"), (int, float))}
    epochs = [last[e] for e in sorted(last)]  # a resumed run may have logged an epoch twice: the last one counts
    if not epochs:
        return "<p class=\"muted\">No training records (metrics.jsonl) in this run.</p>"
    series = {"loss (selected head)": [(r["epoch"], r["loss"]) for r in epochs]}
    out = line_chart(series, title="training loss by epoch", xlabel="epoch")
    if any(isinstance(r.get("prior_entropy"), (int, float)) for r in epochs):
        ent = {"prior entropy (nats)": [(r["epoch"], r["prior_entropy"]) for r in epochs
                                        if isinstance(r.get("prior_entropy"), (int, float))]}
        out += "</div><div class=\"chart\">" + line_chart(ent, title="cluster prior entropy by epoch",
                                                          xlabel="epoch")
    return out


def _index_page(run, saved: dict, names: list[str], conf: np.ndarray, members: dict, sizes: np.ndarray,
                width: int, bar: tuple[float, float], out: Path) -> str:
    cfg = saved["config"]
    low, low_share = bar
    n, k = len(names), len(sizes)
    order = sorted(range(k), key=lambda c: (-int(sizes[c]), c))
    by_size = [int(sizes[c]) for c in order]
    n_low = int((conf < low).sum())
    backbone = cfg.get("backbone", {}).get("name", "?")
    plots = [p for p in ("sizes.png", "curves.png", "gallery.png") if (run.path / "plots" / p).is_file()]
    plot_links = " ".join(f"<a href=\"{esc(Path(os.path.relpath(run.path / 'plots' / p, out)).as_posix())}\">"
                          f"{esc(p)}</a>" for p in plots)
    sizes_svg = bar_chart(by_size, [f"#{c}" for c in order], title="images per cluster, largest first",
                          xlabel="cluster (largest first)")
    where = run.path.resolve()
    body = (f"<h1>Clustering report: {esc(where.parent.name + '/' + where.name)}</h1>"
            f"<p>Run folder <code>{esc(where)}</code>: {n:,} images from <code>{esc(cfg['data']['path'])}</code> "
            f"in {int((sizes > 0).sum())} of {k} "
            f"clusters &middot; backbone {esc(backbone)} &middot; mean confidence "
            f"{float(conf.mean()) if n else float('nan'):.3f} &middot; {n_low} images with confidence &lt; "
            f"{low:.3f}, {low_share:g}&times; the run&rsquo;s median (marked in red on the cluster pages)</p>"
            "<h2>Clusters</h2><p class=\"muted\">Largest first; each card shows its most confident images "
            "and opens every image of the cluster.</p>"
            "<div class=\"cards\">" + "".join(_card(c, width, members[c], names, conf, low) for c in order)
            + "</div><h2>Evaluation</h2>" + _evaluation(run.path)
            + "<h2>Cluster sizes and training</h2><div class=\"charts\"><div class=\"chart\">" + sizes_svg
            + "</div><div class=\"chart\">" + _curves(run.read_metrics()) + "</div></div>"
            + (f"<p class=\"muted\">The run's own pictures: {plot_links}</p>" if plots else "")
            + "<h2>Settings</h2>" + settings_list(cfg)
            + "<h2>Environment</h2>" + settings_list(saved.get("environment", {})))
    return page(f"Clustering report: {where.parent.name}/{where.name}", body)
