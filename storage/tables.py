"""SQLModel tables: who is asked, what they are asked (a frozen framework snapshot), and what they said.

Schema changes go through Alembic (`storage/migrations`); `metadata` here is what autogenerate compares.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from frameworks.clock import utc_now
from storage.types import JSONDocument, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING
metadata = SQLModel.metadata


def table_of(model: type[SQLModel]) -> sa.Table:
    """A table model's Core table, for inserts and bulk statements: SQLModel sets `__table__` only at
    runtime, so reading it here keeps the queries typed."""
    table = getattr(model, "__table__", None)
    if not isinstance(table, sa.Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return table


def stored_id(value: int | None) -> int:
    """The id of a row read back from the database, which is never NULL: models type `id` as `int | None`
    only because a new row has none until it is inserted."""
    if value is None:
        raise ValueError("a row read from the database has no id")
    return value


def _when(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _created() -> Any:
    return Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)


class SurveyState(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"


class SurveyKind(StrEnum):
    """A first round asks the whole framework; a consensus round asks again, of those who answered a
    first round, only the elements where they split (Delphi)."""

    ROUND = "round"
    CONSENSUS = "consensus"


class OrganisationSource(StrEnum):
    """Where a person's organisation came from: a domain mapping never overrides what they said themselves."""

    SELF = "self"
    DOMAIN = "domain"


class DeliveryState(StrEnum):
    """An invitation's message, as its outbox row's outcome left it."""

    PENDING = "pending"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Not sent, as nothing was left to ask by then (the survey closed, or it was no longer theirs)."""


class Organisation(SQLModel, table=True):
    __tablename__ = "organisations"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    kind: str | None = Field(default=None, max_length=60)
    """Organisation type (NHS trust, council, VCSE…) for breakdowns by type."""
    created_at: datetime = _created()


class Partnership(SQLModel, table=True):
    """A place or a system: the group of organisations that assesses itself together."""

    __tablename__ = "partnerships"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    kind: str | None = Field(default=None, max_length=60)
    description: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _created()


class PartnershipMember(SQLModel, table=True):
    __tablename__ = "partnership_members"

    partnership_id: int = Field(foreign_key="partnerships.id", primary_key=True, ondelete="CASCADE")
    organisation_id: int = Field(foreign_key="organisations.id", primary_key=True, ondelete="CASCADE")


class Person(SQLModel, table=True):
    """A Teams user: `teams_user_id` is what activities carry; roles are checked on the AAD object id."""

    __tablename__ = "people"

    id: int | None = Field(default=None, primary_key=True)
    teams_user_id: str = Field(unique=True, max_length=200)
    aad_object_id: str | None = Field(default=None, unique=True, max_length=64)
    tenant_id: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    organisation_id: int | None = Field(
        default=None, foreign_key="organisations.id", index=True, ondelete="SET NULL"
    )
    created_at: datetime = _created()
    updated_at: datetime = _created()
    organisation_source: OrganisationSource | None = Field(default=None, sa_type=sa.String(10))
    """None with no organisation is "unassigned"; None with one: set before sources were recorded."""


class LeadGrant(SQLModel, table=True):
    """Someone a lead made a lead. Leads named in settings (LEAD_USER_IDS) are not stored here."""

    __tablename__ = "lead_grants"

    aad_object_id: str = Field(primary_key=True, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    """For listing leads who have not written to the bot yet (no person row)."""
    granted_by_id: int | None = Field(default=None, foreign_key="people.id", index=True, ondelete="SET NULL")
    """A person row, not an AAD id, so erasing the granter leaves no trace of them here (NULL: the CLI)."""
    granted_at: datetime = _created()


class OrganisationDomain(SQLModel, table=True):
    """A lead's statement: email addresses at this domain (and its subdomains) are one organisation's."""

    __tablename__ = "organisation_domains"

    domain: str = Field(primary_key=True, max_length=253)
    """Lower case, no leading @ or trailing dot."""
    organisation_id: int = Field(foreign_key="organisations.id", index=True, ondelete="CASCADE")
    mapped_at: datetime = _created()


class Survey(SQLModel, table=True):
    """One round of a framework; the snapshot keeps answers meaningful after the YAML changes."""

    __tablename__ = "surveys"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    framework_id: str = Field(max_length=80, index=True)
    framework_version: str = Field(max_length=40)
    framework_snapshot: dict[str, Any] = Field(sa_type=JSONDocument)
    partnership_id: int | None = Field(
        default=None, foreign_key="partnerships.id", index=True, ondelete="SET NULL"
    )
    state: SurveyState = Field(default=SurveyState.DRAFT, sa_type=sa.String(12), index=True)
    opens_at: datetime | None = _when()
    closes_at: datetime | None = _when(index=True)
    created_by_id: int | None = Field(default=None, foreign_key="people.id", ondelete="SET NULL")
    created_at: datetime = _created()
    closed_at: datetime | None = _when()
    lock_after_submit: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    """A lead's choice: once submitted, answers can no longer be changed."""
    conversation_id: str | None = Field(default=None, max_length=400, index=True)
    """The channel (never one of its threads: no `;messageid=`) or chat it was started in: where
    commands find it and reminders report back (storage.surveys.Reach)."""
    tenant_id: str | None = Field(default=None, max_length=64, index=True)
    """The tenant it was started in: no lookup ever crosses tenants."""
    team_id: str | None = Field(default=None, max_length=400)
    """The team of the channel it was started in (None in a group chat)."""
    auto_reminded_at: datetime | None = _when()
    """When the automatic reminder before the close went out (once per survey)."""
    kind: SurveyKind = Field(
        default=SurveyKind.ROUND, sa_type=sa.String(12), sa_column_kwargs={"server_default": "round"}
    )
    parent_survey_id: int | None = Field(
        default=None, foreign_key="surveys.id", index=True, ondelete="SET NULL"
    )
    """For a consensus round: the round whose split elements it asks again."""
    first_round: dict[str, Any] | None = Field(default=None, sa_type=JSONDocument)
    """For a consensus round: per element, the first round's k-anonymous distribution and anonymised
    reasons, frozen when it opened, so every partner is shown the same thing."""
    target_months: int | None = None
    """Asked "where we want to be in N months" after each current answer; None: current only."""
    share_results: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})
    """A lead's choice: when the round closes, each partner who answered gets their own view."""
    results_shared_at: datetime | None = _when()
    """For a consensus round: when a lead shared its results (`share results`). Until then, closed, they
    are the lead's alone (storage.surveys.why_hidden); ordinary rounds never read it."""


class Invitation(SQLModel, table=True):
    __tablename__ = "invitations"
    __table_args__ = (sa.UniqueConstraint("survey_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="surveys.id", index=True, ondelete="CASCADE")
    person_id: int = Field(foreign_key="people.id", index=True, ondelete="CASCADE")
    invited_at: datetime = _created()
    reminded_at: datetime | None = _when()
    reminder_count: int = 0
    completed_at: datetime | None = _when()
    delivery_state: DeliveryState = Field(default=DeliveryState.PENDING, sa_type=sa.String(12))
    delivery_attempts: int = 0
    delivery_error: str | None = Field(default=None, max_length=500)


class Response(SQLModel, table=True):
    """A person's answers to one survey; the organisation is frozen so breakdowns don't shift later."""

    __tablename__ = "responses"
    __table_args__ = (sa.UniqueConstraint("survey_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="surveys.id", index=True, ondelete="CASCADE")
    person_id: int = Field(foreign_key="people.id", index=True, ondelete="CASCADE")
    organisation_id: int | None = Field(default=None, foreign_key="organisations.id", ondelete="SET NULL")
    started_at: datetime = _created()
    updated_at: datetime = _created()
    """When the response itself last changed (started, submitted); each answer keeps its own times, so
    recording one costs no write here."""
    submitted_at: datetime | None = _when()


class Answer(SQLModel, table=True):
    """One row per response and element: answering again overwrites, never duplicates."""

    __tablename__ = "answers"
    __table_args__ = (sa.UniqueConstraint("response_id", "element_id"),)

    id: int | None = Field(default=None, primary_key=True)
    response_id: int = Field(foreign_key="responses.id", index=True, ondelete="CASCADE")
    element_id: str = Field(max_length=80)
    value: str | None = Field(default=None, max_length=80)
    """Canonical token: a level id, a score such as '-2', or a status id. None when skipped."""
    score: int | None = None
    """Numeric position for levels and scores (ordinal); None for statuses and skips."""
    skipped: bool = False
    comment: str | None = Field(default=None, sa_type=sa.Text)
    target_value: str | None = Field(default=None, max_length=80)
    """Where they want to be (a survey asked with a target): the same kind of token as `value`."""
    target_score: int | None = None
    answered_at: datetime = _created()
    updated_at: datetime = _created()


class ConversationReference(SQLModel, table=True):
    """Where the bot may speak later: a 1:1 chat, a group chat or a team channel."""

    __tablename__ = "conversation_references"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: str = Field(unique=True, max_length=400)
    conversation_type: str | None = Field(default=None, max_length=20)
    channel_id: str = Field(default="msteams", max_length=40)
    service_url: str = Field(max_length=400)
    tenant_id: str | None = Field(default=None, max_length=64)
    team_id: str | None = Field(default=None, max_length=400)
    bot_id: str | None = Field(default=None, max_length=200)
    person_id: int | None = Field(default=None, foreign_key="people.id", index=True, ondelete="CASCADE")
    reference: dict[str, Any] = Field(sa_type=JSONDocument)
    """The serialised botbuilder ConversationReference, replayed for proactive messages."""
    created_at: datetime = _created()
    updated_at: datetime = _created()


class SummarySubscription(SQLModel, table=True):
    """A channel's weekly summary: of one survey, or of a partnership's latest round of a framework."""

    __tablename__ = "summary_subscriptions"
    __table_args__ = (sa.CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_range"),)

    id: int | None = Field(default=None, primary_key=True)
    conversation_reference_id: int = Field(
        foreign_key="conversation_references.id", index=True, ondelete="CASCADE"
    )
    survey_id: int | None = Field(default=None, foreign_key="surveys.id", ondelete="CASCADE")
    partnership_id: int | None = Field(default=None, foreign_key="partnerships.id", ondelete="CASCADE")
    framework_id: str | None = Field(default=None, max_length=80)
    weekday: int = Field(sa_column_kwargs={"comment": "0 = Monday"})
    time_of_day: time
    time_zone: str = Field(default="Europe/London", max_length=64)
    weighting: str | None = Field(default=None, max_length=20)
    """`respondent` or `organisation`, as the lead chose; None: the bot's `SUMMARY_WEIGHTING`."""
    last_sent_at: datetime | None = _when()
    active: bool = True
    created_by_id: int | None = Field(default=None, foreign_key="people.id", ondelete="SET NULL")
    created_at: datetime = _created()


class SummaryPost(SQLModel, table=True):
    """A weekly summary as it was composed for a channel, kept so the next post can say what changed
    since. It was posted when its outbox row is `sent`; it holds only the k-anonymous summary."""

    __tablename__ = "summary_posts"

    id: int | None = Field(default=None, primary_key=True)
    outbox_message_id: int = Field(foreign_key="outbox.id", unique=True, ondelete="CASCADE")
    subscription_id: int = Field(foreign_key="summary_subscriptions.id", index=True, ondelete="CASCADE")
    survey_id: int = Field(foreign_key="surveys.id", index=True, ondelete="CASCADE")
    summary: str = Field(sa_type=sa.Text)
    """`SurveySummary` as JSON."""
    created_at: datetime = _created()


class BotStateRecord(SQLModel, table=True):
    """Dialog and user state for botbuilder, with an e-tag for optimistic concurrency."""

    __tablename__ = "bot_state"

    key: str = Field(primary_key=True, max_length=512)
    e_tag: str = Field(max_length=64)
    data: str = Field(sa_type=sa.Text)
    updated_at: datetime = _created()


class ProcessedActivity(SQLModel, table=True):
    """Activity ids already handled: Teams retries deliveries it thinks failed. A retry changes no data,
    but gets the replies its first delivery committed and could not confirm sent."""

    __tablename__ = "processed_activities"

    key: str = Field(primary_key=True, max_length=64)
    """sha256 of channel, conversation and activity id (conversation ids can be very long)."""
    received_at: datetime = Field(sa_type=UTCDateTime, index=True)
    replies: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    """The turn's replies (and invoke response), compressed JSON, stored with the claim; NULL once they
    went out, or when there were none."""
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """While a command claimed ahead of its work runs: until when its instance holds it (renewed while
    it works). NULL once the turn is complete; a redelivery after it passed runs the command again."""
    made_survey_id: int | None = None
    """The draft survey a `start` made for this activity, reused if the command runs again."""
    card_id: str | None = Field(default=None, max_length=256)
    """The id Teams gave the question card this turn sent, recorded with its replies marked sent; the
    conversation's next turn reads it to make that card read-only when the answer is typed."""


class OutboxState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"
    """Failed permanently (bot blocked, user gone): never retried, counted in a survey's status."""


class OutboxKind(StrEnum):
    """What an outbox row carries; the sender builds each kind's message with that kind's composer."""

    INVITE = "invite"
    REMIND = "remind"
    SUMMARY = "summary"
    """A weekly summary post to a channel."""
    FANOUT_REPORT = "fanout-report"
    """The lead's report of how a fan-out (invitations, reminders) went."""
    LEAD_EXPORT = "lead-export"
    LEAD_COMMENTS = "lead-comments"
    LEAD_FRAMEWORK = "lead-framework"
    ACTION_CHECKIN = "action-checkin"
    """An action's owner is asked, in their 1:1 chat, how it is going (RAG and a note)."""
    PERSONAL_VIEW = "personal-view"
    """A partner's own answers beside the partnership's, when a round closes."""


class OutboxMessage(SQLModel, table=True):
    """One proactive message to send (an invitation, a reminder…), persisted before any send.

    The dedupe key makes "invite Amina to survey 7" a single row however often it is requested; a
    sender claims rows under a lease, so a crashed sender's rows are picked up again after it.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_due", "state", "next_attempt_at"),
        sa.Index("ix_outbox_fanout", "fanout", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(unique=True, max_length=200)
    kind: OutboxKind = Field(sa_type=sa.String(30))
    survey_id: int | None = Field(default=None, foreign_key="surveys.id", index=True, ondelete="CASCADE")
    person_id: int | None = Field(default=None, foreign_key="people.id", index=True, ondelete="CASCADE")
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    fanout: str | None = Field(default=None, max_length=200)
    """The fan-out this row belongs to (copied from `payload["fanout"]`): its report counts its rows."""
    state: OutboxState = Field(default=OutboxState.PENDING, sa_type=sa.String(12))
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=80)
    claimed_until: datetime | None = _when()
    last_error: str | None = Field(default=None, max_length=500)
    activity_id: str | None = Field(default=None, max_length=200)
    skipped: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    """Done without a send (state sent): there was nothing to send any more (survey closed…)."""
    created_at: datetime = _created()
    sent_at: datetime | None = _when()


class FrameworkVersion(SQLModel, table=True):
    """A framework a tenant's lead published: each publication of an id is a new numbered version, so
    surveys and trends can say which wording they used. The YAML frameworks stay built-ins, not rows."""

    __tablename__ = "framework_versions"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "framework_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    framework_id: str = Field(max_length=80)
    version: int
    """1, 2, … per tenant and framework id (the framework's own `version` text is in the document)."""
    title: str = Field(sa_type=sa.Text)
    """The framework's title, for listings that should not load the document."""
    framework: dict[str, Any] = Field(sa_type=JSONDocument)
    """`frameworks.schema.Framework` as JSON, validated on the way in and out."""
    published_by_id: int | None = Field(
        default=None, foreign_key="people.id", index=True, ondelete="SET NULL"
    )
    published_at: datetime = Field(sa_type=UTCDateTime)


class UploadState(StrEnum):
    PENDING = "pending"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class FrameworkUpload(SQLModel, table=True):
    """A workbook a lead sent in Teams, read and waiting for Publish or Cancel on its preview card. The
    card carries only `token`; the framework stays here, so nothing the client sends back is trusted."""

    __tablename__ = "framework_uploads"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(unique=True, max_length=64)
    tenant_id: str = Field(max_length=64)
    uploaded_by: str = Field(max_length=100)
    """The AAD object id of the lead who sent the workbook."""
    filename: str = Field(max_length=300)
    framework: dict[str, Any] = Field(sa_type=JSONDocument)
    """`frameworks.schema.Framework` as JSON, as read from the workbook."""
    state: UploadState = Field(default=UploadState.PENDING, sa_type=sa.String(12))
    published_version: int | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class ActionRag(StrEnum):
    """How an action is going, as the CCG delivery plan in the seeds reports it."""

    ON_TRACK = "on-track"
    AT_RISK = "at-risk"
    OFF_TRACK = "off-track"
    COMPLETE = "complete"


class ActionState(StrEnum):
    OPEN = "open"
    LIVE = "live"
    CLOSED = "closed"


class Action(SQLModel, table=True):
    """One line of a partnership's action plan: what will be done about a gap or a split, by whom, by
    when. Scoped like a survey: to the tenant and the channel or chat it was made in."""

    __tablename__ = "actions"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "conversation_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    conversation_id: str = Field(max_length=400)
    number: int
    """Shown as the reference `A<number>`, counted per channel or chat."""
    survey_id: int | None = Field(default=None, foreign_key="surveys.id", index=True, ondelete="SET NULL")
    partnership_id: int | None = Field(
        default=None, foreign_key="partnerships.id", index=True, ondelete="SET NULL"
    )
    element_id: str | None = Field(default=None, max_length=80)
    element_title: str | None = Field(default=None, max_length=300)
    """The element's title when the action was made (the framework may be reworded later)."""
    text: str = Field(sa_type=sa.Text)
    owner_id: int | None = Field(default=None, foreign_key="people.id", index=True, ondelete="SET NULL")
    due_on: date | None = None
    rag: ActionRag = Field(default=ActionRag.ON_TRACK, sa_type=sa.String(12))
    state: ActionState = Field(default=ActionState.OPEN, sa_type=sa.String(12))
    checkin_days: int = 30
    """How often the owner is asked for an update (monthly by default, like the seed's reporting)."""
    next_checkin_at: datetime | None = _when(index=True)
    created_by_id: int | None = Field(default=None, foreign_key="people.id", ondelete="SET NULL")
    created_at: datetime = _created()
    updated_at: datetime = _created()


class ActionUpdate(SQLModel, table=True):
    """A change to an action (its RAG, state or a note) and who made it: the plan's history, from which
    the weekly post says what changed since last week."""

    __tablename__ = "action_updates"

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="actions.id", index=True, ondelete="CASCADE")
    person_id: int | None = Field(default=None, foreign_key="people.id", index=True, ondelete="SET NULL")
    rag: ActionRag | None = Field(default=None, sa_type=sa.String(12))
    state: ActionState | None = Field(default=None, sa_type=sa.String(12))
    note: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _created()
