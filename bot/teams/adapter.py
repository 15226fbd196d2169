"""The Bot Framework adapter: botbuilder's CloudAdapter for inbound authentication (with an app id,
`bot.teams.channel_auth`) and turn handling, its outbound calls made by the bot's own Bot Connector
client (`bot.teams.connector`), and turn error handling."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes, ResourceResponse
from botframework.connector.auth import (
    AppCredentials,
    AuthenticateRequestResult,
    ServiceClientCredentialsFactory,
)

from bot.ops.logs import set_turn_outcome
from bot.settings import Settings
from bot.teams.channel_auth import ChannelAuthentication
from bot.teams.connector import BotConnector
from bot.teams.signing_keys import SigningKeys
from bot.teams.unfinished import RepliesNotSent, TurnUnfinished
from dialogs.activity_json import model_json
from frameworks.clock import Clock, utc_now

__all__ = ["TeamsAdapter", "connector_of", "create_adapter"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _AuthConfiguration:
    """The attribute names the SDK reads (APP_ID…). It never gets the secret: outbound calls carry the
    token of `bot.teams.app_tokens`, through `bot.teams.connector`."""

    APP_ID: str
    APP_PASSWORD: str = ""
    APP_TYPE: str = "MultiTenant"


class _NoSdkCredentials(ServiceClientCredentialsFactory):
    """The SDK's credentials factory, minus its credentials: those would ask Entra ID through MSAL with
    blocking I/O on the event loop, and the SDK builds them only for its own msrest clients, which
    nothing here may use. Whether authentication is on is what the SDK still asks it (local mode)."""

    def __init__(self, app_id: str) -> None:
        self._app_id = app_id

    async def is_valid_app_id(self, app_id: str) -> bool:
        return app_id == self._app_id

    async def is_authentication_disabled(self) -> bool:
        return not self._app_id

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> AppCredentials:
        raise RuntimeError("outbound calls go through bot.teams.connector, not the SDK's clients")


class TeamsAdapter(CloudAdapter):
    """The SDK's adapter with its outbound calls made by `connector` (one shared aiohttp session, bodies
    serialised once with `json`) instead of msrest clients sending with `requests` in worker threads."""

    def __init__(self, authentication: ChannelAuthentication, connector: BotConnector) -> None:
        super().__init__(authentication)
        self.connector = connector

    async def process_activity(
        self,
        auth_header_or_authenticate_request_result: str | AuthenticateRequestResult,
        activity: Activity,
        logic: Any,
    ) -> Any:
        """The SDK's turn, without the msrest connector client and user-token client it would build for
        every turn (~5.7 ms of CPU; nothing reads them: replies go through `connector`)."""
        authenticated = auth_header_or_authenticate_request_result
        if not isinstance(authenticated, AuthenticateRequestResult):
            authenticated = await self.bot_framework_authentication.authenticate_request(
                activity, authenticated
            )
        activity.caller_id = authenticated.caller_id
        context = _TeamsTurnContext(self, activity)
        context.turn_state[self.BOT_IDENTITY_KEY] = authenticated.claims_identity
        context.turn_state[self.BOT_CALLBACK_HANDLER_KEY] = logic
        context.turn_state[self.BOT_OAUTH_SCOPE_KEY] = authenticated.audience
        await self.run_pipeline(context, logic)
        return self._process_turn_results(context)

    async def send_activities(
        self, context: TurnContext, activities: list[Activity]
    ) -> list[ResourceResponse]:
        """Each activity to its conversation: an invoke's answer is kept for the HTTP response, trace
        activities go nowhere (as in the SDK), a reply goes into the thread of the activity it answers."""
        responses = []
        for activity in activities:
            activity.id = None
            sent: str | None = None
            if activity.type == ActivityTypes.invoke_response:
                context.turn_state[self._INVOKE_RESPONSE_KEY] = activity
            elif activity.type != ActivityTypes.trace:
                body = model_json(activity)
                conversation_id = activity.conversation.id
                if activity.reply_to_id:
                    sent = await self.connector.reply(
                        activity.service_url, conversation_id, activity.reply_to_id, body
                    )
                else:
                    sent = await self.connector.send(activity.service_url, conversation_id, body)
            responses.append(ResourceResponse(id=sent or ""))
        return responses

    async def update_activity(self, context: TurnContext, activity: Activity) -> ResourceResponse | None:
        """Replace the message `activity.id` (an answered card by its read-only copy)."""
        updated = await self.connector.update(
            activity.service_url, activity.conversation.id, activity.id, model_json(activity)
        )
        return ResourceResponse(id=updated) if updated else None


class _Outgoing(Activity):
    """An activity on its way out: the SDK's `TurnContext.send_activities` deep-copies each one so the
    caller's stays untouched, and a question card's 6.5 KB of JSON made that the dearest step of a reply.
    Only top-level fields of the copy are set (conversation, ids), so a shallow copy does the same."""

    def __deepcopy__(self, _memo: dict[int, Any]) -> _Outgoing:
        return copy.copy(self)


class _TeamsTurnContext(TurnContext):
    async def send_activities(self, activities: list[Activity]) -> list[ResourceResponse]:
        outgoing = []
        for activity in activities:
            shallow = copy.copy(activity)
            shallow.__class__ = _Outgoing
            outgoing.append(shallow)
        sent: list[ResourceResponse] = await super().send_activities(outgoing)
        return sent


def connector_of(context: TurnContext) -> BotConnector:
    """The Bot Connector client of this turn's adapter (a roster read in the turn)."""
    adapter = context.adapter
    if not isinstance(adapter, TeamsAdapter):
        raise TypeError(f"a {type(adapter).__name__} has no Bot Connector client (bot.teams.adapter)")
    return adapter.connector


def create_adapter(
    settings: Settings,
    connector: BotConnector,
    *,
    keys: SigningKeys | None = None,
    clock: Clock = utc_now,
) -> TeamsAdapter:
    """With an app id, inbound tokens are checked against `keys` (the caller keeps them fresh:
    `SigningKeys.kept_fresh`) and `connector` must carry the bot's token on outbound calls."""
    if not settings.local_mode and not connector.authorizes:
        raise ValueError("with an app id, outbound calls need the bot's tokens (BotConnector(tokens))")
    app_id = settings.microsoft_app_id
    if keys is None and not settings.local_mode:
        keys = SigningKeys(settings.bot_openid_metadata_url)
    inbound = ChannelAuthentication(
        ConfigurationBotFrameworkAuthentication(
            _AuthConfiguration(APP_ID=app_id), credentials_factory=_NoSdkCredentials(app_id)
        ),
        app_id=app_id,
        keys=keys,
        clock=clock,
    )
    adapter = TeamsAdapter(inbound, connector)
    adapter.on_turn_error = _on_turn_error
    return adapter


async def _on_turn_error(context: TurnContext, error: Exception) -> None:
    """Log the failure with the activity id (no user text) and tell the person, without details. A turn
    that could not finish here (its replies owed) is answered with a 5xx instead, so Teams delivers the
    activity again: no "Sorry" (that send would fail too) and no traceback."""
    activity = context.activity
    if isinstance(error, TurnUnfinished):
        raise _unfinished(activity, error) from None
    set_turn_outcome("failed")
    log.error(
        "turn failed: activity %s type %s in %s",
        activity.id,
        activity.type,
        activity.conversation.conversation_type if activity.conversation else None,
        exc_info=error,
    )
    if activity.type == ActivityTypes.message:
        await context.send_activity(
            "Sorry, something went wrong on my side. Nothing you have already answered is lost: "
            "please try again in a moment."
        )


_RETRY_STATUSES: dict[int, type[web.HTTPException]] = {
    502: web.HTTPBadGateway,
    503: web.HTTPServiceUnavailable,
}


def _unfinished(activity: Activity, error: TurnUnfinished) -> web.HTTPException:
    """The HTTP answer that asks Teams to deliver the activity again; one log line says why."""
    if isinstance(error, RepliesNotSent):
        set_turn_outcome("failed")  # a real failure on our side of Teams, counted as one
        log.error("replies of activity %s not sent (%s): kept for Teams' redelivery", activity.id, error)
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    status = _RETRY_STATUSES[error.status]
    return status(headers=headers, text="the bot could not finish this activity: deliver it again")
