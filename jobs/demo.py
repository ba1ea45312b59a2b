"""`colrec-jobs demo`: the main job on the embedded default: migrate, ingest MovieLens-100K, prepare
the offline LLM, run a whole refresh as of the data's last day (MF, neighbours, recommendations, the
LLM rerank of some users, evaluation), and show `latest_recommendations` with the SQL that read it.

The data comes from --data / COLREC_DEMO_DATA, else from the cache under the data dir, else from
GroupLens (checksum-verified).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from colrec.downloads import ML_100K, fetch, has_files
from colrec.errors import ColrecError
from colrec.llm.catalog import CATALOG, prepare
from colrec_store.repositories.downstream import LATEST_FOR_USERS, latest_for_users, some_users
from jobs import datasets, db, ingest, refresh
from jobs.context import JobContext

log = logging.getLogger(__name__)

DATASET = "ml100k"
# The LLM reranks this many users' top-20 in the demo (all 943 take ~19k prompts: minutes on a GPU,
# long on a laptop CPU); `colrec-jobs refresh` reranks everyone unless told otherwise.
DEMO_RERANK_USERS = 20


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


def run(ctx: JobContext, data: Path | None = None, *, rerank_users: int = DEMO_RERANK_USERS) -> dict[str, Any]:
    folder = resolve_data(ctx, data)
    revision = db.upgrade(ctx)
    log.info("schema at revision %s", revision)
    ingest.run(ctx, [folder], dataset=DATASET, fmt="movielens-100k")
    stats = datasets.run(ctx, DATASET)[0]
    llm = ctx.settings.llm_model
    if llm in CATALOG:  # else a model folder; prepare does nothing when it is ready
        prepare(ctx.settings.models_path, llm)
    as_of = dt.datetime.fromisoformat(str(stats["last_ts"])).date()
    plan = refresh.RefreshPlan(methods=("mf",), rerank_users=rerank_users)
    result = refresh.run(ctx, DATASET, plan, as_of)
    with ctx.transaction() as session:
        users = some_users(session, DATASET, "llm", 2)
        sample = {m: latest_for_users(session, DATASET, m, users, 5) for m in ("mf", "llm")}
    return {"stats": stats, "refresh": result, "sql": LATEST_FOR_USERS, "users": users, "sample": sample}
