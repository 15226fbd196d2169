"""What the sender sends for a row: each outbox kind's composer builds its activity when the row is sent.

The sender picks a row's composer from a table keyed by its kind (`Composers`); a kind without one is
sent as its payload says (`compose_from_payload`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from botbuilder.schema import Activity

from storage.db import Session
from storage.tables import OutboxKind, OutboxMessage

Message = Activity
"""What a composer builds and the Teams edge sends."""

Compose = Callable[[Session, OutboxMessage], Awaitable[Activity | None]]
"""Builds the activity for a row; None when there is nothing to send any more (survey closed…)."""

Composers = Mapping[OutboxKind, Compose]
"""Each kind's composer."""


async def compose_from_payload(_session: Session, message: OutboxMessage) -> Activity | None:
    """The serialised botbuilder Activity in `payload["activity"]`, if any."""
    data = message.payload.get("activity")
    return Activity.deserialize(data) if data else None
