"""consensus results shared: when a lead shared a closed consensus round's results

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

Issue 16. A consensus round's results stay hidden from partners and channels after it closes until a
lead shares them (`share results`). A consensus round closed before this migration was already
visible, so it counts as shared at its close: nothing already seen disappears.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("results_shared_at", sa.DateTime(timezone=True), nullable=True))
    surveys = sa.table(
        "surveys",
        sa.column("kind", sa.String()),
        sa.column("closed_at", sa.DateTime(timezone=True)),
        sa.column("closes_at", sa.DateTime(timezone=True)),
        sa.column("results_shared_at", sa.DateTime(timezone=True)),
    )
    # Closed by a lead or the deadline job, or past its date before the job noticed: either way its
    # results were shown until now.
    ended = sa.or_(
        surveys.c.closed_at.is_not(None),
        surveys.c.closes_at <= sa.func.current_timestamp(),
    )
    op.execute(
        surveys.update()
        .where(surveys.c.kind == "consensus", ended)
        .values(results_shared_at=sa.func.coalesce(surveys.c.closed_at, surveys.c.closes_at))
    )


def downgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_column("results_shared_at")
