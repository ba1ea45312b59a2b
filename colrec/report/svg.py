"""Small inline-SVG charts: enough for a report that must open anywhere with no JavaScript library
and no network. Every function returns one `<svg>` element as a string; text is escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD, TOP = 560, 290, 44, 62  # TOP: room for the title and two legend rows
KEY_WIDTH, KEYS_PER_ROW = 115, 4
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _scale(lo: float, hi: float, out_lo: float, out_hi: float) -> tuple[float, float]:
    span = hi - lo or 1.0
    k = (out_hi - out_lo) / span
    return k, out_lo - lo * k


def _frame(title: str, body: str, y_lo: float, y_hi: float, x_labels: Sequence[str], legend: Sequence[str]) -> str:
    ticks = []
    for i in range(5):
        value = y_lo + (y_hi - y_lo) * i / 4
        y = HEIGHT - PAD - (HEIGHT - PAD - TOP) * i / 4
        ticks.append(f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>')
        ticks.append(f'<text x="{PAD - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10">{value:.4g}</text>')
    step = max(1, math.ceil(len(x_labels) / 8))
    labels = []
    for i, label in enumerate(x_labels):
        if i % step == 0:
            x = _x_position(i, len(x_labels))
            labels.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD + 14}" text-anchor="middle" font-size="10">'
                          f"{escape(label)}</text>")  # fmt: skip
    keys = "".join(
        f'<rect x="{PAD + KEY_WIDTH * (i % KEYS_PER_ROW)}" y="{24 + 14 * (i // KEYS_PER_ROW)}" width="10" '
        f'height="10" fill="{COLOURS[i % len(COLOURS)]}"/><text x="{PAD + 14 + KEY_WIDTH * (i % KEYS_PER_ROW)}" '
        f'y="{33 + 14 * (i // KEYS_PER_ROW)}" font-size="11">{escape(name)}</text>'
        for i, name in enumerate(legend)
    )
    heading = f'<text x="{PAD}" y="15" font-size="12" font-weight="bold">{escape(title)}</text>'
    return (f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
            f'{heading}{"".join(ticks)}{"".join(labels)}{keys}{body}</svg>')  # fmt: skip


def _x_position(i: int, n: int) -> float:
    return PAD + (WIDTH - 2 * PAD) * (i + 0.5) / max(n, 1)


def line_chart(title: str, x_labels: Sequence[str], series: dict[str, Sequence[float | None]]) -> str:
    """One line per series over shared x labels (None: no point)."""
    values = [v for ys in series.values() for v in ys if v is not None and math.isfinite(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    lo, hi = (lo - 0.05 * (hi - lo or 1), hi + 0.05 * (hi - lo or 1))
    k, b = _scale(lo, hi, HEIGHT - PAD, TOP)
    body = []
    for index, (name, ys) in enumerate(series.items()):
        colour = COLOURS[index % len(COLOURS)]
        points = [(_x_position(i, len(x_labels)), k * y + b) for i, y in enumerate(ys) if y is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(name)}</title></circle>'
                 for x, y in points]  # fmt: skip
    return _frame(title, "".join(body), lo, hi, x_labels, list(series))


def bar_chart(title: str, x_labels: Sequence[str], series: dict[str, Sequence[float]]) -> str:
    """Grouped bars: one group per x label, one bar per series."""
    values = [v for ys in series.values() for v in ys if math.isfinite(v)]
    hi = max([*values, 0.0]) or 1.0
    k, b = _scale(0.0, hi, HEIGHT - PAD, TOP)
    group = (WIDTH - 2 * PAD) / max(len(x_labels), 1)
    width = group * 0.8 / max(len(series), 1)
    body = []
    for s, (name, ys) in enumerate(series.items()):
        colour = COLOURS[s % len(COLOURS)]
        for i, y in enumerate(ys):
            if not math.isfinite(y):
                continue
            x = PAD + group * i + group * 0.1 + width * s
            top = k * y + b
            body.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{width:.1f}" height="{HEIGHT - PAD - top:.1f}" '
                        f'fill="{colour}"><title>{escape(name)}: {y:.4g}</title></rect>')  # fmt: skip
    return _frame(title, "".join(body), 0.0, hi, x_labels, list(series))


def histogram(title: str, samples: dict[str, Sequence[float]], bins: int = 20) -> str:
    """Share of each series' values per bin, over their common range."""
    values = [v for vs in samples.values() for v in vs if math.isfinite(v)]
    if not values:
        return bar_chart(title, [], {})
    lo, hi = min(values), max(values)
    bins = bins if hi > lo else 1  # one value: one bar labelled with it
    width = (hi - lo) / bins or 1.0
    edges = [lo + width * i for i in range(bins)]
    shares = {}
    for name, vs in samples.items():
        counts = [0] * bins
        finite = [v for v in vs if math.isfinite(v)]
        for v in finite:
            counts[min(int((v - lo) / width), bins - 1)] += 1
        shares[name] = [c / max(len(finite), 1) for c in counts]
    return bar_chart(title, [f"{e:.2g}" for e in edges], shares)
