"""What the sender sends for a row: each outbox kind's composer builds its message when the row is sent.

The sender picks a row's composer from a table keyed by its kind (`Composers`); a kind without one is
sent as its payload says (`compose_from_payload`). Composers build plain `Message`s; the Teams edge
(bot.teams.proactive) turns them into activities.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from dialogs.messages import Message, from_json
from storage.db import Session
from storage.tables import OutboxKind, OutboxMessage

__all__ = ["Compose", "Composers", "Message", "compose_from_payload"]

Compose = Callable[[Session, OutboxMessage], Awaitable[Message | None]]
"""Builds the message for a row; None when there is nothing to send any more (survey closed…)."""

Composers = Mapping[OutboxKind, Compose]
"""Each kind's composer."""


async def compose_from_payload(_session: Session, message: OutboxMessage) -> Message | None:
    """The message in `payload["activity"]` (an Activity as `dialogs.messages.to_json` writes it), if any."""
    data = message.payload.get("activity")
    return from_json(data) if data else None
