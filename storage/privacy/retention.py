"""Retention: responses to surveys closed long ago meet their fates, and people nothing points at any more
are forgotten (the rule is in the package docstring)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.privacy.fates import apply_fates, forget, response_fates
from storage.privacy.records import (
    INVITATIONS,
    OUTBOX,
    PEOPLE,
    REFERENCES,
    RESPONSES,
    SURVEY_LINKED,
    SURVEYS,
    count_rows,
    is_tombstone,
    same_aad,
    state_keys,
)
from storage.privacy.rules import DEFAULT_K, Fate, RetentionPlan, months_before
from storage.tables import Person, SurveyState, metadata, stored_id

log = logging.getLogger(__name__)


def expired_surveys(cutoff: datetime) -> sa.Select[Any]:
    closed_at = sa.func.coalesce(SURVEYS.c.closed_at, SURVEYS.c.closes_at)
    return sa.select(SURVEYS.c.id).where(SURVEYS.c.state == SurveyState.CLOSED.value, closed_at <= cutoff)


async def plan_expired(
    session: AsyncSession, *, now: datetime, months: int, k: int = DEFAULT_K
) -> RetentionPlan:
    """What `purge_expired` would do, changing nothing."""
    cutoff = months_before(now, months)
    expired = expired_surveys(cutoff)
    real = sa.select(PEOPLE.c.id).where(sa.not_(is_tombstone(PEOPLE.c.teams_user_id)))
    fates = await response_fates(
        session,
        sa.and_(RESPONSES.c.survey_id.in_(expired), RESPONSES.c.person_id.in_(real)),
        now=now,
        k=k,
    )
    kept = {(f.survey_id, f.person_id) for f in fates if f.fate is Fate.ANONYMISE}
    invited = await session.execute(
        sa.select(INVITATIONS.c.survey_id, INVITATIONS.c.person_id).where(
            INVITATIONS.c.survey_id.in_(expired), INVITATIONS.c.person_id.in_(real)
        )
    )
    outbox = await count_rows(
        session, OUTBOX, sa.and_(OUTBOX.c.survey_id.in_(expired), OUTBOX.c.person_id.in_(real))
    )
    people = await _unlinked_people(session, cutoff, expired)
    return RetentionPlan(
        cutoff=cutoff,
        responses=tuple(fates),
        invitations_deleted=sum(1 for survey_id, person_id in invited if (survey_id, person_id) not in kept),
        outbox=outbox,
        people=tuple(stored_id(person.id) for person in people),
        bot_state_keys=tuple(await state_keys(session, people)),
    )


async def purge_expired(
    session: AsyncSession, *, now: datetime, months: int, k: int = DEFAULT_K
) -> RetentionPlan:
    """Apply the retention period in the caller's transaction (the bot's hourly housekeeping calls this);
    returns what was done. Running it again straight away finds nothing more to do."""
    plan = await plan_expired(session, now=now, months=months, k=k)
    await apply_fates(session, plan.responses, now=now)
    expired = expired_surveys(plan.cutoff)
    real = sa.select(PEOPLE.c.id).where(sa.not_(is_tombstone(PEOPLE.c.teams_user_id)))
    for table in (INVITATIONS, OUTBOX):
        await session.execute(
            sa.delete(table).where(table.c.survey_id.in_(expired), table.c.person_id.in_(real))
        )
    people = (await session.execute(sa.select(Person).where(col(Person.id).in_(plan.people)))).scalars()
    await forget(session, list(people), plan.bot_state_keys)
    if plan.responses or plan.people or plan.invitations_deleted or plan.outbox:
        log.info(
            "privacy: retention before %s: %d responses anonymised, %d deleted, %d invitations and "
            "%d outbox messages deleted, %d people forgotten",
            plan.cutoff.isoformat(),
            plan.anonymised,
            plan.deleted,
            plan.invitations_deleted,
            plan.outbox,
            len(plan.people),
        )
    return plan


async def _unlinked_people(session: AsyncSession, cutoff: datetime, expired: sa.Select[Any]) -> list[Person]:
    """People not seen since the cutoff whom nothing will point at once expired surveys are dealt with."""
    tombstone = is_tombstone(PEOPLE.c.teams_user_id)
    links: list[sa.ColumnElement[bool]] = []
    for table in metadata.sorted_tables:
        if table.name in (PEOPLE.name, REFERENCES.name):
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name != PEOPLE.name:
                continue
            condition = fk.parent == PEOPLE.c.id
            if table.name in SURVEY_LINKED:  # an identifiable row about an expired survey is going
                survey = table.c.survey_id
                condition &= sa.or_(tombstone, survey.is_(None), survey.not_in(expired))
            links.append(sa.exists().where(condition))
        aad = table.c.get("aad_object_id")
        if aad is not None:
            links.append(sa.exists().where(same_aad(aad, PEOPLE.c.aad_object_id)))
    recent = sa.exists().where(REFERENCES.c.person_id == PEOPLE.c.id, REFERENCES.c.updated_at > cutoff)
    query = (
        sa.select(Person)
        .where(col(Person.updated_at) <= cutoff, sa.not_(recent), *[sa.not_(link) for link in links])
        .order_by(col(Person.id))
    )
    return list((await session.execute(query)).scalars())
