"""activity claims and submit lock

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "processed_activities",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_processed_activities")),
    )
    with op.batch_alter_table("processed_activities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_processed_activities_received_at"), ["received_at"], unique=False
        )

    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lock_after_submit", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:

    # Dropped in place: on SQLite a table copy would cascade-delete every invitation and response.
    with op.batch_alter_table("surveys", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("lock_after_submit")

    with op.batch_alter_table("processed_activities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_processed_activities_received_at"))

    op.drop_table("processed_activities")
