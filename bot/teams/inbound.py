"""The shape of an activity posted to /api/messages, checked once at the edge before anything reads it.

The SDK's msrest deserialiser keeps a number where a string belongs and raises deep inside a turn on an
object where a list belongs; the bot then reads `activity.text.strip()` or `entity.type.lower()`.
So every field the SDK or the bot reads is checked here for its JSON type and a sane length, with
the database's column sizes as the bound for what is stored. Parsing is strict JSON in UTF-8: a lone
surrogate (raw or escaped) cannot be stored, logged or sent on, and nesting deeper than the parser's
recursion limit (pydantic-core's, ~200 levels) is refused while parsing, before anything recursive
walks the tree. Unknown fields are allowed: Teams adds them, and msrest ignores them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

import pydantic_core
from azure.core.exceptions import DeserializationError  # msrest raises azure-core's (and re-imports it)
from msrest.serialization import Deserializer
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from bot.ops.logs import clip

ID = 256
"""Activity ids and the like: Teams' are 13-digit numbers or `f:…` GUID-sized strings."""
TEXT = 100_000
"""Teams caps a message near 28 KB of HTML; the request's 1 MiB bound is the real limit."""
SHORT = 64
REPLYING_TYPES = frozenset({"message", "invoke", "conversationUpdate", "installationUpdate"})
"""Activities the bot answers, so they must say where from (`serviceUrl`), who (`from`) and in which
conversation. Teams sends those on every activity, but the others (typing, reactions, events) need
no reply and nothing of them is stored, so they are not refused for lacking them."""


def _iso_8601(value: str) -> str:
    """A timestamp msrest can read (it raises on anything else, mid-request)."""
    try:
        Deserializer.deserialize_iso(value)
    except DeserializationError:
        raise ValueError("not an ISO 8601 date and time") from None
    return value


def _web_address(value: str) -> str:
    """Replies go to the serviceUrl, so it must be an http(s) address with a host."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) address")
    return value


Short = Annotated[str, StringConstraints(max_length=SHORT)]
Id = Annotated[str, StringConstraints(max_length=ID)]
Label = Annotated[str, StringConstraints(max_length=1000)]
Link = Annotated[str, StringConstraints(max_length=4000)]
Text = Annotated[str, StringConstraints(max_length=TEXT)]
Name = Annotated[str, StringConstraints(max_length=1000)]
"""Azure AD allows display names of 256 characters; storage keeps the first 200 (people.name), so a
long name is shortened there, never refused here."""
AccountId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ConversationId = Annotated[str, StringConstraints(min_length=1, max_length=400)]
"""400: the conversation id columns."""
DirectoryId = Annotated[str, StringConstraints(max_length=64)]
"""Tenant and AAD object ids (GUIDs) and their columns."""
LongId = Annotated[str, StringConstraints(max_length=400)]
"""Team and channel ids (`19:…@thread.tacv2`), as the conversation id columns hold them."""
ActivityType = Annotated[str, StringConstraints(min_length=1, max_length=SHORT)]
ChannelName = Annotated[str, StringConstraints(max_length=40)]
ConversationType = Annotated[str, StringConstraints(max_length=20)]
Timestamp = Annotated[str, StringConstraints(max_length=SHORT), AfterValidator(_iso_8601)]
ServiceUrl = Annotated[str, StringConstraints(max_length=400), AfterValidator(_web_address)]
"""400: the conversation_references.service_url column."""


class _Shape(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


class Account(_Shape):
    """A person or bot (`from`, `recipient`, members added): bounds are the people table's columns."""

    id: AccountId
    name: Name | None = None
    aad_object_id: DirectoryId | None = Field(default=None, alias="aadObjectId")
    role: Short | None = None


class Conversation(_Shape):
    id: ConversationId
    conversation_type: ConversationType | None = Field(default=None, alias="conversationType")
    tenant_id: DirectoryId | None = Field(default=None, alias="tenantId")
    is_group: bool | None = Field(default=None, alias="isGroup")
    name: Label | None = None
    aad_object_id: DirectoryId | None = Field(default=None, alias="aadObjectId")
    role: Short | None = None


class _Ref(_Shape):
    """`channelData.tenant`, `.team`, `.channel`: the bot reads their ids."""

    id: LongId | None = None
    name: Label | None = None


class ChannelData(_Shape):
    tenant: _Ref | None = None
    team: _Ref | None = None
    channel: _Ref | None = None
    event_type: Short | None = Field(default=None, alias="eventType")


class _Mentioned(_Shape):
    id: AccountId
    name: Label | None = None


class Entity(_Shape):
    """The SDK lower-cases every entity's `type`, and for mentions reads `mentioned.id` and `text`."""

    type: Short
    mentioned: _Mentioned | None = None
    text: Label | None = None

    @model_validator(mode="after")
    def _mention_names_someone(self) -> Entity:
        if self.type.lower() == "mention" and self.mentioned is None:
            raise ValueError("a mention names who is mentioned")
        return self


class Attachment(_Shape):
    content_type: Label | None = Field(default=None, alias="contentType")
    content_url: Link | None = Field(default=None, alias="contentUrl")
    content: Any = None
    name: Label | None = None
    thumbnail_url: Link | None = Field(default=None, alias="thumbnailUrl")


class Reaction(_Shape):
    type: Short


class _SuggestedAction(_Shape):
    type: Short | None = None
    title: Label | None = None
    image: Link | None = None
    text: Text | None = None
    display_text: Text | None = Field(default=None, alias="displayText")
    image_alt_text: Label | None = Field(default=None, alias="imageAltText")


class _SuggestedActions(_Shape):
    to: list[Id] | None = None
    actions: list[_SuggestedAction] | None = None


class _Reference(_Shape):
    activity_id: Id | None = Field(default=None, alias="activityId")
    user: Account | None = None
    bot: Account | None = None
    conversation: Conversation | None = None
    channel_id: Short | None = Field(default=None, alias="channelId")
    locale: Short | None = None
    service_url: ServiceUrl | None = Field(default=None, alias="serviceUrl")


class _TextHighlight(_Shape):
    text: Text | None = None
    occurrence: int | None = None


class _SemanticAction(_Shape):
    id: Id | None = None
    entities: dict[str, Entity] | None = None
    state: Short | None = None


class InboundActivity(_Shape):
    """Every field msrest gives a type, with that JSON type; `value` and `channelData`'s extras are
    free-form JSON (the card payload models check `value` where it is used)."""

    type: ActivityType
    id: Id | None = None
    timestamp: Timestamp | None = None
    local_timestamp: Timestamp | None = Field(default=None, alias="localTimestamp")
    local_timezone: Short | None = Field(default=None, alias="localTimezone")
    service_url: ServiceUrl | None = Field(default=None, alias="serviceUrl")
    channel_id: ChannelName | None = Field(default=None, alias="channelId")
    sender: Account | None = Field(default=None, alias="from")
    conversation: Conversation | None = None
    recipient: Account | None = None
    text_format: Short | None = Field(default=None, alias="textFormat")
    attachment_layout: Short | None = Field(default=None, alias="attachmentLayout")
    members_added: list[Account] | None = Field(default=None, alias="membersAdded")
    members_removed: list[Account] | None = Field(default=None, alias="membersRemoved")
    reactions_added: list[Reaction] | None = Field(default=None, alias="reactionsAdded")
    reactions_removed: list[Reaction] | None = Field(default=None, alias="reactionsRemoved")
    topic_name: Label | None = Field(default=None, alias="topicName")
    history_disclosed: bool | None = Field(default=None, alias="historyDisclosed")
    locale: Short | None = None
    text: Text | None = None
    speak: Text | None = None
    input_hint: Short | None = Field(default=None, alias="inputHint")
    summary: Text | None = None
    suggested_actions: _SuggestedActions | None = Field(default=None, alias="suggestedActions")
    attachments: list[Attachment] | None = None
    entities: list[Entity] | None = None
    channel_data: ChannelData | None = Field(default=None, alias="channelData")
    action: Short | None = None
    reply_to_id: Id | None = Field(default=None, alias="replyToId")
    label: Label | None = None
    value_type: Short | None = Field(default=None, alias="valueType")
    value: Any = None
    name: Id | None = None
    relates_to: _Reference | None = Field(default=None, alias="relatesTo")
    code: Short | None = None
    expiration: Timestamp | None = None
    importance: Short | None = None
    delivery_mode: Short | None = Field(default=None, alias="deliveryMode")
    listen_for: list[Label] | None = Field(default=None, alias="listenFor")
    text_highlights: list[_TextHighlight] | None = Field(default=None, alias="textHighlights")
    semantic_action: _SemanticAction | None = Field(default=None, alias="semanticAction")
    caller_id: LongId | None = Field(default=None, alias="callerId")

    @model_validator(mode="after")
    def _answerable(self) -> InboundActivity:
        if self.type in REPLYING_TYPES:
            missing = [
                name
                for name, given in (
                    ("serviceUrl", self.service_url),
                    ("from", self.sender),
                    ("conversation", self.conversation),
                )
                if given is None
            ]
            if missing:
                raise ValueError(f"a {self.type} activity needs {', '.join(missing)}")
        return self


class MalformedActivity(ValueError):
    """A body that is not an activity the bot can act on. `reason` is safe to log and to send back:
    field paths and what was wrong, never the values (clipped, in case a path holds a client key)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_activity(raw: bytes) -> dict[str, Any]:
    """The body as the JSON object the SDK will read, once it is known to be a well-formed activity."""
    return check_activity(read_json(raw))


def read_json(raw: bytes) -> Any:
    """The body as JSON, parsed strictly and with bounded nesting: the one place a body is parsed."""
    try:
        return pydantic_core.from_json(raw, allow_inf_nan=False)
    except ValueError as error:
        raise MalformedActivity(
            f"the body is not JSON in UTF-8 nested at most ~200 deep: {clip(str(error), 120)}"
        ) from None


def check_activity(body: Any) -> dict[str, Any]:
    """`body` (parsed JSON), once it is known to be a well-formed activity."""
    if not isinstance(body, Mapping):
        raise MalformedActivity("the body is not a Bot Framework activity (not a JSON object)")
    try:
        InboundActivity.model_validate(body)
    except ValidationError as error:
        raise MalformedActivity(_reasons(error)) from None
    return dict(body)


def claimed_origin(body: Any) -> tuple[Any, str | None]:
    """The `channelId` and `serviceUrl` a channel token is checked against, read from JSON that has not
    been validated yet: the channel id as it is (the key's endorsements refuse anything but a listed
    string), the serviceUrl only if it is a string (no token vouches for anything else)."""
    if not isinstance(body, Mapping):
        return None, None
    service_url = body.get("serviceUrl")
    return body.get("channelId"), service_url if isinstance(service_url, str) else None


def _reasons(error: ValidationError, shown: int = 3) -> str:
    """The first few problems as `path: message`, without the input values pydantic would quote."""
    problems = [
        f"{'.'.join(str(part) for part in problem['loc']) or 'activity'}: {problem['msg']}"
        for problem in error.errors(include_url=False, include_input=False, include_context=False)
    ]
    more = f" (and {len(problems) - shown} more)" if len(problems) > shown else ""
    return clip("the activity is malformed: " + "; ".join(problems[:shown]) + more, 400)
