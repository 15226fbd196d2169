"""Running the bot as a service: refuse to start half-configured, say when it is ready, stop gracefully.

Stopping (SIGTERM from `docker stop` or Container Apps, or Ctrl+C): the listening socket closes at
once, so new requests go to another replica; requests in flight get `shutdown_timeout` seconds to
finish; then the app's cleanup runs: the background jobs stop, the outbox sender lets its sends on
the wire finish and releases the rows it had claimed, and the database engine closes. A turn still
running then is cancelled and rolled back whole, and Teams' retry is processed by another replica.
aiohttp waits up to `shutdown_timeout` for it, cancels it, and may wait as long again for it to end,
so twice the timeout plus the sender's last sends must fit in the platform's grace period (30 s for
Container Apps and the compose file). A second signal while stopping stops at once.

This is aiohttp's AppRunner sequence (sites stop, on_shutdown, in-flight handlers awaited, cleanup),
the one `web.run_app` runs too. `serve` runs it around an event rather than in its own event loop, so
the tests drive exactly the code `python -m bot serve` runs, signal included.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from bot.ops.logs import AccessLog
from bot.settings import Settings
from bot.teams.app_tokens import AppTokens, TokenSetupError, token_request
from bot.teams.signing_keys import SigningKeys
from storage.db import Engine
from storage.migrate import HEAD_REVISION, current_revision

log = logging.getLogger(__name__)

READINESS_TIMEOUT = 2.0
"""Seconds the database has to answer a readiness probe (probes time out at 5 s)."""
SHUTDOWN_TIMEOUT = 10.0
"""Seconds; a turn takes well under one, and Teams stops waiting for an answer after 15."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# Starting ---------------------------------------------------------------------------------------------


class MissingCredential(Exception):
    """An app id without the means to prove it: every reply to Teams would fail with 401."""


def check_credentials(settings: Settings) -> None:
    """Refuse to start when the bot could not get its own token: MICROSOFT_APP_ID set but no
    MICROSOFT_APP_PASSWORD (unless it signs in as a user-assigned managed identity), SingleTenant
    without its tenant, or a managed identity where it is not supported. No app id is local mode."""
    try:
        token_request(settings)
    except TokenSetupError as problem:
        raise MissingCredential(str(problem)) from None


# GET /readyz ------------------------------------------------------------------------------------------


EdgeCheck = Callable[[], str | None]
"""Why the instance cannot serve Teams yet, or None."""


def edge_readiness(keys: SigningKeys | None, tokens: AppTokens | None) -> EdgeCheck:
    """With an app id, an instance that never fetched the signing keys can only answer Teams 503, and
    one that never fetched its own token can send nothing: neither should get traffic yet. Keys or a
    token that merely went stale later are kept (keys) or retried (token) and do not count: every
    replica would share that outage, and taking them all out of rotation would lose the turns too."""

    def check() -> str | None:
        if keys is not None and not keys.known:
            return "starting: no Bot Framework signing keys fetched yet, so Teams' tokens cannot be checked"
        if tokens is not None and not tokens.ever_fetched:
            flow = tokens.request.flow
            return f"starting: no Bot Framework token fetched yet ({flow}), so the bot cannot send anything"
        return None

    return check


def readiness(
    engine: Callable[[], Engine | None],
    *,
    timeout: float = READINESS_TIMEOUT,
    edge: EdgeCheck = lambda: None,
) -> Handler:
    """GET /readyz: 200 when the bot can check and answer Teams (`edge`), the database answers within
    `timeout` and is at this code's latest migration, else 503 with the reason. `engine` is looked up
    per probe (the app creates it at startup). /healthz, by contrast, only says the process is alive.

    During a rolling upgrade whose migration has run, replicas of the old code report 503 (their
    latest migration is not the database's) and leave the rotation as the new ones join it."""

    async def readyz(_request: web.Request) -> web.Response:
        current = engine()
        if current is None:
            return _not_ready("starting: no database engine yet")
        waiting = edge()
        if waiting is not None:
            return _not_ready(waiting)
        try:
            async with asyncio.timeout(timeout):
                revision = await current_revision(current)
        except TimeoutError:
            return _not_ready(f"the database did not answer within {timeout:g} s")
        except Exception as error:
            log.warning("readiness: database unreachable (%s)", type(error).__name__)
            return _not_ready(f"the database is unreachable ({type(error).__name__})")
        if revision != HEAD_REVISION:
            return _not_ready(
                f"the database is at migration {revision or 'none'}, not {HEAD_REVISION}: "
                "run `python -m bot db upgrade`"
            )
        return web.json_response({"status": "ready"})

    return readyz


def _not_ready(reason: str) -> web.Response:
    return web.json_response({"status": "not ready", "reason": reason}, status=503)


# Serving and stopping ---------------------------------------------------------------------------------

Started = Callable[[list[Any]], None]
"""Called with the listening addresses (host, port…) once the server accepts connections."""


async def serve(
    app: web.Application,
    *,
    host: str,
    port: int,
    stop: asyncio.Event,
    shutdown_timeout: float = SHUTDOWN_TIMEOUT,
    started: Started | None = None,
) -> None:
    """Start the app (its startup and cleanup contexts), listen until `stop` is set, then stop as the
    module says. Raises what the app's startup raises (an unmigrated database…)."""
    runner = web.AppRunner(app, shutdown_timeout=shutdown_timeout, access_log_class=AccessLog)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("listening on %s", ", ".join(f"{a[0]}:{a[1]}" for a in runner.addresses))
        if started is not None:
            started(runner.addresses)
        await stop.wait()
        log.info("stopping: no new requests; up to %g s for those in flight", shutdown_timeout)
    finally:
        await runner.cleanup()
    log.info("stopped")


async def serve_until_signalled(
    app: web.Application,
    *,
    host: str,
    port: int,
    shutdown_timeout: float = SHUTDOWN_TIMEOUT,
    signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
    started: Started | None = None,
) -> None:
    """`serve` until one of `signals`; a second one cancels the graceful stop."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    task = asyncio.current_task()

    def on_signal(number: signal.Signals) -> None:
        if stop.is_set():
            log.warning("%s again: stopping now", number.name)
            if task is not None:
                task.cancel()
            return
        log.info("%s received", number.name)
        stop.set()

    for number in signals:
        loop.add_signal_handler(number, on_signal, number)
    try:
        await serve(app, host=host, port=port, stop=stop, shutdown_timeout=shutdown_timeout, started=started)
    finally:
        for number in signals:
            loop.remove_signal_handler(number)


def run(app: web.Application, *, host: str, port: int, shutdown_timeout: float = SHUTDOWN_TIMEOUT) -> None:
    """What `python -m bot serve` runs, in place of `web.run_app`."""
    try:
        asyncio.run(serve_until_signalled(app, host=host, port=port, shutdown_timeout=shutdown_timeout))
    except asyncio.CancelledError:  # a second signal
        log.warning("stopped before requests in flight had finished")
