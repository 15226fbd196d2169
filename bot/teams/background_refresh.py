"""Keeping something the bot fetches over the network fresh, off the request path.

The signing keys that check Teams' tokens and the bot's own token are each fetched by a task of their
own: at start the app waits briefly for the first attempt (so its first request usually finds them),
then the task refreshes on the schedule the last fetch set, backs off after failures, and can be woken
early. A request never waits for a fetch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

log = logging.getLogger(__name__)


class BackgroundRefresh:
    """Runs `refresh` now and again: it returns the seconds until the next run, or None after a failure
    (then the wait doubles from `retry_first` up to `retry_most`)."""

    def __init__(
        self,
        name: str,
        refresh: Callable[[], Awaitable[float | None]],
        *,
        startup_wait: float,
        retry_first: float,
        retry_most: float,
    ) -> None:
        self.name = name
        self._refresh = refresh
        self._startup_wait = startup_wait
        self._retry_first = retry_first
        self._retry_most = retry_most
        self._attempted = asyncio.Event()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Refresh now rather than at the scheduled time."""
        self._wake.set()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The refreshing task while inside; the first attempt is waited for, at most `startup_wait`."""
        task = asyncio.create_task(self._run(), name=self.name)
        with suppress(TimeoutError):
            async with asyncio.timeout(self._startup_wait):
                await self._attempted.wait()
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        delay = self._retry_first
        while True:
            try:
                wait = await self._refresh()
            except Exception:  # a bug here must not leave what it keeps stale for ever
                log.exception("%s: refreshing failed unexpectedly", self.name)
                wait = None
            self._attempted.set()
            if wait is None:
                wait, delay = delay, min(delay * 2, self._retry_most)
            else:
                delay = self._retry_first
            self._wake.clear()
            with suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
