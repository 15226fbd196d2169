"""Erasure: a person's responses meet their fates and everything else about them goes, in the caller's
transaction (the rule is in the package docstring)."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.privacy.fates import apply_fates, forget, response_fates
from storage.privacy.records import (
    INVITATIONS,
    OUTBOX,
    REFERENCES,
    RESPONSES,
    count_rows,
    find_person,
    other_tables,
    same_aad,
    state_keys,
)
from storage.privacy.rules import DEFAULT_K, ErasurePlan, Fate, subject_hash
from storage.tables import Person, stored_id

log = logging.getLogger(__name__)


async def plan_erasure(session: AsyncSession, user_id: str, *, now: datetime, k: int) -> ErasurePlan | None:
    """What `erase_person` would do, changing nothing; None when nobody with that id is held."""
    person = await find_person(session, user_id)
    if person is None:
        return None
    return await _plan_erasure(session, person, now=now, k=k)


async def erase_person(
    session: AsyncSession, user_id: str, *, now: datetime, k: int = DEFAULT_K
) -> ErasurePlan | None:
    """Erase the person as the module docstring sets out, in the caller's transaction; returns what was
    done, or None when nobody with that id is held (never seen, or already erased)."""
    person = await find_person(session, user_id)
    if person is None:
        return None
    plan = await _plan_erasure(session, person, now=now, k=k)
    await apply_fates(session, plan.responses, now=now)
    await forget(session, [person], plan.bot_state_keys)
    log.info(
        "privacy: erased subject %s: %d responses anonymised, %d deleted, %d invitations deleted, "
        "%d conversation references, %d outbox messages, %d bot state records, %d other records",
        plan.subject,
        plan.anonymised,
        plan.deleted,
        plan.invitations_deleted,
        plan.conversations,
        plan.outbox,
        len(plan.bot_state_keys),
        sum(plan.other_records.values()),
    )
    return plan


async def _plan_erasure(session: AsyncSession, person: Person, *, now: datetime, k: int) -> ErasurePlan:
    fates = await response_fates(session, RESPONSES.c.person_id == person.id, now=now, k=k)
    kept = {f.survey_id for f in fates if f.fate is Fate.ANONYMISE}
    invited = (
        await session.execute(sa.select(INVITATIONS.c.survey_id).where(INVITATIONS.c.person_id == person.id))
    ).scalars()
    moved = Counter(survey_id in kept for survey_id in invited)
    other = {}
    if person.aad_object_id is not None:
        for table, _, aad in other_tables():
            if aad is not None:
                other[table.name] = await count_rows(session, table, same_aad(aad, person.aad_object_id))
    return ErasurePlan(
        person_id=stored_id(person.id),
        subject=subject_hash(person),
        responses=tuple(fates),
        invitations_deleted=moved[False],
        invitations_anonymised=moved[True],
        conversations=await count_rows(session, REFERENCES, REFERENCES.c.person_id == person.id),
        outbox=await count_rows(session, OUTBOX, OUTBOX.c.person_id == person.id),
        bot_state_keys=tuple(await state_keys(session, [person])),
        other_records=other,
    )
