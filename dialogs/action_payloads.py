"""What the action plan's cards send back, parsed with pydantic and never trusted beyond ids and text:
the owner's check-in card and the lead's "Make an action" form on a summary card. Both carry the
leads' verb (dialogs.payloads.LEAD_VERB), so Teams' press reaches bot.leads under a leased claim; who
may press is checked there against the stored action or survey, never against the card's data.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dialogs.payloads import RowId

__all__ = ["CHECKIN", "MAKE_ACTION", "CheckinPress", "MakeActionForm", "parse_checkin", "parse_make_action"]

CHECKIN = "checkin"
MAKE_ACTION = "make_action"
TEXT_LIMIT = 2000


def _blank_is_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


class CheckinPress(BaseModel):
    """The owner's answer on a check-in card: how it is going, a note, whether it is live."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    lead: Literal["checkin"]
    action_id: RowId
    rag: Literal["on-track", "at-risk", "off-track", "complete"] | None = None
    state: Literal["open", "live"] | None = None
    note: str | None = Field(default=None, max_length=TEXT_LIMIT)

    _blank = field_validator("rag", "state", "note", mode="before")(_blank_is_none)


class MakeActionForm(BaseModel):
    """A lead's "Make an action" form from a summary card."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    lead: Literal["make_action"]
    survey_id: RowId
    action_element: str | None = Field(default=None, max_length=80)
    action_text: str | None = Field(default=None, max_length=TEXT_LIMIT)
    action_owner: RowId | None = None
    action_due: date | None = None

    _blank = field_validator("action_element", "action_text", "action_owner", "action_due", mode="before")(
        _blank_is_none
    )


def parse_checkin(data: object) -> CheckinPress | None:
    """A check-in press, or None when the data is not one."""
    if not isinstance(data, dict) or data.get("lead") != CHECKIN:
        return None
    try:
        return CheckinPress.model_validate(data)
    except ValidationError:
        return None


def parse_make_action(data: object) -> MakeActionForm | None:
    """A "Make an action" form, or None when the data is not one."""
    if not isinstance(data, dict) or data.get("lead") != MAKE_ACTION:
        return None
    try:
        return MakeActionForm.model_validate(data)
    except ValidationError:
        return None
