"""Alembic, driven from code: `colrec-jobs db upgrade` and the tests call upgrade()."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"
SQL_DIR = ROOT / "sql"
MIGRATION_LOCK = 0x636F6C726563  # "colrec": the advisory lock key of a self-migration


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def is_current(engine: Engine) -> bool:
    return inspect(engine).has_table("alembic_version") and current_revision(engine) == head_revision(engine)


def is_behind(engine: Engine) -> bool:
    """The store is empty or at an older revision of this code's migrations (not at a revision this
    code does not know: a newer colrec migrated it, and upgrading would fail or undo nothing)."""
    from alembic.script import ScriptDirectory

    if not inspect(engine).has_table("alembic_version"):
        return True
    found = current_revision(engine)
    if found is None:
        return True
    script = ScriptDirectory.from_config(alembic_config(engine))
    known = {rev.revision for rev in script.walk_revisions()}
    return found in known and found != script.get_current_head()


def upgrade_when_behind(engine: Engine) -> bool:
    """Migrate to head under a session advisory lock, so two first commands started together
    migrate once (the second waits, then finds the store current). True when it migrated."""
    with engine.connect() as conn:
        conn.execute(text("select pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            if not is_behind(engine):
                return False
            upgrade(engine)
            return True
        finally:
            conn.execute(text("select pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            conn.commit()


def sql_file(name: str) -> str:
    """A file of sql/ (views, roles), read by the migration that applies it."""
    return (SQL_DIR / name).read_text()
