"""Data protection: everything held about a person (subject access), erasure, and retention.

Who: `find_person` takes an AAD object id (what Entra ID and a DPO work with) or a Teams user id.

Erasure (`erase_person`), in the caller's transaction, so it happens completely or not at all:
    Each of the person's responses meets one fate (`fate_of`):
    - the survey still accepts answers (open, closing date not passed): the response and its answers
      are DELETED. Its figures are still moving, so a kept anonymous row could be told apart by when
      it stopped changing, and the answers could still be changed by nobody but the erased person.
    - the survey is closed (state closed, or its closing date has passed) and the *group* has at least
      k respondents: the response is ANONYMISED and kept, so closed rounds' aggregates do not move.
      "Group" = the responses to that survey with the same organisation as the response
      (`responses.organisation_id`, frozen when they answered; no organisation is a group of its own,
      shown as "Unassigned"), the person's own response and earlier anonymised ones included, counting
      only those that answered at least one question (`storage.summaries.answered`, the summaries' own
      definition): the respondents an organisation breakdown is computed from.
    - otherwise (closed, group below k) it is DELETED: in so small a group the others could tell
      which anonymous row was theirs.
    Anonymising keeps the organisation, values, scores and skips, and removes everything else that
    points at the person: the response moves to a new anonymous person row of its own (one per
    response, so anonymous rows cannot be linked across surveys; `teams_user_id` "erased:<uuid>", no
    other identity field; no schema change needed); comments are set to NULL and answer rows left
    empty without them are deleted; every timestamp of the response, its answers and its invitation is
    replaced by the survey's closing time (timing can identify), keeping only whether it was
    submitted. The invitation of a kept response moves with it (delivery error cleared), so response
    rates do not change either.
    Then the person's other invitations, the outbox messages addressed to them, their conversation
    references, the bot state of their 1:1 conversations and their user state, rows of other tables
    naming their AAD object id (their lead grant: they stop being a lead unless settings name them),
    and finally the person row go. Other tables referring to people.id follow their foreign key's
    ON DELETE (surveys, summary subscriptions and lead grants they made stay, with the person NULL).
    Erasing someone unknown (never seen, or already erased) does nothing and returns None.
    One log line at INFO records the erasure with counts and `subject_hash` (sha256 of the lower-case
    AAD object id, else of the Teams user id, first 16 hex digits): enough for someone who holds the id
    to confirm it was erased, nothing more.

Retention (`purge_expired`): responses to surveys closed more than `months` ago meet the same fate as
at erasure (anonymised when the group has k or more, deleted otherwise); those surveys' other
invitations and outbox messages of identifiable people are deleted; then people with nothing left
pointing at them (responses, invitations, outbox messages, surveys or subscriptions they created, rows
of any other table) and not seen for `months` (person row and every conversation reference unchanged
since) are forgotten as at erasure. Anonymous rows are never touched again, except that one left with
nothing at all (its survey deleted) goes too. `plan_*` compute exactly what the `erase`/`purge`
functions then carry out, so previews and dry runs are the real decision, not an estimate.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlmodel import col

from frameworks.schema import Framework, LevelsScale, StatusScale
from frameworks.summary import SummaryRules
from storage.summaries import answered
from storage.surveys import framework_of, is_accepting_answers
from storage.tables import (
    Answer,
    BotStateRecord,
    ConversationReference,
    Invitation,
    Organisation,
    OutboxMessage,
    Person,
    Response,
    SummarySubscription,
    Survey,
    SurveyState,
    metadata,
)
from storage.types import UTCDateTime

log = logging.getLogger(__name__)

DEFAULT_K: int = SummaryRules.model_fields["k"].default
"""The summaries' anonymity threshold: a group kept for aggregates is one a summary could show."""
DEFAULT_RETENTION_MONTHS = 24
"""Two annual rounds: a person's previous answers stay theirs until the next round has run."""
TOMBSTONE_PREFIX = "erased:"
"""`teams_user_id` of the anonymous person rows that hold anonymised responses."""

_people = Person.__table__  # type: ignore[attr-defined]
_responses = Response.__table__  # type: ignore[attr-defined]
_answers = Answer.__table__  # type: ignore[attr-defined]
_invitations = Invitation.__table__  # type: ignore[attr-defined]
_outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
_references = ConversationReference.__table__  # type: ignore[attr-defined]
_state = BotStateRecord.__table__  # type: ignore[attr-defined]
_surveys = Survey.__table__  # type: ignore[attr-defined]
_organisations = Organisation.__table__  # type: ignore[attr-defined]
_subscriptions = SummarySubscription.__table__  # type: ignore[attr-defined]

_HANDLED = {
    table.name
    for table in (_people, _responses, _answers, _invitations, _outbox, _references, _state, _surveys)
} | {_organisations.name, _subscriptions.name}
_SURVEY_LINKED = {_responses.name, _invitations.name, _outbox.name}
"""Tables whose rows about expired surveys retention takes away from identifiable people."""
_CHUNK = 500
_IDENTITY = ("aad_object_id", "teams_user_id", "name", "email")
_WITHHELD = "(withheld: another person)"
_T = TypeVar("_T")


# Decisions -----------------------------------------------------------------------------------------


class Fate(StrEnum):
    ANONYMISE = "anonymise"
    DELETE = "delete"


def fate_of(*, accepting_answers: bool, group_size: int, k: int) -> Fate:
    """What erasure or retention does to one response (the rule is in the module docstring)."""
    if accepting_answers or group_size < k:
        return Fate.DELETE
    return Fate.ANONYMISE


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the 31st becomes the month's last day)."""
    if months < 0:
        raise ValueError("months must not be negative")
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return moment.replace(year=year, month=month + 1, day=min(moment.day, last_day))


def subject_hash(person: Person) -> str:
    """What logs may say about whom: a digest of the AAD object id (else the Teams user id)."""
    subject = (person.aad_object_id or "").lower() or person.teams_user_id
    return hashlib.sha256(subject.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ResponseFate:
    response_id: int
    survey_id: int
    person_id: int
    fate: Fate
    stamp: datetime
    """The survey's closing time: every timestamp of an anonymised response becomes this."""


class _Fates:
    """What a plan does to responses, counted for the person running it."""

    responses: tuple[ResponseFate, ...]

    @property
    def anonymised(self) -> int:
        return sum(1 for f in self.responses if f.fate is Fate.ANONYMISE)

    @property
    def deleted(self) -> int:
        return sum(1 for f in self.responses if f.fate is Fate.DELETE)


@dataclass(frozen=True)
class ErasurePlan(_Fates):
    person_id: int
    subject: str
    """`subject_hash` of the person, the only way logs refer to them."""
    responses: tuple[ResponseFate, ...]
    invitations_deleted: int
    invitations_anonymised: int
    conversations: int
    outbox: int
    bot_state_keys: tuple[str, ...]
    other_records: dict[str, int]
    """Rows of other tables naming the person's AAD object id, by table."""


@dataclass(frozen=True)
class RetentionPlan(_Fates):
    cutoff: datetime
    """Surveys closed and people last seen at or before this moment are expired."""
    responses: tuple[ResponseFate, ...]
    invitations_deleted: int
    outbox: int
    people: tuple[int, ...]
    """People forgotten: nothing links to them any more and they have not been seen since the cutoff."""
    bot_state_keys: tuple[str, ...]


# Finding the person --------------------------------------------------------------------------------


def _is_tombstone(teams_user_id: Any) -> Any:
    return teams_user_id.startswith(TOMBSTONE_PREFIX, autoescape=True)


def _same_aad(column: Any, aad_object_id: Any) -> Any:
    """AAD object ids are GUIDs: the same whatever their letters' case (lead grants keep them lower case)."""
    return sa.func.lower(column) == sa.func.lower(aad_object_id)


async def find_person(session: AsyncSession, user_id: str) -> Person | None:
    """The person with this AAD object id or, failing that, this Teams user id; never an anonymous row."""
    query = (
        sa.select(Person)
        .where(sa.or_(_same_aad(col(Person.aad_object_id), user_id), col(Person.teams_user_id) == user_id))
        .where(sa.not_(_is_tombstone(col(Person.teams_user_id))))
        .order_by(sa.case((_same_aad(col(Person.aad_object_id), user_id), 0), else_=1))
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


# Subject access ------------------------------------------------------------------------------------


class PersonalData(BaseModel):
    """Everything held about one person; datetimes serialise as ISO 8601 in UTC."""

    format: str = "surveybot.personal-data/1"
    exported_at: datetime
    person: dict[str, Any]
    organisation: dict[str, Any] | None
    invitations: list[dict[str, Any]]
    responses: list[dict[str, Any]]
    """Each with the survey's title and its answers, labelled from the survey's framework snapshot."""
    conversation_references: list[dict[str, Any]]
    outbox: list[dict[str, Any]]
    bot_state: list[dict[str, Any]]
    surveys_created: list[dict[str, Any]]
    summary_subscriptions_created: list[dict[str, Any]]
    other_records: dict[str, list[dict[str, Any]]]
    """Rows of any other table that refers to the person (lead grants, once that table exists)."""


async def export_person(session: AsyncSession, user_id: str, *, now: datetime) -> PersonalData | None:
    """Everything held about the person, or None when nobody with that id is held."""
    person = await find_person(session, user_id)
    if person is None:
        return None
    pid = person.id
    organisation = None
    if person.organisation_id is not None:
        organisations = await _rows(
            session, sa.select(_organisations).where(_organisations.c.id == person.organisation_id)
        )
        organisation = organisations[0] if organisations else None
    invitations = await _rows(
        session,
        sa.select(_invitations, _surveys.c.title.label("survey_title"))
        .join(_surveys, _surveys.c.id == _invitations.c.survey_id)
        .where(_invitations.c.person_id == pid)
        .order_by(_invitations.c.id),
    )
    references = await _rows(
        session, sa.select(_references).where(_references.c.person_id == pid).order_by(_references.c.id)
    )
    keys = await _state_keys(session, [person])
    states = await _rows(
        session,
        sa.select(_state.c.key, _state.c.updated_at, _state.c.data)
        .where(_state.c.key.in_(keys))
        .order_by(_state.c.key),
    )
    for state in states:
        state["data"] = json.loads(state["data"])
    created = await _rows(
        session,
        sa.select(
            _surveys.c.id,
            _surveys.c.title,
            _surveys.c.framework_id,
            _surveys.c.state,
            _surveys.c.created_at,
            _surveys.c.closed_at,
        )
        .where(_surveys.c.created_by_id == pid)
        .order_by(_surveys.c.id),
    )
    return PersonalData(
        exported_at=now,
        person=(await _rows(session, sa.select(_people).where(_people.c.id == pid)))[0],
        organisation=organisation,
        invitations=invitations,
        responses=await _export_responses(session, pid),
        conversation_references=references,
        outbox=await _rows(
            session, sa.select(_outbox).where(_outbox.c.person_id == pid).order_by(_outbox.c.id)
        ),
        bot_state=states,
        surveys_created=created,
        summary_subscriptions_created=await _rows(
            session,
            sa.select(_subscriptions)
            .where(_subscriptions.c.created_by_id == pid)
            .order_by(_subscriptions.c.id),
        ),
        other_records=await _other_records(session, person),
    )


async def _export_responses(session: AsyncSession, person_id: int | None) -> list[dict[str, Any]]:
    responses = await _rows(
        session,
        sa.select(_responses, _organisations.c.name.label("organisation_name"))
        .outerjoin(_organisations, _organisations.c.id == _responses.c.organisation_id)
        .where(_responses.c.person_id == person_id)
        .order_by(_responses.c.id),
    )
    if not responses:
        return []
    surveys = {
        survey.id: survey
        for survey in (
            await session.execute(
                sa.select(Survey).where(col(Survey.id).in_([r["survey_id"] for r in responses]))
            )
        ).scalars()
    }
    answers = await _rows(
        session,
        sa.select(_answers)
        .where(_answers.c.response_id.in_([r["id"] for r in responses]))
        .order_by(_answers.c.response_id, _answers.c.id),
    )
    for response in responses:
        survey = surveys[response["survey_id"]]
        framework = framework_of(survey)
        response.update(
            survey_title=survey.title,
            framework_id=survey.framework_id,
            framework_version=survey.framework_version,
            answers=[
                _labelled(answer, framework) for answer in answers if answer["response_id"] == response["id"]
            ],
        )
    return responses


def _labelled(answer: dict[str, Any], framework: Framework) -> dict[str, Any]:
    """An answer as its person saw it: the question's title and the label of the value they chose."""
    found = framework.element(answer["element_id"])
    domain_title = element_title = value_label = None
    if found is not None:
        domain, element = found
        domain_title, element_title = domain.title, element.title
        value = answer["value"]
        scale = framework.scale_for(domain)
        if value is not None:
            option = (
                scale.level(value)
                if isinstance(scale, LevelsScale)
                else scale.status(value)
                if isinstance(scale, StatusScale)
                else None
            )
            value_label = option.label if option is not None else value
    return {
        **answer,
        "domain_title": domain_title,
        "element_title": element_title,
        "value_label": value_label,
    }


def _other_tables() -> list[tuple[sa.Table, list[sa.Column[Any]], sa.Column[Any] | None]]:
    """Tables this module does not know by name that refer to people: by foreign key or AAD object id."""
    found = []
    for table in metadata.sorted_tables:
        if table.name in _HANDLED:
            continue
        keys = [fk.parent for fk in table.foreign_keys if fk.column.table.name == _people.name]
        aad = table.c.get("aad_object_id")
        if keys or aad is not None:
            found.append((table, keys, aad))
    return found


async def _other_records(session: AsyncSession, person: Person) -> dict[str, list[dict[str, Any]]]:
    """Rows naming the person's AAD object id, whole; rows that only refer to them (a lead grant they made)
    with the other person's identity withheld, as a subject access request requires."""
    records: dict[str, list[dict[str, Any]]] = {}
    for table, keys, aad in _other_tables():
        about = _same_aad(aad, person.aad_object_id) if aad is not None and person.aad_object_id else None
        conditions = [key == person.id for key in keys] + ([about] if about is not None else [])
        if not conditions:
            continue
        query = sa.select(table, (about if about is not None else sa.false()).label("_about_them"))
        rows = await _rows(session, query.where(sa.or_(*conditions)))
        for row in rows:
            if not row.pop("_about_them"):
                row.update({column: _WITHHELD for column in _IDENTITY if row.get(column) is not None})
        records[table.name] = rows
    return records


async def _rows(session: AsyncSession, query: sa.Select[Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in (await session.execute(query)).mappings()]


async def _state_keys(session: AsyncSession, people: Sequence[Person]) -> list[str]:
    """The bot state rows tied to these people: their 1:1 conversations' state and their user state.

    botbuilder keys state as `<channel>/conversations/<conversation id>` and `<channel>/users/<user id>`
    (private conversation state: `<channel>/conversations/<conversation id>/users/<user id>`)."""
    if not people:
        return []
    by_id = {person.id: person for person in people}
    candidates: set[str] = set()
    channels_of: dict[int | None, set[str]] = {pid: {"msteams"} for pid in by_id}
    conversations_of: dict[int | None, set[str]] = {pid: set() for pid in by_id}
    for chunk in _chunks(list(by_id)):
        rows = await session.execute(
            sa.select(
                _references.c.person_id,
                _references.c.conversation_id,
                _references.c.channel_id,
                _references.c.reference,
            ).where(_references.c.person_id.in_(chunk))
        )
        for pid, conversation_id, channel_id, reference in rows:
            conversations_of[pid].add(conversation_id)
            channels_of[pid] |= {channel_id, (reference or {}).get("channelId") or channel_id}
    for pid, person in by_id.items():
        for channel in channels_of[pid]:
            candidates.add(f"{channel}/users/{person.teams_user_id}")
            for conversation_id in conversations_of[pid]:
                candidates.add(f"{channel}/conversations/{conversation_id}")
                candidates.add(f"{channel}/conversations/{conversation_id}/users/{person.teams_user_id}")
    keys: list[str] = []
    for chunk in _chunks(sorted(candidates)):
        keys += (await session.execute(sa.select(_state.c.key).where(_state.c.key.in_(chunk)))).scalars()
    return sorted(keys)


# Erasure -------------------------------------------------------------------------------------------


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
    await _apply_fates(session, plan.responses, now=now)
    await _forget(session, [person], plan.bot_state_keys)
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
    fates = await _fates(session, _responses.c.person_id == person.id, now=now, k=k)
    kept = {f.survey_id for f in fates if f.fate is Fate.ANONYMISE}
    invited = (
        await session.execute(
            sa.select(_invitations.c.survey_id).where(_invitations.c.person_id == person.id)
        )
    ).scalars()
    moved = Counter(survey_id in kept for survey_id in invited)
    other = {}
    if person.aad_object_id is not None:
        for table, _, aad in _other_tables():
            if aad is not None:
                other[table.name] = await _count(session, table, _same_aad(aad, person.aad_object_id))
    return ErasurePlan(
        person_id=person.id or 0,
        subject=subject_hash(person),
        responses=tuple(fates),
        invitations_deleted=moved[False],
        invitations_anonymised=moved[True],
        conversations=await _count(session, _references, _references.c.person_id == person.id),
        outbox=await _count(session, _outbox, _outbox.c.person_id == person.id),
        bot_state_keys=tuple(await _state_keys(session, [person])),
        other_records=other,
    )


async def _count(session: AsyncSession, table: sa.Table, condition: sa.ColumnElement[bool]) -> int:
    return (
        await session.execute(sa.select(sa.func.count()).select_from(table).where(condition))
    ).scalar_one()


async def _fates(
    session: AsyncSession, condition: sa.ColumnElement[bool], *, now: datetime, k: int
) -> list[ResponseFate]:
    """The fate of every response meeting `condition`, with the size of its group counted in SQL."""
    peer = _responses.alias("peer")
    peer_answers = _answers.alias("peer_answers")
    group_size = (
        sa.select(sa.func.count())
        .select_from(peer)
        .where(
            peer.c.survey_id == _responses.c.survey_id,
            peer.c.organisation_id.is_not_distinct_from(_responses.c.organisation_id),
            sa.exists().where(peer_answers.c.response_id == peer.c.id, answered(peer_answers)),
        )
        .scalar_subquery()
    )
    query = (
        sa.select(_responses.c.id, _responses.c.person_id, group_size, Survey)
        .join(Survey, col(Survey.id) == _responses.c.survey_id)
        .options(defer(col(Survey.framework_snapshot)))
        .where(condition)
        .order_by(_responses.c.id)
    )
    return [
        ResponseFate(
            response_id=response_id,
            survey_id=survey.id or 0,
            person_id=person_id,
            fate=fate_of(accepting_answers=is_accepting_answers(survey, now), group_size=size, k=k),
            stamp=survey.closed_at or survey.closes_at or now,
        )
        for response_id, person_id, size, survey in (await session.execute(query)).all()
    ]


async def _apply_fates(session: AsyncSession, fates: Sequence[ResponseFate], *, now: datetime) -> None:
    doomed = [f.response_id for f in fates if f.fate is Fate.DELETE]
    for chunk in _chunks(doomed):
        await session.execute(sa.delete(_answers).where(_answers.c.response_id.in_(chunk)))
        await session.execute(sa.delete(_responses).where(_responses.c.id.in_(chunk)))
    kept = [f for f in fates if f.fate is Fate.ANONYMISE]
    for chunk in _chunks(kept):
        await _anonymise(session, chunk, now=now)


async def _anonymise(session: AsyncSession, fates: Sequence[ResponseFate], *, now: datetime) -> None:
    """Move each response (and its invitation) to an anonymous person of its own; strip comments and times."""
    names = [f"{TOMBSTONE_PREFIX}{uuid.uuid4()}" for _ in fates]
    created = await session.execute(
        sa.insert(_people)
        .values([{"teams_user_id": name, "created_at": now, "updated_at": now} for name in names])
        .returning(_people.c.teams_user_id, _people.c.id)
    )
    tombstone_of = dict(created.all())
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

    r, a, i = _responses, _answers, _invitations
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


async def _forget(session: AsyncSession, people: Sequence[Person], state_keys: Iterable[str]) -> None:
    """Delete the people and everything else tied to them (their responses are dealt with already)."""
    ids = [person.id for person in people]
    for chunk in _chunks(sorted(state_keys)):
        await session.execute(sa.delete(_state).where(_state.c.key.in_(chunk)))
    aad_ids = [person.aad_object_id.lower() for person in people if person.aad_object_id is not None]
    for table, _, aad in _other_tables():
        if aad is not None:
            for chunk in _chunks(aad_ids):
                await session.execute(sa.delete(table).where(sa.func.lower(aad).in_(chunk)))
    for chunk in _chunks(ids):
        for table in (_outbox, _invitations, _references):
            await session.execute(sa.delete(table).where(table.c.person_id.in_(chunk)))
        await session.execute(sa.delete(_people).where(_people.c.id.in_(chunk)))


def _chunks(items: Sequence[_T]) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


# Retention -----------------------------------------------------------------------------------------


def _expired_surveys(cutoff: datetime) -> sa.Select[Any]:
    closed_at = sa.func.coalesce(_surveys.c.closed_at, _surveys.c.closes_at)
    return sa.select(_surveys.c.id).where(_surveys.c.state == SurveyState.CLOSED.value, closed_at <= cutoff)


async def plan_expired(
    session: AsyncSession, *, now: datetime, months: int, k: int = DEFAULT_K
) -> RetentionPlan:
    """What `purge_expired` would do, changing nothing."""
    cutoff = months_before(now, months)
    expired = _expired_surveys(cutoff)
    real = sa.select(_people.c.id).where(sa.not_(_is_tombstone(_people.c.teams_user_id)))
    fates = await _fates(
        session,
        sa.and_(_responses.c.survey_id.in_(expired), _responses.c.person_id.in_(real)),
        now=now,
        k=k,
    )
    kept = {(f.survey_id, f.person_id) for f in fates if f.fate is Fate.ANONYMISE}
    invited = await session.execute(
        sa.select(_invitations.c.survey_id, _invitations.c.person_id).where(
            _invitations.c.survey_id.in_(expired), _invitations.c.person_id.in_(real)
        )
    )
    outbox = await _count(
        session, _outbox, sa.and_(_outbox.c.survey_id.in_(expired), _outbox.c.person_id.in_(real))
    )
    people = await _unlinked_people(session, cutoff, expired)
    return RetentionPlan(
        cutoff=cutoff,
        responses=tuple(fates),
        invitations_deleted=sum(1 for survey_id, person_id in invited if (survey_id, person_id) not in kept),
        outbox=outbox,
        people=tuple(person.id or 0 for person in people),
        bot_state_keys=tuple(await _state_keys(session, people)),
    )


async def purge_expired(
    session: AsyncSession, *, now: datetime, months: int, k: int = DEFAULT_K
) -> RetentionPlan:
    """Apply the retention period in the caller's transaction (the bot's hourly housekeeping calls this);
    returns what was done. Running it again straight away finds nothing more to do."""
    plan = await plan_expired(session, now=now, months=months, k=k)
    await _apply_fates(session, plan.responses, now=now)
    expired = _expired_surveys(plan.cutoff)
    real = sa.select(_people.c.id).where(sa.not_(_is_tombstone(_people.c.teams_user_id)))
    for table in (_invitations, _outbox):
        await session.execute(
            sa.delete(table).where(table.c.survey_id.in_(expired), table.c.person_id.in_(real))
        )
    people = (await session.execute(sa.select(Person).where(col(Person.id).in_(plan.people)))).scalars()
    await _forget(session, list(people), plan.bot_state_keys)
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
    tombstone = _is_tombstone(_people.c.teams_user_id)
    links: list[sa.ColumnElement[bool]] = []
    for table in metadata.sorted_tables:
        if table.name in (_people.name, _references.name):
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name != _people.name:
                continue
            condition = fk.parent == _people.c.id
            if table.name in _SURVEY_LINKED:  # an identifiable row about an expired survey is going
                survey = table.c.survey_id
                condition &= sa.or_(tombstone, survey.is_(None), survey.not_in(expired))
            links.append(sa.exists().where(condition))
        aad = table.c.get("aad_object_id")
        if aad is not None:
            links.append(sa.exists().where(_same_aad(aad, _people.c.aad_object_id)))
    recent = sa.exists().where(_references.c.person_id == _people.c.id, _references.c.updated_at > cutoff)
    query = (
        sa.select(Person)
        .where(col(Person.updated_at) <= cutoff, sa.not_(recent), *[sa.not_(link) for link in links])
        .order_by(col(Person.id))
    )
    return list((await session.execute(query)).scalars())
