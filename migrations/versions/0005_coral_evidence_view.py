"""CoRAL's evidence in `latest_evidence`

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28

CoRAL's policy retrieves its evidence while a `score` run builds its prompts, and that run stores
the evidence with its predictions in one transaction. `latest_evidence` (sql/latest_views.sql) now
reads evidence of `score` runs as well as of `evidence` runs; the views are re-applied.
"""

from collections.abc import Sequence

from alembic import op

from colrec_store.migrate import sql_file

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sql_file("latest_views.sql"))


def downgrade() -> None:
    # The one view this revision changed, back to what 0004 left.
    marker = "create or replace view latest_evidence as"
    body = sql_file("latest_views.sql").split(marker, 1)[1].split(";", 1)[0]
    op.execute(marker + body.replace("where n.job in ('evidence', 'score')", "where n.job = 'evidence'"))
