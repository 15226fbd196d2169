"""The edge of /api/messages: which tenants may use the bot, and what each turn is tagged and timed by.

The middleware parses the body once (the route hands that to the adapter). With an app id it checks
the token first, against only what authentication needs (the body's channelId and serviceUrl), so a
caller without a valid token gets 401 whatever the body and never reaches the shape check. Then it
refuses a body that is not a well-formed activity with 400 (bot/inbound.py says what well-formed is),
binds the turn's ids for the logs, refuses tenants not on the allow-list with 403 before any
processing, and counts and times the turn by activity type and outcome.

Only aiohttp's body size bound (413) comes before the token. A token vouches for one serviceUrl (its
`serviceurl` claim), so a body whose serviceUrl cannot be read (not JSON, nested too deep, a lone
surrogate, no serviceUrl) or names another is not vouched for: 401, even with a genuine token.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from botbuilder.schema import Activity
from botframework.connector.auth import AuthenticateRequestResult

from bot.ops.logs import TURN, bound_turn
from bot.ops.metrics import Metrics
from bot.teams.addresses import on_this_machine
from bot.teams.inbound import MalformedActivity, check_activity, claimed_origin, read_json

log = logging.getLogger(__name__)

MESSAGES_PATH = "/api/messages"
ACTIVITY_TYPES = frozenset(
    {"message", "invoke", "conversationUpdate", "installationUpdate", "messageReaction", "event", "typing"}
)
"""Activity types counted under their own name; any other is "other", and a body that is not an
activity "invalid" (metric labels must be a bounded set)."""


def activity_tenant(activity: Mapping[str, Any]) -> str | None:
    """Teams puts the tenant on the conversation and in channelData; either will do."""
    conversation = activity.get("conversation")
    if isinstance(conversation, Mapping) and conversation.get("tenantId"):
        return str(conversation["tenantId"])
    channel_data = activity.get("channelData")
    tenant = channel_data.get("tenant") if isinstance(channel_data, Mapping) else None
    if isinstance(tenant, Mapping) and tenant.get("id"):
        return str(tenant["id"])
    return None


def tenant_of(activity: Activity) -> str | None:
    """`activity_tenant` for a parsed activity."""
    if activity.conversation is not None and activity.conversation.tenant_id:
        tenant_id: str = activity.conversation.tenant_id
        return tenant_id
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = channel_data.get("tenant")
    return tenant.get("id") if isinstance(tenant, dict) else None


def tenant_allowed(activity: Mapping[str, Any], allowed: Collection[str]) -> bool:
    """With no allow-list every tenant may; with one, only activities naming a listed tenant (one that
    names none is refused: every Teams activity carries its tenant). Tenant ids compare case-blind."""
    if not allowed:
        return True
    tenant = activity_tenant(activity)
    return tenant is not None and tenant.lower() in {entry.lower() for entry in allowed}


def _local_or_none(service_url: object) -> bool:
    """An activity without a serviceUrl gets no reply (the edge refuses those that would need one)."""
    return service_url is None or on_this_machine(service_url)


ACTIVITY = web.RequestKey("surveybot_activity", dict)
"""The request's activity, parsed once here and checked to be one; absent when it is not."""
AUTHENTICATED = web.RequestKey("surveybot_authenticated", AuthenticateRequestResult)
"""With an app id, the request's verified token, for the adapter (so it is not checked twice)."""

Authenticate = Callable[[Activity, str], Awaitable[AuthenticateRequestResult]]
"""The adapter's `authenticate_request(activity, authorization_header)`: `PermissionError` when refused."""
_UNREAD = object()
"""The body of a request that is not JSON (by content type or by its bytes)."""


def turn_middleware(
    metrics: Metrics,
    *,
    allowed_tenants: Collection[str] = (),
    local_mode: bool = False,
    authenticate: Authenticate | None = None,
) -> Middleware:
    """For POST /api/messages only; every other route passes straight through. With `authenticate`
    (an app id is set) every request's token is checked before its body's shape.

    In local mode (no app id) nothing vouches for an activity's serviceUrl, and the bot would send its
    replies, and later its invitations, wherever the caller pointed it. So there an activity is taken
    only from an Emulator on this machine; with an app id, the token's `serviceurl` claim vouches."""
    allowed = frozenset(tenant.lower() for tenant in allowed_tenants)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != MESSAGES_PATH or request.method != "POST":
            return await handler(request)
        started = time.perf_counter()
        try:
            body, unreadable = await _read(request)
            if authenticate is not None:
                request[AUTHENTICATED] = await _authenticated(request, body, authenticate)
            activity = _activity(body, unreadable)
        except web.HTTPException as refusal:  # too large, unauthenticated, or not an activity
            metrics.turns.labels("invalid", _outcome(refusal.status)).inc()
            raise
        kind = _label(activity)
        if activity is not None:
            request[ACTIVITY] = activity
        with bound_turn(*_ids(activity), activity_type=kind) as turn:
            request[TURN] = turn
            status: int | None = None
            try:
                if activity is not None and not tenant_allowed(activity, allowed):
                    log.warning(
                        "refused an activity from tenant %s: not in ALLOWED_TENANT_IDS",
                        activity_tenant(activity),
                    )
                    raise web.HTTPForbidden(text="this bot is not available to your organisation")
                if local_mode and activity is not None and not _local_or_none(activity.get("serviceUrl")):
                    log.warning("refused an activity for another machine's serviceUrl in local mode")
                    raise web.HTTPForbidden(
                        text="without MICROSOFT_APP_ID the bot answers only a Bot Framework Emulator "
                        "on this machine (a loopback serviceUrl)"
                    )
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as refusal:
                status = refusal.status
                raise
            except asyncio.CancelledError:
                turn.outcome = turn.outcome or "cancelled"
                raise
            finally:
                turn.outcome = turn.outcome or _outcome(status)
                metrics.turns.labels(kind, turn.outcome).inc()
                metrics.turn_seconds.labels(kind).observe(time.perf_counter() - started)

    return middleware


async def _read(request: web.Request) -> tuple[Any, MalformedActivity | None]:
    """The body as JSON (`_UNREAD` when it is not sent as JSON), or why its bytes are not JSON."""
    if request.content_type != "application/json":
        return _UNREAD, None
    try:
        return read_json(await request.read()), None
    except MalformedActivity as malformed:
        return _UNREAD, malformed


async def _authenticated(
    request: web.Request, body: Any, authenticate: Authenticate
) -> AuthenticateRequestResult:
    """The verified token for the channel and serviceUrl the body claims; 401 (the refusal was logged
    as one WARNING line) or 503 (no signing keys yet) otherwise."""
    channel_id, service_url = claimed_origin(body)
    try:
        return await authenticate(
            Activity(channel_id=channel_id, service_url=service_url), request.headers.get("Authorization", "")
        )
    except PermissionError:
        raise web.HTTPUnauthorized() from None


def _activity(body: Any, unreadable: MalformedActivity | None) -> dict[str, Any] | None:
    """The activity; None when the body was not sent as JSON (the route answers 415); 400 with one
    WARNING line, before anything is stored or sent, when it is not a well-formed activity."""
    try:
        if unreadable is not None:
            raise unreadable
        return None if body is _UNREAD else check_activity(body)
    except MalformedActivity as malformed:
        log.warning("refused a malformed activity: %s", malformed.reason)
        raise web.HTTPBadRequest(text=malformed.reason) from None


def _ids(activity: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """The activity id and conversation id, if the body names them."""
    if activity is None:
        return None, None
    conversation = activity.get("conversation")
    conversation_id = conversation.get("id") if isinstance(conversation, Mapping) else None
    return (str(activity["id"]) if activity.get("id") else None), (
        str(conversation_id) if conversation_id else None
    )


def _label(activity: Mapping[str, Any] | None) -> str:
    if activity is None:
        return "invalid"
    kind = activity.get("type")
    return kind if kind in ACTIVITY_TYPES else "other"


def _outcome(status: int | None) -> str:
    if status is None or status >= 500:
        return "error"
    if status in (401, 403):
        return "refused"
    if status >= 400:
        return "rejected"
    return "ok"
