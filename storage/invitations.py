"""Who is asked to answer which survey. Inviting twice is a no-op, never a second invitation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from frameworks.schema import Framework
from storage.details import SurveyDetails
from storage.people import person_for
from storage.surveys import SnapshotCache
from storage.tables import (
    Answer,
    DeliveryState,
    Invitation,
    Response,
    Survey,
    SurveyState,
    stored_id,
    table_of,
)
from storage.upsert import insert

ERROR_LIMIT = 500


async def invite(session: AsyncSession, survey_id: int, person_ids: Iterable[int], *, now: datetime) -> int:
    """Invite people; returns how many were newly invited."""
    rows = [
        {"survey_id": survey_id, "person_id": pid, "invited_at": now} for pid in dict.fromkeys(person_ids)
    ]
    if not rows:
        return 0
    table = table_of(Invitation)
    result = await session.execute(
        insert(session, table)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[table.c.survey_id, table.c.person_id])
        .returning(table.c.id)
    )
    return len(result.all())


async def record_delivery(
    session: AsyncSession,
    *,
    survey_id: int,
    person_id: int,
    state: DeliveryState,
    attempts: int,
    error: str | None = None,
) -> None:
    """What became of the invitation's message: called in the transaction recording the outbox row's
    outcome, so the two never disagree."""
    await session.execute(
        _RECORD_DELIVERY,
        {
            "delivery_survey": survey_id,
            "delivery_person": person_id,
            "delivered_state": state,
            "delivered_attempts": attempts,
            "delivered_error": error[:ERROR_LIMIT] if error else None,
        },
    )


_INVITATIONS = table_of(Invitation)
_RECORD_DELIVERY = (  # built once, Core: see storage.outbox._finish_statement
    _INVITATIONS.update()
    .where(
        _INVITATIONS.c.survey_id == sa.bindparam("delivery_survey"),
        _INVITATIONS.c.person_id == sa.bindparam("delivery_person"),
    )
    .values(
        delivery_state=sa.bindparam("delivered_state"),
        delivery_attempts=sa.bindparam("delivered_attempts"),
        delivery_error=sa.bindparam("delivered_error"),
    )
)


async def invitation_for(session: AsyncSession, survey_id: int, person_id: int) -> Invitation | None:
    result = await session.execute(
        sa.select(Invitation).where(
            col(Invitation.survey_id) == survey_id, col(Invitation.person_id) == person_id
        )
    )
    return result.scalar_one_or_none()


@dataclass(frozen=True)
class PendingSurvey:
    survey: SurveyDetails
    framework: Framework
    """The survey's framework snapshot (parsed once per process by the SnapshotCache)."""
    answered: int
    """Elements with an answer or a skip recorded."""
    submitted: bool
    chosen: frozenset[str] = frozenset()
    """Elements with an answer given (not skipped): what `N of M answered` counts, among scored ones."""


async def pending_surveys_for(
    session: AsyncSession, person_id: int, *, now: datetime, snapshots: SnapshotCache | None = None
) -> list[PendingSurvey]:
    """Open surveys this person is invited to or has started, oldest first, with how far they got.
    Pass the bot's `snapshots` so each framework is parsed once per process, not once per call."""
    answered = (
        sa.select(sa.func.count(col(Answer.id)))
        .where(col(Answer.response_id) == col(Response.id))
        .correlate(Response)
        .scalar_subquery()
    )
    invited = sa.select(col(Invitation.survey_id)).where(col(Invitation.person_id) == person_id)
    started = sa.select(col(Response.survey_id)).where(col(Response.person_id) == person_id)
    query = (
        sa.select(Survey, sa.func.coalesce(answered, 0), col(Response.submitted_at))
        .outerjoin(
            Response, sa.and_(col(Response.survey_id) == col(Survey.id), col(Response.person_id) == person_id)
        )
        .where(col(Survey.state) == SurveyState.OPEN)
        .where(sa.or_(col(Survey.closes_at).is_(None), col(Survey.closes_at) > now))
        .where(sa.or_(col(Survey.id).in_(invited), col(Survey.id).in_(started)))
        .order_by(col(Survey.created_at), col(Survey.id))
    )
    rows = (await session.execute(query)).all()
    chosen = await _chosen_elements(session, person_id, [stored_id(s.id) for s, _, _ in rows])
    cache = snapshots or SnapshotCache()
    pending = []
    for survey, answered_count, submitted_at in rows:
        details = SurveyDetails.of(survey)
        pending.append(
            PendingSurvey(
                survey=details,
                framework=cache.framework(survey),
                answered=int(answered_count),
                submitted=submitted_at is not None,
                chosen=chosen.get(details.id, frozenset()),
            )
        )
    return pending


async def pending_surveys_of_sender(
    session: AsyncSession,
    *,
    teams_user_id: str,
    name: str | None,
    now: datetime,
    snapshots: SnapshotCache | None = None,
) -> list[PendingSurvey]:
    """pending_surveys_for the person writing in Teams (their row is created on first contact)."""
    person = await person_for(session, teams_user_id=teams_user_id, name=name, now=now)
    return await pending_surveys_for(session, stored_id(person.id), now=now, snapshots=snapshots)


async def _chosen_elements(
    session: AsyncSession, person_id: int, survey_ids: list[int]
) -> dict[int, frozenset[str]]:
    """The elements this person has given an answer to, by survey."""
    if not survey_ids:
        return {}
    query = (
        sa.select(col(Response.survey_id), col(Answer.element_id))
        .join(Response, col(Response.id) == col(Answer.response_id))
        .where(col(Response.person_id) == person_id, col(Response.survey_id).in_(survey_ids))
        .where(col(Answer.value).is_not(None))
    )
    found: dict[int, set[str]] = {}
    for survey_id, element_id in (await session.execute(query)).all():
        found.setdefault(survey_id, set()).add(element_id)
    return {survey_id: frozenset(ids) for survey_id, ids in found.items()}
