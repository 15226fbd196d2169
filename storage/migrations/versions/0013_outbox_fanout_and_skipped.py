"""outbox: the fan-out id in its own indexed column, and "skipped" said by a column, not a sentence

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

Issue 13: a fan-out's rows were found through `payload["fanout"]` (unindexed JSON) and a row done
without a send was recognised by comparing `last_error` with a sentence. Both become columns,
filled from the rows already there; the payload and the note stay as they were.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SKIPPED_NOTE = "skipped: nothing to send any more"
"""What the sender stored on a row it had nothing to send for (state sent, no activity id)."""


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fanout", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("skipped", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index("ix_outbox_fanout", ["fanout", "state"], unique=False)
    payload_type = JSONB() if op.get_bind().dialect.name == "postgresql" else sa.JSON()
    outbox = sa.table(
        "outbox",
        sa.column("payload", payload_type),
        sa.column("fanout", sa.String()),
        sa.column("skipped", sa.Boolean()),
        sa.column("state", sa.String()),
        sa.column("activity_id", sa.String()),
        sa.column("last_error", sa.String()),
    )
    op.execute(outbox.update().values(fanout=outbox.c.payload["fanout"].as_string()))
    op.execute(
        outbox.update()
        .where(outbox.c.state == "sent", outbox.c.activity_id.is_(None), outbox.c.last_error == SKIPPED_NOTE)
        .values(skipped=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_fanout")
        batch_op.drop_column("skipped")
        batch_op.drop_column("fanout")
