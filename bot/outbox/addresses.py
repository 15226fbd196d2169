"""Where a row goes: a conversation the bot already has (continued), or a person it has never talked to
(a new 1:1 chat); read for a whole batch of rows at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.db import Session
from storage.outbox_addresses import personal_chats, references_by_id, teams_users
from storage.tables import ConversationReference as StoredReference
from storage.tables import OutboxMessage


@dataclass(frozen=True)
class ChatAddress:
    """A conversation the bot can post into, as stored: its connector's URL, its id, and the reference
    Teams gave (plain JSON, turned back into the SDK's by the Teams edge, `bot.teams.proactive`)."""

    service_url: str
    conversation_id: str
    reference: dict[str, Any]


@dataclass(frozen=True)
class Existing:
    """A conversation the bot already has: continue it."""

    address: ChatAddress
    thread_key: str
    tenant: str


@dataclass(frozen=True)
class NewChat:
    """A person the bot has never talked to: create the 1:1 chat, then send."""

    service_url: str
    tenant: str
    user_id: str
    person_id: int
    thread_key: str


@dataclass
class AddressBook:
    """Where a batch of rows goes, read in three queries rather than three per row."""

    people: dict[int, tuple[str, str | None]]
    """person id → (Teams user id, tenant id)"""
    personal: dict[int, StoredReference]
    stored: dict[int, StoredReference]

    @classmethod
    async def load(cls, session: Session, rows: list[OutboxMessage]) -> AddressBook:
        reference_ids = {r.payload["conversation_reference_id"] for r in rows if _stored_id(r) is not None}
        person_ids = {r.person_id for r in rows if r.person_id is not None and _stored_id(r) is None}
        return cls(
            people=await teams_users(session, person_ids=person_ids),
            personal=await personal_chats(session, person_ids=person_ids),
            stored=await references_by_id(session, ids=reference_ids),
        )

    def target(self, row: OutboxMessage) -> Existing | NewChat | None:
        stored_id = _stored_id(row)
        if stored_id is not None:
            stored = self.stored.get(stored_id)
            return existing_chat(stored, None) if stored is not None else None
        if row.person_id is None or row.person_id not in self.people:
            return None
        user_id, person_tenant = self.people[row.person_id]
        chat = self.personal.get(row.person_id)
        if chat is not None:
            return existing_chat(chat, user_id)
        service_url = row.payload.get("service_url")
        if not service_url:
            return None
        tenant = row.payload.get("tenant_id") or person_tenant or ""
        return NewChat(service_url, tenant, user_id, row.person_id, personal_key(user_id))


def _stored_id(row: OutboxMessage) -> int | None:
    return (row.payload or {}).get("conversation_reference_id")


def existing_chat(stored: StoredReference, user_id: str | None) -> Existing:
    address = ChatAddress(stored.service_url, stored.conversation_id, stored.reference)
    key = personal_key(user_id) if user_id else stored.conversation_id
    return Existing(address, key, stored.tenant_id or "")


def personal_key(user_id: str) -> str:
    """One 1:1 chat per person and bot, so the person names the thread before its id is known."""
    return f"personal:{user_id}"
