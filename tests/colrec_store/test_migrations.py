"""Migrations run up from an empty database, are idempotent, and go down cleanly."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from colrec_store import migrate
from colrec_store.models import Base


def test_upgrade_from_empty_twice_and_downgrade(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        migrate.upgrade(engine)
        migrate.upgrade(engine)  # a second upgrade is a no-op
        assert migrate.is_current(engine)
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert "dataset_stats" in inspect(engine).get_view_names()
        with engine.connect() as conn:
            assert conn.execute(text("select extversion from pg_extension where extname = 'vector'")).scalar()
        migrate.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        migrate.upgrade(engine)
        assert migrate.is_current(engine)
    finally:
        engine.dispose()


def test_models_match_migrations(database_url: str) -> None:
    """The ORM and the migrated schema agree (no autogenerate diff)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_upgrade_when_behind_migrates_an_old_store_and_leaves_an_unknown_revision(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        assert migrate.is_behind(engine)  # no schema at all
        assert migrate.upgrade_when_behind(engine) and migrate.is_current(engine)
        assert not migrate.upgrade_when_behind(engine)  # current: nothing to do
        migrate.downgrade(engine, "-1")
        assert migrate.is_behind(engine) and migrate.upgrade_when_behind(engine) and migrate.is_current(engine)
        with engine.begin() as conn:  # a newer colrec's revision: not ours to touch
            conn.execute(text("update alembic_version set version_num = 'f00dfeed'"))
        assert not migrate.is_behind(engine) and not migrate.upgrade_when_behind(engine)
    finally:
        engine.dispose()
