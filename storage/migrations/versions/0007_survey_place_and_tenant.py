"""surveys belong to a tenant, team and channel; references and surveys name channels, not threads

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

In a Teams channel each thread is its own conversation (`19:…@thread.tacv2;messageid=<post>`). Rows
stored before this revision may hold a thread's id where the channel's was meant: this strips
`;messageid=…` from surveys and conversation references, merges the references of one channel's
threads into one row (subscriptions and queued messages follow it), and records each survey's tenant
and team from its channel's reference.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON: Any = sa.JSON().with_variant(JSONB(), "postgresql")
_references = sa.table(
    "conversation_references",
    sa.column("id", sa.Integer),
    sa.column("conversation_id", sa.String),
    sa.column("tenant_id", sa.String),
    sa.column("team_id", sa.String),
    sa.column("reference", _JSON),
    sa.column("updated_at", sa.DateTime),
)
_surveys = sa.table(
    "surveys",
    sa.column("id", sa.Integer),
    sa.column("conversation_id", sa.String),
    sa.column("tenant_id", sa.String),
    sa.column("team_id", sa.String),
)
_subscriptions = sa.table(
    "summary_subscriptions",
    sa.column("id", sa.Integer),
    sa.column("conversation_reference_id", sa.Integer),
    sa.column("survey_id", sa.Integer),
    sa.column("partnership_id", sa.Integer),
    sa.column("framework_id", sa.String),
    sa.column("active", sa.Boolean),
)
_outbox = sa.table(
    "outbox",
    sa.column("id", sa.Integer),
    sa.column("state", sa.String),
    sa.column("payload", _JSON),
)
_THREAD = ";messageid="


def _place(conversation_id: str) -> str:
    cut = conversation_id.lower().find(_THREAD)
    return conversation_id if cut < 0 else conversation_id[:cut]


def _threaded(column: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    return sa.func.lower(column).like(f"%{_THREAD}%")


def upgrade() -> None:
    with op.batch_alter_table("surveys", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("tenant_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("team_id", sa.String(length=400), nullable=True))
        batch_op.create_index(batch_op.f("ix_surveys_tenant_id"), ["tenant_id"], unique=False)
    bind = op.get_bind()
    _merge_thread_references(bind)
    for survey_id, conversation_id in bind.execute(
        sa.select(_surveys.c.id, _surveys.c.conversation_id).where(_threaded(_surveys.c.conversation_id))
    ).all():
        bind.execute(
            _surveys.update()
            .where(_surveys.c.id == survey_id)
            .values(conversation_id=_place(conversation_id))
        )
    places = {
        conversation_id: (tenant_id, team_id)
        for conversation_id, tenant_id, team_id in bind.execute(
            sa.select(_references.c.conversation_id, _references.c.tenant_id, _references.c.team_id)
        ).all()
    }
    for survey_id, conversation_id in bind.execute(
        sa.select(_surveys.c.id, _surveys.c.conversation_id).where(_surveys.c.conversation_id.is_not(None))
    ).all():
        tenant_id, team_id = places.get(conversation_id, (None, None))
        if tenant_id is not None or team_id is not None:
            bind.execute(
                _surveys.update()
                .where(_surveys.c.id == survey_id)
                .values(tenant_id=tenant_id, team_id=team_id)
            )


def _merge_thread_references(bind: sa.Connection) -> None:
    """One reference per channel: the channel's own row if any, else its threads' latest, addressed to
    the channel; the others' subscriptions and queued messages move to it and they go."""
    threaded = bind.execute(
        sa.select(_references.c.conversation_id).where(_threaded(_references.c.conversation_id))
    ).scalars()
    places = {_place(conversation_id) for conversation_id in threaded}
    for place in sorted(places):
        rows = bind.execute(
            sa.select(
                _references.c.id,
                _references.c.conversation_id,
                _references.c.tenant_id,
                _references.c.team_id,
                _references.c.reference,
                _references.c.updated_at,
            ).where(
                sa.or_(
                    _references.c.conversation_id == place,
                    _references.c.conversation_id.like(place.replace("%", r"\%") + ";%", escape="\\"),
                )
            )
        ).all()
        rows = [row for row in rows if _place(row.conversation_id) == place]
        own = [row for row in rows if row.conversation_id == place]
        keep = own[0] if own else max(rows, key=lambda row: (row.updated_at, row.id))
        gone = [row.id for row in rows if row.id != keep.id]
        if gone:
            bind.execute(
                _subscriptions.update()
                .where(_subscriptions.c.conversation_reference_id.in_(gone))
                .values(conversation_reference_id=keep.id)
            )
            _repoint_outbox(bind, set(gone), keep.id)
            bind.execute(_references.delete().where(_references.c.id.in_(gone)))
        reference = {key: value for key, value in dict(keep.reference or {}).items() if key != "activityId"}
        if isinstance(reference.get("conversation"), dict):
            reference["conversation"] = {**reference["conversation"], "id": place}
        bind.execute(
            _references.update()
            .where(_references.c.id == keep.id)
            .values(
                conversation_id=place,
                reference=reference,
                tenant_id=keep.tenant_id or next((r.tenant_id for r in rows if r.tenant_id), None),
                team_id=keep.team_id or next((r.team_id for r in rows if r.team_id), None),
            )
        )
    _one_active_subscription_per_target(bind)


def _repoint_outbox(bind: sa.Connection, gone: set[int], keep: int) -> None:
    """Messages not yet sent name references by id in their payload."""
    rows = bind.execute(
        sa.select(_outbox.c.id, _outbox.c.payload).where(_outbox.c.state.in_(["pending", "retrying"]))
    ).all()
    for message_id, payload in rows:
        payload = dict(payload or {})
        changed = False
        for key in ("conversation_reference_id", "report_to"):
            if payload.get(key) in gone:
                payload[key] = keep
                changed = True
        if changed:
            bind.execute(_outbox.update().where(_outbox.c.id == message_id).values(payload=payload))


def _one_active_subscription_per_target(bind: sa.Connection) -> None:
    """Two threads' subscriptions to one summary, now in one channel, would post it twice a week."""
    seen: set[tuple[Any, ...]] = set()
    duplicates: list[int] = []
    for row in bind.execute(
        sa.select(_subscriptions).where(_subscriptions.c.active.is_(True)).order_by(_subscriptions.c.id)
    ).all():
        key = (row.conversation_reference_id, row.survey_id, row.partnership_id, row.framework_id)
        if key in seen:
            duplicates.append(row.id)
        seen.add(key)
    if duplicates:
        bind.execute(_subscriptions.update().where(_subscriptions.c.id.in_(duplicates)).values(active=False))


def downgrade() -> None:
    # Threads merged into their channel are not split again: the channel's id is the right one.
    with op.batch_alter_table("surveys", schema=None, recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f("ix_surveys_tenant_id"))
        batch_op.drop_column("team_id")
        batch_op.drop_column("tenant_id")
