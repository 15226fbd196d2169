"""framework uploads: workbooks a lead sent in Teams, waiting for Publish or Cancel

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

Issue 15: the preview card carries only a token; the parsed framework waits here until the lead
publishes or cancels it, or it expires.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "framework_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by", sa.String(length=100), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column(
            "framework",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("published_version", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_framework_uploads")),
        sa.UniqueConstraint("token", name=op.f("uq_framework_uploads_token")),
    )
    with op.batch_alter_table("framework_uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_framework_uploads_expires_at"), ["expires_at"])


def downgrade() -> None:
    op.drop_table("framework_uploads")
