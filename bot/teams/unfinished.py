"""Turns that cannot finish here: the adapter answers them with a 5xx so that Teams delivers the
activity again (bot.teams.adapter)."""

from __future__ import annotations

from datetime import timedelta

__all__ = ["DatabaseConnectionLost", "RepliesNotSent", "StillInProgress", "TurnUnfinished"]


class TurnUnfinished(Exception):
    """The turn could not finish here and Teams should deliver the activity again: the adapter answers
    the HTTP request with `status` (a 5xx) instead of a reply."""

    status = 503
    retry_after: int | None = None


class RepliesNotSent(TurnUnfinished):
    """The turn committed, but the Bot Connector failed its replies; they stay kept with the claim."""

    status = 502


class DatabaseConnectionLost(TurnUnfinished):
    """The database connection dropped before the turn committed: Teams' redelivery finds a live one
    (the pool does not hand out the lost connection again), where "Sorry, try again" would make the
    person retype what the bot never stored."""

    status = 503


class StillInProgress(TurnUnfinished):
    """A redelivery of a command another delivery is still working on (its lease has not run out)."""

    def __init__(self, retry_after: timedelta) -> None:
        super().__init__("the command is still in progress")
        self.retry_after = max(1, round(retry_after.total_seconds()))
