"""Inline SVG charts (bars and lines) written as plain strings: they scale with the page, need no files."""

from __future__ import annotations

import math

from unshuffle.report.html import esc

WIDTH, HEIGHT = 640, 260
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 12, 14, 40
COLOURS = ("#0b57d0", "#d93025", "#188038", "#e37400", "#9334e6", "#007b83")


def _ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:.3g}"


def _frame(ylo: float, yhi: float, title: str, xlabel: str) -> tuple[list[str], callable]:
    """Axes, y ticks and labels; returns (svg parts, y -> pixel)."""
    plot_h = HEIGHT - _TOP - _BOTTOM
    span = (yhi - ylo) or 1.0

    def y_px(v: float) -> float:
        return _TOP + plot_h * (1 - (v - ylo) / span)

    parts = [f"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" "
             f"aria-label=\"{esc(title)}\" font-family=\"sans-serif\" font-size=\"11\">",
             f"<title>{esc(title)}</title>"]
    for t in _ticks(ylo, yhi):
        y = y_px(t)
        parts.append(f"<line x1=\"{_LEFT}\" x2=\"{WIDTH - _RIGHT}\" y1=\"{y:.1f}\" y2=\"{y:.1f}\" stroke=\"#e4e4e4\"/>"
                     f"<text x=\"{_LEFT - 4}\" y=\"{y + 4:.1f}\" text-anchor=\"end\" fill=\"#555\">{_fmt(t)}</text>")
    parts.append(f"<line x1=\"{_LEFT}\" x2=\"{WIDTH - _RIGHT}\" y1=\"{HEIGHT - _BOTTOM}\" "
                 f"y2=\"{HEIGHT - _BOTTOM}\" stroke=\"#888\"/>")
    parts.append(f"<text x=\"{(WIDTH + _LEFT) / 2:.0f}\" y=\"{HEIGHT - 6}\" text-anchor=\"middle\" "
                 f"fill=\"#333\">{esc(xlabel)}</text>")
    return parts, y_px


def bar_chart(values: list[float], labels: list[str], *, title: str, xlabel: str) -> str:
    """One bar per value in the given order, each with a tooltip ``label: value``; bar labels are
    drawn under the bars when there are at most 40."""
    n = max(len(values), 1)
    hi = max([float(v) for v in values] + [1.0])
    parts, y_px = _frame(0.0, hi, title, xlabel)
    slot = (WIDTH - _LEFT - _RIGHT) / n
    for k, (v, lab) in enumerate(zip(values, labels, strict=True)):
        x, y = _LEFT + k * slot, y_px(float(v))
        parts.append(f"<rect x=\"{x + slot * 0.1:.2f}\" y=\"{y:.2f}\" width=\"{max(slot * 0.8, 0.5):.2f}\" "
                     f"height=\"{HEIGHT - _BOTTOM - y:.2f}\" fill=\"{COLOURS[0]}\">"
                     f"<title>{esc(lab)}: {esc(_fmt(float(v)))}</title></rect>")
        if n <= 40:
            parts.append(f"<text x=\"{x + slot / 2:.1f}\" y=\"{HEIGHT - _BOTTOM + 13}\" text-anchor=\"middle\" "
                         f"fill=\"#333\" font-size=\"{10 if n <= 20 else 8}\">{esc(lab)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def line_chart(series: dict[str, list[tuple[float, float]]], *, title: str, xlabel: str) -> str:
    """One polyline per named series of (x, y) points (non-finite points dropped), with a legend."""
    clean = {name: [(float(x), float(y)) for x, y in pts if math.isfinite(x) and math.isfinite(y)]
             for name, pts in series.items()}
    clean = {k: v for k, v in clean.items() if v}
    xs = [x for pts in clean.values() for x, _ in pts] or [0.0, 1.0]
    ys = [y for pts in clean.values() for _, y in pts] or [0.0, 1.0]
    ylo, yhi = min(ys), max(ys)
    pad = (yhi - ylo) * 0.05 or abs(yhi) * 0.05 or 1.0
    parts, y_px = _frame(ylo - pad, yhi + pad, title, xlabel)
    xlo, xhi = min(xs), max(xs)
    xspan = (xhi - xlo) or 1.0

    def x_px(v: float) -> float:
        return _LEFT + (WIDTH - _LEFT - _RIGHT) * (v - xlo) / xspan

    for t in _ticks(xlo, xhi, 5):
        parts.append(f"<text x=\"{x_px(t):.1f}\" y=\"{HEIGHT - _BOTTOM + 13}\" text-anchor=\"middle\" "
                     f"fill=\"#555\">{_fmt(t)}</text>")
    for k, (name, pts) in enumerate(clean.items()):
        colour = COLOURS[k % len(COLOURS)]
        coords = " ".join(f"{x_px(x):.1f},{y_px(y):.1f}" for x, y in pts)
        parts.append(f"<polyline points=\"{coords}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.8\">"
                     f"<title>{esc(name)}</title></polyline>")
        parts.append(f"<rect x=\"{_LEFT + 8 + k * 150}\" y=\"{_TOP - 2}\" width=\"10\" height=\"10\" "
                     f"fill=\"{colour}\"/><text x=\"{_LEFT + 22 + k * 150}\" y=\"{_TOP + 7}\" "
                     f"fill=\"#333\">{esc(name)}</text>")
    parts.append("</svg>")
    return "".join(parts)
