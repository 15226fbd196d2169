"""The bot's own client of the Bot Connector service: every call the bot makes to Teams (replies, card
updates, proactive sends, new 1:1 chats, rosters) goes through one `BotConnector`.

One shared aiohttp session, opened for the app's lifetime (`running`, a cleanup context), so requests
stay on the event loop and reuse their connections; each request has a timeout. Bodies are plain
dicts serialised once with `json` (`dialogs.activity_json`: botbuilder's Activities by `model_json`,
outbox messages by `message_json`).

With an app id each request carries the token `bot.teams.app_tokens.AppTokens` keeps fresh, read
without waiting (`AppTokenUnavailable` at once when there is none). A failed request raises
`ConnectorError` (dialogs.outgoing); nothing is retried here: the turn's replies
(`dialogs.outgoing`), the outbox (`bot.outbox.policy`) and the roster (`bot.teams.roster`) decide that.
The paths are Teams' (TEAMS-FACTS): a team's roster is read as the conversation whose id is the team's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from yarl import URL

from bot.teams.app_tokens import AppTokens
from bot.teams.proxies import Proxies
from dialogs.activity_json import json_bytes
from dialogs.outgoing import ConnectorError

__all__ = [
    "REQUEST_TIMEOUT",
    "BotConnector",
    "ConnectorError",
    "MembersPage",
]

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 10.0
"""Seconds any request may take (a caller may bound it tighter). Teams answers in well under one, and
waits 15 s for the bot's answer to an activity: a reply slower than this fails, so the turn is
answered 5xx in time and its kept replies go out with Teams' redelivery."""
JSON = "application/json; charset=utf-8"


@dataclass(frozen=True)
class MembersPage:
    """One page of a roster: members as Teams' JSON (id, name, aadObjectId, email…), and the token of
    the next page (None on the last)."""

    members: list[dict[str, Any]]
    continuation_token: str | None


class BotConnector:
    """The Bot Connector's REST calls, each to the service URL of the conversation it concerns.

    Open while inside `open()` (or the app's cleanup context `running`); a call outside raises."""

    def __init__(self, tokens: AppTokens | None = None, *, timeout: float = REQUEST_TIMEOUT) -> None:
        self._tokens = tokens
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies = Proxies()

    @property
    def authorizes(self) -> bool:
        """Whether requests carry the bot's token (with an app id); in local mode they carry none."""
        return self._tokens is not None

    @asynccontextmanager
    async def open(self) -> AsyncIterator[BotConnector]:
        """The shared session, open while inside."""
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        self._proxies = await Proxies.from_environment()
        async with aiohttp.ClientSession(timeout=timeout, raise_for_status=False) as session:
            self._session = session
            try:
                yield self
            finally:
                self._session = None

    async def running(self, _app: web.Application) -> AsyncIterator[None]:
        """A cleanup context: open from the app's start to its shutdown."""
        async with self.open():
            yield

    # Activities ---------------------------------------------------------------------------------------

    async def reply(
        self,
        service_url: str,
        conversation_id: str,
        reply_to_id: str,
        activity: Mapping[str, Any],
    ) -> str | None:
        """Post `activity` in reply to another (in its thread); Teams' id of the new message."""
        path = f"{_conversation(conversation_id)}/activities/{_segment(reply_to_id)}"
        return _sent_id(await self._call("POST", service_url, path, activity, "reply"))

    async def send(
        self,
        service_url: str,
        conversation_id: str,
        activity: Mapping[str, Any],
    ) -> str | None:
        """Post `activity` as a new message in the conversation; Teams' id of it."""
        path = f"{_conversation(conversation_id)}/activities"
        return _sent_id(await self._call("POST", service_url, path, activity, "send"))

    async def update(
        self,
        service_url: str,
        conversation_id: str,
        activity_id: str,
        activity: Mapping[str, Any],
    ) -> str | None:
        """Replace the message `activity_id` with `activity`; the id Teams answers with."""
        path = f"{_conversation(conversation_id)}/activities/{_segment(activity_id)}"
        return _sent_id(await self._call("PUT", service_url, path, activity, "update"))

    # Conversations and members -----------------------------------------------------------------------

    async def create_conversation(self, service_url: str, parameters: Mapping[str, Any]) -> str:
        """Create a conversation (a 1:1 chat, from Teams' ConversationParameters JSON); its id."""
        answer = _json(
            await self._call("POST", service_url, "/v3/conversations", parameters, "create"), "create"
        )
        conversation_id = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(conversation_id, str) or not conversation_id:
            raise ConnectorError("create", "answer has no conversation id")
        return conversation_id

    async def member(self, service_url: str, conversation_id: str, member_id: str) -> dict[str, Any]:
        """One member of a conversation or team, as Teams' JSON; a 404 when they are not one."""
        path = f"{_conversation(conversation_id)}/members/{_segment(member_id)}"
        answer = _json(await self._call("GET", service_url, path, None, "member"), "member")
        if not isinstance(answer, dict):
            raise ConnectorError("member", "answer is not a member")
        return answer

    async def paged_members(
        self,
        service_url: str,
        conversation_id: str,
        *,
        page_size: int,
        continuation_token: str | None = None,
    ) -> MembersPage:
        """A page of the members of a conversation or team (Teams serves at most 500 a page)."""
        query = f"?pageSize={page_size}"
        if continuation_token is not None:
            query += f"&continuationToken={_segment(continuation_token)}"
        path = f"{_conversation(conversation_id)}/pagedmembers{query}"
        answer = _json(await self._call("GET", service_url, path, None, "roster page"), "roster page")
        members = answer.get("members") if isinstance(answer, dict) else None
        if not isinstance(members, list):
            raise ConnectorError("roster page", "answer has no members")
        token = answer.get("continuationToken")
        return MembersPage(
            [member for member in members if isinstance(member, dict)],
            token if isinstance(token, str) and token else None,
        )

    # The request ---------------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        service_url: str,
        path: str,
        body: Mapping[str, Any] | None,
        request: str,
    ) -> bytes:
        """The answer's body of a 2xx; `ConnectorError` for anything else. Redirects are not followed:
        the token goes to the conversation's own service URL only."""
        if self._session is None:
            raise RuntimeError("the Bot Connector client is not open (BotConnector.open or .running)")
        if not service_url:
            raise ValueError(f"{request}: the activity has no serviceUrl to send to")
        headers = {"Content-Type": JSON} if body is not None else {}
        if self._tokens is not None:
            headers["Authorization"] = f"Bearer {self._tokens.current()}"
        url = URL(service_url.rstrip("/") + path, encoded=True)
        data = None if body is None else json_bytes(body)
        proxy, proxy_headers = self._proxies.route(url)
        try:
            async with self._session.request(
                method,
                url,
                data=data,
                headers=headers,
                allow_redirects=False,
                proxy=proxy,
                proxy_headers=proxy_headers,
            ) as response:
                answer = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except TimeoutError as error:
            raise ConnectorError(request, "timed out") from error
        except aiohttp.ClientError as error:
            raise ConnectorError(request, type(error).__name__) from error
        if not 200 <= status < 300:
            code = _error_code(answer)
            reason = f"{status} {code}" if code else str(status)
            raise ConnectorError(request, reason, status=status, code=code, retry_after=retry_after)
        return answer


def _conversation(conversation_id: str) -> str:
    return f"/v3/conversations/{_segment(conversation_id)}"


def _segment(value: str) -> str:
    """A path segment or query value quoted whole, as msrest quoted them (`19:…@thread.v2;messageid=…`)."""
    return quote(value, safe="")


def _json(answer: bytes, request: str) -> Any:
    """A 2xx answer the caller needs (a new chat's id, members): without it the request achieved
    nothing usable, which is worth trying again."""
    try:
        return json.loads(answer)
    except ValueError:
        raise ConnectorError(request, "answer was not JSON") from None


def _sent_id(answer: bytes) -> str | None:
    """The id in a send's or update's answer. The send happened whatever its body says: an unreadable
    one gives no id, never an error that would send the message again."""
    try:
        document = json.loads(answer) if answer else None
    except ValueError:
        log.warning("the Bot Connector accepted a message with an answer that is not JSON")
        return None
    sent = document.get("id") if isinstance(document, dict) else None
    return sent if isinstance(sent, str) else None


def _error_code(answer: bytes) -> str | None:
    """Teams' error code from `{"error": {"code": …}}`; None for another body (a gateway's page)."""
    try:
        document = json.loads(answer)
    except ValueError:
        return None
    error = document.get("error") if isinstance(document, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) and code else None


# Bodies ---------------------------------------------------------------------------------------------
