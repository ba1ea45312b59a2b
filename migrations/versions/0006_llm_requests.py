"""The ray executor's work queue

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28

`llm_requests` holds the prompts a job sends to the ray executor, in numbered partitions that the
engine replicas read from the store one at a time (see colrec_store.models.LlmRequest).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "llm_requests",
        sa.Column("run_id", sa.BigInteger(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("prompt_hash", sa.String(64), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "prompt_hash"),
    )
    op.create_index("ix_llm_requests_run_partition", "llm_requests", ["run_id", "partition"])


def downgrade() -> None:
    op.drop_index("ix_llm_requests_run_partition", table_name="llm_requests")
    op.drop_table("llm_requests")
