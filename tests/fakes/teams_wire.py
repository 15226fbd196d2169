"""Teams on the wire: activities shaped as Microsoft publishes them, and reading back what Teams reads.

The shapes follow the examples in Microsoft's Teams developer docs: "bot added to a team" and "bot
added to a one-to-one chat" (bots/how-to/conversations/subscribe-to-conversation-events), the
`installationUpdate` event, a channel message that @mentions the bot
(channel-and-group-conversations: `conversation.id` is the channel plus `;messageid=<root post id>`,
`channelData` names the team, channel and tenant, `entities` holds the mention), a personal message,
and the `adaptiveCard/action` invoke of the Adaptive Cards docs' Universal Actions model
(`value.action` with `type`, `id`, `verb`, `data`; `value.trigger` "manual"). Ids keep Teams'
prefixes: `29:` people, `28:` bots, `a:` 1:1 chats, `19:…@thread.tacv2` channels and teams.

Reading back: `teams_json` parses bytes as strictly as Teams does (UTF-8, no NaN, nothing but JSON),
and `card_problems` validates every Adaptive Card found in them against the 1.5 schema.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft6Validator

from tests.bot.cards.test_cards import schema_errors

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BOT = {"id": "28:f5d48856-5b42-41a0-8c3a-c5f944b679b0", "name": "Survey bot"}


@dataclass(frozen=True)
class Member:
    """A Teams user as activities name them."""

    id: str
    name: str
    aad_object_id: str
    tenant: str = TENANT

    def account(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "aadObjectId": self.aad_object_id}


@dataclass(frozen=True)
class Channel:
    """A team's channel: posts in it are conversations `<channel id>;messageid=<root post id>`."""

    id: str = "19:c5b7d1a6e2f94b3c8f2d0e1a7b6c5d4e@thread.tacv2"
    team: str = "19:7d3e2a1b4c5f46a8b9c0d1e2f3a4b5c6@thread.tacv2"
    name: str = "Partnership board"
    tenant: str = TENANT


@dataclass
class TeamsShapes:
    """Builds Teams-shaped activities addressed to a (fake) Bot Connector at `service_url`."""

    service_url: str
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1481567603816))

    def _activity(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "id": str(next(self._ids)),
            "timestamp": "2026-11-23T09:30:00.000Z",
            "localTimestamp": "2026-11-23T09:30:00.000+00:00",
            "channelId": "msteams",
            "serviceUrl": self.service_url,
            "recipient": dict(BOT),
            "locale": "en-GB",
            **fields,
        }

    def personal(self, member: Member) -> dict[str, Any]:
        return {
            "conversationType": "personal",
            "tenantId": member.tenant,
            "id": f"a:1{member.aad_object_id}",
        }

    def personal_message(self, member: Member, text: str) -> dict[str, Any]:
        return self._activity(
            "message",
            text=text,
            textFormat="plain",
            **{"from": member.account()},
            conversation=self.personal(member),
            channelData={"tenant": {"id": member.tenant}},
            entities=[{"type": "clientInfo", "locale": "en-GB", "country": "GB", "platform": "Web"}],
        )

    def channel_message(
        self, member: Member, text: str, channel: Channel, *, root_post: str | None = None
    ) -> dict[str, Any]:
        """A post (or, with `root_post`, a reply in that post's thread) that @mentions the bot."""
        activity = self._activity(
            "message",
            textFormat="plain",
            **{"from": member.account()},
            channelData={
                "teamsChannelId": channel.id,
                "teamsTeamId": channel.team,
                "channel": {"id": channel.id},
                "team": {"id": channel.team},
                "tenant": {"id": channel.tenant},
            },
        )
        root = root_post or activity["id"]
        mention = f"<at>{BOT['name']}</at>"
        activity["text"] = f"{mention} {text}"
        activity["entities"] = [
            {"type": "mention", "mentioned": dict(BOT), "text": mention},
            {"type": "clientInfo", "locale": "en-GB", "country": "GB", "platform": "Web"},
        ]
        activity["conversation"] = {
            "isGroup": True,
            "conversationType": "channel",
            "tenantId": channel.tenant,
            "id": f"{channel.id};messageid={root}",
        }
        if root_post is not None:
            activity["replyToId"] = root_post
        return activity

    def execute(
        self,
        member: Member,
        data: dict[str, Any],
        *,
        verb: str = "survey",
        conversation: dict[str, Any] | None = None,
        reply_to: str | None = None,
    ) -> dict[str, Any]:
        """Pressing an Action.Execute button: the card's data merged with the inputs' values."""
        activity = self._activity(
            "invoke",
            name="adaptiveCard/action",
            **{"from": member.account()},
            conversation=conversation or self.personal(member),
            channelData={"tenant": {"id": member.tenant}, "source": {"name": "message"}},
            value={
                "action": {"type": "Action.Execute", "id": "", "verb": verb, "data": data},
                "trigger": "manual",
            },
        )
        if reply_to is not None:
            activity["replyToId"] = reply_to
        return activity

    def bot_added_to_team(self, member: Member, channel: Channel) -> dict[str, Any]:
        return self._activity(
            "conversationUpdate",
            membersAdded=[{"id": BOT["id"]}],
            **{"from": {"id": member.id, "aadObjectId": member.aad_object_id}},
            conversation={
                "isGroup": True,
                "conversationType": "channel",
                "tenantId": channel.tenant,
                "id": channel.id,
            },
            channelData={
                "team": {"id": channel.team, "name": "Place partnership"},
                "eventType": "teamMemberAdded",
                "tenant": {"id": channel.tenant},
            },
        )

    def bot_added_to_personal_chat(self, member: Member) -> dict[str, Any]:
        return self._activity(
            "conversationUpdate",
            membersAdded=[{"id": BOT["id"]}, {"id": member.id, "aadObjectId": member.aad_object_id}],
            **{"from": {"id": member.id, "aadObjectId": member.aad_object_id}},
            conversation=self.personal(member),
            channelData={"tenant": {"id": member.tenant}},
        )

    def installation_added(self, member: Member) -> dict[str, Any]:
        return self._activity(
            "installationUpdate",
            action="add",
            **{"from": {"id": member.id, "aadObjectId": member.aad_object_id}},
            conversation=self.personal(member),
            channelData={"tenant": {"id": member.tenant}, "source": {"name": "message"}},
        )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def teams_json(raw: bytes) -> Any:
    """Bytes parsed the way a strict JSON reader (Teams) parses them: UTF-8, no NaN or Infinity."""
    return json.loads(raw.decode("utf-8", errors="strict"), parse_constant=_no_constant)


def cards_in(payload: Any) -> list[dict[str, Any]]:
    """The Adaptive Cards an activity or an invoke response body carries, as parsed."""
    if not isinstance(payload, dict):
        return []
    found = [
        attachment.get("content")
        for attachment in payload.get("attachments") or []
        if isinstance(attachment, dict) and attachment.get("contentType") == ADAPTIVE_CARD
    ]
    if payload.get("type") == ADAPTIVE_CARD:  # an adaptiveCard/action response that replaces the card
        found.append(payload.get("value"))
    return found


def card_problems(validator: Draft6Validator, raw: bytes) -> list[str]:
    """Why the cards in these bytes would not render: not JSON, not an object, or schema errors."""
    try:
        payload = teams_json(raw)
    except ValueError as error:
        return [f"not JSON: {error}"]
    problems: list[str] = []
    for card in cards_in(payload):
        if not isinstance(card, dict):
            problems.append(f"a card that is not a JSON object: {str(card)[:80]}")
            continue
        problems += schema_errors(validator, card)
    return problems
