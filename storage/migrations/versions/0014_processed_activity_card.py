"""processed_activities: the id Teams gave the question card a turn sent

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

Issue 14: a turn kept its question card's id by saving the conversation state a second time after its
replies went out (a second transaction of two statements). The id now goes into the turn's claim with
the one statement that marks its replies sent, and the next turn reads it with its answers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("processed_activities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("card_id", sa.String(length=256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("processed_activities", schema=None) as batch_op:
        batch_op.drop_column("card_id")
