"""How the sender works: how many rows at once, how long a claim lasts, how patiently it retries."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from bot.outbox.policy import backoff_seconds


@dataclass(frozen=True)
class SenderConfig:
    concurrency: int = 8
    """Rows being sent at once (each a request or two on the bot's one aiohttp session)."""
    batch: int = 32
    """Rows claimed at a time (and held in memory at most)."""
    lease: timedelta = timedelta(seconds=45)
    """How long a claim lasts unless renewed: the most a crashed instance's rows wait for another."""
    heartbeat: float = 15.0
    """Seconds between renewals of the lease of every row in hand (one UPDATE for all of them)."""
    poll_interval: float = 2.0
    """Seconds between looks at the outbox when nothing is due."""
    max_attempts: int = 8
    backoff_base: float = 2.0
    backoff_cap: float = 600.0
    request_timeout: float = 10.0
    """Seconds a request to Teams may take (the transport's own bound, bot.teams.connector, is the same)."""
    max_wait: float = 30.0
    """A row whose thread cannot send for longer than this goes back to the outbox until then,
    rather than hold a slot (and its lease) while waiting."""
    bot_id: str | None = None
    """The bot's Teams id for new 1:1 chats; default `28:<app id>`."""

    def backoff(self, attempts: int, rng: random.Random) -> float:
        """Seconds before a row that failed `attempts` times is tried again (full jitter)."""
        return backoff_seconds(attempts, base=self.backoff_base, cap=self.backoff_cap, rng=rng)
