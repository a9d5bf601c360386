"""Self-contained HTML pages: one stylesheet inline, every text escaped, no scripts and no network."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

# one stylesheet for every report: responsive grids, nothing wider than the viewport, no web fonts
CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0 auto;
padding:1rem;max-width:1280px;color:#1d1d1f;background:#f6f6f4;line-height:1.45}
h1{font-size:1.45rem;margin:.2rem 0 .6rem}h2{font-size:1.15rem;margin:1.6rem 0 .5rem}
h1,h2,h3,p,li,dd,figcaption,a{overflow-wrap:anywhere}
img,svg{max-width:100%;height:auto}
a{color:#0b57d0}
.muted{color:#666;font-size:.9rem}
.note{background:#fff6d6;border-left:4px solid #e0b000;padding:.5rem .75rem}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;background:#fff;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top;overflow-wrap:break-word}
th,td.num{white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,250px),1fr));gap:.75rem}
.card{display:block;background:#fff;border:1px solid #ddd;border-radius:8px;padding:.6rem;color:inherit;
text-decoration:none;min-width:0}
a.card:hover{border-color:#0b57d0;box-shadow:0 1px 4px rgba(0,0,0,.15)}
.card h3{margin:0 0 .3rem;font-size:1rem}
.strip{display:grid;grid-template-columns:repeat(8,1fr);gap:2px;margin-top:.4rem}
.strip img{width:100%;aspect-ratio:1;object-fit:cover;display:block;background:#ddd}
.thumbs{display:grid;grid-template-columns:repeat(auto-fill,minmax(104px,1fr));gap:.6rem}
.thumbs figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:6px;padding:4px;min-width:0}
.thumbs img{width:100%;aspect-ratio:1;object-fit:contain;display:block;background:#eee}
.thumbs figcaption{font-size:.72rem;line-height:1.25;margin-top:3px;word-break:break-all}
.thumbs figure.low{border:3px solid #d22;background:#fff0f0}
.badge{display:inline-block;font-size:.7rem;font-weight:600;padding:0 .3rem;border-radius:3px;
background:#d22;color:#fff}
.pager{display:flex;flex-wrap:wrap;gap:.35rem;margin:.8rem 0}
.pager a,.pager span{padding:.15rem .5rem;border:1px solid #ccc;border-radius:4px;background:#fff}
.pager span.here{background:#1d1d1f;color:#fff}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:1rem}
.chart{background:#fff;border:1px solid #ddd;border-radius:8px;padding:.5rem;min-width:0}
.chart svg{width:100%;display:block}
dl.kv{display:grid;grid-template-columns:minmax(0,max-content) minmax(0,1fr);gap:.15rem .8rem;
background:#fff;border:1px solid #ddd;border-radius:8px;padding:.5rem .75rem;font-size:.85rem}
dl.kv dt{font-weight:600;overflow-wrap:anywhere}dl.kv dd{margin:0;overflow-wrap:anywhere;
font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
""".strip()


def esc(value) -> str:
    """``value`` as text safe inside HTML element content and quoted attributes."""
    return html.escape(str(value), quote=True)


def page(title: str, body: str, *, extra_css: str = "") -> str:
    """A complete HTML5 document: ``title`` (escaped here) and ``body`` (already HTML)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{esc(title)}</title>\n<style>\n{CSS}\n{extra_css}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def flatten(settings: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested dicts as (dotted key, value) pairs, in their order; lists stay values."""
    out: list[tuple[str, object]] = []
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.extend(flatten(value, f"{name}."))
        else:
            out.append((name, value))
    return out


def settings_list(settings: dict) -> str:
    """``settings`` (nested dict of JSON values) as a two-column definition list, keys dotted."""
    rows = []
    for key, value in flatten(settings):
        text = value if isinstance(value, str) else json.dumps(value)
        rows.append(f"<dt>{esc(key)}</dt><dd>{esc(text)}</dd>")
    return "<dl class=\"kv\">" + "".join(rows) + "</dl>" if rows else "<p class=\"muted\">none recorded</p>"


def table(header: list[str], rows: list[list], *, numeric: set[int] = frozenset()) -> str:
    """A table (in a horizontally scrollable box, so the page itself never scrolls sideways);
    cells are escaped; floats are written with 4 decimals; columns in ``numeric`` right-aligned."""
    def cell(k: int, v) -> str:
        text = "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)
        return f"<td class=\"num\">{esc(text)}</td>" if k in numeric else f"<td>{esc(text)}</td>"

    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell(k, v) for k, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<div class=\"scroll\"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def write_page(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) through a temporary sibling renamed into place (no fsync: a page is
    cheap to rebuild, and a report has hundreds)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
