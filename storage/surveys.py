"""Surveys: a framework frozen at the version used, a partnership, and an open/closed life cycle.

Who may see which survey (`Reach`, decided once per command from where it was typed and by whom):
    - never a survey of another tenant (the tenant it was started in is recorded on it);
    - in a channel or group chat: the surveys started in that channel (from any of its threads or a new
      post) or chat. Not the team's other channels: a private or shared channel has other members than
      its team, and a channel's activity does not say which kind it is;
    - in a lead's 1:1 chat: every survey of the lead's tenant (leads run the bot's surveys);
    - in anyone else's 1:1 chat: none.
A survey outside the reach is looked up exactly like one that does not exist, so a refusal cannot
tell whether a number is used elsewhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer
from sqlmodel import col

from frameworks.schema import Framework
from frameworks.summary import ConsensusHidden
from storage.conversations import place_of
from storage.errors import SurveyClosed, SurveyNotFound
from storage.lru import BoundedCache
from storage.tables import (
    ConversationReference,
    Invitation,
    Organisation,
    Partnership,
    Person,
    Response,
    Survey,
    SurveyKind,
    SurveyState,
    stored_id,
)


@dataclass(frozen=True)
class Reach:
    """Which surveys a command may see (see the module docstring); storage lookups take it as `reach=`."""

    tenant_id: str | None
    place_id: str | None
    """The channel (no `;messageid=`) or group chat typed in; None in a 1:1 chat."""
    lead: bool = False

    def surveys(self) -> sa.ColumnElement[bool]:
        """The condition a survey row must meet to be seen from here."""
        tenant = col(Survey.tenant_id).is_not_distinct_from(self.tenant_id)
        if self.place_id is not None:
            return sa.and_(tenant, col(Survey.conversation_id) == self.place_id)
        return tenant if self.lead else sa.false()


async def find_survey(
    session: AsyncSession,
    *,
    reach: Reach,
    number: int | None = None,
    fragment: str | None = None,
    states: tuple[SurveyState, ...] = (SurveyState.OPEN, SurveyState.CLOSED),
    for_update: bool = False,
) -> Survey | None:
    """The survey a command means, within reach: by number, by words of its title, else the latest
    started where the command was typed (none in a 1:1 chat). None when there is no such survey here."""
    query = sa.select(Survey).where(reach.surveys(), col(Survey.state).in_(states))
    if number is not None:
        query = query.where(col(Survey.id) == number)
    elif fragment:
        query = query.where(col(Survey.title).ilike(f"%{_like(fragment)}%", escape="\\"))
    elif reach.place_id is None:
        return None
    query = query.order_by(col(Survey.created_at).desc(), col(Survey.id).desc()).limit(1)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


class PlaceKind(StrEnum):
    """Where a survey was started, as its conversation's type says."""

    CHANNEL = "channel"
    GROUP_CHAT = "groupChat"
    PERSONAL = "personal"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SurveyListing:
    """One survey as a listing shows it: the row (without its snapshot), where it was started, and how
    far the people invited got (counted as `status` counts them: invited people only)."""

    survey: Survey
    partnership: str | None
    place: PlaceKind
    place_name: str | None
    """The chat's or channel's name when Teams sent one with the conversation (it often does not)."""
    invited: int
    started: int
    """Invited people with a response, submitted or not."""
    submitted: int


async def survey_listing(
    session: AsyncSession, *, reach: Reach | None, limit: int = 20
) -> list[SurveyListing]:
    """Surveys started (not drafts), newest first, with their counts; `reach` None: every survey (the
    command line, run by whoever runs the bot). Two queries whatever the number of surveys."""
    query = (
        sa.select(
            Survey,
            col(Partnership.name),
            col(ConversationReference.conversation_type),
            col(ConversationReference.reference),
        )
        .options(defer(Survey.framework_snapshot))  # type: ignore[arg-type]
        .outerjoin(Partnership, col(Partnership.id) == col(Survey.partnership_id))
        .outerjoin(
            ConversationReference, col(ConversationReference.conversation_id) == col(Survey.conversation_id)
        )
        .where(col(Survey.state) != SurveyState.DRAFT)
        .order_by(col(Survey.created_at).desc(), col(Survey.id).desc())
        .limit(limit)
    )
    if reach is not None:
        query = query.where(reach.surveys())
    rows = (await session.execute(query)).all()
    counts = await _progress_counts(session, [stored_id(survey.id) for survey, *_ in rows])
    listings = []
    for survey, partnership, conversation_type, reference in rows:
        invited, started, submitted = counts.get(stored_id(survey.id), (0, 0, 0))
        listings.append(
            SurveyListing(
                survey=survey,
                partnership=partnership,
                place=_place_kind(survey, conversation_type),
                place_name=_conversation_name(reference),
                invited=invited,
                started=started,
                submitted=submitted,
            )
        )
    return listings


async def _progress_counts(session: AsyncSession, survey_ids: list[int]) -> dict[int, tuple[int, int, int]]:
    """(invited, started, submitted) by survey id."""
    if not survey_ids:
        return {}
    result = await session.execute(
        sa.select(
            col(Invitation.survey_id),
            sa.func.count(col(Invitation.id)),
            sa.func.count(col(Response.id)),
            sa.func.count(col(Response.submitted_at)),
        )
        .outerjoin(
            Response,
            sa.and_(
                col(Response.survey_id) == col(Invitation.survey_id),
                col(Response.person_id) == col(Invitation.person_id),
            ),
        )
        .where(col(Invitation.survey_id).in_(survey_ids))
        .group_by(col(Invitation.survey_id))
    )
    return {
        survey_id: (invited, started, submitted) for survey_id, invited, started, submitted in result.all()
    }


def _place_kind(survey: Survey, conversation_type: str | None) -> PlaceKind:
    if survey.team_id is not None:
        return PlaceKind.CHANNEL
    try:
        return PlaceKind(conversation_type) if conversation_type else PlaceKind.UNKNOWN
    except ValueError:
        return PlaceKind.UNKNOWN


def _conversation_name(reference: object) -> str | None:
    conversation = reference.get("conversation") if isinstance(reference, dict) else None
    name = conversation.get("name") if isinstance(conversation, dict) else None
    return (name.strip() or None) if isinstance(name, str) else None


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def create_survey(
    session: AsyncSession,
    framework: Framework,
    *,
    now: datetime,
    title: str | None = None,
    partnership_id: int | None = None,
    created_by_id: int | None = None,
    closes_at: datetime | None = None,
    state: SurveyState = SurveyState.OPEN,
    lock_after_submit: bool = False,
    conversation_id: str | None = None,
    tenant_id: str | None = None,
    team_id: str | None = None,
    target_months: int | None = None,
) -> Survey:
    """`conversation_id`, `tenant_id`, `team_id`: where it was started, which decides who sees it (Reach).
    `target_months`: also ask where partners want to be in that many months (None: current only)."""
    if closes_at is not None and closes_at <= now:
        raise ValueError("the closing date must be in the future")
    survey = Survey(
        title=(title or framework.title).strip(),
        framework_id=framework.id,
        framework_version=framework.version,
        framework_snapshot=framework.model_dump(mode="json"),
        partnership_id=partnership_id,
        created_by_id=created_by_id,
        closes_at=closes_at,
        opens_at=now if state is SurveyState.OPEN else None,
        state=state,
        created_at=now,
        lock_after_submit=lock_after_submit,
        conversation_id=place_of(conversation_id) if conversation_id else None,
        tenant_id=tenant_id,
        team_id=team_id,
        target_months=target_months,
    )
    session.add(survey)
    await session.flush()
    return survey


async def get_survey(session: AsyncSession, survey_id: int) -> Survey:
    survey = await session.get(Survey, survey_id)
    if survey is None:
        raise SurveyNotFound(survey_id)
    return survey


def framework_of(survey: Survey) -> Framework:
    """The framework exactly as it was when the survey was created, whatever the YAML says today."""
    if "framework_snapshot" in sa.inspect(survey).unloaded:
        # Lazy-loading it here would fail deep inside the async driver (MissingGreenlet).
        raise RuntimeError("this survey was loaded without its snapshot: use the SnapshotCache's framework")
    return Framework.model_validate(survey.framework_snapshot)


class SnapshotCache:
    """Parsed framework snapshots by survey id. A snapshot never changes once the survey exists, so
    a turn can load the survey row without its (large) snapshot and parse it once per process."""

    def __init__(self, capacity: int = 256) -> None:
        self._frameworks: BoundedCache[int, Framework] = BoundedCache(capacity)

    async def survey(self, session: AsyncSession, survey_id: int) -> tuple[Survey, Framework]:
        framework = self._frameworks.get(survey_id)
        if framework is None:
            survey = await get_survey(session, survey_id)
            return survey, self.framework(survey)
        query = (
            sa.select(Survey).where(col(Survey.id) == survey_id).options(defer(Survey.framework_snapshot))  # type: ignore[arg-type]
        )
        found = (await session.execute(query)).scalar_one_or_none()
        if found is None:
            raise SurveyNotFound(survey_id)
        return found, framework

    def cached(self, survey_id: int) -> Framework | None:
        """The survey's framework if this process has parsed it already."""
        return self._frameworks.get(survey_id)

    def framework(self, survey: Survey) -> Framework:
        """The framework of a survey already loaded with its snapshot, parsed once per process."""
        survey_id = stored_id(survey.id)
        framework = self._frameworks.get(survey_id)
        if framework is None:
            framework = framework_of(survey)
            self._frameworks.put(survey_id, framework)
        return framework


def is_accepting_answers(survey: Survey, now: datetime) -> bool:
    if survey.state != SurveyState.OPEN:  # a StrEnum: equal to its value as loaded raw too
        return False
    return survey.closes_at is None or now < survey.closes_at


def why_hidden(survey: Survey, now: datetime) -> ConsensusHidden | None:
    """The one rule of who sees a consensus round's results: hidden from partners and channels while it
    takes answers (so nobody's second answer is anchored on the others') and, once closed, until a lead
    shares them (`share results`). None: anyone the survey reaches may see them; a round is never hidden.
    A lead's 1:1 chat sees them either way."""
    if survey.kind != SurveyKind.CONSENSUS:
        return None
    if is_accepting_answers(survey, now):
        return ConsensusHidden.TAKING_ANSWERS
    if survey.results_shared_at is None:
        return ConsensusHidden.NOT_SHARED
    return None


def closed_on(survey: Survey, now: datetime) -> datetime | None:
    """When it stopped taking answers: closed by a lead, or its closing date if that came first (the
    deadline job may notice a passed date a little later). None while it still takes answers."""
    deadline = survey.closes_at if survey.closes_at is not None and survey.closes_at <= now else None
    if survey.state == SurveyState.CLOSED:
        ends = [when for when in (survey.closed_at, deadline) if when is not None]
        return min(ends) if ends else None
    return deadline if survey.state == SurveyState.OPEN else None


def require_open(survey: Survey, now: datetime) -> None:
    if not is_accepting_answers(survey, now):
        state = "closed" if survey.state != SurveyState.DRAFT else "not open yet"
        raise SurveyClosed(stored_id(survey.id), survey.title, state)


async def open_survey(session: AsyncSession, survey: Survey, *, now: datetime) -> Survey:
    survey.state = SurveyState.OPEN
    survey.opens_at = survey.opens_at or now
    survey.closed_at = None
    survey.results_shared_at = None  # a consensus round reopened: what it shows next is shared afresh
    if survey.closes_at is not None and survey.closes_at <= now:
        survey.closes_at = None  # reopening past the deadline: the lead sets a new one explicitly
    session.add(survey)
    return survey


async def close_survey(session: AsyncSession, survey: Survey, *, now: datetime) -> Survey:
    survey.state = SurveyState.CLOSED
    survey.closed_at = now
    session.add(survey)
    return survey


async def close_due_surveys(session: AsyncSession, *, now: datetime) -> list[int]:
    """Close every open survey whose deadline has passed; returns their ids."""
    result = await session.execute(
        sa.update(Survey)
        .where(
            col(Survey.state) == SurveyState.OPEN,
            col(Survey.closes_at).is_not(None),
            col(Survey.closes_at) <= now,
        )
        .values(state=SurveyState.CLOSED, closed_at=now)
        .returning(col(Survey.id))
    )
    return [survey_id for (survey_id,) in result if survey_id is not None]


async def open_surveys(session: AsyncSession, *, framework_id: str | None = None) -> list[Survey]:
    query = (
        sa.select(Survey)
        .where(col(Survey.state) == SurveyState.OPEN)
        .order_by(col(Survey.created_at), col(Survey.id))
    )
    if framework_id is not None:
        query = query.where(col(Survey.framework_id) == framework_id)
    return list((await session.execute(query)).scalars())


@dataclass(frozen=True)
class Progress:
    """One person invited to a survey, and how far they got."""

    person_id: int
    name: str | None
    organisation: str | None
    """The organisation they answer for (their response's, else their own); None: unassigned."""
    started: bool
    submitted: bool


async def survey_progress(session: AsyncSession, *, survey_id: int) -> list[Progress]:
    """Everyone invited to the survey, with how far they got (one query)."""
    rows = await session.execute(
        sa.select(
            col(Invitation.person_id),
            col(Person.name),
            col(Organisation.name),
            col(Response.id).is_not(None),
            col(Response.submitted_at).is_not(None),
        )
        .join(Person, col(Person.id) == col(Invitation.person_id))
        .outerjoin(
            Response,
            sa.and_(
                col(Response.survey_id) == col(Invitation.survey_id),
                col(Response.person_id) == col(Invitation.person_id),
            ),
        )
        .outerjoin(
            Organisation,
            col(Organisation.id)
            == sa.func.coalesce(col(Response.organisation_id), col(Person.organisation_id)),
        )
        .where(col(Invitation.survey_id) == survey_id)
    )
    return [
        Progress(pid, name, org, bool(started), bool(done)) for pid, name, org, started, done in rows.all()
    ]


async def invited_people(session: AsyncSession, *, survey_id: int) -> list[int]:
    """The person ids of everyone invited to the survey."""
    query = sa.select(col(Invitation.person_id)).where(col(Invitation.survey_id) == survey_id)
    return list((await session.execute(query)).scalars().all())


async def organisation_counts(session: AsyncSession, *, person_ids: Sequence[int]) -> Counter[str | None]:
    """How many of these people each organisation has (None: no organisation), 500 ids a query."""
    counts: Counter[str | None] = Counter()
    for start in range(0, len(person_ids), 500):
        chunk = list(person_ids[start : start + 500])
        rows = await session.execute(
            sa.select(col(Organisation.name), sa.func.count())
            .select_from(Person)
            .outerjoin(Organisation, col(Organisation.id) == col(Person.organisation_id))
            .where(col(Person.id).in_(chunk))
            .group_by(col(Organisation.name))
        )
        for name, count in rows.all():
            counts[name] += count
    return counts


async def survey_by_id(session: AsyncSession, *, survey_id: int) -> Survey | None:
    """A survey by its id, whoever may see it (the caller has checked its reach), or None."""
    return await session.get(Survey, survey_id)


async def partnership_by_id(session: AsyncSession, *, partnership_id: int) -> Partnership | None:
    return await session.get(Partnership, partnership_id)


async def delete_draft(session: AsyncSession, *, survey: Survey) -> None:
    """A draft nobody was invited to yet: cancelled, it leaves nothing behind."""
    await session.delete(survey)
