"""The report's charts, drawn by matplotlib into inline SVG: one `<svg class="chart">` element per
chart, text kept as text (searchable, and checked for clipping by the report test in a browser),
no script and no external asset, so the report opens anywhere.

matplotlib is imported inside the functions: it is not free, and only the report draws."""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

SIZE = (5.8, 3.1)  # inches at 96 dpi: about 560 by 300 CSS pixels
DPI = 96
MAX_X_LABELS = 8
TITLE_CHARS = 64  # a longer title wraps: one line of 10pt bold fits about that many in the width
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
# A method keeps its colour in every chart of the page; other series take the palette in order.
METHOD_COLOURS = {"mf": "#1f77b4", "lightgcn": "#2ca02c", "sasrec": "#9467bd", "deepfm": "#8c564b",
                  "llm": "#d62728", "hybrid": "#ff7f0e", "score": "#e377c2", "coral": "#17becf"}  # fmt: skip


def line_chart(title: str, x_labels: Sequence[str], series: Mapping[str, Sequence[float | None]]) -> str:
    """One line per series over shared x labels (None or NaN: no point there)."""
    fig, ax = _axes(title)
    for index, (name, ys) in enumerate(series.items()):
        values = [math.nan if y is None or not math.isfinite(y) else float(y) for y in ys]
        ax.plot(range(len(values)), values, marker="o", markersize=3.5, linewidth=1.8,
                color=_colour(name, index), label=_text(name))  # fmt: skip
    _x_axis(ax, x_labels)
    return _svg(fig, ax, title, bool(series))


def bar_chart(title: str, x_labels: Sequence[str], series: Mapping[str, Sequence[float]]) -> str:
    """Grouped bars: one group per x label, one bar per series (non-finite values: no bar)."""
    fig, ax = _axes(title)
    width = 0.8 / max(len(series), 1)
    for index, (name, ys) in enumerate(series.items()):
        xs = [i - 0.4 + width * (index + 0.5) for i in range(len(ys))]
        values = [float(y) if math.isfinite(y) else 0.0 for y in ys]
        ax.bar(xs, values, width=width, color=_colour(name, index), label=_text(name))
    ax.set_ylim(bottom=0)
    _x_axis(ax, x_labels)
    return _svg(fig, ax, title, bool(series))


def histogram(title: str, samples: Mapping[str, Sequence[float]], bins: int = 20) -> str:
    """Share of each series' values per bin, over their common range."""
    values = [v for vs in samples.values() for v in vs if math.isfinite(v)]
    if not values:
        return bar_chart(title, [], {})
    lo, hi = min(values), max(values)
    bins = bins if hi > lo else 1  # one value: one bar labelled with it
    width = (hi - lo) / bins or 1.0
    shares = {}
    for name, vs in samples.items():
        counts = [0] * bins
        finite = [v for v in vs if math.isfinite(v)]
        for v in finite:
            counts[min(int((v - lo) / width), bins - 1)] += 1
        shares[name] = [c / max(len(finite), 1) for c in counts]
    return bar_chart(title, [f"{lo + width * i:.3g}" for i in range(bins)], shares)


def _axes(title: str) -> tuple[Any, Any]:
    from matplotlib.figure import Figure
    from matplotlib.ticker import StrMethodFormatter

    # A Figure of its own (no pyplot): no global state, no GUI back end, safe in any thread.
    fig = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    ax = fig.subplots()
    ax.set_title("\n".join(textwrap.wrap(_text(title), TITLE_CHARS)), fontsize=10, fontweight="bold", loc="left")
    # Plain numbers at 4 significant digits: no offset text ("+0.7" above the axis) to misread.
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:.4g}"))
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", color="#eee")
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig, ax


def _x_axis(ax: Any, labels: Sequence[str]) -> None:
    step = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    shown = list(range(0, len(labels), step))
    ax.set_xticks(shown, [_text(labels[i]) for i in shown])
    ax.set_xlim(-0.6, max(len(labels), 1) - 0.4)
    if any(len(labels[i]) > 6 for i in shown):  # dates and long names: slanted, so they never collide
        for label in ax.get_xticklabels():
            label.set_rotation(25)
            label.set_horizontalalignment("right")


def _svg(fig: Any, ax: Any, title: str, legend: bool) -> str:
    import matplotlib

    if legend:
        ax.legend(fontsize=8, frameon=False, loc="best")
    buffer = io.StringIO()
    # svg.fonttype none: labels stay <text>; hashsalt and no date: the same data draws the same bytes.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "colrec"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    drawn = buffer.getvalue()
    svg = drawn[drawn.index("<svg") :]  # inline: no XML declaration or doctype
    return svg.replace("<svg ", f'<svg class="chart" role="img" aria-label="{escape(title)}" ', 1)


def _colour(name: str, index: int) -> str:
    return METHOD_COLOURS.get(name, COLOURS[index % len(COLOURS)])


def _text(label: str) -> str:
    """A label as literal text: matplotlib reads `$...$` as math."""
    return label.replace("$", r"\$")
