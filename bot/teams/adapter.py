"""The Bot Framework adapter: inbound authentication when an app id is set (`bot.teams.channel_auth`), reused
connector clients, and turn error handling."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes
from botframework.connector import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    ServiceClientCredentialsFactory,
    UserTokenClient,
)
from botframework.connector.skills import BotFrameworkClient
from msrest.serialization import Serializer

from bot.ops.logs import set_turn_outcome
from bot.settings import Settings
from bot.teams.app_tokens import AppTokens
from bot.teams.channel_auth import ChannelAuthentication
from bot.teams.signing_keys import SigningKeys
from bot.teams.unfinished import RepliesNotSent, TurnUnfinished
from frameworks.clock import Clock, utc_now
from storage.lru import BoundedCache

log = logging.getLogger(__name__)

CONNECTOR_CLIENTS = 128
"""Connector clients kept (least recently used go): one per serviceUrl, and Teams' serviceUrls are a
handful of regions, or one per tenant. Each holds ~45 KB and a connection pool: 2,000 serviceUrls held
90 MB unbounded, 5.8 MB at this bound (tracemalloc)."""

_ClientKey = tuple[str | None, str, str | None]


@dataclass(frozen=True)
class _AuthConfiguration:
    """The attribute names the SDK reads (APP_ID…). It never gets the secret: with an app id, outbound
    credentials come from `bot.teams.app_tokens`: the SDK's own credentials are only built in local mode."""

    APP_ID: str
    APP_PASSWORD: str = ""
    APP_TYPE: str = "MultiTenant"


class _ReusedClients(BotFrameworkAuthentication):
    """The SDK's authentication, but connector and user-token clients are built once and reused.

    The SDK builds both for every turn, costing ~5.7 ms of CPU a turn (measured with
    benchmarks/turns.py); the C# SDK caches them per service URL too. Credentials read the token
    `bot.teams.app_tokens` keeps fresh, so a reused client stays valid. Keys include the app id, so bots never
    share clients.
    At most `capacity` are kept: an evicted client's connections are closed.
    """

    def __init__(self, inner: BotFrameworkAuthentication, *, capacity: int = CONNECTOR_CLIENTS) -> None:
        self._inner = inner
        self._connectors: BoundedCache[_ClientKey, ConnectorClient] = BoundedCache(capacity)
        self._token_clients: dict[str | None, UserTokenClient] = {}

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        if result.connector_factory is not None:
            result.connector_factory = self._reusing(result.connector_factory, result.claims_identity)
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._reusing(self._inner.create_connector_factory(claims_identity), claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        app_id = _app_id(claims_identity)
        if app_id not in self._token_clients:
            self._token_clients[app_id] = await self._inner.create_user_token_client(claims_identity)
        return self._token_clients[app_id]

    def create_bot_framework_client(self) -> BotFrameworkClient:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        audience: str = self._inner.get_originating_audience()
        return audience

    def _reusing(self, factory: ConnectorFactory, claims_identity: ClaimsIdentity | None) -> ConnectorFactory:
        return _ReusingFactory(factory, _app_id(claims_identity), self._connectors)


class _ReusingFactory(ConnectorFactory):
    def __init__(
        self, inner: ConnectorFactory, app_id: str | None, cache: BoundedCache[_ClientKey, ConnectorClient]
    ) -> None:
        self._inner = inner
        self._app_id = app_id
        self._cache = cache

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = (self._app_id, service_url, audience)
        client = self._cache.get(key)
        if client is None:
            client = await self._inner.create(service_url, audience)
            client.conversations._serialize = _CardPassingSerializer(client._serialize.dependencies)
            # msrest's urllib3 retry would also retry a 429 that carries Retry-After, sleeping it out in a
            # worker thread (a minute, three times): the sender's tenant-wide pause and the roster's
            # budget would never hear of it. Throttling is theirs to handle; 5xx is still retried here.
            client.config.retry_policy.policy.respect_retry_after_header = False
            for _key, evicted in self._cache.put(key, client):
                await _close(evicted)
        return client


async def _close(client: ConnectorClient) -> None:
    """Close an evicted client's connection pool. A turn still holding it finishes its request (urllib3
    closes a connection returned to a closed pool) and a later one would open a fresh pool."""
    await client.__aexit__(None, None, None)


class _CardPassingSerializer(Serializer):
    """Sends Adaptive Card dicts as they are: they are JSON already, and msrest's walk over every node
    of a 6.5 KB card cost ~25× `json.dumps` of it, the largest share of a turn's CPU (benchmarks/turns.py).
    Everything else in the activity is serialised and validated by msrest as before."""

    def body(self, data: Any, data_type: str, **kwargs: Any) -> Any:
        attachments = getattr(data, "attachments", None) if data_type == "Activity" else None
        if not attachments or not all(isinstance(a.content, Mapping) for a in attachments):
            return super().body(data, data_type, **kwargs)
        bare = copy.copy(data)
        bare.attachments = [copy.copy(a) for a in attachments]
        for attachment in bare.attachments:
            attachment.content = None
        body = super().body(bare, data_type, **kwargs)
        for serialised, attachment in zip(body["attachments"], attachments, strict=True):
            serialised["content"] = attachment.content
        return body


def _app_id(claims_identity: ClaimsIdentity | None) -> str | None:
    if claims_identity is None:
        return None
    app_id: str | None = claims_identity.get_claim_value(AuthenticationConstants.AUDIENCE_CLAIM) or (
        claims_identity.get_claim_value(AuthenticationConstants.APP_ID_CLAIM)
    )
    return app_id


def create_adapter(
    settings: Settings,
    *,
    keys: SigningKeys | None = None,
    clock: Clock = utc_now,
    credentials: ServiceClientCredentialsFactory | None = None,
    tokens: AppTokens | None = None,
) -> CloudAdapter:
    """With an app id, inbound tokens are checked against `keys` (the caller keeps them fresh:
    `SigningKeys.kept_fresh`) and outbound requests carry the token `tokens` holds (kept fresh by
    `AppTokens.kept_fresh`); `credentials` replace that token issuer (tests)."""
    if credentials is None and tokens is not None:
        credentials = tokens.credentials_factory()
    if credentials is None and not settings.local_mode:
        # The SDK's own credentials would ask Entra ID with blocking I/O on the event loop.
        raise ValueError(
            "with an app id, outbound tokens must come from `tokens` (bot.teams.app_tokens.AppTokens)"
        )
    configuration = _AuthConfiguration(APP_ID=settings.microsoft_app_id)
    if keys is None and not settings.local_mode:
        keys = SigningKeys(settings.bot_openid_metadata_url)
    inbound = ChannelAuthentication(
        ConfigurationBotFrameworkAuthentication(configuration, credentials_factory=credentials),
        app_id=settings.microsoft_app_id,
        keys=keys,
        clock=clock,
    )
    adapter = CloudAdapter(_ReusedClients(inbound))
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
