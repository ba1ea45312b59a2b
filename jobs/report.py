"""`colrec-jobs report`: one HTML page per dataset with every method's metrics side by side and
charts of the published runs (see colrec/report/page.py). Written atomically."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from colrec.report.page import ReportData, render
from colrec_store.repositories import report as store
from colrec_store.repositories.datasets import dataset_id as find_dataset
from jobs.common.context import JobContext


def run(ctx: JobContext, dataset: str, out: Path | None = None) -> Path:
    out = out or Path(f"colrec-report-{dataset}.html")
    with ctx.transaction() as session:
        dataset_id = find_dataset(session, dataset)
        data = ReportData(
            dataset=dataset,
            generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            evaluations=store.published(session, dataset_id, "evaluate"),
            refreshes=store.published(session, dataset_id, "refresh"),
            scores=store.latest_scores(session, dataset),
            labelled=store.latest_labelled(session, dataset),
            long_tail_share=store.long_tail_shares(session, dataset_id, dataset),
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(render(data), encoding="utf-8")
    os.replace(partial, out)
    return out
