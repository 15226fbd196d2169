"""Carrying out fates: each response's fate decided in SQL, responses deleted or anonymised, and people
forgotten with everything else tied to them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute, defer
from sqlmodel import col

from storage.actions import forget_notes
from storage.privacy.records import (
    ANSWERS,
    INVITATIONS,
    OUTBOX,
    PEOPLE,
    REFERENCES,
    RESPONSES,
    STATE,
    chunks,
    other_tables,
)
from storage.privacy.rules import TOMBSTONE_PREFIX, Fate, ResponseFate, fate_of
from storage.summaries import answered
from storage.surveys import is_accepting_answers
from storage.tables import Person, Survey, stored_id
from storage.types import UTCDateTime

_SNAPSHOT = cast("QueryableAttribute[Any]", Survey.framework_snapshot)
"""Left unloaded when reading surveys for their dates: the mapped attribute (sqlmodel types it as a value)."""


async def response_fates(
    session: AsyncSession, condition: sa.ColumnElement[bool], *, now: datetime, k: int
) -> list[ResponseFate]:
    """The fate of every response meeting `condition`, with the size of its group counted in SQL."""
    peer = RESPONSES.alias("peer")
    peer_answers = ANSWERS.alias("peer_answers")
    group_size = (
        sa.select(sa.func.count())
        .select_from(peer)
        .where(
            peer.c.survey_id == RESPONSES.c.survey_id,
            peer.c.organisation_id.is_not_distinct_from(RESPONSES.c.organisation_id),
            sa.exists().where(peer_answers.c.response_id == peer.c.id, answered(peer_answers)),
        )
        .scalar_subquery()
    )
    query = (
        sa.select(RESPONSES.c.id, RESPONSES.c.person_id, group_size, Survey)
        .join(Survey, col(Survey.id) == RESPONSES.c.survey_id)
        .options(defer(_SNAPSHOT))
        .where(condition)
        .order_by(RESPONSES.c.id)
    )
    return [
        ResponseFate(
            response_id=response_id,
            survey_id=stored_id(survey.id),
            person_id=person_id,
            fate=fate_of(accepting_answers=is_accepting_answers(survey, now), group_size=size, k=k),
            stamp=survey.closed_at or survey.closes_at or now,
        )
        for response_id, person_id, size, survey in (await session.execute(query)).all()
    ]


async def apply_fates(session: AsyncSession, fates: Sequence[ResponseFate], *, now: datetime) -> None:
    doomed = [f.response_id for f in fates if f.fate is Fate.DELETE]
    for chunk in chunks(doomed):
        await session.execute(sa.delete(ANSWERS).where(ANSWERS.c.response_id.in_(chunk)))
        await session.execute(sa.delete(RESPONSES).where(RESPONSES.c.id.in_(chunk)))
    kept = [f for f in fates if f.fate is Fate.ANONYMISE]
    for some in chunks(kept):
        await _anonymise(session, some, now=now)


async def _anonymise(session: AsyncSession, fates: Sequence[ResponseFate], *, now: datetime) -> None:
    """Move each response (and its invitation) to an anonymous person of its own; strip comments and times."""
    names = [f"{TOMBSTONE_PREFIX}{uuid.uuid4()}" for _ in fates]
    created = await session.execute(
        sa.insert(PEOPLE)
        .values([{"teams_user_id": name, "created_at": now, "updated_at": now} for name in names])
        .returning(PEOPLE.c.teams_user_id, PEOPLE.c.id)
    )
    tombstone_of: dict[str, int] = {name: person_id for name, person_id in created}
    params = [
        {
            "rid": f.response_id,
            "sid": f.survey_id,
            "pid": f.person_id,
            "tid": tombstone_of[name],
            "stamp": f.stamp,
        }
        for f, name in zip(fates, names, strict=True)
    ]
    stamp = sa.bindparam("stamp", type_=UTCDateTime)

    def kept_if_set(column: sa.Column[Any]) -> Any:
        return sa.case((column.is_(None), sa.null()), else_=stamp)

    r, a, i = RESPONSES, ANSWERS, INVITATIONS
    await session.execute(
        sa.update(r)
        .where(r.c.id == sa.bindparam("rid"))
        .values(
            person_id=sa.bindparam("tid"),
            started_at=stamp,
            updated_at=stamp,
            submitted_at=kept_if_set(r.c.submitted_at),
        ),
        params,
    )
    await session.execute(
        sa.delete(a).where(
            a.c.response_id.in_([f.response_id for f in fates]), a.c.value.is_(None), sa.not_(a.c.skipped)
        )
    )
    await session.execute(
        sa.update(a)
        .where(a.c.response_id == sa.bindparam("rid"))
        .values(comment=None, answered_at=stamp, updated_at=stamp),
        params,
    )
    await session.execute(
        sa.update(i)
        .where(i.c.survey_id == sa.bindparam("sid"), i.c.person_id == sa.bindparam("pid"))
        .values(
            person_id=sa.bindparam("tid"),
            invited_at=stamp,
            reminded_at=kept_if_set(i.c.reminded_at),
            completed_at=kept_if_set(i.c.completed_at),
            delivery_error=None,
        ),
        params,
    )


async def forget(session: AsyncSession, people: Sequence[Person], state_keys: Iterable[str]) -> None:
    """Delete the people and everything else tied to them (their responses are dealt with already)."""
    ids = [person.id for person in people]
    for keys in chunks(sorted(state_keys)):
        await session.execute(sa.delete(STATE).where(STATE.c.key.in_(keys)))
    aad_ids = [person.aad_object_id.lower() for person in people if person.aad_object_id is not None]
    for table, _, aad in other_tables():
        if aad is not None:
            for some_aad in chunks(aad_ids):
                await session.execute(sa.delete(table).where(sa.func.lower(aad).in_(some_aad)))
    for chunk in chunks(ids):
        await forget_notes(session, person_ids=[pid for pid in chunk if pid is not None])
        for table in (OUTBOX, INVITATIONS, REFERENCES):
            await session.execute(sa.delete(table).where(table.c.person_id.in_(chunk)))
        await session.execute(sa.delete(PEOPLE).where(PEOPLE.c.id.in_(chunk)))
