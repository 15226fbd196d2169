"""The bot's own token for the Bot Connector, fetched in the background and only read on a send.

The SDK's credentials ask Entra ID through MSAL with blocking `requests`, on the event loop, whenever
the cached token has expired (hourly): a slow or black-holed login endpoint froze the whole server,
as the signing-key fetch did (issue 18, item 8). Here a task of the app's own fetches the token with
aiohttp under a timeout, refreshes it well before it expires, and keeps the last good one when a
refresh fails. The bot's Bot Connector client (`bot.teams.connector`) only reads that token: a send
never waits for Entra ID, and when there is no token it fails at once with `AppTokenUnavailable` (the
outbox retries it; a turn's kept replies go out when Teams retries the turn).

What the SDK supports (botframework/connector/auth, botbuilder/integration/aiohttp
ConfigurationServiceClientCredentialFactory), for the public cloud, scope `https://api.botframework.com`:
- MultiTenant: a client secret at `https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token`;
- SingleTenant: a client secret at the tenant's own token endpoint (MICROSOFT_APP_TENANT_ID);
- UserAssignedMSI: MSAL's managed identity client, the app id as the identity's client id. Of its
  sources, Container Apps and App Service (IDENTITY_ENDPOINT with IDENTITY_HEADER) and the instance
  metadata service of VMs and AKS are supported; Service Fabric, Azure Arc and Azure Machine Learning
  are refused at start (`TokenSetupError`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import aiohttp
from aiohttp import web
from botframework.connector.auth import AuthenticationConstants
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from yarl import URL

from bot.settings import Settings
from bot.teams.addresses import secure_or_local
from bot.teams.background_refresh import BackgroundRefresh
from bot.teams.proxies import Proxies
from frameworks.clock import Clock

log = logging.getLogger(__name__)

SCOPE = AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
"""The Bot Connector's audience; a client-credentials request asks for `SCOPE/.default`."""
LOGIN_PREFIX = AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX
TOKEN_PATH = AuthenticationConstants.TO_CHANNEL_FROM_BOT_TOKEN_ENDPOINT_PATH
MULTI_TENANT = AuthenticationConstants.DEFAULT_CHANNEL_AUTH_TENANT
IMDS_URL = "http://169.254.169.254/metadata/identity/oauth2/token"
"""Azure's instance metadata service: link-local plain http by Azure's design, reachable only from
inside the VM or pod."""

FETCH_TIMEOUT = aiohttp.ClientTimeout(total=10, sock_connect=5)
"""Entra ID answers in well under a second; a fetch that takes longer is abandoned and retried."""
STARTUP_WAIT = 2.0
"""Seconds the app waits for the first token before it starts serving (it keeps trying afterwards)."""
EXPIRY_MARGIN = timedelta(seconds=30)
"""A token this close to its expiry is no longer handed out: it must not expire on the wire."""
REFRESH_SOONEST = 10.0
"""Seconds: the shortest wait before refreshing a token, however short-lived."""
LONGEST_LIFETIME = timedelta(hours=24)
"""Entra tokens live 60–90 minutes; a longer claimed lifetime is not believed."""
RETRY_FIRST, RETRY_MOST = 5.0, 120.0
"""Seconds before retrying a failed fetch, doubling from the first to the most."""
MAX_ANSWER_BYTES = 64 * 1024
MAX_LOGGED_CHARS = 160
_TOKEN = re.compile(r"[\x21-\x7e]{1,16384}")
"""What may go into an Authorization header: visible ASCII (no CR/LF to split the header)."""


_NO_SECRET = SecretStr("")


class AppTokenUnavailable(Exception):
    """No token to send with: none was fetched yet, or the last one expired. Raised by a send at once."""


class TokenSetupError(Exception):
    """The configuration cannot give the bot a token; the message says what to change."""


class Flow(StrEnum):
    """How the token is asked for."""

    CLIENT_SECRET = "client secret"
    IDENTITY_ENDPOINT = "managed identity (IDENTITY_ENDPOINT)"
    INSTANCE_METADATA = "managed identity (instance metadata service)"


@dataclass(frozen=True)
class TokenRequest:
    """Where and as whom the token is asked for. The secret (a client secret, or the identity
    endpoint's header) stays a `SecretStr`, so no repr or log line can show it."""

    flow: Flow
    url: str
    app_id: str
    secret: SecretStr = _NO_SECRET

    def http(self) -> tuple[str, dict[str, Any]]:
        """The method and aiohttp arguments of the request."""
        if self.flow is Flow.CLIENT_SECRET:
            form = {
                "grant_type": "client_credentials",
                "client_id": self.app_id,
                "client_secret": self.secret.get_secret_value(),
                "scope": f"{SCOPE}/.default",
            }
            return "POST", {"data": form}
        if self.flow is Flow.IDENTITY_ENDPOINT:
            params = {"api-version": "2019-08-01", "resource": SCOPE, "client_id": self.app_id}
            return "GET", {"params": params, "headers": {"X-IDENTITY-HEADER": self.secret.get_secret_value()}}
        params = {"api-version": "2018-02-01", "resource": SCOPE, "client_id": self.app_id}
        return "GET", {"params": params, "headers": {"Metadata": "true"}}


def token_request(settings: Settings) -> TokenRequest | None:
    """How this configuration gets its token (None in local mode: sends carry none), or
    `TokenSetupError` saying what is missing or not supported."""
    if settings.local_mode:
        return None
    app_id = settings.microsoft_app_id
    if settings.microsoft_app_type == "UserAssignedMSI":
        return _managed_identity(settings)
    secret = settings.microsoft_app_password
    if not secret.get_secret_value():
        raise TokenSetupError(
            f"MICROSOFT_APP_ID is set but MICROSOFT_APP_PASSWORD is empty ({settings.microsoft_app_type} "
            "app): set the client secret, set MICROSOFT_APP_TYPE=UserAssignedMSI to sign in with a managed "
            "identity, or unset MICROSOFT_APP_ID for local mode."
        )
    tenant = MULTI_TENANT
    if settings.microsoft_app_type == "SingleTenant":
        tenant = settings.microsoft_app_tenant_id.strip()
        if not tenant:
            raise TokenSetupError(
                "MICROSOFT_APP_TYPE=SingleTenant needs MICROSOFT_APP_TENANT_ID: the bot asks its own "
                "tenant's Entra ID for its token."
            )
    url = settings.bot_token_url or f"{LOGIN_PREFIX}{tenant}{TOKEN_PATH}"
    return TokenRequest(Flow.CLIENT_SECRET, url, app_id, secret)


def _managed_identity(settings: Settings) -> TokenRequest:
    """MSAL's choice of managed identity source, in MSAL's order (msal/managed_identity.py)."""
    endpoint, header = settings.identity_endpoint, settings.identity_header
    if endpoint and header.get_secret_value() and settings.identity_server_thumbprint:
        raise _unsupported_identity("Service Fabric")
    if endpoint and header.get_secret_value():
        if not secure_or_local(endpoint):
            raise TokenSetupError("IDENTITY_ENDPOINT must be https, or http to this machine (Azure's is)")
        return TokenRequest(Flow.IDENTITY_ENDPOINT, endpoint, settings.microsoft_app_id, header)
    if settings.msi_endpoint:
        raise _unsupported_identity("Azure Machine Learning")
    if endpoint and settings.imds_endpoint:
        raise _unsupported_identity("Azure Arc")
    return TokenRequest(Flow.INSTANCE_METADATA, IMDS_URL, settings.microsoft_app_id)


def _unsupported_identity(where: str) -> TokenSetupError:
    return TokenSetupError(
        f"MICROSOFT_APP_TYPE=UserAssignedMSI on {where} is not supported: run on Azure Container Apps, "
        "App Service, a VM or AKS, or sign in with a client secret (SingleTenant)."
    )


class _Token(BaseModel):
    """A token answer: Entra ID gives `expires_in`, the identity endpoints `expires_on` (epoch seconds,
    often as strings)."""

    model_config = ConfigDict(extra="ignore")
    access_token: str = Field(pattern=_TOKEN.pattern)
    expires_in: int | None = Field(default=None, gt=0)
    expires_on: int | None = None


class _Refusal(BaseModel):
    """An OAuth error answer (`AADSTS…` codes start the description); never holds the secret."""

    model_config = ConfigDict(extra="ignore")
    error: str = ""
    error_description: str = ""


@dataclass(frozen=True)
class _Held:
    value: str
    expires_at: datetime


class AppTokens:
    """The current token, fetched and refreshed by `kept_fresh`; `current()` never does I/O."""

    def __init__(
        self,
        request: TokenRequest,
        *,
        clock: Clock,
        timeout: aiohttp.ClientTimeout = FETCH_TIMEOUT,
        startup_wait: float = STARTUP_WAIT,
        retry_first: float = RETRY_FIRST,
        retry_most: float = RETRY_MOST,
    ) -> None:
        self.request = request
        self._clock = clock
        self._timeout = timeout
        self._held: _Held | None = None
        self._session: aiohttp.ClientSession | None = None
        self._proxies = Proxies()
        self._background = BackgroundRefresh(
            "app-token",
            self._refreshed,
            startup_wait=startup_wait,
            retry_first=retry_first,
            retry_most=retry_most,
        )

    @property
    def ever_fetched(self) -> bool:
        """Whether a token was ever fetched (readiness: an instance without one can only fail its sends)."""
        return self._held is not None

    def current(self) -> str:
        """The token to send with, or `AppTokenUnavailable` at once."""
        held = self._held
        if held is None:
            raise AppTokenUnavailable(
                f"no Bot Framework token yet: {self.request.flow} has not answered; the send is retried later"
            )
        if self._clock() >= held.expires_at - EXPIRY_MARGIN:
            raise AppTokenUnavailable(
                "the Bot Framework token has expired and could not be refreshed; the send is retried later"
            )
        return held.value

    @asynccontextmanager
    async def fetching(self) -> AsyncIterator[None]:
        """The HTTP session the fetches use, open while inside."""
        self._proxies = await Proxies.from_environment()
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            self._session = session
            try:
                yield
            finally:
                self._session = None

    async def refresh(self) -> float | None:
        """Fetch a token; keep the old one when that fails. Returns the new token's lifetime in
        seconds, or None."""
        try:
            value, lifetime = await self._fetch()
        except AppTokenUnavailable as problem:
            held = self._held
            kept = f"keeping the token that expires at {held.expires_at:%H:%M:%S}" if held else "no token yet"
            log.warning("could not fetch the bot's Bot Framework token (%s): %s", problem, kept)
            return None
        self._held = _Held(value, self._clock() + lifetime)
        seconds = lifetime.total_seconds()
        log.info("Bot Framework token fetched (%s), valid for %d s", self.request.flow, seconds)
        return seconds

    async def kept_fresh(self, _app: web.Application) -> AsyncIterator[None]:
        """A cleanup context: the first fetch (waited for briefly), then a refresher task until shutdown."""
        async with self.fetching(), self._background.running():
            yield

    async def _refreshed(self) -> float | None:
        lifetime = await self.refresh()
        return None if lifetime is None else refresh_after(lifetime)

    async def _fetch(self) -> tuple[str, timedelta]:
        if self._session is None:
            raise AppTokenUnavailable("not fetching (outside `fetching()`)")
        method, arguments = self.request.http()
        where = self.request.url
        proxy, proxy_headers = self._proxies.route(URL(where))
        try:
            async with self._session.request(
                method, where, allow_redirects=False, proxy=proxy, proxy_headers=proxy_headers, **arguments
            ) as response:
                body = await response.content.read(MAX_ANSWER_BYTES + 1)
                status = response.status
        except TimeoutError as error:
            raise AppTokenUnavailable(f"{where} did not answer in time") from error
        except aiohttp.ClientError as error:
            raise AppTokenUnavailable(f"{where}: {type(error).__name__}") from error
        if len(body) > MAX_ANSWER_BYTES:
            raise AppTokenUnavailable(f"{where} sent more than {MAX_ANSWER_BYTES} bytes")
        try:
            document = json.loads(body)
        except ValueError:
            raise AppTokenUnavailable(f"{where} answered {status} with something that is not JSON") from None
        if status != 200:
            refusal = _refusal(document, self.request.secret.get_secret_value())
            raise AppTokenUnavailable(f"{where} answered {status}{refusal}")
        try:
            token = _Token.model_validate(document)
        except ValidationError as error:
            problems = error.error_count()
            raise AppTokenUnavailable(f"{where} sent an unexpected document ({problems} problems)") from None
        return token.access_token, self._lifetime(token, where)

    def _lifetime(self, token: _Token, where: str) -> timedelta:
        if token.expires_in is not None:
            lifetime = timedelta(seconds=token.expires_in)
        elif token.expires_on is not None:
            lifetime = timedelta(seconds=token.expires_on - self._clock().timestamp())
        else:
            raise AppTokenUnavailable(f"{where} did not say when the token expires")
        if lifetime <= EXPIRY_MARGIN:
            raise AppTokenUnavailable(f"{where} sent a token that expires within {EXPIRY_MARGIN.seconds} s")
        return min(lifetime, LONGEST_LIFETIME)


def refresh_after(lifetime: float) -> float:
    """Seconds until a token of `lifetime` seconds is refreshed: at half its life (MSAL's rule), and at
    least five minutes before it expires, so a failed refresh has time to be retried."""
    return max(REFRESH_SOONEST, min(lifetime / 2, lifetime - 300))


def _refusal(document: Any, secret: str) -> str:
    """The error code and the first line of the description of an OAuth error answer, clipped, and
    without the secret should the endpoint echo it."""
    try:
        refusal = _Refusal.model_validate(document)
    except ValidationError:
        return ""
    first_line = next(iter(refusal.error_description.splitlines()), "")
    text = ": ".join(part for part in (refusal.error, first_line) if part)
    if secret:
        text = text.replace(secret, "[secret]")
    return f" ({text[:MAX_LOGGED_CHARS]})" if text else ""
