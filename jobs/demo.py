"""`colrec-jobs demo`: the main job on the embedded default: migrate, then ingest MovieLens-100K.

The data comes from --data / COLREC_DEMO_DATA, else from the cache under the data dir, else from
GroupLens (checksum-verified).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from colrec.downloads import ML_100K, fetch, has_files
from colrec.errors import ColrecError
from jobs import datasets, db, ingest
from jobs.context import JobContext

log = logging.getLogger(__name__)

DATASET = "ml100k"


def resolve_data(ctx: JobContext, data: Path | None) -> Path:
    local = data or ctx.settings.demo_data
    if local is not None:
        if not has_files(local, ML_100K):
            raise ColrecError(f"{local}: not a MovieLens-100K folder (needs {', '.join(ML_100K.required)})")
        return local
    try:
        return fetch(ML_100K, ctx.settings.data_dir / "downloads", url=ctx.settings.demo_url)
    except ColrecError as err:
        raise ColrecError(
            f"{err}. Offline? Pass --data PATH or set COLREC_DEMO_DATA to a folder with "
            f"{', '.join(ML_100K.required)} (a copy of MovieLens-100K)"
        ) from None


def run(ctx: JobContext, data: Path | None = None) -> dict[str, Any]:
    folder = resolve_data(ctx, data)
    revision = db.upgrade(ctx)
    log.info("schema at revision %s", revision)
    ingest.run(ctx, [folder], dataset=DATASET, fmt="movielens-100k")
    return datasets.run(ctx, DATASET)[0]
