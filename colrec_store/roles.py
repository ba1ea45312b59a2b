"""Logins for downstream readers: members of `colrec_reader` (see sql/reader_role.sql)."""

from __future__ import annotations

import re
import secrets

from psycopg import sql
from sqlalchemy.engine import Engine

from colrec.errors import ColrecError

READER_ROLE = "colrec_reader"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_reader(engine: Engine, name: str, password: str | None = None) -> str:
    """Create (or update) a login that may read the downstream views only; returns its password."""
    if not _NAME.match(name):
        raise ColrecError(f"role name {name!r} must be lower-case letters, digits and _ (at most 63)")
    password = password or secrets.token_urlsafe(18)
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        exists = conn.exec_driver_sql("select 1 from pg_roles where rolname = %s", (name,)).first()
        verb = "alter" if exists else "create"
        statement = sql.SQL(verb + " role {} login password {} nosuperuser nocreatedb nocreaterole").format(
            sql.Identifier(name), sql.Literal(password)
        )
        with raw.cursor() as cursor:
            cursor.execute(statement)
            cursor.execute(sql.SQL("grant {} to {}").format(sql.Identifier(READER_ROLE), sql.Identifier(name)))
    return password
