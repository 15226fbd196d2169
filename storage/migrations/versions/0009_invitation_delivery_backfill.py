"""invitations.delivery_state told from their outbox rows

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

Before this revision the sender never wrote `delivery_state`, so every invitation said `pending`
whatever had happened. An invitation's message is the outbox row of kind `invite` for the same survey
and person: this copies what that row says (sent, failed with its reason, retrying, or skipped when
there was nothing left to ask) and counts the tries as the sender now does (the outbox counts only
tries to be retried). Invitations without such a row stay `pending`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SKIPPED_NOTE = "skipped: nothing to send any more"
"""What bot.outbox.sender stores on an outbox row it had nothing to send for (state sent, no activity id)."""

_invitations = sa.table(
    "invitations",
    sa.column("survey_id", sa.Integer),
    sa.column("person_id", sa.Integer),
    sa.column("delivery_state", sa.String),
    sa.column("delivery_attempts", sa.Integer),
    sa.column("delivery_error", sa.String),
)
_outbox = sa.table(
    "outbox",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("survey_id", sa.Integer),
    sa.column("person_id", sa.Integer),
    sa.column("state", sa.String),
    sa.column("attempts", sa.Integer),
    sa.column("last_error", sa.String),
    sa.column("activity_id", sa.String),
)


def _of_its_row(column: sa.ColumnElement) -> sa.ScalarSelect:
    """`column` of the invitation's outbox row (the latest, should there be several)."""
    return (
        sa.select(column)
        .where(
            _outbox.c.kind == "invite",
            _outbox.c.survey_id == _invitations.c.survey_id,
            _outbox.c.person_id == _invitations.c.person_id,
        )
        .order_by(_outbox.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def upgrade() -> None:
    skipped = sa.and_(
        _outbox.c.state == "sent", _outbox.c.activity_id.is_(None), _outbox.c.last_error == SKIPPED_NOTE
    )
    state = sa.case((skipped, "skipped"), else_=_outbox.c.state)
    error = sa.case((skipped, SKIPPED_NOTE), (_outbox.c.state == "sent", None), else_=_outbox.c.last_error)
    # The outbox counts failed tries that will be retried; an invitation counts every try.
    attempts = sa.case(
        (sa.and_(_outbox.c.state.in_(("sent", "failed")), sa.not_(skipped)), _outbox.c.attempts + 1),
        else_=_outbox.c.attempts,
    )
    linked = sa.exists().where(
        _outbox.c.kind == "invite",
        _outbox.c.survey_id == _invitations.c.survey_id,
        _outbox.c.person_id == _invitations.c.person_id,
    )
    op.execute(
        _invitations.update()
        .where(linked)
        .values(
            delivery_state=_of_its_row(state),
            delivery_attempts=_of_its_row(attempts),
            delivery_error=_of_its_row(error),
        )
    )


def downgrade() -> None:
    # The states before this revision: `skipped` was not one of them.
    op.execute(
        _invitations.update()
        .where(_invitations.c.delivery_state == "skipped")
        .values(delivery_state="pending", delivery_error=None)
    )
