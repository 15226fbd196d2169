"""Card payloads: what an Adaptive Card sends back, parsed with pydantic, never trusted as-is.

Cards put the action data (`action`, `survey_id`, `element_id`, maybe `value`) beside the inputs the
person filled in (`value` from a choice set, `comment` from the text box). Universal Actions
(`Action.Execute`) arrive as `adaptiveCard/action` invokes; the `Action.Submit` fallback as a message
with `value`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ACTION_VERB = "survey"
"""The single `verb` of our Action.Execute buttons; the `action` field says what to do."""

MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
"""A row's id as a card or a context carries it back: the id columns are PostgreSQL INTEGERs, and a
bigger number would reach the database as an overflow (SQLite) or a DataError (PostgreSQL)."""
COMMENT_PAYLOAD = 100_000
"""Far above storage's comment limit on purpose: storage says how long a comment may be, in words
the person can act on; this only bounds the payload (the request is bounded at 1 MiB anyway)."""


class CardActionKind(StrEnum):
    ANSWER = "answer"
    SKIP = "skip"
    BACK = "back"
    PAUSE = "pause"
    """Save and finish later."""
    COMMENT = "comment"
    """Save the comment box only (unscored elements)."""
    REVIEW = "review"
    CHANGE = "change"
    """From the review: go to one element to change it."""
    SUBMIT = "submit"
    START = "start"
    """From an invitation or `my surveys`: begin or continue a survey."""
    CONTINUE = "continue"
    """From the review or the submit check: go to the first unanswered question."""
    DOMAIN = "domain"
    """With `value` a domain id: answer that domain now; without, list the domains and their progress."""
    SUBMIT_ANYWAY = "submit_anyway"
    """Submit although many questions are unanswered: the confirmation the submit check asks for."""


class CardAction(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    action: CardActionKind
    survey_id: RowId
    element_id: str | None = Field(default=None, max_length=80)
    value: str | None = Field(default=None, max_length=80)
    comment: str | None = Field(default=None, max_length=COMMENT_PAYLOAD)

    @field_validator("value", "comment", "element_id", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, str) and not value.strip():
            return None
        return value


class MalformedPayload(ValueError):
    """A card payload we cannot act on; the message is safe to show the person."""


def parse_card_action(data: object) -> CardAction:
    if not isinstance(data, dict):
        raise MalformedPayload(
            "That card's data did not come through. Please use the latest card or type your answer."
        )
    try:
        return CardAction.model_validate(data)
    except ValidationError as exc:
        raise MalformedPayload(
            "I couldn't read that card's data. Please use the latest card, or type your answer."
        ) from exc


def invoke_action_data(value: object) -> object:
    """The `data` of an `adaptiveCard/action` invoke (`{"action": {"type": "Action.Execute", "data": …}}`)."""
    if isinstance(value, dict):
        action = value.get("action")
        if isinstance(action, dict):
            return action.get("data")
    return None
