"""`colrec-jobs ingest`: validate dataset files and merge them into the store in one transaction."""

from __future__ import annotations

import logging
from pathlib import Path

from colrec.formats import parse
from colrec_store.repositories.datasets import dataset_id
from colrec_store.repositories.ingest import IngestCounts, ingest_batch
from jobs.console import progress
from jobs.context import JobContext

log = logging.getLogger(__name__)


def run(
    ctx: JobContext,
    paths: list[Path],
    *,
    dataset: str,
    fmt: str,
    mapping: str | None = None,
    all_items: bool = False,
    items: Path | None = None,
    item_mapping: str | None = None,
    multi_sep: str = "|",
) -> IngestCounts:
    params = {"paths": [str(p) for p in paths], "format": fmt, "mapping": mapping, "all_items": all_items,
              "items": str(items) if items else None, "item_mapping": item_mapping, "multi_sep": multi_sep}  # fmt: skip
    with ctx.run("ingest", params=params) as record, progress() as bar:
        task = bar.add_task(f"ingest {dataset}", total=2)
        with record.timed("parse"):
            batch = parse(fmt, paths, mapping=mapping, all_items=all_items, items=items, item_mapping=item_mapping,
                          multi_sep=multi_sep)  # fmt: skip
        bar.advance(task)
        log.info("parsed %d interactions from %s", batch.interactions.height, ", ".join(batch.files))
        for warning in batch.warnings:
            log.warning("%s", warning)
        record.metrics.update(batch.metrics)
        with ctx.transaction() as session:
            with record.timed("load"):
                counts = ingest_batch(session, dataset, batch)
            record.metrics.update(counts.as_dict())
            record.dataset_id = dataset_id(session, dataset)
            record.finish(session, "published")
        bar.advance(task)
    log.info("ingest %s: %s", dataset, counts.as_dict())
    return counts
