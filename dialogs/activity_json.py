"""Activities as the JSON Teams receives, without msrest: `model_json` walks botbuilder's models by their
`_attribute_map` (what msrest sent, at a fraction of the cost: msrest's walk over a question card cost
25× `json.dumps` of it), `message_json` builds a `Message`'s activity directly, and `json_bytes` writes
any of them (and an invoke's answer) as Teams reads JSON. Here, in dialogs/, so that both the Teams
edge (bot.teams.connector) and the replies kept with a turn's claim (dialogs.outgoing) write the same."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from dialogs.messages import Message

__all__ = ["json_bytes", "message_json", "model_json"]


def json_bytes(body: Any) -> bytes:
    """A body as Teams reads it: JSON (no NaN), ASCII-escaped so any text survives the trip; SDK
    models in it are written by `model_json`."""
    return json.dumps(body, separators=(",", ":"), allow_nan=False, default=_json_default).encode()


def model_json(model: Any) -> dict[str, Any]:
    """An SDK model (an Activity and what it holds, an invoke's answer) as the JSON msrest sent: keys
    from each model's `_attribute_map`, None left out, datetimes in ISO 8601 (UTC), free-form values
    (`object`: cards, channel data, invoke values) passed as they are."""
    return _model(model)


_AS_IS, _ISO, _MODELS = range(3)
_FREE_FORM = frozenset({"str", "int", "long", "float", "bool", "object"})


_Fields = tuple[tuple[str, str, int], ...]
_FIELDS: dict[Any, _Fields] = {}


def _fields(model: Any) -> _Fields:
    """(attribute, JSON key, how its value is written) for each field a model class declares, read once."""
    fields = _FIELDS.get(model)
    if fields is None:
        declared: dict[str, dict[str, str]] = model._attribute_map
        fields = _FIELDS[model] = tuple(
            (attribute, description["key"], _kind(description["type"]))
            for attribute, description in declared.items()
        )
    return fields


def _kind(declared: str) -> int:
    if declared == "iso-8601":
        return _ISO
    return _AS_IS if declared.strip("[]{}") in _FREE_FORM else _MODELS


def _model(model: Any) -> dict[str, Any]:
    written: dict[str, Any] = {}
    for attribute, key, how in _fields(type(model)):
        value = getattr(model, attribute, None)
        if value is None:
            continue
        written[key] = value if how == _AS_IS else _iso(value) if how == _ISO else _nested(value)
    return written


def _nested(value: Any) -> Any:
    """A field typed as a model, a list of models or a map of them; a dict there is taken as JSON."""
    if hasattr(type(value), "_attribute_map"):
        return _model(value)
    if isinstance(value, list):
        return [_nested(item) for item in value]
    if isinstance(value, dict):
        return {key: _nested(item) for key, item in value.items()}
    return value


def _iso(moment: datetime) -> str:
    """msrest's ISO 8601: UTC (a naive time taken as UTC), milliseconds at least, a `Z`."""
    utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    fraction = f"{utc.microsecond:06d}".rstrip("0").ljust(3, "0")
    return (
        f"{utc.year:04}-{utc.month:02}-{utc.day:02}T{utc.hour:02}:{utc.minute:02}:{utc.second:02}.{fraction}Z"
    )


def _json_default(value: Any) -> Any:
    """What `json` cannot write by itself, inside a free-form value: a model, a time, an enum."""
    if hasattr(type(value), "_attribute_map"):
        return _model(value)
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} cannot be sent to Teams as JSON")


def message_json(message: Message) -> dict[str, Any]:
    """An outbox message as the activity Teams receives (what `model_json` makes of
    `dialogs.messages.to_activity(message)`), built directly from its plain values."""
    body: dict[str, Any] = {"type": "message"}
    if message.text_format is not None:
        body["textFormat"] = message.text_format
    if message.attachment_layout is not None:
        body["attachmentLayout"] = message.attachment_layout
    if message.text is not None:
        body["text"] = message.text
    if message.input_hint is not None:
        body["inputHint"] = message.input_hint
    if message.attachments:
        body["attachments"] = [
            {
                key: value
                for key, value in (
                    ("contentType", attachment.content_type),
                    ("contentUrl", attachment.content_url),
                    ("content", attachment.content),
                    ("name", attachment.name),
                )
                if value is not None
            }
            for attachment in message.attachments
        ]
    return body
