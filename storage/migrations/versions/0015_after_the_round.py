"""after the round: consensus rounds, targets, the action plan, personal views

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

Issue 16. A survey may be a consensus round of another (the elements where the first round split,
with what that round showed frozen in `first_round`), may ask a target after each answer, and may
send each partner their own view when it closes. Actions and their updates are the action plan.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    from sqlalchemy.dialects import postgresql

    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=12), server_default="round", nullable=False))
        batch_op.add_column(sa.Column("parent_survey_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("first_round", _json(), nullable=True))
        batch_op.add_column(sa.Column("target_months", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("share_results", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_surveys_parent_survey_id"), ["parent_survey_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_surveys_parent_survey_id_surveys"),
            "surveys",
            ["parent_survey_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target_value", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("target_score", sa.Integer(), nullable=True))

    op.create_table(
        "actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.String(length=400), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("survey_id", sa.Integer(), nullable=True),
        sa.Column("partnership_id", sa.Integer(), nullable=True),
        sa.Column("element_id", sa.String(length=80), nullable=True),
        sa.Column("element_title", sa.String(length=300), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("rag", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("checkin_days", sa.Integer(), nullable=False),
        sa.Column("next_checkin_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["survey_id"], ["surveys.id"], name=op.f("fk_actions_survey_id_surveys"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["partnership_id"],
            ["partnerships.id"],
            name=op.f("fk_actions_partnership_id_partnerships"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["people.id"], name=op.f("fk_actions_owner_id_people"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["people.id"],
            name=op.f("fk_actions_created_by_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actions")),
        sa.UniqueConstraint(
            "tenant_id", "conversation_id", "number", name=op.f("uq_actions_tenant_id_conversation_id_number")
        ),
    )
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_actions_survey_id"), ["survey_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_actions_partnership_id"), ["partnership_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_actions_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_actions_next_checkin_at"), ["next_checkin_at"], unique=False)

    op.create_table(
        "action_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("rag", sa.String(length=12), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["actions.id"],
            name=op.f("fk_action_updates_action_id_actions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_action_updates_person_id_people"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_updates")),
    )
    with op.batch_alter_table("action_updates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_action_updates_action_id"), ["action_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_action_updates_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    op.drop_table("action_updates")
    op.drop_table("actions")
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_column("target_score")
        batch_op.drop_column("target_value")
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_surveys_parent_survey_id_surveys"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_surveys_parent_survey_id"))
        batch_op.drop_column("share_results")
        batch_op.drop_column("target_months")
        batch_op.drop_column("first_round")
        batch_op.drop_column("parent_survey_id")
        batch_op.drop_column("kind")
