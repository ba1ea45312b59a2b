"""The downstream views and the read-only role, as a downstream login sees them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from colrec.errors import ColrecError
from colrec_store.locks import dataset_lock
from colrec_store.repositories.partitions import ensure_run_partition
from colrec_store.roles import grant_reader
from jobs.common.context import JobContext

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
    with pytest.raises(ColrecError, match="lower-case letters"):
        grant_reader(ctx.engine, 'x"; drop table runs; --')


@pytest.fixture
def role_name(ctx: JobContext) -> Iterator[str]:
    """A role name of this test's own (roles are cluster-wide); dropped after it."""
    name = f"role_{uuid.uuid4().hex[:8]}"
    yield name
    with ctx.engine.connect() as conn:
        if conn.execute(text("select 1 from pg_roles where rolname = :n"), {"n": name}).first():
            conn.execute(text(f"drop owned by {name}"))
            conn.execute(text(f"drop role {name}"))
        conn.commit()


def _role(ctx: JobContext, name: str) -> dict[str, object]:
    with ctx.engine.connect() as conn:
        row = conn.execute(
            text("select rolsuper, rolcreatedb, rolpassword is not null as has_pw from pg_authid where rolname = :n"),
            {"n": name},
        ).mappings()
        return dict(row.one())


def _admin(ctx: JobContext, sql: str) -> None:
    with ctx.engine.connect() as conn:
        conn.execute(text(sql))
        conn.commit()


def test_grant_reader_never_changes_a_superuser_or_an_owner(ctx: JobContext, role_name: str) -> None:
    _admin(ctx, f"create role {role_name} login superuser createdb password 'theirs'")
    with pytest.raises(ColrecError, match=f"role '{role_name}' has rights a reader must not have.*nothing changed"):
        grant_reader(ctx.engine, role_name, "mine", force=True)
    assert _role(ctx, role_name) == {"rolsuper": True, "rolcreatedb": True, "has_pw": True}
    _admin(ctx, f"alter role {role_name} nosuperuser nocreatedb")
    _admin(ctx, f"create table owned_{role_name} (x int)")
    _admin(ctx, f"alter table owned_{role_name} owner to {role_name}")
    with pytest.raises(ColrecError, match="owns objects"):
        grant_reader(ctx.engine, role_name, "mine", force=True)
    _admin(ctx, f"drop table owned_{role_name}")
    _admin(ctx, f"grant insert on runs to {role_name}")
    with pytest.raises(ColrecError, match="may write colrec's tables"):
        grant_reader(ctx.engine, role_name, "mine", force=True)


def test_grant_reader_takes_a_plain_login_only_with_force(ctx: JobContext, role_name: str, database_url: str) -> None:
    _admin(ctx, f"create role {role_name} login password 'theirs'")
    with pytest.raises(ColrecError, match="is not a colrec reader \\(pass --force"):
        grant_reader(ctx.engine, role_name, "mine")
    grant_reader(ctx.engine, role_name, "mine", force=True)
    grant_reader(ctx.engine, role_name, "rotated")  # an existing reader: a new password, no --force needed
    reader = create_engine(make_url(database_url).set(username=role_name, password="rotated"))
    try:
        with reader.connect() as conn:
            conn.execute(text("select * from latest_runs limit 1"))
    finally:
        reader.dispose()


def test_a_reader_cannot_hold_up_the_refresh(ctx: JobContext, role_name: str, database_url: str) -> None:
    """Neither the lease (refresh_locks) nor partition creation can be blocked by a reader: an
    advisory lock on colrec's old key, or an open read transaction on the views, changes nothing."""
    ids = _seed(ctx)
    grant_reader(ctx.engine, role_name, "pw")
    reader = create_engine(make_url(database_url).set(username=role_name, password="pw"))
    try:
        with reader.connect() as conn:
            conn.execute(text("select pg_try_advisory_lock(6516588, hashtext('toy'))"))  # the old key
            conn.execute(text("select count(*) from latest_recommendations"))  # its transaction stays open
            with reader.connect() as other, pytest.raises(ProgrammingError, match="permission denied"):
                other.execute(text("select * from refresh_locks"))
            with dataset_lock(ctx.engine, "toy") as lock:
                assert lock.taken
                with lock.transaction() as session:
                    session.execute(text("set local lock_timeout = '2s'"))
                    run = session.execute(
                        text("insert into runs (dataset_id, job, status) select dataset_id, 'recommend', "
                             "'staged' from runs where id = :r returning id"),
                        {"r": ids["published"]},
                    ).scalar_one()  # fmt: skip
                with ctx.transaction() as session:
                    dataset = session.execute(
                        text("select dataset_id from runs where id = :r"), {"r": run}
                    ).scalar_one()
                    ensure_run_partition(session, "recommendations", dataset, run)
                    assert session.execute(text("select to_regclass(:p) is not null"),
                                           {"p": f"recommendations_d{dataset}_r{run}"}).scalar_one()  # fmt: skip
    finally:
        reader.dispose()
