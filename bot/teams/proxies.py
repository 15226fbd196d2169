"""The web proxy the environment names for the bot's outbound calls (HTTPS_PROXY, HTTP_PROXY, NO_PROXY,
and a proxy's login in ~/.netrc), read once when a client session opens.

Many NHS networks let traffic out only through such a proxy. aiohttp's own `trust_env=True` would
honour it too, but reads it all again on every request, in two worker threads (the netrc file for the
target host, then the proxies): two thread hand-offs and two file reads per call to Teams.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp.helpers import ProxyInfo, proxies_from_env
from yarl import URL

__all__ = ["Proxies", "Route"]

Route = tuple[URL | None, Mapping[str, str] | None]
"""A request's `proxy` and `proxy_headers` (the proxy's login): (None, None) to go directly."""

_DIRECT: Route = (None, None)


@dataclass(frozen=True)
class Proxies:
    """Which proxy, if any, a request to a URL goes through; `Proxies()` sends everything directly."""

    by_scheme: Mapping[str, ProxyInfo] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)
    """The variables as read (`no` holds NO_PROXY), so a request is routed as the session opened."""
    _bypassed: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    async def from_environment(cls) -> Proxies:
        """The proxies the environment names now; the netrc file is read in a thread, and only when a
        proxy is named (it may hold the proxy's login)."""
        named = urllib.request.getproxies_environment()
        if "http" not in named and "https" not in named:
            return cls()
        return cls(await asyncio.to_thread(proxies_from_env), named)

    def route(self, url: URL) -> Route:
        """The proxy for `url` and the header with its login, or (None, None) when NO_PROXY names
        its host or no proxy is named for its scheme."""
        proxy = self.by_scheme.get(url.scheme)
        host = url.host
        if proxy is None or host is None:
            return _DIRECT
        bypassed = self._bypassed.get(host)
        if bypassed is None:
            # urllib's NO_PROXY reader that takes the variables as read; typeshed does not list it
            bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
            bypassed = self._bypassed[host] = bool(bypass(host, self.environment))
        if bypassed:
            return _DIRECT
        login = proxy.proxy_auth
        return proxy.proxy, None if login is None else {"Proxy-Authorization": login.encode()}
