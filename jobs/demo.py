"""`colrec-jobs demo`: the main job on the embedded default: migrate, ingest MovieLens-100K, prepare
the offline LLM, run two nightly refreshes (two weeks before the data's last day, then its last day:
MF, neighbours, recommendations, the LLM rerank of some users, evaluation), and show the method
served, both methods' metrics side by side (the second night scores the first night's lists on what
came next) and `latest_recommendations` with the SQL that read it.

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
from colrec_store.repositories.downstream import (
    LATEST_FOR_USERS,
    latest_for_users,
    latest_refresh_metrics,
    some_users,
)
from jobs import datasets, db, ingest, refresh
from jobs.common.context import JobContext

log = logging.getLogger(__name__)

DATASET = "ml100k"
# The LLM reranks this many users' top-20 in the demo (all 943 take 18,860 prompts: 8.8 minutes of a
# 2-core CPU, measured); `colrec-jobs refresh` reranks everyone unless told otherwise.
DEMO_RERANK_USERS = 20
NIGHTS_APART = dt.timedelta(days=14)


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
    last = dt.datetime.fromisoformat(str(stats["last_ts"])).date()
    plan = refresh.RefreshPlan(methods=("mf",), rerank_users=rerank_users)
    first = dt.datetime.fromisoformat(str(stats["first_ts"])).date()
    days = [day for day in (last - NIGHTS_APART, last) if day >= first]  # one night if the data is shorter
    nights = [refresh.run(ctx, DATASET, plan, day) for day in days]
    with ctx.transaction() as session:
        users = some_users(session, DATASET, "llm", 2)
        sample = {m: latest_for_users(session, DATASET, m, users, 5) for m in ("mf", "llm")}
        published = latest_refresh_metrics(session, DATASET)
    return {
        "stats": stats,
        "nights": nights,
        "refresh": nights[-1],
        "sql": LATEST_FOR_USERS,
        "users": users,
        "sample": sample,
        "served": published.get("serving", {}),
        "side_by_side": side_by_side(published),
    }


def side_by_side(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """Per method: what its lists of the night before earned (prospective, @10) and its held-out
    metrics (for the rerank: NDCG within its lists, beside the CF order it started from)."""
    looked = (metrics.get("prospective") or {}).get("methods") or {}
    held_out = metrics.get("metrics") or {}
    table = []
    for method in sorted(set(looked) | {m for m in held_out if isinstance(held_out[m], dict)}):
        now, split = looked.get(method, {}), held_out.get(method) or {}
        table.append({
            "method": method, "users": now.get("users"), "hr@10": now.get("hr@10"), "ndcg@10": now.get("ndcg@10"),
            "base ndcg@10": (now.get("base_on_same_users") or {}).get("ndcg@10"),
            "held-out": ", ".join(f"{k} {split[k]:.4f}" for k in HELD_OUT if isinstance(split.get(k), float)),
        })  # fmt: skip
    return table


HELD_OUT = ("recall@20", "ndcg@20", "ndcg@10", "cf_ndcg@10")
