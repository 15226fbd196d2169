"""survey chat and automatic reminders

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("surveys", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("conversation_id", sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column("auto_reminded_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_surveys_conversation_id"), ["conversation_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("surveys", schema=None, recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f("ix_surveys_conversation_id"))
        batch_op.drop_column("auto_reminded_at")
        batch_op.drop_column("conversation_id")
