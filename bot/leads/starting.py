"""`start`: a lead starts a survey in the chat whose members should answer it. The roster is fetched,
everyone is invited to a draft, and a card asks the lead to confirm (or the form asks first, for `start`
alone); confirming opens the survey and queues the invitations, cancelling deletes the draft.

Each step is safe to repeat: a `start` run again after a crash finds the draft it made (the turn's claim).
"""

from __future__ import annotations

import logging
from collections import Counter

from bot.cards import Card, adaptive_card, escape, execute_action, text_block
from bot.commands import DateError, ParsedDate, StartCommand, format_date, parse_date
from bot.commands.target_parsing import DEFAULT_TARGET_MONTHS
from bot.leads.tenant_frameworks import FrameworkChoice, find_framework
from bot.leads.turn import NOT_CLOSING, ROSTER_BUSY, LeadTurn
from bot.reports.text import clip
from bot.teams.roster import RosterUnavailable
from dialogs.payloads import LEAD_VERB, LeadAction
from frameworks.summary import UNASSIGNED
from storage.activities import draft_made_by, note_survey_made
from storage.conversations import reference_for
from storage.db import transaction
from storage.invitations import invite
from storage.organisations import ensure_partnership
from storage.outbox import NewMessage, enqueue
from storage.roster import sync_roster
from storage.surveys import (
    create_survey,
    delete_draft,
    find_survey,
    invited_people,
    open_survey,
    organisation_counts,
)
from storage.tables import OutboxKind, SurveyState, stored_id

log = logging.getLogger(__name__)


async def start(turn: LeadTurn, command: StartCommand) -> None:
    """Load (framework, roster), invite everyone to a draft, then show the confirmation card."""
    services = turn.services
    async with transaction(services.sessions) as session:
        usable = await find_framework(
            session, built_in=services.catalogue, tenant_id=turn.tenant_id, framework_id=command.framework_id
        )
    if usable is None:
        await turn.say(f"I don't know the framework “{escape(command.framework_id)}”.")
        return
    framework = usable.framework
    try:
        members = await turn.chat.roster()  # HTTP: before any transaction
    except RosterUnavailable:
        log.warning("start: the roster could not be fetched", exc_info=True)
        await turn.say(ROSTER_BUSY)
        return
    now = turn.now()
    closes_at = command.closes.at if command.closes else None
    claim = turn.incoming.claim
    async with transaction(services.sessions) as session:
        lead = await turn.sender(session)
        partnership = await ensure_partnership(session, command.partnership) if command.partnership else None
        person_ids = await sync_roster(session, members, now=now)
        made = await draft_made_by(session, claim) if claim else None  # this command, run again
        survey = made or await create_survey(
            session,
            framework,
            now=now,
            title=command.title,
            partnership_id=partnership.id if partnership else None,
            created_by_id=lead.id,
            closes_at=closes_at,
            state=SurveyState.DRAFT,
            conversation_id=turn.conversation_id,
            tenant_id=turn.tenant_id,
            team_id=turn.incoming.team_id,
            target_months=target_months(command, framework.target_months),
        )
        survey_id = stored_id(survey.id)
        if made is None and not command.personal_views:  # `without personal views`
            survey.share_results = False
            session.add(survey)
        if claim and made is None:
            await note_survey_made(session, claim, survey_id)
        await invite(session, survey_id, person_ids, now=now)
        counted = await organisation_counts(session, person_ids=person_ids)
    by_organisation: Counter[str] = Counter()
    for name, count in counted.items():
        by_organisation[name or UNASSIGNED] += count
    closes = format_date(closes_at, services.tz) if closes_at else NOT_CLOSING
    organisations = ", ".join(f"{name} {count}" for name, count in by_organisation.most_common())
    card = _confirm_card(
        survey_id=survey_id,
        title=survey.title,
        framework=framework.title,
        audience=len(person_ids),
        organisations=organisations or "none",
        unassigned=by_organisation[UNASSIGNED],
        closes=closes,
        target_months=survey.target_months,
    )
    await turn.send_card(card)


def target_months(command: StartCommand, framework_default: int | None) -> int | None:
    """How far ahead the survey asks where partners want to be: as the lead said, else as the framework
    says; `with target` alone on a framework without a horizon means a year."""
    if command.target is False:
        return None
    if command.target_months is not None:
        return command.target_months
    if command.target:
        return framework_default or DEFAULT_TARGET_MONTHS
    return framework_default


async def start_from_form(turn: LeadTurn, action: LeadAction) -> str:
    """The start form's Next: the same as typing `start` with its choices; the invoke's answer."""
    services = turn.services
    async with transaction(services.sessions) as session:
        usable = await find_framework(
            session,
            built_in=services.catalogue,
            tenant_id=turn.tenant_id,
            framework_id=action.framework_id or "",
        )
    if usable is None:
        return "Choose a framework first."
    framework = usable.framework
    closes: ParsedDate | None = None
    if action.closes:
        try:
            parsed = parse_date(action.closes, now=turn.now(), tz=services.tz)
        except DateError as exc:
            return exc.message
        if not isinstance(parsed, ParsedDate):  # an ISO date has one reading; never guess
            return parsed.question
        closes = parsed
    command = StartCommand(
        framework_id=framework.id,
        partnership=action.partnership or None,
        closes=closes,
        title=action.title or None,
        target=action.target,
    )
    await start(turn, command)
    return "Check the details below, then send the invitations."


async def confirm(turn: LeadTurn, survey_id: int) -> str:
    """Send invitations: the draft opens and one invitation per person is queued (once, however often
    the button is pressed)."""
    now = turn.now()
    async with transaction(turn.services.sessions) as session:
        survey = await find_survey(
            session, reach=turn.reach, number=survey_id, states=tuple(SurveyState), for_update=True
        )
        if survey is None:
            return "That survey was cancelled."
        if survey.state != SurveyState.DRAFT:
            return f"“{survey.title}” was already started."
        if survey.closes_at is not None and survey.closes_at <= now:
            return "Its closing date has passed: start it again with a later date."
        await open_survey(session, survey, now=now)
        reference = await reference_for(session, turn.conversation_id)
        people = await invited_people(session, survey_id=survey_id)
        added = await enqueue(
            session,
            [
                NewMessage(
                    dedupe_key=f"invite:{survey_id}:{person_id}",
                    kind=OutboxKind.INVITE,
                    survey_id=survey_id,
                    person_id=person_id,
                    payload=turn.delivery(survey, reference.id if reference else None),
                )
                for person_id in people
            ],
            now=now,
        )
    turn.services.notify_sender()
    log.info("survey %s opened; %d invitations queued", survey_id, added)
    return f"“{survey.title}” is open: sending {added} invitations. I'll report here when they have gone."


async def cancel(turn: LeadTurn, survey_id: int) -> str:
    """Cancel: the draft goes; nobody was invited yet."""
    async with transaction(turn.services.sessions) as session:
        survey = await find_survey(session, reach=turn.reach, number=survey_id, states=tuple(SurveyState))
        if survey is None:
            return "Already cancelled."
        if survey.state != SurveyState.DRAFT:
            return f"“{survey.title}” was already started: use close to stop it."
        await delete_draft(session, survey=survey)
    return "Cancelled: nobody was invited."


def asks(target_months: int | None) -> str:
    """What each question asks, as the confirmation card says it."""
    if target_months is None:
        return "Where we are now"
    return f"Where we are now, and where we want to be in {target_months} months"


def _unassigned_hint(unassigned: int) -> str:
    """How people get an organisation, for the start card: results are broken down by it."""
    who = "1 person has" if unassigned == 1 else f"{unassigned} people have"
    return (
        f"{who} no organisation yet. Everyone at an email domain gets one when you say map domain, "
        "e.g. map domain anytown-trust.nhs.uk to “Anytown NHS Trust”; anyone can say "
        "my organisation and its name in their 1:1 chat with me."
    )


def start_form(frameworks: list[FrameworkChoice]) -> Card:
    """`start` without arguments: the same choices as a form, for leads who would rather not type."""
    choices = [
        {
            "title": clip(f.title, 88) + (" (published)" if f.published_version is not None else ""),
            "value": f.framework_id,
        }
        for f in frameworks
    ]
    body = [
        text_block("Start a survey", weight="bolder", size="medium"),
        {
            "type": "Input.ChoiceSet",
            "id": "framework_id",
            "label": "Framework",
            "style": "compact",
            "isRequired": True,
            "errorMessage": "Choose a framework",
            "choices": choices,
        },
        {"type": "Input.Text", "id": "title", "label": "Title (optional)", "maxLength": 200},
        {"type": "Input.Date", "id": "closes", "label": "Closes on (optional)"},
        {"type": "Input.Text", "id": "partnership", "label": "Partnership (optional)", "maxLength": 200},
        {
            "type": "Input.Toggle",
            "id": "target",
            "title": f"Also ask where we want to be in {DEFAULT_TARGET_MONTHS} months",
            "valueOn": "true",
            "valueOff": "false",
            "value": "false",
        },
    ]
    fallback = 'Start a survey: type start <framework> [closes <date>] [title "<text>"] [with target].'
    next_step = execute_action("Next", LEAD_VERB, {"lead": "start_form"}, style="positive")
    return adaptive_card(body, fallback, [next_step])


def _confirm_card(
    *,
    survey_id: int,
    title: str,
    framework: str,
    audience: int,
    organisations: str,
    unassigned: int,
    closes: str,
    target_months: int | None = None,
) -> Card:
    def button(label: str, lead: str, style: str | None = None) -> Card:
        return execute_action(label, LEAD_VERB, {"lead": lead, "survey_id": survey_id}, style=style)

    body = [
        text_block("Start this survey?", weight="bolder", size="medium"),
        {
            "type": "FactSet",
            "facts": [
                {"title": "Survey", "value": escape(title)},
                {"title": "Framework", "value": escape(framework)},
                {"title": "Invitations", "value": f"{audience} people"},
                {"title": "Organisations", "value": escape(organisations)},
                {"title": "Closes", "value": closes},
                {"title": "Asks", "value": asks(target_months)},
            ],
        },
        text_block(
            "Each person gets a 1:1 invitation from me. Nothing is sent until you confirm.", isSubtle=True
        ),
    ]
    if unassigned:
        body.insert(2, text_block(_unassigned_hint(unassigned), isSubtle=True))
    actions = [button("Send invitations", "confirm", "positive"), button("Cancel", "cancel")]
    return adaptive_card(body, f"Start {title}? Type start again to change it.", actions)
