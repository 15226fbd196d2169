"""Turning a submitted value into the canonical answer a framework allows, or a specific refusal.

Pure and synchronous: the dialogs and the storage layer both call it, and it never touches I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from frameworks.schema import Element, Framework, LevelsScale, ScoreScale, StatusScale

COMMENT_LIMIT = 4000
"""The longest comment a person may leave on a question: generous for evidence, well under what an
Adaptive Card can echo back (the card's comment box says so, storage refuses longer)."""


class InvalidAnswer(ValueError):
    """A value the element's scale does not allow; the message is written for the person answering."""

    def __init__(self, element_id: str, message: str) -> None:
        super().__init__(message)
        self.element_id = element_id
        self.message = message


class UnknownElement(InvalidAnswer):
    def __init__(self, framework_id: str, element_id: str) -> None:
        super().__init__(element_id, f"{framework_id} has no question {element_id!r}")


@dataclass(frozen=True)
class AnswerValue:
    value: str
    """Canonical token stored in `answers.value`: a level id, a signed score or a status id."""
    score: int | None
    """Numeric position for ordinal scales; None for categorical statuses."""


_INTEGER = re.compile(r"^[+-]?\d+$")


def locate(framework: Framework, element_id: str) -> tuple[Element, LevelsScale | ScoreScale | StatusScale]:
    found = framework.element(element_id)
    if found is None:
        raise UnknownElement(framework.id, element_id)
    domain, element = found
    return element, framework.scale_for(domain)


def interpret(framework: Framework, element_id: str, raw: str | int) -> AnswerValue:
    """Accept a level (id, label or value), a score (int or '+2') or a status (id or label)."""
    element, scale = locate(framework, element_id)
    if element.in_development:
        raise InvalidAnswer(
            element_id,
            f"“{element.title}” is still being written in the source framework, so it is not scored. "
            "You can still leave a comment.",
        )
    if isinstance(raw, bool):  # bool is an int in Python; True is never a meaningful answer
        raise InvalidAnswer(element_id, "that is not an answer to this question")
    if isinstance(scale, LevelsScale):
        return _level(element_id, scale, raw)
    if isinstance(scale, ScoreScale):
        return _score(element_id, scale, raw)
    return _status(element_id, scale, raw)


def interpret_target(framework: Framework, element_id: str, raw: str | int) -> AnswerValue:
    """Where they want to be: a level or a score read as `interpret` reads the answer. A delivery status
    has no target (an outcome is delivered or not), so statuses are refused."""
    _, scale = locate(framework, element_id)
    if isinstance(scale, StatusScale):
        raise InvalidAnswer(element_id, "A status has no target: give just the status.")
    return interpret(framework, element_id, raw)


def _level(element_id: str, scale: LevelsScale, raw: str | int) -> AnswerValue:
    text = str(raw).strip()
    level = None
    if _INTEGER.match(text):
        level = scale.level_by_value(int(text))
    else:
        key = text.casefold()
        level = next((lv for lv in scale.levels if key in (lv.id, lv.label.casefold())), None)
    if level is None:
        choices = ", ".join(f"{lv.value} {lv.label}" for lv in scale.levels)
        raise InvalidAnswer(element_id, f"“{text}” is not one of the levels. Choose one of: {choices}.")
    return AnswerValue(value=level.id, score=level.value)


def _score(element_id: str, scale: ScoreScale, raw: str | int) -> AnswerValue:
    text = str(raw).strip().replace("−", "-")  # a typographic minus pasted from Word
    if not _INTEGER.match(text):
        raise InvalidAnswer(element_id, f"“{text}” is not a score. Give a whole number from {_range(scale)}.")
    value = int(text)
    if not scale.min <= value <= scale.max:
        raise InvalidAnswer(
            element_id, f"{value:+d} is outside the scale. Give a whole number from {_range(scale)}."
        )
    return AnswerValue(value=f"{value:+d}" if value else "0", score=value)


def _range(scale: ScoreScale) -> str:
    return f"{scale.min} to +{scale.max}" if scale.min < 0 else f"{scale.min} to {scale.max}"


def _status(element_id: str, scale: StatusScale, raw: str | int) -> AnswerValue:
    key = str(raw).strip().casefold()
    status = next((s for s in scale.statuses if key in (s.id, s.label.casefold())), None)
    if status is None:
        choices = ", ".join(s.label for s in scale.statuses)
        raise InvalidAnswer(element_id, f"“{str(raw).strip()}” is not a status. Choose one of: {choices}.")
    return AnswerValue(value=status.id, score=None)
