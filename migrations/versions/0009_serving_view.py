"""serving_recommendations: one method per dataset, chosen by the refresh

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

Each refresh now measures what the previous one's lists earned (prospective evaluation) and names
the method to serve in its metrics (`serving`); `serving_recommendations` (sql/serving_views.sql)
shows that method's lists, with the first CF method's for users the served method did not cover.
`latest_recommendations` keeps every method as before, and gains a last column, the item's title.
"""

from collections.abc import Sequence

from alembic import op

from colrec_store.migrate import sql_file

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sql_file("latest_views.sql"))  # latest_recommendations gains the item's title, last
    op.execute(sql_file("serving_views.sql"))


def downgrade() -> None:
    op.execute("drop view if exists serving_recommendations")
    # A view cannot lose a column in place: latest_recommendations is made again without the title.
    marker = "create or replace view latest_recommendations as"
    body = sql_file("latest_views.sql").split(marker, 1)[1].split(";", 1)[0]
    op.execute("drop view latest_recommendations")
    op.execute(marker + body.replace(", i.title", ""))
    op.execute("grant select on latest_recommendations to colrec_reader")
