"""How surveys are going: `status` (counts by organisation), `surveys` (the list within reach),
`results` (the summary card) and `frameworks` (what a survey can use)."""

from __future__ import annotations

from bot.cards import Card, escape, summary_card
from bot.cards.consensus_cards import hidden_text
from bot.commands import FrameworksCommand, ResultsCommand, StatusCommand, SurveysCommand, format_date
from bot.leads.actions import results_form
from bot.leads.targets import missing, summary_target, survey_keywords
from bot.leads.tenant_frameworks import UsableFramework, usable_frameworks
from bot.leads.turn import NOT_CLOSING, LeadTurn
from frameworks.summary import UNASSIGNED, ConsensusHidden, SummaryRules, since_last_post
from storage.consensus import hidden_consensus
from storage.conversations import reference_for
from storage.db import Session, transaction
from storage.outbox import state_counts
from storage.summaries import survey_summary
from storage.summary_posts import last_posted
from storage.surveys import (
    PlaceKind,
    Progress,
    SurveyListing,
    closed_on,
    find_survey,
    survey_listing,
    survey_progress,
    why_hidden,
)
from storage.tables import OutboxKind, OutboxState, Survey, SurveyKind, SurveyState, stored_id


async def status(turn: LeadTurn, command: StatusCommand) -> None:
    """Counts, overall and by organisation. Only a lead's 1:1 chat shows every organisation and the
    names of those who have not submitted; elsewhere organisations follow the results card's
    anonymity rules (k people who started, small ones pooled)."""
    services = turn.services
    privately = turn.personal and turn.lead
    async with transaction(services.sessions) as session:
        survey = await find_survey(session, reach=turn.reach, **survey_keywords(command.survey))
        if survey is None:
            await turn.say(missing(command.survey, reach=turn.reach))
            return
        survey_id = stored_id(survey.id)
        rows = await survey_progress(session, survey_id=survey_id)
        deliveries = await state_counts(session, survey_id=survey_id, kind=OutboxKind.INVITE)
        rates = (
            None
            if privately
            else (
                await survey_summary(
                    session, survey_id, rules=services.rules, now=turn.now(), with_previous=False
                )
            ).response_rate
        )
    invited = len(rows)
    started = sum(1 for row in rows if row.started)
    done = sum(1 for row in rows if row.submitted)
    lines = [
        f"**{escape(survey.title)}** ({state_text(turn, survey)})",
        _progress_sentence(invited, started, done),
    ]
    if deliveries[OutboxState.FAILED]:
        lines.append(
            f"{deliveries[OutboxState.FAILED]} invitations could not be delivered "
            "(the bot is blocked or not installed for them, or they have left)."
        )
    pending = deliveries[OutboxState.PENDING] + deliveries[OutboxState.RETRYING]
    if pending:
        lines.append(f"{pending} invitations are still being sent.")
    if rates is None:
        by_org: dict[str, list[Progress]] = {}
        for row in rows:
            by_org.setdefault(row.organisation or UNASSIGNED, []).append(row)
        lines.append("By organisation:")
        for name, members in sorted(by_org.items()):
            submitted = sum(1 for m in members if m.submitted)
            lines.append(f"- {escape(name)}: {submitted} of {len(members)}")
        waiting = sorted(row.name or "(name unknown)" for row in rows if not row.submitted)
        if waiting:
            lines.append("Not yet submitted: " + ", ".join(escape(name) for name in waiting))
    else:
        if rates.organisations:
            lines.append("By organisation:")
            lines += [
                f"- {escape(org.name)}: {org.completed} of {org.invited}" for org in rates.organisations
            ]
        lines.append(
            f"Organisations are shown only where at least {services.rules.k} people have started, "
            "so nobody can be singled out; a lead sees them all in a 1:1 chat with me."
        )
    await turn.say("\n".join(lines))


async def results(turn: LeadTurn, command: ResultsCommand) -> None:
    """The summary, now: aggregates only, no names, no comments, nothing below k. In a channel that
    gets weekly posts, it also says what changed since the last one. A consensus round's results are
    hidden outside a lead's 1:1 chat while it takes answers and, closed, until a lead shares them."""
    services = turn.services
    rules = services.rules.weighted(command.weighting)
    privately = turn.lead and turn.personal
    async with transaction(services.sessions) as session:
        found = await summary_target(session, reach=turn.reach, target=command.target)
        if isinstance(found, str):
            await turn.say(found)
            return
        survey_id = stored_id(found.survey.id)
        hidden = None if privately else await hidden_consensus(session, survey_id=survey_id, now=turn.now())
        if hidden is not None:
            await turn.say(hidden_text(survey_id, hidden.why, lead=turn.lead))
            return
        card = await results_card(turn, session, survey_id, rules)
    await turn.send_card(card)


async def results_card(turn: LeadTurn, session: Session, survey_id: int, rules: SummaryRules) -> Card:
    """The card `results` sends here (and `share results` once it shares a consensus round's): the
    summary, what changed since this channel's last weekly post, and for a lead the Make an action form."""
    summary = await survey_summary(
        session, survey_id, rules=rules, now=turn.now(), lead_view=turn.lead and turn.personal
    )
    reference = await reference_for(session, turn.conversation_id)
    if reference is not None and reference.id is not None:
        posted = await last_posted(session, survey_id, conversation_reference_id=reference.id)
        summary = since_last_post(summary, posted)
    make_action = await results_form(session, summary) if turn.lead else None
    card = summary_card(summary, charts=turn.services.chart_link(summary))
    if make_action is not None:  # a lead's results: the plan can start from a split or a gap
        card["actions"] = [*card.get("actions", []), make_action]
    return card


async def surveys(turn: LeadTurn, _command: SurveysCommand) -> None:
    """The surveys within reach with their numbers, state and counts; in a lead's 1:1 chat (every
    survey of the tenant) also where each was started."""
    reach = turn.reach
    everywhere = reach.place_id is None
    async with transaction(turn.services.sessions) as session:
        listed = await survey_listing(session, reach=reach)
    if not listed:
        if everywhere:
            await turn.say(
                "There are no surveys yet. Start one in the channel or group chat whose members "
                "should answer it: mention me there and say start <framework>."
            )
        else:
            await turn.say("No surveys here yet. A lead can start one: start <framework>.")
        return
    lines = ["Surveys you can reach (newest first):" if everywhere else "Surveys here (newest first):"]
    lines += [f"- {_listed(turn, item, where=everywhere)}" for item in listed]
    lines.append(f"Use a number in a command, e.g. status #{listed[0].survey.id}.")
    if everywhere:
        lines.append("Say my surveys for the ones you were invited to answer.")
    await turn.say("\n".join(lines))


async def frameworks(turn: LeadTurn, _command: FrameworksCommand) -> None:
    """The built-in frameworks and the tenant's published ones (bot.leads.tenant_frameworks)."""
    async with transaction(turn.services.sessions) as session:
        usable = await usable_frameworks(session, built_in=turn.services.catalogue, tenant_id=turn.tenant_id)
    if not usable:
        await turn.say("No frameworks are loaded.")
        return
    lines = ["Frameworks (start one with: start <id>):"]
    for each in usable:
        f = each.framework
        counted = f"{len(f.scored_elements)} questions{_published(each)}"
        lines.append(f"- {escape(f.id)}: {escape(f.title)} ({counted})")
    await turn.say("\n".join(lines))


def state_text(turn: LeadTurn, survey: Survey) -> str:
    """'open, closes …', 'open, no closing date', or 'closed …' with when it stopped taking answers."""
    tz = turn.services.tz
    ended = closed_on(survey, turn.now())
    if ended is not None:
        return f"closed {format_date(ended, tz)}"
    if survey.state == SurveyState.CLOSED:
        return "closed"
    if survey.state == SurveyState.DRAFT:
        return "not started"
    if survey.closes_at is not None:
        return f"open, closes {format_date(survey.closes_at, tz)}"
    return f"open, {NOT_CLOSING}"


def _listed(turn: LeadTurn, item: SurveyListing, *, where: bool) -> str:
    survey = item.survey
    about = survey.framework_id + (f", for {escape(item.partnership)}" if item.partnership else "")
    if survey.parent_survey_id is not None and survey.kind == SurveyKind.CONSENSUS:
        about += f", consensus round on #{survey.parent_survey_id}"
    state = state_text(turn, survey)
    if why_hidden(survey, turn.now()) is ConsensusHidden.NOT_SHARED:
        state += f", results not shared yet (share results #{survey.id})"
    parts = [f"#{survey.id} {escape(survey.title)} ({about}): {state}"]
    place = _place_words(item) if where else None
    if place:
        parts.append(f"started in {place}")
    parts.append(_listed_counts(item.invited, item.started, item.submitted))
    return "; ".join(parts)


def _have(count: int) -> str:
    return "has" if count == 1 else "have"


def _progress_sentence(invited: int, started: int, submitted: int) -> str:
    """How far the people invited got, as a person would say it ('None of the 4 have submitted yet;
    1 has started.'). `started` counts those who submitted too."""
    more = started - submitted
    if invited == 0:
        return "Nobody is invited to it."
    if invited == 1:
        if submitted:
            return "The 1 person invited has submitted."
        return (
            "The 1 person invited has started but not submitted yet."
            if more
            else ("The 1 person invited has not started yet.")
        )
    if submitted == invited:
        return f"All {invited} have submitted."
    if submitted == 0:
        if more == 0:
            return f"None of the {invited} have started yet."
        return f"None of the {invited} have submitted yet; {more} {_have(more)} started."
    head = f"{submitted} of {invited} {_have(submitted)} submitted ({_percent(submitted, invited)})"
    if more == 0:
        return f"{head}; nobody else has started yet."
    return f"{head}; {more} more {_have(more)} started."


def _listed_counts(invited: int, started: int, submitted: int) -> str:
    """The short form for a listing line: '1 of 3 submitted, 1 more started'."""
    if invited == 0:
        return "nobody invited"
    more = started - submitted
    if submitted == 0:
        return f"none of {invited} submitted" + (f", {more} started" if more else "")
    done = f"all {invited} submitted" if submitted == invited > 1 else f"{submitted} of {invited} submitted"
    return done + (f", {more} more started" if more else "")


def _place_words(item: SurveyListing) -> str | None:
    """Where a survey was started, in words; None when the bot never learnt what kind of place it was."""
    name = f" “{escape(item.place_name)}”" if item.place_name else ""
    if item.place is PlaceKind.CHANNEL:
        return f"the channel{name}" if name else "a team channel"
    if item.place is PlaceKind.GROUP_CHAT:
        return f"the group chat{name}" if name else "a group chat"
    if item.place is PlaceKind.PERSONAL:
        return "a 1:1 chat"
    return None


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "0%"


def _published(usable: UsableFramework) -> str:
    if usable.published_version is None:
        return ""
    replaces = ", replaces the built-in" if usable.replaces_built_in else ""
    return f"; your own, version {usable.published_version}{replaces}"
