"""What the bot says, as plain values: renderers build a `Message`, the edge turns it into an Activity.

Cards and reports know nothing of the Teams SDK: they return a `Message` (text, or Adaptive Card dicts
and other attachments). `to_activity` is the one conversion to botbuilder's `Activity`, made where a
reply is sent or queued, and it builds exactly the activity the renderers used to build, so the bytes
on the wire are unchanged. `to_json`/`from_json` are the same message as a serialised Activity, the
shape outbox rows keep in `payload["activity"]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botbuilder.schema import Activity, ActivityTypes
from botbuilder.schema import Attachment as SdkAttachment

__all__ = [
    "ADAPTIVE_CARD",
    "Attachment",
    "AttachmentLayout",
    "Card",
    "InputHint",
    "Message",
    "SentCard",
    "TextFormat",
    "card_message",
    "from_json",
    "text_message",
    "to_activity",
    "to_json",
]

Card = dict[str, Any]
"""An Adaptive Card as the JSON object Teams receives."""

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
"""The content type of an Adaptive Card attachment (botbuilder's CardFactory.content_types.adaptive_card)."""


class TextFormat(StrEnum):
    PLAIN = "plain"
    """Shown exactly as typed: nothing needs escaping."""
    MARKDOWN = "markdown"
    XML = "xml"


class InputHint(StrEnum):
    ACCEPTING = "acceptingInput"
    EXPECTING = "expectingInput"
    IGNORING = "ignoringInput"


class AttachmentLayout(StrEnum):
    LIST = "list"
    CAROUSEL = "carousel"


@dataclass(frozen=True)
class Attachment:
    """One attachment: an Adaptive Card (`ADAPTIVE_CARD`, content a card dict) or any other content type
    (a file consent or file info card)."""

    content_type: str
    content: Any = None
    name: str | None = None
    content_url: str | None = None


@dataclass(frozen=True)
class Message:
    """A message as the renderers build it; None and empty fields are left out of the activity."""

    text: str | None = None
    text_format: TextFormat | None = None
    input_hint: InputHint | None = None
    attachment_layout: AttachmentLayout | None = None
    attachments: tuple[Attachment, ...] = ()

    @property
    def cards(self) -> tuple[Card, ...]:
        """The Adaptive Cards among the attachments, in order."""
        return tuple(a.content for a in self.attachments if a.content_type == ADAPTIVE_CARD)


def text_message(text: str, *, text_format: TextFormat | None = None) -> Message:
    """Words only, as botbuilder's MessageFactory.text builds them (input hint: accepting input)."""
    return Message(text=text, text_format=text_format, input_hint=InputHint.ACCEPTING)


def card_message(card: Card) -> Message:
    """A message whose only content is the card: no `text`, so Teams keeps it as one message."""
    return Message(
        attachment_layout=AttachmentLayout.LIST,
        attachments=(Attachment(ADAPTIVE_CARD, card),),
        input_hint=InputHint.ACCEPTING,
    )


class SentCard(dict[str, Any]):
    """A card once rendered is only read, so copies share it: TurnContext deep-copies every activity
    it sends, which for a 6.5 KB card costs more than sending it."""

    def __deepcopy__(self, memo: dict[int, Any]) -> SentCard:
        return self


def to_activity(message: Message) -> Activity:
    """The botbuilder Activity for `message`, its cards shared (`SentCard`) rather than deep-copied."""
    return _activity(message, shared=True)


def to_json(message: Message) -> dict[str, Any]:
    """The message as a serialised Activity (what `Activity.serialize()` writes), for an outbox row."""
    serialized: dict[str, Any] = _activity(message, shared=False).serialize()
    return serialized


def from_json(data: Mapping[str, Any]) -> Message:
    """A message read back from a serialised Activity (`to_json`, or an older row written by botbuilder)."""
    activity = Activity.deserialize(dict(data))
    return Message(
        text=activity.text,
        text_format=None if activity.text_format is None else TextFormat(activity.text_format),
        input_hint=None if activity.input_hint is None else InputHint(activity.input_hint),
        attachment_layout=(
            None if activity.attachment_layout is None else AttachmentLayout(activity.attachment_layout)
        ),
        attachments=tuple(
            Attachment(a.content_type, a.content, name=a.name, content_url=a.content_url)
            for a in activity.attachments or []
        ),
    )


def _activity(message: Message, *, shared: bool) -> Activity:
    """Only the fields the message sets are given, so None and empty ones are left out when serialised."""
    fields: dict[str, Any] = {}
    if message.text is not None:
        fields["text"] = message.text
    if message.text_format is not None:
        fields["text_format"] = message.text_format.value
    if message.attachment_layout is not None:
        fields["attachment_layout"] = message.attachment_layout.value
    if message.attachments:
        fields["attachments"] = [_attachment(a, shared=shared) for a in message.attachments]
    if message.input_hint is not None:
        fields["input_hint"] = message.input_hint.value
    return Activity(type=ActivityTypes.message, **fields)


def _attachment(attachment: Attachment, *, shared: bool) -> SdkAttachment:
    content = attachment.content
    if shared and attachment.content_type == ADAPTIVE_CARD and isinstance(content, dict):
        content = SentCard(content)
    fields: dict[str, Any] = {"content_type": attachment.content_type, "content": content}
    if attachment.name is not None:
        fields["name"] = attachment.name
    if attachment.content_url is not None:
        fields["content_url"] = attachment.content_url
    return SdkAttachment(**fields)
