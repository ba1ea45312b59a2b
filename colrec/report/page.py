"""One self-contained HTML page for a dataset: a table of every method's latest metrics, then charts
(metrics over as-of dates, score distributions, calibration, long tail against head, step timings)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np

from colrec.report.charts import bar_chart, histogram, line_chart

HEADLINE = ("auc", "uauc", "recall@20", "ndcg@20", "hr@10", "ndcg@10", "cf_ndcg@10", "f1")
PROSPECTIVE = ("ndcg@10", "hr@10", "recall@10")


@dataclass
class ReportData:
    dataset: str
    generated_at: str
    evaluations: list[dict[str, Any]]  # as_of, method, metrics (published evaluate runs, oldest first)
    refreshes: list[dict[str, Any]]  # as_of, metrics, timings (published refresh runs, oldest first)
    scores: dict[str, list[float]] = field(default_factory=dict)  # method -> latest recommendation scores
    labelled: dict[str, tuple[list[float], list[int]]] = field(default_factory=dict)  # method -> scores, labels
    long_tail_share: dict[str, float] = field(default_factory=dict)  # method -> share of long-tail items


def render(data: ReportData) -> str:
    sections = [
        _section("Served to downstream (serving_recommendations)", _served(data.refreshes)),
        _section("What downstream got: the published lists against the interactions that came next",
                 _prospective(data.refreshes)),
        _section("Latest metrics per method (the split's protocol)", _metrics_table(data.evaluations)),
        _section("Metrics over as-of dates", _history(data.evaluations)),
        _section("Score distributions (latest recommendations)", _distributions(data.scores)),
        _section("Calibration (latest labelled predictions)", _calibration(data.labelled)),
        _section("Long tail against head (latest recommendations)", _long_tail(data.long_tail_share)),
        _section("Refresh timings", _timings(data.refreshes)),
    ]  # fmt: skip
    return PAGE.format(title=escape(f"colrec report: {data.dataset}"), generated=escape(data.generated_at),
                       body="\n".join(sections))  # fmt: skip


def _section(title: str, body: str) -> str:
    return f"<section><h2>{escape(title)}</h2>\n{body}\n</section>"


def _empty(message: str) -> str:
    return f'<p class="empty">{escape(message)}</p>'


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.4f}"
    return escape(str(value)) if value is not None else ""


def _metrics_table(evaluations: list[dict[str, Any]]) -> str:
    latest: dict[str, dict[str, Any]] = {}
    for row in evaluations:
        latest[row["method"]] = row
    if not latest:
        return _empty("no published evaluation yet: run `colrec-jobs refresh`")
    columns = [m for m in HEADLINE if any(r["metrics"].get(m) is not None for r in latest.values())]
    head = "".join(f"<th>{escape(c)}</th>" for c in ["method", "as of", *columns])
    body = "".join(
        "<tr>" + f"<td>{escape(method)}</td><td>{_fmt(row['as_of'])}</td>"
        + "".join(f"<td>{_fmt(row['metrics'].get(c))}</td>" for c in columns) + "</tr>"
        for method, row in sorted(latest.items())
    )  # fmt: skip
    return f'<table class="metrics"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _history(evaluations: list[dict[str, Any]]) -> str:
    dates = sorted({str(r["as_of"]) for r in evaluations})
    if not dates:
        return _empty("no published evaluation yet")
    charts = []
    for metric in HEADLINE:
        series: dict[str, list[float | None]] = {}
        for row in evaluations:
            value = row["metrics"].get(metric)
            if isinstance(value, int | float):
                series.setdefault(row["method"], [None] * len(dates))[dates.index(str(row["as_of"]))] = float(value)
        if series:
            charts.append(line_chart(f"{metric} by as-of date", dates, series))
    return "\n".join(charts) or _empty("no headline metric recorded")


def _served(refreshes: list[dict[str, Any]]) -> str:
    served = [r for r in refreshes if (r["metrics"] or {}).get("serving")]
    if not served:
        return _empty("no refresh has chosen a method to serve yet")
    latest = served[-1]["metrics"]["serving"]
    return (f"<p>As of {_fmt(served[-1]['as_of'])}: <b>{escape(str(latest.get('method')))}</b> "
            f"(fallback {escape(str(latest.get('fallback')))}). {escape(str(latest.get('why', '')))}</p>")  # fmt: skip


def _prospective(refreshes: list[dict[str, Any]]) -> str:
    """Per method, each night's score of the previous night's lists, over the dates they were scored."""
    nights = [r for r in refreshes if ((r["metrics"] or {}).get("prospective") or {}).get("methods")]
    if not nights:
        return _empty("no prospective evaluation yet: it needs two published refreshes with interactions between")
    dates = [str(r["as_of"]) for r in nights]
    charts = []
    for metric in PROSPECTIVE:
        series: dict[str, list[float | None]] = {}
        for n, night in enumerate(nights):
            for method, scored in night["metrics"]["prospective"]["methods"].items():
                value = scored.get(metric)
                if isinstance(value, int | float):
                    series.setdefault(method, [None] * len(dates))[n] = float(value)
        if series:
            charts.append(line_chart(f"prospective {metric} by night", dates, series))
    last = nights[-1]["metrics"]["prospective"]
    rows = "".join(
        f"<tr><td>{escape(m)}</td><td>{_fmt(s.get('users'))}</td><td>{_fmt(s.get('arrivals'))}</td>"
        + "".join(f"<td>{_fmt(s.get(k))}</td><td>{_fmt((s.get('base_on_same_users') or {}).get(k))}</td>"
                  for k in PROSPECTIVE) + "</tr>"
        for m, s in sorted(last["methods"].items())
    )  # fmt: skip
    head = "".join(f"<th>{escape(k)}</th><th>base, same users</th>" for k in PROSPECTIVE)
    table = (f"<p>Lists of {escape(str(last.get('from_as_of')))} scored on what arrived up to "
             f"{escape(str(last.get('to_as_of')))}:</p><table class=\"prospective\"><thead><tr><th>method</th>"
             f"<th>users</th><th>arrivals</th>{head}</tr></thead><tbody>{rows}</tbody></table>")  # fmt: skip
    return "\n".join(charts) + table


def _distributions(scores: dict[str, list[float]]) -> str:
    """One histogram per method: their scores live on different scales (logits, probabilities)."""
    if not scores:
        return _empty("no recommendations yet")
    return "\n".join(histogram(f"score distribution: {method}", {method: s}) for method, s in sorted(scores.items()))


def _calibration(labelled: dict[str, tuple[list[float], list[int]]], bins: int = 10) -> str:
    if not labelled:
        return _empty("no labelled predictions yet: `colrec-jobs score` writes them")
    names = [f"{(i + 0.5) / bins:.2f}" for i in range(bins)]
    series: dict[str, list[float | None]] = {"perfect": [(i + 0.5) / bins for i in range(bins)]}
    for method, (scores, labels) in labelled.items():
        s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=float)
        which = np.minimum((s * bins).astype(int), bins - 1)
        series[method] = [float(y[which == b].mean()) if (which == b).any() else None for b in range(bins)]
    return line_chart("share of positives by predicted probability", names, series)


def _long_tail(shares: dict[str, float]) -> str:
    if not shares:
        return _empty("no recommendations yet")
    names = list(shares)
    return bar_chart("share of recommended items from the long tail (bottom 80% by popularity)",
                     names, {"long-tail share": [shares[n] for n in names]})  # fmt: skip


def _timings(refreshes: list[dict[str, Any]]) -> str:
    if not refreshes:
        return _empty("no published refresh yet")
    dates = [str(r["as_of"]) for r in refreshes]
    steps: list[str] = []
    for r in refreshes:
        steps += [s for s in r["timings"] if s not in steps]
    series = {step: [float(r["timings"].get(step, math.nan)) for r in refreshes] for step in steps}
    return bar_chart("seconds per step", dates, series) + _timing_table(dates, steps, refreshes)


def _timing_table(dates: Sequence[str], steps: Sequence[str], refreshes: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{escape(s)}</th>" for s in ["as of", *steps])
    body = "".join(
        f"<tr><td>{escape(d)}</td>" + "".join(f"<td>{_fmt(r['timings'].get(s))}</td>" for s in steps) + "</tr>"
        for d, r in zip(dates, refreshes, strict=True)
    )
    return f'<table class="timings"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
svg.chart {{ margin: 0.5em 1em 0.5em 0; border: 1px solid #eee; }}
.empty {{ color: #888; }}
</style></head>
<body><h1>{title}</h1><p>generated {generated}</p>
{body}
<script>
// Marks the page as laid out by a browser: how many charts have a width, and how many of their
// labels the browser drew outside their chart (clipped). The report test reads both.
window.addEventListener("load", () => {{
  const charts = [...document.querySelectorAll("svg.chart")];
  const clipped = [];
  for (const chart of charts) {{
    const box = chart.getBoundingClientRect();
    for (const label of chart.querySelectorAll("text")) {{
      const r = label.getBoundingClientRect();
      if (r.width && (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 ||
                      r.bottom > box.bottom + 0.5)) clipped.push(label.textContent);
    }}
  }}
  document.body.dataset.charts = String(charts.filter(c => c.getBoundingClientRect().width > 0).length);
  document.body.dataset.clippedLabels = clipped.join(" | ");
}});
</script>
</body></html>
"""
