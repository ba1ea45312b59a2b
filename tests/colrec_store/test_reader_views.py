"""The downstream views and the read-only role, as a downstream login sees them."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from colrec_store.repositories.partitions import ensure_run_partition
from colrec_store.roles import grant_reader
from jobs.context import JobContext

VIEWS = ("latest_runs", "latest_recommendations", "latest_predictions", "latest_user_profiles", "latest_item_profiles",
         "latest_evidence", "run_history", "dataset_stats")  # fmt: skip


def _seed(ctx: JobContext) -> dict[str, int]:
    """A dataset with two recommend runs of `mf`: an older published one and a newer staged one."""
    with ctx.transaction() as s:
        d = s.execute(text("insert into datasets (name) values ('toy') returning id")).scalar_one()
        u = s.execute(text("insert into users (dataset_id, external_id) values (:d, 'u1') returning id"), {"d": d})
        user = u.scalar_one()
        item = s.execute(
            text("insert into items (dataset_id, external_id, title) values (:d, 'i1', 't') returning id"), {"d": d}
        ).scalar_one()
        ids = {}
        for status, as_of in (("published", "2021-01-01"), ("staged", "2021-02-01")):
            ids[status] = s.execute(
                text("insert into runs (dataset_id, job, status, as_of, params) "
                     "values (:d, 'recommend', :s, :a, '{\"method\": \"mf\"}') returning id"),
                {"d": d, "s": status, "a": as_of},
            ).scalar_one()  # fmt: skip
            ensure_run_partition(s, "recommendations", d, ids[status])
            s.execute(
                text("insert into recommendations (run_id, method, user_id, rank, item_id, dataset_id, score) "
                     "values (:r, 'mf', :u, 1, :i, :d, 0.5)"),
                {"r": ids[status], "u": user, "i": item, "d": d},
            )  # fmt: skip
    return ids


def test_reader_sees_published_views_only_and_cannot_write(ctx: JobContext, database_url: str) -> None:
    ids = _seed(ctx)
    name = f"reader_{uuid.uuid4().hex[:8]}"
    grant_reader(ctx.engine, name, "secret-pw")
    reader = create_engine(make_url(database_url).set(username=name, password="secret-pw"))
    try:
        with reader.connect() as conn:
            for view in VIEWS:
                conn.execute(text(f"select * from {view} limit 1"))
            shown = conn.execute(text("select user_id, item_id, run_id, as_of from latest_recommendations")).all()
            assert [(r.user_id, r.item_id, r.run_id, r.as_of.isoformat()) for r in shown] == [
                ("u1", "i1", ids["published"], "2021-01-01")
            ]
            assert {r.run_id for r in conn.execute(text("select run_id from run_history"))} == {ids["published"]}
        for statement in (
            "select * from runs",
            "select * from recommendations",
            "insert into datasets (name) values ('x')",
            "update runs set status = 'failed'",
            "create table mine (x int)",
            "select colrec_ensure_hnsw('cf_user', 8, 'cosine')",
        ):
            with reader.connect() as conn, pytest.raises(ProgrammingError, match="permission denied"):
                conn.execute(text(statement))
    finally:
        reader.dispose()
        with ctx.engine.connect() as conn:
            conn.execute(text(f"drop owned by {name}"))
            conn.execute(text(f"drop role {name}"))
            conn.commit()


def test_grant_reader_rejects_odd_names(ctx: JobContext) -> None:
    from colrec.errors import ColrecError

    with pytest.raises(ColrecError, match="lower-case letters"):
        grant_reader(ctx.engine, 'x"; drop table runs; --')
