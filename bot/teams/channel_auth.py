"""Inbound authentication of Bot Framework channel tokens, checked here with PyJWT against keys the
bot fetches itself (`bot.teams.signing_keys`), never by the SDK's blocking fetch on the event loop.

The checks are the SDK's channel validation (botframework/connector/auth: jwt_token_extractor,
channel_validation, _parameterized_bot_framework_authentication), failing closed: RS256 only, issuer
`https://api.botframework.com`, audience the bot's app id, the signing key endorsed for the activity's
channel when it lists endorsements, the `serviceurl` claim equal to the activity's serviceUrl, and
expiry with the SDK's five minutes of clock skew. Any failure is a 401 (`PermissionError`, which the
CloudAdapter answers with 401) and one WARNING line; a well-formed token that only keys we have never
managed to fetch could check gets 503 with Retry-After, so Teams tries again instead of losing it.

Only Bot Framework channel tokens are accepted with an app id: Emulator and skill tokens are not (the
Emulator runs against local mode), nor are government or enterprise clouds.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any, TypeGuard

import jwt
from aiohttp import web
from botbuilder.schema import Activity, CallerIdConstants
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from botframework.connector.skills import BotFrameworkClient

from bot.teams.signing_keys import SigningKeys
from frameworks.clock import Clock

log = logging.getLogger(__name__)

ISSUER = AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER
ALGORITHM = "RS256"
"""The SDK lists RS256/384/512 in headers but verifies with RS256 only; so do we, before any key."""
CLOCK_SKEW = 5 * 60
"""Seconds, as the SDK's `clock_tolerance`."""
MAX_TOKEN_CHARS = 8192
"""Bot Framework tokens are ~1–2 KB; aiohttp caps a header line near 8 KB anyway."""
KEYS_RETRY_AFTER = 30
"""Seconds Teams is asked to wait when no signing keys have been fetched yet."""


class TokenRefused(PermissionError):
    """Why a request was not authenticated (logged; the caller sees only 401)."""


def bearer_token(header: str) -> str:
    """The token of an `Authorization: Bearer …` header; the scheme matches case-blind (RFC 9110)."""
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise TokenRefused("no bearer token")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRefused("the token is too long")
    return token


def check_claims(claims: dict[str, Any], *, app_id: str, service_url: str | None, now: datetime) -> None:
    """The claims a channel token must carry, checked against the app's clock."""
    if claims.get("iss") != ISSUER:
        raise TokenRefused("the token was not issued by the Bot Framework")
    audience = claims.get("aud")
    if audience != app_id:
        raise TokenRefused("the token is for another audience")
    timestamp = now.timestamp()
    expires, not_before = claims.get("exp"), claims.get("nbf")
    if not _is_number(expires):
        raise TokenRefused("the token has no expiry")
    if timestamp > expires + CLOCK_SKEW:
        raise TokenRefused("the token has expired")
    if not_before is not None and (not _is_number(not_before) or timestamp < not_before - CLOCK_SKEW):
        raise TokenRefused("the token is not valid yet")
    claimed = claims.get(AuthenticationConstants.SERVICE_URL_CLAIM)
    if not claimed or not service_url or claimed != service_url:
        raise TokenRefused("the token's serviceurl claim does not match the activity's serviceUrl")


def _is_number(value: object) -> TypeGuard[int | float]:
    """A JSON number that compares sensibly (Python's JSON reader also yields NaN and Infinity)."""
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def check_channel_token(
    header: str, activity: Activity, *, app_id: str, keys: SigningKeys, now: datetime
) -> dict[str, Any]:
    """The verified claims of a channel token, or `TokenRefused`; `web.HTTPServiceUnavailable` when the
    token could be genuine but no signing keys have ever been fetched."""
    token = bearer_token(header)
    try:
        head = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as error:
        raise TokenRefused(f"not a JWT ({type(error).__name__})") from None
    if head.get("alg") != ALGORITHM:
        raise TokenRefused(f"signed with {str(head.get('alg'))[:16]!r}, not {ALGORITHM}")
    kid = head.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenRefused("the token names no signing key")
    check_claims(unverified, app_id=app_id, service_url=activity.service_url, now=now)
    key = keys.find(kid)
    if key is None:
        if not keys.known:
            log.warning("could not check a token: no Bot Framework signing keys fetched yet; answered 503")
            raise web.HTTPServiceUnavailable(
                text="the bot cannot check tokens yet; try again shortly",
                headers={"Retry-After": str(KEYS_RETRY_AFTER)},
            )
        keys.unknown_kid()
        raise TokenRefused("the token names a signing key that is not published")
    channel = activity.channel_id
    if key.endorsements and channel and (not isinstance(channel, str) or channel not in key.endorsements):
        raise TokenRefused("the signing key is not endorsed for this channel")
    try:
        return jwt.decode(
            token,
            key.key,
            algorithms=[ALGORITHM],
            # Times, audience and issuer were checked above, on the app's clock; the claims are the
            # same bytes the signature covers.
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.InvalidTokenError as error:
        raise TokenRefused(f"the signature does not verify ({type(error).__name__})") from None


class ChannelAuthentication(BotFrameworkAuthentication):
    """The SDK's authentication with its inbound check replaced: with an app id, by
    `check_channel_token`; in local mode every request is anonymous (its header is not even read, so
    it cannot make the SDK fetch keys). Outbound clients and credentials stay the SDK's."""

    def __init__(
        self,
        inner: BotFrameworkAuthentication,
        *,
        app_id: str,
        keys: SigningKeys | None,
        clock: Clock,
    ) -> None:
        self._inner = inner
        self._app_id = app_id
        self._keys = keys
        self._clock = clock

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        if not self._app_id or self._keys is None:
            return await self._inner.authenticate_request(activity, "")
        try:
            claims = check_channel_token(
                auth_header or "", activity, app_id=self._app_id, keys=self._keys, now=self._clock()
            )
        except TokenRefused as refusal:
            log.warning("refused an unauthenticated request: %s", refusal)
            raise
        identity = ClaimsIdentity(claims, True)
        result = AuthenticateRequestResult()
        result.claims_identity = identity
        result.audience = self._inner.get_originating_audience()
        result.caller_id = CallerIdConstants.public_azure_channel
        result.connector_factory = self._inner.create_connector_factory(identity)
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        """Not served (no web socket route); refused rather than left to the SDK's blocking fetch."""
        raise TokenRefused("streaming requests are not served")

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._inner.create_connector_factory(claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        return await self._inner.create_user_token_client(claims_identity)

    def create_bot_framework_client(self) -> BotFrameworkClient:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        audience: str = self._inner.get_originating_audience()
        return audience
