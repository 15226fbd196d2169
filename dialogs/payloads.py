"""Card payloads: what an Adaptive Card sends back, parsed with pydantic, never trusted as-is.

Cards put the action data (`action`, `survey_id`, `element_id`, maybe `value`) beside the inputs the
person filled in (`value` from a choice set, `comment` from the text box). Universal Actions
(`Action.Execute`) arrive as `adaptiveCard/action` invokes; the `Action.Submit` fallback as a message
with `value`.

This is the one place that reads a press: `invoke_press` and `submit_press` say what was pressed (the
button's verb and data), `parse_card_action` reads a partner's survey button, `parse_lead_action` a
lead's confirmation or start form. The Teams handler routes on the first two; the conversation and the
lead commands act on the others.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = [
    "ACTION_VERB",
    "EXECUTE",
    "LEAD_VERB",
    "MAX_ROW_ID",
    "CardAction",
    "CardActionKind",
    "LeadAction",
    "MalformedPayload",
    "Press",
    "RowId",
    "invoke_action_data",
    "invoke_press",
    "parse_card_action",
    "parse_lead_action",
    "submit_press",
]

ACTION_VERB = "survey"
"""The `verb` of a partner's survey buttons; the `action` field says what to do."""
LEAD_VERB = "lead"
"""The `verb` of the leads' own card buttons (partners' survey buttons use `survey`)."""
EXECUTE = "Action.Execute"

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
    target: str | None = Field(default=None, max_length=80)
    """Where they want to be: the question card's second choice (a target survey)."""

    @field_validator("value", "comment", "element_id", "target", mode="before")
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


class LeadAction(BaseModel):
    """What a lead's cards send back: the confirmation's buttons, or the start form and its inputs."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    lead: str = Field(pattern="^(confirm|cancel|start_form)$")
    survey_id: RowId | None = None
    framework_id: str | None = Field(default=None, max_length=80)
    title: str | None = Field(default=None, max_length=200)
    closes: str | None = Field(default=None, max_length=40)
    """An Input.Date value: YYYY-MM-DD."""
    partnership: str | None = Field(default=None, max_length=200)
    target: bool | None = None
    """The start form's toggle: also ask where we want to be (`"true"`/`"false"`, as Input.Toggle sends)."""


def parse_lead_action(data: object) -> LeadAction | None:
    """A lead's confirmation or start form, or None when the data is not one (the caller says so)."""
    try:
        return LeadAction.model_validate(data)
    except ValidationError:
        return None


class Press(BaseModel):
    """A button press as it arrives, before anyone acts on it: the `action` of an `adaptiveCard/action`
    invoke (`{"action": {"type": "Action.Execute", "verb": …, "data": …}}`), or the value of an
    `Action.Submit` message. Nothing in it is trusted: `data` is read by `parse_card_action` or
    `parse_lead_action`."""

    model_config = ConfigDict(extra="ignore")

    type: object = None
    verb: object = None
    data: object = None

    @property
    def is_execute(self) -> bool:
        return self.type == EXECUTE

    @property
    def by_lead(self) -> bool:
        """A lead's own button (its verb), as opposed to a partner's survey button."""
        return self.verb == LEAD_VERB


class _Invoke(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: Press


def invoke_press(value: object) -> Press | None:
    """The press an `adaptiveCard/action` invoke carries, or None when its value has no `action` object."""
    try:
        return _Invoke.model_validate(value).action
    except ValidationError:
        return None


def submit_press(value: object) -> Press | None:
    """A lead's `Action.Submit` fallback: a message whose value carries `lead` (and no `action`, which
    a partner's survey button has); None for anything else."""
    if isinstance(value, dict) and "lead" in value and "action" not in value:
        return Press(verb=LEAD_VERB, data=value)
    return None


def invoke_action_data(value: object) -> object:
    """The `data` of an `adaptiveCard/action` invoke (`{"action": {"type": "Action.Execute", "data": …}}`)."""
    press = invoke_press(value)
    return None if press is None else press.data
