"""A target survey's question card carries a second, optional choice — where we want to be in N months —
which every saving button sends beside the answer; the answered card and the review show both."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from jsonschema import Draft6Validator

from dialogs.payloads import CardActionKind, parse_card_action
from dialogs.survey_views import answered_view, question_view, review_view
from storage.details import StoredAnswer, SurveyDetails
from tests.bot.cards.test_cards import (  # noqa: F401 (card_schema is a fixture)
    CARDS,
    TEXT,
    card_schema,
    executes,
    framework,
    schema_errors,
    survey_of,
    texts,
    walk,
)

PLACE = framework("place-partnership-maturity")
SELF_TEST = framework("integrated-care-self-test")
ROADMAP = framework("ics-development-roadmap")


def _target_survey(fw_id: str, months: int = 12) -> SurveyDetails:
    return replace(survey_of(framework(fw_id)), target_months=months)


def _target_input(card: dict[str, Any]) -> dict[str, Any] | None:
    return next((n for n in walk(card) if n.get("type") == "Input.ChoiceSet" and n["id"] == "target"), None)


def test_a_matrix_question_offers_where_we_want_to_be_as_a_compact_optional_choice(
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    answers = {"vision": StoredAnswer("vision", "developing", False, None, target="maturing")}
    view = question_view(_target_survey(PLACE.id), PLACE, "vision", answers)
    card = CARDS.question_card(view)
    assert schema_errors(card_schema, card) == []
    target = _target_input(card)
    assert target is not None
    assert (target["style"], target["label"]) == ("compact", "Where we want to be in 12 months (optional)")
    assert [c["title"] for c in target["choices"]] == [
        "1. Emerging",
        "2. Developing",
        "3. Maturing",
        "4. Thriving",
    ]
    assert target["value"] == "maturing"  # the target given before, ready to keep
    assert "isRequired" not in target
    body = card["body"]
    assert body.index(target) == len(body) - 2  # just above the comment box, below every level
    assert any("choose where we want to be in 12 months at the end" in text for text in texts(card))
    chooses = [b for b in executes(card) if b["data"]["action"] == "answer"]
    assert len(chooses) == 4
    assert all("associatedInputs" not in b for b in chooses)
    choose = next(b for b in executes(card) if b["data"].get("value") == "thriving")
    pressed = parse_card_action({**choose["data"], "target": "thriving", "comment": ""})
    assert (pressed.action, pressed.value, pressed.target) == (CardActionKind.ANSWER, "thriving", "thriving")
    assert parse_card_action({**choose["data"], "target": ""}).target is None  # left empty: optional


def test_a_score_question_offers_the_target_on_the_same_scale(card_schema: Draft6Validator) -> None:  # noqa: F811
    element = SELF_TEST.iter_elements()[0][1].id
    card = CARDS.question_card(question_view(_target_survey(SELF_TEST.id, 18), SELF_TEST, element, {}))
    assert schema_errors(card_schema, card) == []
    target = _target_input(card)
    assert target is not None
    assert target["label"] == "Where we want to be in 18 months (optional)"
    assert [c["value"] for c in target["choices"]][:3] == ["-5", "-4", "-3"]
    assert "value" not in target


def test_statuses_and_surveys_without_targets_show_no_second_choice() -> None:
    element = ROADMAP.iter_elements()[0][1].id
    assert (
        _target_input(CARDS.question_card(question_view(_target_survey(ROADMAP.id), ROADMAP, element, {})))
        is None
    )
    assert _target_input(CARDS.question_card(question_view(survey_of(PLACE), PLACE, "vision", {}))) is None


def test_the_answered_card_and_the_review_show_now_and_the_target(card_schema: Draft6Validator) -> None:  # noqa: F811
    survey = _target_survey(PLACE.id)
    answer = StoredAnswer("vision", "developing", False, None, target="thriving")
    answered = answered_view(survey, PLACE, "vision", answer)
    card = CARDS.answered_card(answered)
    assert schema_errors(card_schema, card) == []
    assert "✓ Your answer: **Developing** · in 12 months: **Thriving**" in texts(card)
    assert card["fallbackText"] == "Vision: Developing → Thriving"
    assert not executes(card)
    assert _target_input(card) is None
    assert "✓ Your answer: Developing · in 12 months: Thriving" in TEXT.answered(answered).text
    review = review_view(survey, PLACE, {"vision": answer}, submitted=False)
    assert any("**Developing** → target **Thriving**" in text for text in texts(CARDS.review_card(review)))
    assert "1. Vision — Developing → target Thriving" in TEXT.review(review).text
