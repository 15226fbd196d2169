"""summary posts and per-subscription weighting

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
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
        "summary_posts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_message_id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_message_id"],
            ["outbox.id"],
            name=op.f("fk_summary_posts_outbox_message_id_outbox"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["summary_subscriptions.id"],
            name=op.f("fk_summary_posts_subscription_id_summary_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_summary_posts_survey_id_surveys"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_summary_posts")),
        sa.UniqueConstraint("outbox_message_id", name=op.f("uq_summary_posts_outbox_message_id")),
    )
    with op.batch_alter_table("summary_posts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_summary_posts_subscription_id"), ["subscription_id"])
        batch_op.create_index(batch_op.f("ix_summary_posts_survey_id"), ["survey_id"])

    with op.batch_alter_table("summary_subscriptions", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("weighting", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("summary_subscriptions", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("weighting")
    op.drop_table("summary_posts")
