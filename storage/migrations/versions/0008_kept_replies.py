"""a claimed activity keeps its turn's replies until they went out

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

Replies at least once: a turn's replies (and an invoke's answer) are stored with the activity's claim in
the turn's transaction and cleared once sent, so Teams' redelivery after a crash sends them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("processed_activities") as batch:
        batch.add_column(sa.Column("replies", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("processed_activities") as batch:
        batch.drop_column("replies")
