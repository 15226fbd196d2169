"""Invoke answers: the Universal Actions body (`adaptiveCard/action`), its message, card and error
kinds, and the Bot Framework error for invokes the bot does not handle."""

from __future__ import annotations

import json
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Activity, ActivityTypes, Error, ErrorResponse, InvokeResponse
from msrest.serialization import Model

from bot.ops.logs import clip
from dialogs.activity_json import model_json

__all__ = [
    "CARD_RESPONSE",
    "ERROR_RESPONSE",
    "MESSAGE_RESPONSE",
    "NOT_SAVED",
    "UniversalActionResponse",
    "answer_invoke",
    "invoke_error",
    "invoke_json",
    "invoke_reply",
    "not_supported",
    "send_invoke_message",
]

CARD_RESPONSE = "application/vnd.microsoft.card.adaptive"
MESSAGE_RESPONSE = "application/vnd.microsoft.activity.message"


class UniversalActionResponse(Model):
    """The `adaptiveCard/action` response body. The SDK's AdaptiveCardInvokeResponse types `value` as a
    dict, so it cannot carry the plain string a message response needs; `object` serialises both.

    msrest writes an `object` as JSON only where it is exactly a `dict`, `list` or scalar: it `str()`s a
    dict subclass (a card the renderer shares as `SentCard`), and Teams would get Python text. So `value`
    is made plain JSON here, where every invoke body is built, whatever mapping the dialog produced.
    """

    _attribute_map = {  # noqa: RUF012 (msrest's declaration style)
        "status_code": {"key": "statusCode", "type": "int"},
        "type": {"key": "type", "type": "str"},
        "value": {"key": "value", "type": "object"},
    }

    def __init__(self, *, status_code: int, type: str, value: object) -> None:
        super().__init__()
        self.status_code = status_code
        self.type = type
        self.value = json.loads(json.dumps(value))


ERROR_RESPONSE = "application/vnd.microsoft.error"


def invoke_reply(kind: str, value: object) -> InvokeResponse:
    return InvokeResponse(status=200, body=UniversalActionResponse(status_code=200, type=kind, value=value))


def invoke_error(status_code: int, code: str, message: str) -> InvokeResponse:
    """A Universal Actions error: HTTP 200, the error in the body's `statusCode`, as the Adaptive Cards
    universal-action-model docs specify; Teams shows `message` on the card and leaves it pressable."""
    body = UniversalActionResponse(
        status_code=status_code, type=ERROR_RESPONSE, value={"code": code, "message": message}
    )
    return InvokeResponse(status=200, body=body)


NOT_SAVED = invoke_error(
    500,
    "InternalServerError",
    "That was not saved: something went wrong on my side. Please press the button again.",
)
"""The answer to a press whose turn failed before its commit. A server fault, but answered inside an
HTTP 200 as Universal Actions want: Teams then shows this message on the card and keeps it pressable,
where an HTTP 5xx gets a generic failure. It is never a success, so a lost answer is never acknowledged."""


def not_supported(name: str | None) -> InvokeResponse:
    """HTTP 400 for an invoke the bot does not handle (`task/fetch`, `composeExtension/*`, `signin/*`…).
    Teams sends these only for features a manifest declares, and ours declares none: such a request is
    the caller's mistake, so a 4xx with the Bot Framework's error body, not the SDK's 501 (a 5xx is
    counted as the bot's own failure)."""
    message = f"This bot does not handle {clip(name or '', 60)!r} invokes."
    return InvokeResponse(status=400, body=ErrorResponse(error=Error(code="NotSupported", message=message)))


async def answer_invoke(turn_context: TurnContext, response: InvokeResponse) -> None:
    await turn_context.send_activity(Activity(type=ActivityTypes.invoke_response, value=response))


async def send_invoke_message(turn_context: TurnContext, message: str) -> None:
    await answer_invoke(turn_context, invoke_reply(MESSAGE_RESPONSE, message))


def invoke_json(response: InvokeResponse | None) -> dict[str, Any] | None:
    """An invoke's answer as JSON, to keep with its claim until it is sent."""
    if response is None:
        return None
    if not isinstance(response.body, UniversalActionResponse) or response.status != 200:
        raise TypeError("a kept invoke answer is a Universal Actions body in an HTTP 200")
    return model_json(response.body)
