"""What the sender sends for a row: each outbox kind's composer builds its activity when the row is sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from botbuilder.schema import Activity

from storage.db import Session
from storage.tables import OutboxMessage

Compose = Callable[[Session, OutboxMessage], Awaitable[Activity | None]]
"""Builds the activity for a row; None when there is nothing to send any more (survey closed…)."""


async def compose_from_payload(_session: Session, message: OutboxMessage) -> Activity | None:
    """The serialised botbuilder Activity in `payload["activity"]`, if any."""
    data = message.payload.get("activity")
    return Activity.deserialize(data) if data else None
