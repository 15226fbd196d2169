"""leads and domains

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "organisation_domains",
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("mapped_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_domains_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_organisation_domains")),
    )
    with op.batch_alter_table("organisation_domains", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_organisation_domains_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "lead_grants",
        sa.Column("aad_object_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("granted_by_id", sa.Integer(), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["granted_by_id"],
            ["people.id"],
            name=op.f("fk_lead_grants_granted_by_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("aad_object_id", name=op.f("pk_lead_grants")),
    )
    with op.batch_alter_table("lead_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lead_grants_granted_by_id"), ["granted_by_id"], unique=False)

    # recreate="never": ALTER TABLE in place on SQLite (3.35+ drops columns too). Batch mode's copy of
    # `people` would drop the original table, and with foreign keys on that deletes every row referring
    # to a person (ON DELETE CASCADE).
    with op.batch_alter_table("people", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("organisation_source", sa.String(length=10), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("people", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("organisation_source")

    with op.batch_alter_table("lead_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_grants_granted_by_id"))

    op.drop_table("lead_grants")
    with op.batch_alter_table("organisation_domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_organisation_domains_organisation_id"))

    op.drop_table("organisation_domains")
