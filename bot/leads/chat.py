"""Leads run surveys from Teams chat: start (confirmed on a card), status, remind, close, reopen,
lead roles and organisations. Partners get the listing commands and help; nobody gets silence.

Commands run outside the turn's dialog transaction: a roster fetch is an HTTP round trip per page,
and must not hold the database's write lock. Each step commits on its own and is safe to repeat.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from botbuilder.core import MessageFactory, TurnContext
from botbuilder.schema import Activity
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cards import Card, adaptive_card, card_activity, escape, execute_action, text_block
from bot.cards.summary_cards import render_summary
from bot.commands import (
    Clarification,
    CloseCommand,
    CommandError,
    CommentsCommand,
    DomainsCommand,
    ExportCommand,
    FrameworkExportCommand,
    FrameworksCommand,
    GrantLeadCommand,
    HelpCommand,
    MapDomainCommand,
    MyOrganisationCommand,
    ParsedCommand,
    RemindCommand,
    ReopenCommand,
    ResultsCommand,
    RevokeLeadCommand,
    Scope,
    StartCommand,
    StatusCommand,
    SubscribeCommand,
    SubscriptionsCommand,
    SummaryTarget,
    SurveyRef,
    SurveysCommand,
    UnknownCommand,
    UnmapDomainCommand,
    UnsubscribeCommand,
    help_text,
    parse_command,
    plain_text,
    refusal,
)
from bot.commands.dates import DateError, ParsedDate, format_date, parse_date
from bot.leads.framework_uploads import DownloadSettings, FrameworkUploads, has_file, upload_card_data
from bot.leads.lead_files import LeadFiles
from bot.leads.tenant_frameworks import (
    FrameworkChoice,
    UsableFramework,
    find_framework,
    framework_choices,
    usable_frameworks,
)
from bot.reports.chart_links import ChartUrls
from bot.reports.summary_text import WEIGHTING_TEXT
from bot.reports.text import clip
from bot.teams.edge import tenant_of
from bot.teams.roster import RosterUnavailable, fetch_member, fetch_roster
from bot.teams.uploads import UploadSettings
from dialogs import outgoing
from dialogs.payloads import LEAD_VERB, LeadAction, parse_lead_action
from frameworks.loader import Catalogue
from frameworks.summary import SummaryRules, SurveySummary, Weighting, since_last_post
from storage.activities import draft_made_by, note_survey_made
from storage.conversations import place_of, reference_for
from storage.db import transaction
from storage.invitations import invite
from storage.leads import LeadError, grant_lead, is_lead, revoke_lead
from storage.organisations import (
    OrganisationError,
    ensure_partnership,
    find_partnerships,
    list_domains,
    map_domain,
    person_organisation,
    set_own_organisation,
    unmap_domain,
)
from storage.outbox import NewMessage, enqueue, state_counts
from storage.people import person_for
from storage.reminders import queue_reminders
from storage.roster import sync_roster
from storage.subscriptions import subscribe, subscriptions_for, unsubscribe
from storage.summaries import latest_round, partnership_frameworks, survey_summary
from storage.summary_posts import last_posted
from storage.surveys import (
    PlaceKind,
    Progress,
    Reach,
    SurveyListing,
    close_survey,
    closed_on,
    create_survey,
    delete_draft,
    find_survey,
    invited_people,
    open_survey,
    organisation_counts,
    partnership_by_id,
    survey_by_id,
    survey_listing,
    survey_progress,
)
from storage.tables import (
    OutboxState,
    Partnership,
    Person,
    SummarySubscription,
    Survey,
    SurveyState,
)

log = logging.getLogger(__name__)

CLAIMED_ACTIVITY = "surveybot.claimed_activity"
"""The turn's claim key (turn_state): a command run again after a crash finds what it made."""

UNASSIGNED = "Unassigned"
ROSTER_BUSY = (
    "Teams is too busy to tell me who is in this chat right now, so nothing was started or changed. "
    "Please try again in a minute."
)
NOT_CLOSING = "no closing date"


@dataclass(frozen=True)
class LeadServices:
    sessions: async_sessionmaker[AsyncSession]
    catalogue: Catalogue
    clock: Callable[[], datetime]
    tz: ZoneInfo
    configured_leads: Sequence[str]
    notify_sender: Callable[[], None]
    """Wake the outbox sender: rows were just added."""
    rules: SummaryRules = field(default_factory=SummaryRules)
    """Anonymity threshold, weighting and the split rule of summaries."""
    chart_link: Callable[[SurveySummary], ChartUrls | None] = lambda _summary: None
    """Signed links to a summary's charts, when the bot has a public address."""
    uploads: UploadSettings = field(default_factory=UploadSettings)
    """How export files are put in a lead's OneDrive (bot.teams.uploads)."""
    downloads: DownloadSettings = field(default_factory=DownloadSettings)
    """How a workbook a lead sends is fetched from Teams (bot.leads.framework_uploads)."""


class LeadCommands:
    def __init__(self, services: LeadServices) -> None:
        self._s = services
        self._files = LeadFiles(
            sessions=services.sessions,
            clock=services.clock,
            rules=services.rules,
            is_lead=self._is_lead,
            notify_sender=services.notify_sender,
            uploads=services.uploads,
            catalogue=services.catalogue,
        )
        self._uploads = FrameworkUploads(
            sessions=services.sessions,
            clock=services.clock,
            is_lead=self._is_lead,
            downloads=services.downloads,
            verb=LEAD_VERB,
        )

    # Entry points --------------------------------------------------------------------------------

    async def on_message(self, context: TurnContext) -> bool:
        """Handle a typed command. In 1:1 chats only recognised commands are taken (False otherwise);
        in channels and group chats anything else gets help."""
        activity = context.activity
        if has_file(activity):  # a workbook sent in the 1:1 chat (bot.leads.framework_uploads)
            await self._uploads.on_file(context)
            return True
        scope = Scope.of(activity.conversation.conversation_type if activity.conversation else None)
        text = TurnContext.remove_recipient_mention(activity) or activity.text or ""
        lead = await self._is_lead(context)
        async with transaction(self._s.sessions) as session:
            choices = await framework_choices(
                session, built_in=self._s.catalogue, tenant_id=tenant_of(activity)
            )
        frameworks = [(choice.framework_id, choice.title) for choice in choices]
        try:
            command = parse_command(text, frameworks=frameworks, now=self._s.clock(), tz=self._s.tz)
        except CommandError as exc:
            refused = refusal(exc.kind, scope, lead)
            if refused is None and exc.kind == "start" and plain_text(text) == "start":
                await outgoing.send(context, _start_form(choices))  # `start` alone: the form
                return True
            await self._say(context, refused or exc.message)
            return True
        if isinstance(command, UnknownCommand):
            if scope is Scope.PERSONAL:
                return False
            await self._say(context, "I didn't recognise that.\n\n" + help_text(scope, lead))
            return True
        if isinstance(command, SurveysCommand) and scope is Scope.PERSONAL and not lead:
            return False  # a partner's `surveys` is their own list (dialogs.router)
        kind = command.about if isinstance(command, Clarification) else command.kind
        refused = refusal(kind, scope, lead)
        if refused is not None:
            await self._say(context, refused)
            return True
        await self._run(context, command, scope, lead, reach_of(activity, scope=scope, lead=lead))
        return True

    async def on_card(self, context: TurnContext, data: object) -> str | Card:
        """A lead's card button; returns a short message for the invoke response, or a card that
        replaces the one pressed."""
        if upload_card_data(data) is not None:
            return await self._uploads.on_card(context, data)
        action = parse_lead_action(data)
        if action is None:
            return "I couldn't read that card's data. Type the command again."
        if not await self._is_lead(context):
            return "Only partnership leads can do that."
        if action.lead == "start_form":
            return await self._start_from_form(context, action)
        if action.survey_id is None:
            return "I couldn't read that card's data. Type the command again."
        activity = context.activity
        scope = Scope.of(activity.conversation.conversation_type if activity.conversation else None)
        reach = reach_of(activity, scope=scope, lead=True)
        if action.lead == "cancel":
            return await self._cancel(action.survey_id, reach)
        return await self._confirm(context, action.survey_id, reach)

    async def on_file_consent(self, context: TurnContext) -> None:
        """A lead allowed or declined an export file (bot.leads.lead_files); the caller answers the invoke."""
        await self._files.on_file_consent(context)

    async def _start_from_form(self, context: TurnContext, action: LeadAction) -> str:
        async with transaction(self._s.sessions) as session:
            usable = await self._find_framework(session, context, action.framework_id or "")
        if usable is None:
            return "Choose a framework first."
        framework = usable.framework
        closes: ParsedDate | None = None
        if action.closes:
            try:
                parsed = parse_date(action.closes, now=self._s.clock(), tz=self._s.tz)
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
        )
        await self._start(context, command)
        return "Check the details below, then send the invitations."

    # Dispatch ------------------------------------------------------------------------------------

    async def _run(
        self, context: TurnContext, command: ParsedCommand, scope: Scope, lead: bool, reach: Reach
    ) -> None:
        if isinstance(command, HelpCommand):
            await self._say(context, help_text(scope, lead, command.topic))
        elif isinstance(command, FrameworksCommand):
            await self._say(context, await self._frameworks(context))
        elif isinstance(command, Clarification):
            choices = "\n".join(f"- {escape(choice.text)}" for choice in command.choices)
            await self._say(context, f"{command.question}\n\nType one of these:\n{choices}")
        elif isinstance(command, StartCommand):
            await self._start(context, command)
        elif isinstance(command, SurveysCommand):
            await self._say(context, await self._surveys(reach))
        elif isinstance(command, StatusCommand):
            await self._status(context, reach, command.survey, privately=scope is Scope.PERSONAL and lead)
        elif isinstance(command, RemindCommand):
            await self._remind(context, reach, command.survey)
        elif isinstance(command, CloseCommand):
            await self._close(context, reach, command.survey)
        elif isinstance(command, ReopenCommand):
            await self._reopen(context, reach, command)
        elif isinstance(command, GrantLeadCommand | RevokeLeadCommand):
            await self._lead_roles(context, command)
        elif isinstance(command, MyOrganisationCommand):
            await self._my_organisation(context, command)
        elif isinstance(command, MapDomainCommand | UnmapDomainCommand | DomainsCommand):
            await self._domains(context, command)
        elif isinstance(command, ResultsCommand):
            await self._results(context, reach, command)
        elif isinstance(command, SubscribeCommand | UnsubscribeCommand | SubscriptionsCommand):
            await self._subscriptions(context, reach, command)
        elif isinstance(command, ExportCommand | CommentsCommand):
            await self._private(context, reach, command, personal=scope is Scope.PERSONAL)
        elif isinstance(command, FrameworkExportCommand):
            await self._files.framework(context, command.framework_id, personal=scope is Scope.PERSONAL)
        else:
            log.error("no handler for the %s command", command.kind)
            await self._say(context, help_text(scope, lead))

    async def _private(
        self,
        context: TurnContext,
        reach: Reach,
        command: ExportCommand | CommentsCommand,
        *,
        personal: bool,
    ) -> None:
        """Exports and comment texts go to the lead's 1:1 chat only, whichever chat asked."""
        async with transaction(self._s.sessions) as session:
            survey = await find_survey(session, reach=reach, **_ref(command.survey))
        if survey is None:
            await self._say(context, _missing(command.survey, reach=reach))
            return
        if isinstance(command, ExportCommand):
            await self._files.export(
                context,
                survey.id or 0,
                file_format=command.format,
                anonymise=command.anonymise,
                personal=personal,
            )
        else:
            await self._files.comments(context, survey.id or 0, personal=personal)

    # start -----------------------------------------------------------------------------------------

    async def _start(self, context: TurnContext, command: StartCommand) -> None:
        async with transaction(self._s.sessions) as session:
            usable = await self._find_framework(session, context, command.framework_id)
        if usable is None:
            await self._say(context, f"I don't know the framework “{escape(command.framework_id)}”.")
            return
        framework = usable.framework
        try:
            members = await fetch_roster(context)  # HTTP: before any transaction
        except RosterUnavailable:
            log.warning("start: the roster could not be fetched", exc_info=True)
            await self._say(context, ROSTER_BUSY)
            return
        now = self._s.clock()
        closes_at = command.closes.at if command.closes else None
        activity = context.activity
        claim: str | None = context.turn_state.get(CLAIMED_ACTIVITY)
        async with transaction(self._s.sessions) as session:
            lead = await self._sender(session, context)
            partnership = (
                await ensure_partnership(session, command.partnership) if command.partnership else None
            )
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
                conversation_id=activity.conversation.id,
                tenant_id=tenant_of(activity),
                team_id=_team_of(activity),
            )
            if claim and made is None:
                await note_survey_made(session, claim, survey.id or 0)
            await invite(session, survey.id or 0, person_ids, now=now)
            counted = await organisation_counts(session, person_ids=person_ids)
        by_organisation: Counter[str] = Counter()
        for name, count in counted.items():
            by_organisation[name or UNASSIGNED] += count
        closes = format_date(closes_at, self._s.tz) if closes_at else NOT_CLOSING
        organisations = ", ".join(f"{name} {count}" for name, count in by_organisation.most_common())
        card = _confirm_card(
            survey_id=survey.id or 0,
            title=survey.title,
            framework=framework.title,
            audience=len(person_ids),
            organisations=organisations or "none",
            unassigned=by_organisation[UNASSIGNED],
            closes=closes,
        )
        await outgoing.send(context, card)

    async def _confirm(self, context: TurnContext, survey_id: int, reach: Reach) -> str:
        now = self._s.clock()
        async with transaction(self._s.sessions) as session:
            survey = await find_survey(
                session, reach=reach, number=survey_id, states=tuple(SurveyState), for_update=True
            )
            if survey is None:
                return "That survey was cancelled."
            if survey.state != SurveyState.DRAFT:
                return f"“{survey.title}” was already started."
            if survey.closes_at is not None and survey.closes_at <= now:
                return "Its closing date has passed: start it again with a later date."
            await open_survey(session, survey, now=now)
            reference = await reference_for(session, context.activity.conversation.id)
            people = await invited_people(session, survey_id=survey_id)
            added = await enqueue(
                session,
                [
                    NewMessage(
                        dedupe_key=f"invite:{survey_id}:{person_id}",
                        kind="invite",
                        survey_id=survey_id,
                        person_id=person_id,
                        payload=self._delivery(context, survey, reference.id if reference else None),
                    )
                    for person_id in people
                ],
                now=now,
            )
        self._s.notify_sender()
        log.info("survey %s opened; %d invitations queued", survey_id, added)
        return f"“{survey.title}” is open: sending {added} invitations. I'll report here when they have gone."

    async def _cancel(self, survey_id: int, reach: Reach) -> str:
        async with transaction(self._s.sessions) as session:
            survey = await find_survey(session, reach=reach, number=survey_id, states=tuple(SurveyState))
            if survey is None:
                return "Already cancelled."
            if survey.state != SurveyState.DRAFT:
                return f"“{survey.title}” was already started: use close to stop it."
            await delete_draft(session, survey=survey)
        return "Cancelled: nobody was invited."

    def _delivery(self, context: TurnContext, survey: Survey, report_to: int | None) -> dict[str, Any]:
        activity = context.activity
        tenant = activity.conversation.tenant_id if activity.conversation else None
        payload: dict[str, Any] = {
            "service_url": activity.service_url,
            "tenant_id": tenant,
            "fanout": f"invite:{survey.id}",
            "title": survey.title,
        }
        if report_to is not None:
            payload["report_to"] = report_to
        return payload

    # status, remind, close, reopen -----------------------------------------------------------------

    async def _status(
        self, context: TurnContext, reach: Reach, ref: SurveyRef | None, *, privately: bool
    ) -> None:
        """Counts, overall and by organisation. Only a lead's 1:1 chat shows every organisation and the
        names of those who have not submitted; elsewhere organisations follow the results card's
        anonymity rules (k people who started, small ones pooled)."""
        async with transaction(self._s.sessions) as session:
            survey = await find_survey(session, reach=reach, **_ref(ref))
            if survey is None:
                await self._say(context, _missing(ref, reach=reach))
                return
            rows = await survey_progress(session, survey_id=survey.id or 0)
            deliveries = await state_counts(session, survey_id=survey.id or 0, kind="invite")
            rates = (
                None
                if privately
                else (
                    await survey_summary(
                        session, survey.id or 0, rules=self._s.rules, now=self._s.clock(), with_previous=False
                    )
                ).response_rate
            )
        invited = len(rows)
        started = sum(1 for row in rows if row.started)
        done = sum(1 for row in rows if row.submitted)
        lines = [
            f"**{escape(survey.title)}** ({self._state(survey)})",
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
                f"Organisations are shown only where at least {self._s.rules.k} people have started, "
                "so nobody can be singled out; a lead sees them all in a 1:1 chat with me."
            )
        await self._say(context, "\n".join(lines))

    async def _remind(self, context: TurnContext, reach: Reach, ref: SurveyRef | None) -> None:
        now = self._s.clock()
        async with transaction(self._s.sessions) as session:
            survey = await find_survey(session, reach=reach, states=(SurveyState.OPEN,), **_ref(ref))
            if survey is None:
                await self._say(context, _missing(ref, SurveyState.OPEN, reach=reach))
                return
            reference = await reference_for(session, context.activity.conversation.id)
            added, skipped = await queue_reminders(
                session,
                survey=survey,
                now=now,
                payload=self._delivery(context, survey, reference.id if reference else None),
            )
        self._s.notify_sender()
        note = f" ({skipped} were reminded in the last day and are left alone)" if skipped else ""
        await self._say(
            context, f"Reminding {added} people who have not submitted “{escape(survey.title)}”{note}."
        )

    async def _close(self, context: TurnContext, reach: Reach, ref: SurveyRef | None) -> None:
        async with transaction(self._s.sessions) as session:
            survey = await find_survey(session, reach=reach, states=(SurveyState.OPEN,), **_ref(ref))
            if survey is None:
                await self._say(context, _missing(ref, SurveyState.OPEN, reach=reach))
                return
            await close_survey(session, survey, now=self._s.clock())
        await self._say(
            context, f"Closed “{escape(survey.title)}”. Answers given so far are kept; no more are taken."
        )

    async def _reopen(self, context: TurnContext, reach: Reach, command: ReopenCommand) -> None:
        now = self._s.clock()
        async with transaction(self._s.sessions) as session:
            survey = await find_survey(
                session, reach=reach, states=(SurveyState.CLOSED,), **_ref(command.survey)
            )
            if survey is None:
                await self._say(context, _missing(command.survey, SurveyState.CLOSED, reach=reach))
                return
            if command.closes is not None:
                survey.closes_at = command.closes.at
            elif survey.closes_at is not None and survey.closes_at <= now:
                await self._say(
                    context,
                    "Its closing date has passed: say when it should close, e.g. reopen closes Friday.",
                )
                return
            await open_survey(session, survey, now=now)
        closes = format_date(survey.closes_at, self._s.tz) if survey.closes_at else NOT_CLOSING
        await self._say(context, f"Reopened “{escape(survey.title)}” ({closes}).")

    async def _results(self, context: TurnContext, reach: Reach, command: ResultsCommand) -> None:
        """The summary, now: aggregates only, no names, no comments, nothing below k. In a channel that
        gets weekly posts, it also says what changed since the last one."""
        rules = self._s.rules.weighted(command.weighting)
        async with transaction(self._s.sessions) as session:
            found = await self._summary_target(session, reach, command.target)
            if isinstance(found, str):
                await self._say(context, found)
                return
            survey_id = found.survey.id or 0
            summary = await survey_summary(session, survey_id, rules=rules, now=self._s.clock())
            reference = await reference_for(session, context.activity.conversation.id)
            if reference is not None and reference.id is not None:
                posted = await last_posted(session, survey_id, conversation_reference_id=reference.id)
                summary = since_last_post(summary, posted)
        await outgoing.send(context, render_summary(summary, charts=self._s.chart_link(summary)))

    async def _summary_target(
        self, session: AsyncSession, reach: Reach, target: SummaryTarget
    ) -> _Target | str:
        """The survey a summary command means (for a partnership: its latest round here), or why not.
        A partnership with no round within reach is answered as one that does not exist."""
        if target.partnership is None:
            survey = await find_survey(session, reach=reach, **_ref(target.survey))
            return _Target(survey) if survey is not None else _missing(target.survey, reach=reach)
        name = escape(target.partnership)
        found = [
            (partnership, ran)
            for partnership in await find_partnerships(session, target.partnership)
            if (ran := await partnership_frameworks(session, partnership.id or 0, reach=reach))
        ]
        if not found:
            return f"There is no partnership called “{name}” with a survey here."
        if len(found) > 1:
            names = ", ".join(f"“{escape(p.name)}”" for p, _ in found[:10])
            return f"“{name}” could be {names}. Put the whole name in quotes."
        partnership, ran = found[0]
        framework_id = target.framework_id
        if framework_id is None:
            if len(ran) > 1:
                return (
                    f"“{escape(partnership.name)}” has run more than one framework: {', '.join(ran)}. "
                    "Add framework <framework>, e.g. "
                    f'results partnership "{escape(partnership.name)}" framework {ran[0]}.'
                )
            framework_id = ran[0]
        latest = await latest_round(session, partnership.id or 0, framework_id, reach=reach)
        survey = await survey_by_id(session, survey_id=latest) if latest is not None else None
        if survey is None:
            return f"“{escape(partnership.name)}” has no survey of {escape(framework_id)} here."
        return _Target(survey, partnership, framework_id)

    async def _subscriptions(
        self,
        context: TurnContext,
        reach: Reach,
        command: SubscribeCommand | UnsubscribeCommand | SubscriptionsCommand,
    ) -> None:
        """Weekly summaries of a survey, or of a partnership's latest round, posted to this channel (a
        new post, whichever thread asked) in the bot's time zone."""
        now = self._s.clock()
        async with transaction(self._s.sessions) as session:
            reference = await reference_for(session, context.activity.conversation.id)
            if reference is None or reference.id is None:
                await self._say(context, "I can't post here yet: remove and add me again, then retry.")
                return
            if isinstance(command, SubscriptionsCommand):
                listed = await subscriptions_for(session, reference.id)
                lines = [f"- {await _subscription_line(session, x)}" for x in listed]
                await self._say(
                    context,
                    "\n".join(["Weekly summaries posted here:", *lines]) if lines else _NO_SUBSCRIPTIONS,
                )
                return
            found = await self._summary_target(session, reach, command.target)
            if isinstance(found, str):
                await self._say(context, found)
                return
            keys = found.keys()
            if isinstance(command, UnsubscribeCommand):
                gone = await unsubscribe(session, conversation_reference_id=reference.id, **keys)
                await self._say(
                    context,
                    f"Stopped the weekly summary of {found.label}."
                    if gone
                    else f"There was no weekly summary of {found.label} here.",
                )
                return
            await subscribe(
                session,
                conversation_reference_id=reference.id,
                weekday=command.weekday,
                at=command.at,
                time_zone=self._s.tz.key,
                now=now,
                created_by_id=(await self._sender(session, context)).id,
                weighting=command.weighting,
                **keys,
            )
        weighting = WEIGHTING_TEXT[command.weighting or self._s.rules.weighting]
        await self._say(
            context,
            f"Every {_WEEKDAYS[command.weekday]} at {command.at:%H:%M} ({self._s.tz.key}) I'll post the "
            f"summary of {found.label} here, weighted {weighting}, with what changed since the last post; "
            "a week with no new answers gets one line instead.",
        )

    async def _surveys(self, reach: Reach) -> str:
        """The surveys within reach with their numbers, state and counts; in a lead's 1:1 chat (every
        survey of the tenant) also where each was started."""
        everywhere = reach.place_id is None
        async with transaction(self._s.sessions) as session:
            listed = await survey_listing(session, reach=reach)
        if not listed:
            if everywhere:
                return (
                    "There are no surveys yet. Start one in the channel or group chat whose members "
                    "should answer it: mention me there and say start <framework>."
                )
            return "No surveys here yet. A lead can start one: start <framework>."
        lines = ["Surveys you can reach (newest first):" if everywhere else "Surveys here (newest first):"]
        lines += [f"- {self._listed(item, where=everywhere)}" for item in listed]
        lines.append(f"Use a number in a command, e.g. status #{listed[0].survey.id}.")
        if everywhere:
            lines.append("Say my surveys for the ones you were invited to answer.")
        return "\n".join(lines)

    def _listed(self, item: SurveyListing, *, where: bool) -> str:
        survey = item.survey
        about = survey.framework_id + (f", for {escape(item.partnership)}" if item.partnership else "")
        parts = [f"#{survey.id} {escape(survey.title)} ({about}): {self._state(survey)}"]
        place = _place_words(item) if where else None
        if place:
            parts.append(f"started in {place}")
        parts.append(_listed_counts(item.invited, item.started, item.submitted))
        return "; ".join(parts)

    def _state(self, survey: Survey) -> str:
        """'open, closes …', 'open, no closing date', or 'closed …' with when it stopped taking answers."""
        ended = closed_on(survey, self._s.clock())
        if ended is not None:
            return f"closed {format_date(ended, self._s.tz)}"
        if survey.state == SurveyState.CLOSED:
            return "closed"
        if survey.state == SurveyState.DRAFT:
            return "not started"
        if survey.closes_at is not None:
            return f"open, closes {format_date(survey.closes_at, self._s.tz)}"
        return f"open, {NOT_CLOSING}"

    # People and organisations ------------------------------------------------------------------------

    async def _lead_roles(self, context: TurnContext, command: GrantLeadCommand | RevokeLeadCommand) -> None:
        mentions = _mentioned(context.activity)
        if not mentions:
            await self._say(context, "Mention the person, e.g. grant lead @Amina Khan.")
            return
        try:
            members = [await fetch_member(context, user_id) for user_id in mentions]
        except RosterUnavailable:
            log.warning("lead roles: a member could not be looked up", exc_info=True)
            await self._say(context, ROSTER_BUSY)
            return
        lines = []
        async with transaction(self._s.sessions) as session:
            granter = await self._sender(session, context)
            for member in members:
                if member is None or not member.aad_object_id:
                    lines.append("I couldn't find one of those people in this team or chat.")
                    continue
                name = escape(member.name or "They")
                try:
                    if isinstance(command, GrantLeadCommand):
                        new = await grant_lead(
                            session,
                            member.aad_object_id,
                            now=self._s.clock(),
                            configured=self._s.configured_leads,
                            name=member.name,
                            granted_by_id=granter.id,
                        )
                        lines.append(f"{name} is now a lead." if new else f"{name} was already a lead.")
                    else:
                        gone = await revoke_lead(
                            session,
                            member.aad_object_id,
                            configured=self._s.configured_leads,
                            name=member.name,
                        )
                        lines.append(f"{name} is no longer a lead." if gone else f"{name} was not a lead.")
                except LeadError as exc:
                    lines.append(exc.message)
        await self._say(context, "\n".join(lines))

    async def _my_organisation(self, context: TurnContext, command: MyOrganisationCommand) -> None:
        async with transaction(self._s.sessions) as session:
            person = await self._sender(session, context)
            if command.name is None:
                organisation, _source = await person_organisation(session, person.id or 0)
                name = organisation.name if organisation else None
                await self._say(
                    context,
                    f"You answer for {escape(name)}."
                    if name
                    else "You have no organisation yet (unassigned). Say: my organisation <name>.",
                )
                return
            try:
                organisation = await set_own_organisation(
                    session, person.id or 0, command.name, now=self._s.clock()
                )
            except OrganisationError as exc:
                await self._say(context, str(exc))
                return
        await self._say(context, f"Thanks: you answer for {escape(organisation.name)} from now on.")

    async def _domains(
        self, context: TurnContext, command: MapDomainCommand | UnmapDomainCommand | DomainsCommand
    ) -> None:
        async with transaction(self._s.sessions) as session:
            try:
                if isinstance(command, MapDomainCommand):
                    mapped = await map_domain(
                        session, command.domain, command.organisation, now=self._s.clock()
                    )
                    message = (
                        f"People with @{mapped.domain} addresses answer for "
                        f"{escape(mapped.organisation.name)} ({mapped.people_assigned} assigned now)."
                    )
                elif isinstance(command, UnmapDomainCommand):
                    gone = await unmap_domain(session, command.domain)
                    message = f"Forgot {command.domain}." if gone else f"{command.domain} was not mapped."
                else:
                    mappings = await list_domains(session)
                    message = (
                        "\n".join(
                            ["Email domains:"]
                            + [f"- {m.domain} → {escape(m.organisation_name)}" for m in mappings]
                        )
                        if mappings
                        else 'No email domains are mapped yet: map domain <domain> to "<organisation>".'
                    )
            except OrganisationError as exc:
                message = str(exc)
        await self._say(context, message)

    # Helpers -------------------------------------------------------------------------------------

    async def _is_lead(self, context: TurnContext) -> bool:
        sender = context.activity.from_property
        async with transaction(self._s.sessions) as session:
            return await is_lead(
                session, sender.aad_object_id if sender else None, configured=self._s.configured_leads
            )

    async def _sender(self, session: AsyncSession, context: TurnContext) -> Person:
        sender = context.activity.from_property
        return await person_for(session, teams_user_id=sender.id, name=sender.name, now=self._s.clock())

    async def _find_framework(
        self, session: AsyncSession, context: TurnContext, framework_id: str
    ) -> UsableFramework | None:
        return await find_framework(
            session,
            built_in=self._s.catalogue,
            tenant_id=tenant_of(context.activity),
            framework_id=framework_id,
        )

    async def _frameworks(self, context: TurnContext) -> str:
        """The built-in frameworks and the tenant's published ones (bot.leads.tenant_frameworks)."""
        async with transaction(self._s.sessions) as session:
            frameworks = await usable_frameworks(
                session, built_in=self._s.catalogue, tenant_id=tenant_of(context.activity)
            )
        if not frameworks:
            return "No frameworks are loaded."
        lines = ["Frameworks (start one with: start <id>):"]
        for usable in frameworks:
            f = usable.framework
            counted = f"{len(f.scored_elements)} questions{_published(usable)}"
            lines.append(f"- {escape(f.id)}: {escape(f.title)} ({counted})")
        return "\n".join(lines)

    async def _say(self, context: TurnContext, text: str) -> None:
        await outgoing.send(context, MessageFactory.text(text))


@dataclass(frozen=True)
class _Target:
    """What a summary command resolved to: the survey to summarise, and the partnership it follows."""

    survey: Survey
    partnership: Partnership | None = None
    framework_id: str | None = None

    @property
    def label(self) -> str:
        if self.partnership is not None:
            return f"“{escape(self.partnership.name)}” (its latest {escape(self.framework_id or '')} round)"
        return f"“{escape(self.survey.title)}”"

    def keys(self) -> dict[str, Any]:
        """A subscription's target columns: a partnership follows its latest round; a survey is fixed."""
        if self.partnership is not None:
            return {"partnership_id": self.partnership.id, "framework_id": self.framework_id}
        return {"survey_id": self.survey.id}


async def _subscription_line(session: AsyncSession, subscription: SummarySubscription) -> str:
    if subscription.partnership_id is not None:
        partnership = await partnership_by_id(session, partnership_id=subscription.partnership_id)
        what = (
            f"partnership “{escape(partnership.name if partnership else '?')}”, {subscription.framework_id}"
        )
    else:
        survey = (
            await survey_by_id(session, survey_id=subscription.survey_id) if subscription.survey_id else None
        )
        what = f"#{subscription.survey_id} “{escape(survey.title)}”" if survey else "a survey"
    weighting = (
        f", weighted {WEIGHTING_TEXT[Weighting(subscription.weighting)]}" if subscription.weighting else ""
    )
    when = (
        f"{_WEEKDAYS[subscription.weekday]}s at {subscription.time_of_day:%H:%M} ({subscription.time_zone})"
    )
    return f"{what}: {when}{weighting}"


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NO_SUBSCRIPTIONS = (
    "No weekly summaries are posted here. A lead can start one: subscribe weekly Monday 09:00."
)
_STATE_WORD = {SurveyState.OPEN: "open ", SurveyState.CLOSED: "closed "}


def _missing(ref: SurveyRef | None, state: SurveyState | None = None, *, reach: Reach) -> str:
    """Why a command found no survey: the same words whether or not the survey exists out of reach.
    In a lead's 1:1 chat `surveys` lists every survey they can reach, so it is offered there."""
    word = _STATE_WORD.get(state, "") if state is not None else ""
    leads_chat = reach.place_id is None and reach.lead
    if ref is not None and ref.number is not None:
        where = "to see their numbers" if leads_chat else "in its channel to see its numbers"
        return f"There is no {word}survey #{ref.number} here. Say surveys {where}."
    if ref is not None and ref.fragment:
        return f"No {word}survey here matches “{escape(clip(ref.fragment, 60))}”."
    if leads_chat:
        return f"Which {word}survey? Add its number, e.g. #12; say surveys to see the numbers."
    return f"There is no {word}survey here yet. Name one (status #12), or see the ones here with surveys."


def _ref(ref: SurveyRef | None) -> dict[str, Any]:
    """A typed survey reference as `find_survey`'s keywords."""
    if ref is None:
        return {}
    return {"number": ref.number, "fragment": ref.fragment}


def reach_of(activity: Activity, *, scope: Scope, lead: bool) -> Reach:
    """Which surveys a command typed here by this person may see (storage.surveys.Reach): decided
    once per activity, passed to every lookup."""
    conversation = activity.conversation
    place = None if scope is Scope.PERSONAL or conversation is None else place_of(conversation.id)
    return Reach(tenant_id=tenant_of(activity), place_id=place, lead=lead)


def _team_of(activity: Activity) -> str | None:
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    team = channel_data.get("team")
    return team.get("id") if isinstance(team, dict) and isinstance(team.get("id"), str) else None


def _mentioned(activity: Activity) -> list[str]:
    """Teams user ids of the people mentioned (not the bot), in order, each once."""
    bot_id = activity.recipient.id if activity.recipient else None
    ids: list[str] = []
    for entity in activity.entities or []:
        if entity.type != "mention":
            continue
        mentioned = (entity.additional_properties or {}).get("mentioned")
        who = mentioned.get("id") if isinstance(mentioned, dict) else None
        if isinstance(who, str) and who and who != bot_id and who not in ids:
            ids.append(who)
    return ids


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


def _unassigned_hint(unassigned: int) -> str:
    """How people get an organisation, for the start card: results are broken down by it."""
    who = "1 person has" if unassigned == 1 else f"{unassigned} people have"
    return (
        f"{who} no organisation yet. Everyone at an email domain gets one when you say map domain, "
        "e.g. map domain anytown-trust.nhs.uk to “Anytown NHS Trust”; anyone can say "
        "my organisation and its name in their 1:1 chat with me."
    )


def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "0%"


def _published(usable: UsableFramework) -> str:
    if usable.published_version is None:
        return ""
    replaces = ", replaces the built-in" if usable.replaces_built_in else ""
    return f"; your own, version {usable.published_version}{replaces}"


def _start_form(frameworks: list[FrameworkChoice]) -> Activity:
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
    ]
    fallback = 'Start a survey: type start <framework> [closes <date>] [title "<text>"].'
    next_step = execute_action("Next", LEAD_VERB, {"lead": "start_form"}, style="positive")
    return card_activity(adaptive_card(body, fallback, [next_step]))


def _confirm_card(
    *,
    survey_id: int,
    title: str,
    framework: str,
    audience: int,
    organisations: str,
    unassigned: int,
    closes: str,
) -> Activity:
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
            ],
        },
        text_block(
            "Each person gets a 1:1 invitation from me. Nothing is sent until you confirm.", isSubtle=True
        ),
    ]
    if unassigned:
        body.insert(2, text_block(_unassigned_hint(unassigned), isSubtle=True))
    actions = [button("Send invitations", "confirm", "positive"), button("Cancel", "cancel")]
    return card_activity(adaptive_card(body, f"Start {title}? Type start again to change it.", actions))
