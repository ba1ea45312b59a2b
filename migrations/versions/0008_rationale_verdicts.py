"""rationales keep the curation verdict

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29

`rationales.verdict` is the LLM's P(Yes) that a rationale is causally relevant and coherent (TWiCE's
self-curation); `kept` is the decision made from it. A small model's P(Yes) is uncalibrated (all of
SmolLM2-135M's sit between 0.15 and 0.29), so a run may keep the best share rather than those
above 0.5; the verdict lets a reader see, or redo, that choice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("rationales", sa.Column("verdict", sa.Float(), nullable=True))


def downgrade() -> None:
    op.drop_column("rationales", "verdict")
