"""`consensus`: a lead opens a second, short round on the elements partners split on (Delphi), asked of
those who answered. It opens at once, without a confirmation card: the reply names every element it
asks and who is invited, and the lead can close it with `close` (nothing is lost by opening it).

Load (the round, its summary and comments) → decide (which elements, or why not) → open and queue the
invitations in one transaction → say what happened. Run again after a crash, it finds the round it made.
"""

from __future__ import annotations

import logging

from bot.cards import escape
from bot.commands import ConsensusCommand
from bot.commands.consensus_parsing import ADD_EXAMPLE
from bot.leads.targets import missing, survey_keywords
from bot.leads.turn import LeadTurn
from bot.reports.text import clip
from frameworks.summary import (
    Chosen,
    FirstRoundElement,
    Unknown,
    choose_elements,
    consensus_framework,
    first_round,
)
from storage.activities import note_survey_made
from storage.consensus import consensus_made_by, open_consensus_of, open_consensus_round
from storage.conversations import reference_for
from storage.db import transaction
from storage.outbox import NewMessage, enqueue
from storage.summaries import comment_texts, survey_summary
from storage.surveys import find_survey, framework_of
from storage.tables import OutboxKind, Survey, SurveyKind, stored_id

log = logging.getLogger(__name__)


async def consensus(turn: LeadTurn, command: ConsensusCommand) -> None:
    """Open a consensus round on the survey named (else the latest here), or say why not."""
    services = turn.services
    rules = services.rules
    now = turn.now()
    claim = turn.incoming.claim
    async with transaction(services.sessions) as session:
        made = await consensus_made_by(session, claim) if claim else None
        if made is not None:  # this command, delivered again after it opened the round
            await turn.say(f"Consensus round #{made.id} is open: “{escape(made.title)}”.")
            return
        parent = await find_survey(
            session, reach=turn.reach, **survey_keywords(command.survey), for_update=True
        )
        if parent is None:
            await turn.say(missing(command.survey, reach=turn.reach))
            return
        parent_id = stored_id(parent.id)
        if parent.kind == SurveyKind.CONSENSUS:
            await turn.say(_of_consensus(parent))
            return
        running = await open_consensus_of(session, parent_id=parent_id)
        if running is not None:
            await turn.say(
                f"Consensus round #{running.id} on #{parent_id} is still open: one at a time. "
                f"Close it first (close #{running.id})."
            )
            return
        framework = framework_of(parent)
        summary = await survey_summary(session, parent_id, rules=rules, now=now, with_previous=False)
        if summary.respondents is None:
            await turn.say(
                f"Fewer than {rules.k} people have answered #{parent_id}, so there is nothing partners "
                "can be shown of it yet: a consensus round needs a first round to look back on."
            )
            return
        chosen = choose_elements(summary, framework, command.elements)
        if chosen.unknown:
            await turn.say(_unknown(chosen.unknown, parent_id))
            return
        if not chosen.element_ids:
            await turn.say(
                f"Partners agree on every element of #{parent_id} — nothing to revisit; add some with "
                f"consensus {parent_id} add …, e.g. {ADD_EXAMPLE.replace('#12', str(parent_id))}."
            )
            return
        comments = await comment_texts(session, parent_id, submitted_only=rules.submitted_only)
        first = first_round(summary, chosen, comments, rules)
        lead = await turn.sender(session)
        survey, people = await open_consensus_round(
            session,
            parent,
            consensus_framework(framework, chosen.element_ids),
            first,
            now=now,
            created_by_id=lead.id,
        )
        survey_id = stored_id(survey.id)
        if claim:
            await note_survey_made(session, claim, survey_id)
        reference = await reference_for(session, turn.conversation_id)
        queued = await enqueue(
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
    services.notify_sender()
    log.info("consensus round %s on %s opened; %d invitations queued", survey_id, parent_id, queued)
    await turn.say(_opened(survey_id, parent_id, chosen, first.elements, queued))


def _of_consensus(survey: Survey) -> str:
    parent = f"#{survey.parent_survey_id}" if survey.parent_survey_id is not None else "the first round"
    return (
        f"#{survey.id} is itself a consensus round: a second look is taken once. Name the round it "
        f"revisited to look again, e.g. consensus {parent}."
    )


def _unknown(unknown: list[Unknown], parent_id: int) -> str:
    lines = [f"I couldn't tell which elements of #{parent_id} you mean, so nothing was opened:"]
    for item in unknown:
        near = "; ".join(escape(clip(title, 80)) for title in item.near)
        hint = f" Did you mean: {near}?" if near else " No element is called anything like it."
        lines.append(f"- “{escape(clip(item.name, 60))}”.{hint}")
    lines.append("Name elements by id or title, separated by commas; put a name with a comma in quotes.")
    return "\n".join(lines)


def _opened(
    survey_id: int, parent_id: int, chosen: Chosen, elements: list[FirstRoundElement], queued: int
) -> str:
    titles = ", ".join(f"“{escape(clip(element.title, 60))}”" for element in elements)
    split, added = len(chosen.split), len(chosen.added)
    why = f"{split} where partners differed" if split else ""
    if added:
        why += (" and " if why else "") + f"{added} you added"
    return (
        f"Consensus round #{survey_id} is open: a second look at {len(elements)} "
        f"{'element' if len(elements) == 1 else 'elements'} of #{parent_id} ({why}): {titles}.\n\n"
        f"Sending {queued} invitations to the people who answered #{parent_id}. Each sees how everyone "
        "answered, the reasons given and their own first answer, and confirms or changes it. Its results "
        f"stay hidden from partners until you close it (close #{survey_id}) and share them (share results "
        f"#{survey_id}); results #{survey_id} in a 1:1 chat with me shows you agreement before and after."
    )
