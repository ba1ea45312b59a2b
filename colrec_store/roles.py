"""Logins for downstream readers: members of `colrec_reader` (see sql/reader_role.sql).

`grant_reader` creates a login or rotates an existing reader's password. It never changes a role
that is more than a plain login: a superuser stripped of its rights, or a table owner made a
"reader" that can still write what it owns, would be worse than an error."""

from __future__ import annotations

import re
import secrets
from typing import Any

from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from colrec.errors import ColrecError
from colrec_store.db import psycopg_connection

READER_ROLE = "colrec_reader"
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_ROLE = text("""
select r.rolsuper or r.rolcreatedb or r.rolcreaterole or r.rolreplication or r.rolbypassrls as powerful,
       r.rolname = current_user as is_me,
       exists (select 1 from pg_shdepend d where d.refclassid = 'pg_authid'::regclass and d.refobjid = r.oid
               and d.deptype = 'o') as owns,
       exists (select 1 from pg_auth_members m join pg_roles g on g.oid = m.roleid
               where m.member = r.oid and g.rolname = :reader) as reader,
       exists (select 1 from pg_auth_members m join pg_roles g on g.oid = m.roleid
               where m.member = r.oid and g.rolname <> :reader) as member_elsewhere,
       exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where n.nspname = current_schema() and c.relkind in ('r', 'p', 'v', 'm')
                 and has_table_privilege(r.oid, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')) as writes
from pg_roles r where r.rolname = :name
""")


def grant_reader(engine: Engine, name: str, password: str | None = None, *, force: bool = False) -> str:
    """Create a login that may read the downstream views only, or give an existing reader a new
    password; returns the password. `force`: also make an existing plain login (one with no
    rights, memberships or objects) a reader."""
    if not _NAME.match(name):
        raise ColrecError(f"role name {name!r} must be lower-case letters, digits and _ (at most 63)")
    password = password or secrets.token_urlsafe(18)
    with engine.begin() as conn:
        role = conn.execute(_ROLE, {"name": name, "reader": READER_ROLE}).mappings().first()
        if role is not None:
            _check_existing(name, dict(role), force)
        verb = "alter" if role is not None else "create"
        login = sql.SQL(verb + " role {} login password {} nosuperuser nocreatedb nocreaterole")
        _execute(conn, login.format(sql.Identifier(name), sql.Literal(password)))
        _execute(conn, sql.SQL("grant {} to {}").format(sql.Identifier(READER_ROLE), sql.Identifier(name)))
    return password


def _check_existing(name: str, role: dict[str, Any], force: bool) -> None:
    refusal = None
    if role["powerful"] or role["is_me"]:
        refusal = "has rights a reader must not have (superuser, createdb, createrole, replication or bypassrls)"
    elif role["owns"]:
        refusal = "owns objects (it could still write them)"
    elif role["member_elsewhere"]:
        refusal = "is a member of other roles (it would keep their rights)"
    elif role["writes"]:
        refusal = "may write colrec's tables"
    elif not role["reader"] and not force:
        refusal = (
            "exists and is not a colrec reader (pass --force to make this plain login one; its password is replaced)"
        )
    if refusal:
        raise ColrecError(f"role {name!r} {refusal}: nothing changed")


def _execute(conn: Connection, statement: sql.Composed) -> None:
    """Role DDL, composed with quoted identifiers: role names cannot be bound parameters."""
    with psycopg_connection(conn).cursor() as cursor:
        cursor.execute(statement)
