"""downstream views, the read-only role, and the scheduler's job table

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

`latest_*` views and `run_history` (sql/latest_views.sql) show only published runs;
`colrec_reader` (sql/reader_role.sql) may select them and nothing else. `apscheduler_jobs` is the
table APScheduler's SQLAlchemy job store expects (it would otherwise create it itself, outside
migrations).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from colrec_store.migrate import sql_file

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEWS = (
    "run_history",
    "latest_evidence",
    "latest_item_profiles",
    "latest_user_profiles",
    "latest_predictions",
    "latest_recommendations",
    "latest_runs",
)


def upgrade() -> None:
    op.create_index("ix_runs_dataset_job_status", "runs", ["dataset_id", "job", "status"])
    op.execute(sql_file("latest_views.sql"))
    op.execute(sql_file("reader_role.sql"))
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(191), primary_key=True),
        sa.Column("next_run_time", sa.Float(25), index=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("apscheduler_jobs")
    op.execute("grant execute on function colrec_ensure_hnsw(text, integer, text) to public")
    op.execute("revoke all on schema public from colrec_reader")
    op.execute("revoke all on dataset_stats from colrec_reader")
    for view in VIEWS:
        op.execute(f"drop view if exists {view}")
    op.drop_index("ix_runs_dataset_job_status", table_name="runs")
