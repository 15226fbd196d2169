"""The keys that sign Teams' tokens, fetched from the Bot Framework's OpenID endpoint in the background.

The SDK fetches them with a synchronous `requests.get`, without a timeout, on the event loop, and again
on every request after a failure: one black-holed endpoint froze the whole server. Here they are
fetched with aiohttp under a timeout, by a task of the app's own, and the last good keys are kept
when a refresh fails; a request never waits for the network.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from jwt import PyJWK, PyJWTError
from pydantic import BaseModel, ConfigDict, ValidationError
from yarl import URL

from bot.teams.background_refresh import BackgroundRefresh
from bot.teams.proxies import Proxies

log = logging.getLogger(__name__)

FETCH_TIMEOUT = aiohttp.ClientTimeout(total=10, sock_connect=5)
"""Microsoft answers in well under a second; a fetch that takes longer is abandoned and retried."""
STARTUP_WAIT = 2.0
"""Seconds the app waits for the first keys before it starts serving (then they keep coming in the
background): Teams' first activity after a deploy is then checked rather than told to retry."""
REFRESH_EVERY = 3600.0
"""Seconds between refreshes. Microsoft publishes a new key well before signing with it and asks bots
to refresh at least daily; hourly keeps a rotation invisible."""
RETRY_FIRST, RETRY_MOST = 15.0, 300.0
"""Seconds before retrying a failed fetch, doubling from the first to the most."""
UNKNOWN_KID_GAP = 300.0
"""A token naming a key not yet seen asks for an early refresh, at most this often (seconds): forged
kids cannot make the bot hammer Microsoft."""
MAX_DOCUMENT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SigningKey:
    """One published RSA key, with the channels it may sign for (empty: any)."""

    key: Any
    endorsements: frozenset[str]


class _Metadata(BaseModel):
    model_config = ConfigDict(extra="ignore")
    jwks_uri: str


class _KeySet(BaseModel):
    model_config = ConfigDict(extra="ignore")
    keys: list[dict[str, Any]]


class KeysUnavailable(Exception):
    """The document could not be fetched or read; the message says why, without a traceback."""


class SigningKeys:
    """The current keys by kid; `refresh` replaces them only with a good, non-empty set."""

    def __init__(
        self,
        metadata_url: str,
        *,
        timeout: aiohttp.ClientTimeout = FETCH_TIMEOUT,
        refresh_every: float = REFRESH_EVERY,
        retry_first: float = RETRY_FIRST,
        retry_most: float = RETRY_MOST,
        unknown_kid_gap: float = UNKNOWN_KID_GAP,
    ) -> None:
        self.metadata_url = metadata_url
        self._timeout = timeout
        self._refresh_every = refresh_every
        self._unknown_kid_gap = unknown_kid_gap
        self._keys: Mapping[str, SigningKey] = {}
        self._session: aiohttp.ClientSession | None = None
        self._proxies = Proxies()
        self._background = BackgroundRefresh(
            "signing-keys",
            self._refreshed,
            startup_wait=STARTUP_WAIT,
            retry_first=retry_first,
            retry_most=retry_most,
        )
        self._last_attempt: float | None = None

    @property
    def known(self) -> bool:
        """Whether any keys have ever been fetched."""
        return bool(self._keys)

    def find(self, kid: str) -> SigningKey | None:
        return self._keys.get(kid)

    def unknown_kid(self) -> bool:
        """A token named a kid we do not have: ask the refresher for an early look, unless it looked
        within `unknown_kid_gap`. Returns whether it was asked."""
        loop = asyncio.get_running_loop()
        if self._last_attempt is not None and loop.time() - self._last_attempt < self._unknown_kid_gap:
            return False
        self._background.wake()
        return True

    @asynccontextmanager
    async def fetching(self) -> AsyncIterator[None]:
        """The HTTP session the fetches use, open while inside."""
        self._proxies = await Proxies.from_environment()
        async with aiohttp.ClientSession(timeout=self._timeout, raise_for_status=True) as session:
            self._session = session
            try:
                yield
            finally:
                self._session = None

    async def refresh(self) -> bool:
        """Fetch the metadata, then its key set; keep the old keys unless the new set is good."""
        self._last_attempt = asyncio.get_running_loop().time()
        try:
            keys = await self._fetch()
        except KeysUnavailable as problem:
            held = f"keeping the {len(self._keys)} keys fetched before" if self._keys else "no keys yet"
            log.warning("could not refresh the Bot Framework signing keys (%s): %s", problem, held)
            return False
        self._keys = keys
        log.info("Bot Framework signing keys refreshed: %d keys", len(keys))
        return True

    async def kept_fresh(self, _app: web.Application) -> AsyncIterator[None]:
        """A cleanup context: the first fetch (waited for briefly), then a refresher task until shutdown."""
        async with self.fetching(), self._background.running():
            yield

    async def _refreshed(self) -> float | None:
        return self._refresh_every if await self.refresh() else None

    async def _fetch(self) -> dict[str, SigningKey]:
        try:
            metadata = _Metadata.model_validate(await self._get_json(self.metadata_url))
            downgraded = urlsplit(metadata.jwks_uri).scheme != urlsplit(self.metadata_url).scheme
            if downgraded and urlsplit(self.metadata_url).scheme == "https":
                raise KeysUnavailable("the metadata names a key set that is not on https")
            key_set = _KeySet.model_validate(await self._get_json(metadata.jwks_uri))
        except ValidationError as error:
            raise KeysUnavailable(f"an unexpected document ({error.error_count()} problems)") from error
        keys = {}
        for jwk in key_set.keys:
            kid, endorsements = jwk.get("kid"), jwk.get("endorsements", [])
            if jwk.get("kty") != "RSA" or not isinstance(kid, str) or not kid:
                continue
            if not isinstance(endorsements, list):  # fail closed: a key whose channels are unclear
                log.warning("skipped signing key %s: its endorsements are not a list", kid[:64])
                continue
            try:
                key = PyJWK(jwk, algorithm="RS256").key
            except (PyJWTError, ValueError, TypeError, KeyError):
                log.warning("skipped an unreadable signing key %s", kid[:64])
                continue
            keys[kid] = SigningKey(key, frozenset(e for e in endorsements if isinstance(e, str)))
        if not keys:
            raise KeysUnavailable("the key set holds no RSA keys")
        return keys

    async def _get_json(self, url: str) -> Any:
        if self._session is None:
            raise KeysUnavailable("not fetching (outside `fetching()`)")
        proxy, proxy_headers = self._proxies.route(URL(url))
        try:
            async with self._session.get(url, proxy=proxy, proxy_headers=proxy_headers) as response:
                body = await response.content.read(MAX_DOCUMENT_BYTES + 1)
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise KeysUnavailable(f"{url} sent more than {MAX_DOCUMENT_BYTES} bytes")
                return json.loads(body)
        except TimeoutError as error:
            raise KeysUnavailable(f"{url} did not answer in time") from error
        except aiohttp.ClientResponseError as error:
            raise KeysUnavailable(f"{url} answered {error.status}") from error
        except (aiohttp.ClientError, ValueError) as error:
            raise KeysUnavailable(f"{url}: {type(error).__name__}") from error
