"""Who is in a Teams conversation, from the Bot Connector (`bot.teams.connector`): a team's whole
roster, or a group chat's. In a team's channel the team is asked (its id as the conversation's), as
for a proactive turn naming the team.

Teams pages rosters (at most 500 members a page) and may repeat a member across pages, so pages are
followed to the end and members kept once. Bots (`28:…` ids) are left out: they answer no surveys.

Each request is retried when Teams throttles it (429, honouring Retry-After) or fails for a moment
(5xx, timeouts), with jittered backoff, within `RetryBudget`: a lead is waiting for the answer, so
when Teams asks for a longer wait than the budget allows, `RosterUnavailable` says so instead.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from botbuilder.core import TurnContext
from botbuilder.core.teams import teams_get_team_info

from bot.outbox.policy import Verdict, backoff_seconds
from bot.teams.adapter import connector_of
from bot.teams.connector import ConnectorError
from bot.teams.proactive import classify
from storage.roster import Member

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 500
"""The most members Teams returns in one page."""
BOT_ID_PREFIX = "28:"

__all__ = [
    "MAX_PAGE_SIZE",
    "Member",
    "RetryBudget",
    "RosterUnavailable",
    "fetch_member",
    "fetch_roster",
    "member_from",
]

T = TypeVar("T")


class RosterUnavailable(Exception):
    """Teams kept refusing or throttling the roster for longer than a person should wait."""


@dataclass(frozen=True)
class RetryBudget:
    attempts: int = 4
    seconds: float = 10.0
    """Waiting in all, so the lead hears back well within Teams' patience with the bot's answer."""
    base: float = 0.5
    cap: float = 4.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)


async def _retried(call: Callable[[], Awaitable[T]], budget: RetryBudget, what: str) -> T:
    """`call()`, again after a throttle or a transient failure, within `budget`."""
    waited = 0.0
    for attempt in range(1, budget.attempts + 1):
        try:
            return await call()
        except ConnectorError as error:
            outcome = classify(error, now=datetime.now(UTC))
            if outcome.verdict not in (Verdict.THROTTLED, Verdict.RETRY):
                raise  # refused for good (403, 404…): the caller decides
            if attempt == budget.attempts:
                raise RosterUnavailable(f"{what}: {outcome.error} after {attempt} attempts") from error
            wait = outcome.retry_after
            if wait is None:
                backoff = backoff_seconds(attempt, base=budget.base, cap=budget.cap, rng=budget.rng)
                wait = budget.base + backoff
            if waited + wait > budget.seconds:
                raise RosterUnavailable(f"{what}: Teams asked to wait {wait:.0f} s") from error
            log.info("%s: %s; trying again in %.1f s", what, outcome.error, wait)
            waited += wait
            await budget.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")


def member_from(account: dict[str, Any]) -> Member | None:
    """The roster entry for a Teams account (its JSON); None for bots and entries without an id."""
    member_id = _text(account, "id")
    if member_id is None or member_id.startswith(BOT_ID_PREFIX):
        return None
    return Member(
        id=member_id,
        aad_object_id=_text(account, "aadObjectId"),
        name=_text(account, "name"),
        email=_text(account, "email"),
        user_principal_name=_text(account, "userPrincipalName"),
        tenant_id=_text(account, "tenantId"),
    )


def _text(account: dict[str, Any], key: str) -> str | None:
    value = account.get(key)
    return value if isinstance(value, str) and value else None


async def fetch_roster(
    turn_context: TurnContext,
    *,
    team_id: str | None = None,
    page_size: int = MAX_PAGE_SIZE,
    budget: RetryBudget | None = None,
) -> list[Member]:
    """Everyone in this turn's team (the team's whole roster, from any of its channels) or chat.

    `team_id` names the team when the turn does not (a proactive turn carries no channel data)."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")
    connector, service_url = connector_of(turn_context), turn_context.activity.service_url
    asked = team_id or _team_id(turn_context) or _conversation_id(turn_context)
    members: dict[str, Member] = {}
    token: str | None = None
    tokens_seen: set[str] = set()
    pages = 0
    while True:
        page = await _retried(
            partial(
                connector.paged_members, service_url, asked, page_size=page_size, continuation_token=token
            ),
            budget or RetryBudget(),
            "roster page",
        )
        pages += 1
        for account in page.members:
            member = member_from(account)
            if member is not None:
                members.setdefault(member.id, member)
        token = page.continuation_token
        if token is None:
            break
        if token in tokens_seen:
            log.warning("roster paging returned a continuation token twice; stopped after %d pages", pages)
            break
        tokens_seen.add(token)
    log.info("roster: %d members in %d pages", len(members), pages)
    return list(members.values())


async def fetch_member(
    turn_context: TurnContext,
    member_id: str,
    *,
    team_id: str | None = None,
    budget: RetryBudget | None = None,
) -> Member | None:
    """One member of this turn's team or chat (a mention names only the Teams user id; this gives
    the AAD object id); None when they are not a member, or are a bot."""
    connector, service_url = connector_of(turn_context), turn_context.activity.service_url
    asked = team_id or _team_id(turn_context) or _conversation_id(turn_context)
    lookup = partial(connector.member, service_url, asked, member_id)
    try:
        account = await _retried(lookup, budget or RetryBudget(), "member lookup")
    except ConnectorError as error:
        if error.status == 404:
            return None
        raise
    return member_from(account)


def _team_id(turn_context: TurnContext) -> str | None:
    team = teams_get_team_info(turn_context.activity)
    return team.id if team is not None and team.id else None


def _conversation_id(turn_context: TurnContext) -> str:
    conversation = turn_context.activity.conversation
    if conversation is None or not conversation.id:
        raise ValueError("the turn names no conversation to read the members of")
    conversation_id: str = conversation.id
    return conversation_id
