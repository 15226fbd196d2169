"""The action plan in chat: `action add`, `action A3 …` and `actions`, and the lead's "Make an action"
form on a summary card. Each is load → decide → render → send.

Who sees what: leads change actions (checked by AAD object id in bot.leads.chat); a lead's `actions`
in a channel posts the plan there (that is the lead posting it); in a lead's 1:1 chat, every plan of
the tenant; anyone else sees only the actions they own, in their own 1:1 chat. Lookups are scoped to
the tenant and the channel (storage.actions, like storage.surveys' Reach).
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass

from bot.cards import Card, escape
from bot.cards.action_cards import RAG_LABELS, actions_card, day_text, make_action_form
from bot.commands import ActionAddCommand, ActionChangeCommand, ActionsCommand
from bot.leads.targets import missing, summary_target, survey_keywords
from bot.leads.turn import ROSTER_BUSY, LeadTurn
from bot.outbox.checkins import assignment
from bot.reports.text import clip
from bot.teams.roster import RosterUnavailable
from dialogs.action_payloads import MakeActionForm
from frameworks.summary import SurveySummary
from storage.actions import (
    DEFAULT_CHECKIN_DAYS,
    NewAction,
    actions_in_reach,
    actions_owned_by,
    add_action,
    find_actions,
    owner_choices,
    people_named,
    same_action,
    update_action,
)
from storage.db import Session, transaction
from storage.outbox import enqueue
from storage.people import people_by_address, person_by_teams_id, upsert_person
from storage.roster import Member
from storage.surveys import find_survey, framework_of, invited_people
from storage.tables import Action, ActionRag, ActionState, Person, Survey, stored_id

log = logging.getLogger(__name__)

NEAR_MATCHES = 5
FORM_ELEMENTS = 30


@dataclass(frozen=True)
class Owner:
    """The person an action is given to, as found: their row id and name."""

    person_id: int
    name: str


def match_element(survey: Survey, query: str) -> tuple[str, str] | str:
    """The (id, title) of the survey's element `query` names (its id, its title, or words unique to
    one title), or a refusal naming the nearest ones."""
    framework = framework_of(survey)
    elements = [(element.id, element.title) for _domain, element in framework.iter_elements()]
    wanted = " ".join(query.casefold().split())
    for element_id, title in elements:
        if wanted in (element_id.casefold(), title.casefold()):
            return element_id, title
    words = wanted.split()
    found = [(i, t) for i, t in elements if all(w in f"{i} {t}".casefold() for w in words)]
    if len(found) == 1:
        return found[0]
    pool = found or elements
    near = difflib.get_close_matches(wanted, [t.casefold() for _, t in pool], n=NEAR_MATCHES, cutoff=0.3)
    named = [f"{escape(t)} ({i})" for i, t in pool if t.casefold() in near] or [
        f"{escape(t)} ({i})" for i, t in pool[:NEAR_MATCHES]
    ]
    lead = (
        f"“{escape(clip(query, 60))}” could be more than one element"
        if len(found) > 1
        else f"No element of {escape(framework.title)} is called “{escape(clip(query, 60))}”"
    )
    return f"{lead}. Did you mean: {'; '.join(named)}? Give its id or more of its title."


async def add(turn: LeadTurn, command: ActionAddCommand) -> None:
    """`action add`: the survey (named, else the latest here), the element in its framework, the
    owner (a mention or an email of someone the bot knows), then the action with the next reference."""
    member = None
    if command.owner is not None and command.owner.mentioned:
        if not turn.incoming.mentioned:
            await turn.say("Mention the owner (type @ and pick them), or give their email address.")
            return
        try:
            member = await turn.chat.member(turn.incoming.mentioned[0])
        except RosterUnavailable:
            log.warning("action add: the owner could not be looked up", exc_info=True)
            await turn.say(ROSTER_BUSY)
            return
    tenant = turn.tenant_id
    if tenant is None:
        await turn.say("I can't tell which organisation's Teams this is, so I can't keep a plan here.")
        return
    async with transaction(turn.services.sessions) as session:
        survey = None
        if command.survey is not None or turn.reach.place_id is not None:
            survey = await find_survey(session, reach=turn.reach, **survey_keywords(command.survey))
            if survey is None and command.survey is not None:
                await turn.say(missing(command.survey, reach=turn.reach))
                return
        place = survey.conversation_id if survey is not None else turn.reach.place_id
        if place is None:
            await turn.say(
                "In a 1:1 chat, say which survey the action belongs to, e.g. "
                '`action add "…" owner … due … survey #12`: it joins that survey\'s channel plan.'
            )
            return
        element: tuple[str, str] | None = None
        if command.element is not None:
            if survey is None:
                await turn.say("There is no survey here to find that element in. Name one: survey #12.")
                return
            matched = match_element(survey, command.element)
            if isinstance(matched, str):
                await turn.say(matched)
                return
            element = matched
        owner = await _owner(session, turn, command, member)
        if isinstance(owner, str):
            await turn.say(owner)
            return
        creator = await turn.sender(session)
        new = NewAction(
            tenant_id=tenant,
            conversation_id=place,
            text=command.text,
            owner_id=owner.person_id,
            created_by_id=creator.id,
            due_on=command.due.local_date,
            survey_id=survey.id if survey is not None else None,
            partnership_id=survey.partnership_id if survey is not None else None,
            element_id=element[0] if element else None,
            element_title=element[1] if element else None,
        )
        existing = await same_action(session, new)
        if existing is not None:
            await turn.say(
                f"**A{existing.number}** is already in the plan: {escape(clip(existing.text, 200))}."
            )
            return
        action = await add_action(session, new, now=turn.now())
        await _tell_owner(session, turn, action)
    turn.services.notify_sender()
    about = f" for {escape(element[1])}" if element else ""
    await turn.say(
        f"Added **A{action.number}**{about}: {escape(clip(command.text, 200))}. Owner {escape(owner.name)}, "
        f"due {day_text(command.due.local_date)}. I'll ask {escape(owner.name)} how it is going in a 1:1 "
        f"chat every {DEFAULT_CHECKIN_DAYS} days (change it with action A{action.number} checkin every …)."
    )


async def _owner(
    session: Session, turn: LeadTurn, command: ActionAddCommand, member: Member | None
) -> Owner | str:
    if command.owner_email is not None:
        people = [p for p in await people_by_address(session, command.owner_email) if _same_tenant(p, turn)]
        if not people:
            return (
                f"I don't know anyone at {escape(command.owner_email)} yet: mention them instead, or ask "
                "them to say hello to me first."
            )
        if len(people) > 1:
            return (
                f"More than one person I know uses {escape(command.owner_email)}: mention the owner instead."
            )
        return Owner(stored_id(people[0].id), people[0].name or command.owner_email)
    if command.owner is not None and not command.owner.mentioned:
        named = await people_named(session, name=command.owner.name, tenant_id=turn.tenant_id or "")
        if len(named) != 1:
            return (
                f"I don't know exactly one person called {escape(command.owner.name)}: mention them (type @ "
                "and pick them from the list) or give their email address."
            )
        return Owner(stored_id(named[0].id), named[0].name or command.owner.name)
    if member is None:
        return "I couldn't find that person in this team or chat. Mention someone who is in it."
    person = await person_by_teams_id(session, member.id)
    if person is None or person.name is None:
        person = await upsert_person(
            session,
            teams_user_id=member.id,
            aad_object_id=member.aad_object_id,
            name=member.name,
            email=member.address,
            tenant_id=member.tenant_id or turn.tenant_id,
            now=turn.now(),
        )
    return Owner(stored_id(person.id), person.name or "them")


async def _tell_owner(session: Session, turn: LeadTurn, action: Action) -> None:
    """Queue the owner's first card (bot.outbox.checkins), in the transaction that made the action."""
    incoming = turn.incoming
    message = assignment(action, service_url=incoming.service_url, tenant_id=incoming.conversation_tenant_id)
    await enqueue(session, [message], now=turn.now())


def _same_tenant(person: Person, turn: LeadTurn) -> bool:
    return person.tenant_id is None or person.tenant_id == turn.tenant_id


async def change(turn: LeadTurn, command: ActionChangeCommand) -> None:
    """`action A3 rag at risk | close | reopen | live | checkin every …`, kept in the action's history."""
    reference = f"A{command.number}"
    async with transaction(turn.services.sessions) as session:
        found = await find_actions(session, reach=turn.reach, number=command.number)
        if not found:
            await turn.say(f"There is no action {reference} here. Say actions to see the plan.")
            return
        if len(found) > 1:
            await turn.say(
                f"{len(found)} plans you can reach have an {reference}: type the command in the channel "
                "whose plan it is."
            )
            return
        action = found[0]
        person = await turn.sender(session)
        changed = await update_action(
            session,
            action,
            person_id=person.id,
            rag=ActionRag(command.rag) if command.rag else None,
            state=ActionState(command.state) if command.state else None,
            note=command.note,
            checkin_days=command.checkin_days,
            now=turn.now(),
        )
    if not changed:
        await turn.say(f"{reference} already reads that: nothing changed.")
        return
    parts = []
    if command.rag:
        parts.append(f"is {RAG_LABELS[ActionRag(command.rag)].lower()}")
    if command.state:
        parts.append({"open": "is open again", "live": "is live", "closed": "is closed"}[command.state])
    if command.checkin_days:
        parts.append(f"its owner is asked every {command.checkin_days} days")
    if command.note:
        parts.append("has your note")
    await turn.say(f"{reference} {', and '.join(parts)}.")


async def listing(turn: LeadTurn, command: ActionsCommand) -> None:
    """`actions`: a lead's plan within reach (posted here, for everyone in a channel); anyone else's own
    actions in their 1:1 chat."""
    today = turn.now().astimezone(turn.services.tz).date()
    async with transaction(turn.services.sessions) as session:
        if not turn.lead:
            person = await turn.sender(session)
            lines = await actions_owned_by(session, person_id=stored_id(person.id))
            title = "Actions you own"
        else:
            survey_id = partnership_id = None
            title = "This channel's plan" if turn.reach.place_id is not None else "Every plan you can reach"
            target = command.target
            if target.survey is not None or target.partnership is not None:
                found = await summary_target(session, reach=turn.reach, target=target)
                if isinstance(found, str):
                    await turn.say(found)
                    return
                if found.partnership is not None:
                    partnership_id, title = found.partnership.id, found.partnership.name
                else:
                    survey_id, title = found.survey.id, found.survey.title
            lines = await actions_in_reach(
                session, reach=turn.reach, survey_id=survey_id, partnership_id=partnership_id
            )
    if not lines:
        await turn.say(
            "No actions yet. A lead adds one with action add, or **Make an action** on a results card."
            if turn.lead
            else "You don't own any actions."
        )
        return
    await turn.send_card(actions_card(title, lines, today=today))


async def results_form(session: Session, summary: SurveySummary) -> Card | None:
    """The summary card's "Make an action" form, on split elements and gaps (None: nothing to offer)."""
    seen: dict[str, str] = {}
    for item in [*summary.highlights.divergences, *summary.highlights.gaps]:
        seen.setdefault(item.element_id, item.title)
    for domain in summary.domains:
        for element in domain.elements:
            if element.divergence is not None and element.divergence.split:
                seen.setdefault(element.element_id, element.title)
    people = await owner_choices(session, survey_id=summary.survey_id)
    if not people:
        return None
    return make_action_form(summary.survey_id, list(seen.items())[:FORM_ELEMENTS], people)


async def from_form(turn: LeadTurn, form: MakeActionForm) -> str:
    """A lead submitted "Make an action": the survey within their reach, the element in its framework,
    an owner invited to it, and the text and date as typed (nothing else on the card is trusted)."""
    if not form.action_text or form.action_owner is None or form.action_due is None:
        return "Fill in what will be done, the owner and the due date, then press Add to the plan."
    tenant = turn.tenant_id
    async with transaction(turn.services.sessions) as session:
        survey = await find_survey(session, reach=turn.reach, number=form.survey_id)
        if survey is None or tenant is None or survey.conversation_id is None:
            return "That survey isn't one you can reach from here."
        element = None
        if form.action_element:
            matched = match_element(survey, form.action_element)
            if isinstance(matched, str):
                return matched
            element = matched
        if form.action_owner not in await invited_people(session, survey_id=stored_id(survey.id)):
            return "Choose the owner from the list: people invited to this survey."
        owner = await session.get(Person, form.action_owner)
        creator = await turn.sender(session)
        new = NewAction(
            tenant_id=tenant,
            conversation_id=survey.conversation_id,
            text=form.action_text,
            owner_id=form.action_owner,
            created_by_id=creator.id,
            due_on=form.action_due,
            survey_id=survey.id,
            partnership_id=survey.partnership_id,
            element_id=element[0] if element else None,
            element_title=element[1] if element else None,
        )
        existing = await same_action(session, new)
        if existing is not None:  # pressed twice, or Teams delivered the press again
            return f"A{existing.number} is already in the plan."
        action = await add_action(session, new, now=turn.now())
        await _tell_owner(session, turn, action)
    turn.services.notify_sender()
    name = escape(owner.name or "the owner") if owner is not None else "the owner"
    text = escape(clip(form.action_text, 200))
    message = (
        f"Added **A{action.number}** to the plan: {text}. Owner {name}, due {day_text(form.action_due)}."
    )
    await turn.say(message)
    return f"Added A{action.number}."
