"""a command's claim holds a lease while it runs, and remembers the draft a start made

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

Lead commands are claimed in a transaction of their own and work in short ones after it. While one
runs, its claim holds a lease (`lease_until`); a redelivery after the lease ran out (the instance died)
runs the command again, and `start` then reuses the draft it made for that activity (`made_survey_id`)
instead of making a second one. Existing claims are complete (NULL lease).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("processed_activities") as batch:
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("made_survey_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("processed_activities") as batch:
        batch.drop_column("made_survey_id")
        batch.drop_column("lease_until")
