"""colrec_store: the only package that knows the database schema.

config (settings), server (embedded Postgres), db (engines and sessions), models (ORM tables),
migrate (Alembic), and one repository module per area of queries.
"""
