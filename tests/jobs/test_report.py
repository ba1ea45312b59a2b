"""The HTML report of a dataset with two nights published, opened in a real headless browser."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from colrec_store.config import Settings
from jobs import ingest, refresh, report
from jobs.common.context import JobContext
from tests.helpers import CSV_MAPPING, community_events

BROWSERS = ("chromium-headless-shell", "chromium", "google-chrome", "chrome")


def _browser() -> str:
    for name in BROWSERS:
        if found := shutil.which(name):
            return found
    pytest.skip("no headless Chromium here (.ci/run installs chromium-headless-shell)")


def test_report_renders_tables_and_charts(settings: Settings, tiny_model: Path, tmp_path: Path) -> None:
    ctx = JobContext(settings.model_copy(update={"llm_backend": "transformers", "llm_model": str(tiny_model)}))
    ingest.run(ctx, [community_events(tmp_path / "events.csv")], dataset="toy", fmt="csv", mapping=CSV_MAPPING)
    plan = refresh.RefreshPlan(methods=("mf", "lightgcn"), epochs=2, rerank_candidates=3)
    for day in (dt.date(2021, 3, 1), dt.date(2021, 6, 1)):
        refresh.run(ctx, "toy", plan, day)
    page = report.run(ctx, "toy", tmp_path / "out" / "report.html")
    html = page.read_text()
    assert "<td>mf</td>" in html and "<td>lightgcn</td>" in html
    assert "recall@20 by as-of date" in html and "seconds per step" in html
    assert "long tail" in html and "score distribution" in html

    dom = subprocess.run(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000", "--dump-dom",
         page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    charts = re.search(r'<body data-charts="(\d+)"', dom)
    assert charts is not None, dom[:500]  # the page's script ran after layout
    assert int(charts.group(1)) == html.count('<svg class="chart"') >= 5  # every chart laid out with a width
    clipped = re.search(r'data-clipped-labels="([^"]*)"', dom)
    assert clipped is not None and clipped.group(1) == ""  # every axis label and title inside its chart
    assert "<script src" not in html and 'href="http' not in html  # one file: no external asset
