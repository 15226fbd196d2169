"""A partner sees every question, answer and review as a card Teams can show: valid, safe and small enough.

Views are built from the real seed frameworks by the dialog's own view functions, so the cards tested
here are the cards partners get.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botbuilder.schema import ActivityTypes
from jsonschema import Draft6Validator, ValidationError

from bot.cards import MAX_CARD_BYTES, CardRenderer, card_of, card_size, escape
from bot.reports.text import TextRenderer
from dialogs.messages import Message, to_activity
from dialogs.payloads import ACTION_VERB, CardAction, CardActionKind
from dialogs.survey_views import (
    choices_for,
    domains_view,
    position_of,
    question_view,
    review_view,
    submit_check_view,
)
from dialogs.views import (
    AnsweredView,
    DomainProgress,
    DomainsView,
    QuestionView,
    ReviewItem,
    ReviewSection,
    ReviewView,
    SubmitCheckView,
    SubmittedView,
    SurveyListItem,
    SurveyListView,
)
from frameworks.loader import load_directory
from frameworks.schema import Framework
from storage.details import StoredAnswer, SurveyDetails
from tests.conftest import shared_file

Card = dict[str, Any]

SCHEMA_NAME = "schemas/adaptive-card.v1.5.schema.json"
CLOSES = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)
CATALOGUE = load_directory()
CARDS = CardRenderer()
TEXT = TextRenderer()
HOSTILE = "**bold** [x](http://evil) <at>Admin</at> <b>hi</b> & {{DATE(2017-02-14T06:08:00Z)}}"


def framework(framework_id: str) -> Framework:
    found = CATALOGUE.get(framework_id)
    assert found is not None, f"seed framework {framework_id} did not load: {CATALOGUE.errors}"
    return found


def survey_of(fw: Framework) -> SurveyDetails:
    return SurveyDetails(id=7, title=fw.title, closes_at=CLOSES, lock_after_submit=False)


def stored(
    *, element_id: str, value: str | None = None, skipped: bool = False, comment: str | None = None
) -> StoredAnswer:
    return StoredAnswer(element_id=element_id, value=value, skipped=skipped, comment=comment)


def all_answered(
    fw: Framework, comment: str | None = "We meet monthly; minutes attached."
) -> dict[str, StoredAnswer]:
    """Every element answered with its last choice (the longest status label), each with a comment."""
    answers = {}
    for domain, element in fw.iter_elements():
        choices = choices_for(fw.scale_for(domain), element)
        answers[element.id] = stored(
            element_id=element.id,
            value=choices[-1].value if choices else None,
            comment=comment,
        )
    return answers


def question(
    framework_id: str, element_id: str, answers: dict[str, StoredAnswer] | None = None, **kw: Any
) -> QuestionView:
    fw = framework(framework_id)
    return question_view(survey_of(fw), fw, element_id, answers or {}, **kw)


def ics_review(*, submitted: bool = True) -> ReviewView:
    fw = framework("ics-development-roadmap")
    return review_view(survey_of(fw), fw, all_answered(fw), submitted=submitted)


def sample_cards() -> dict[str, Card]:
    """One card of each kind from real frameworks, with current answers, notes and comments."""
    place = framework("place-partnership-maturity")
    answered_place = {"vision": stored(element_id="vision", value="maturing", comment="See minutes")}
    partly = dict(list(all_answered(place).items())[:5])
    partly["trust"] = stored(element_id="trust", skipped=True)
    return {
        "levels question": CARDS.question_card(
            question(
                "place-partnership-maturity",
                "vision",
                answered_place,
                note="You answered this before: Maturing",
            )
        ),
        "levels question, later row": CARDS.question_card(question("place-partnership-maturity", "trust")),
        "score question": CARDS.question_card(
            question(
                "integrated-care-self-test",
                "effective-engagement",
                {"effective-engagement": stored(element_id="effective-engagement", value="+2")},
            )
        ),
        "status question": CARDS.question_card(
            question("ics-development-roadmap", "icb-people-single-executive-team")
        ),
        "unscored question": CARDS.question_card(
            question("ics-development-roadmap", "clinical-leadership-outcomes")
        ),
        "answered": CARDS.answered_card(
            AnsweredView(
                "Place partnership maturity matrix", "vision", "Vision", 1, 23, "Maturing", "See minutes"
            )
        ),
        "skipped": CARDS.answered_card(
            AnsweredView(
                "Place partnership maturity matrix", "trust", "Trust", 9, 23, None, note="Skipped for now"
            )
        ),
        "review, 128 outcomes": CARDS.review_card(ics_review()),
        "review, partly answered": CARDS.review_card(
            review_view(survey_of(place), place, partly, submitted=False)
        ),
        "survey list": CARDS.survey_list_card(
            SurveyListView(
                items=[
                    SurveyListItem(1, "Place partnership maturity matrix", 0, 23, False, CLOSES),
                    SurveyListItem(2, "BOB ICS Development Roadmap 2022/23", 12, 124, False),
                    SurveyListItem(3, "Integration self-assessment", 32, 32, True),
                ],
                intro="Here are your surveys.",
            )
        ),
        "empty survey list": CARDS.survey_list_card(SurveyListView()),
        "domains": CARDS.domains_card(domains_view(survey_of(place), place, partly)),
        "submit check": CARDS.submit_check_card(
            submit_check_view(
                survey_of(place), place, partly, review_view(survey_of(place), place, partly, submitted=False)
            )
            or pytest.fail("21 questions, 6 done: the submit check asks")
        ),
        "submitted": CARDS.submitted_card(
            SubmittedView(
                "Place partnership maturity matrix", 20, 3, "The summary is posted on 1 December.", True
            )
        ),
    }


SAMPLES = sample_cards()


@pytest.fixture(scope="module")
def card_schema() -> Draft6Validator:
    schema = json.loads(shared_file(SCHEMA_NAME).read_text(encoding="utf-8"))
    Draft6Validator.check_schema(schema)
    return Draft6Validator(schema)  # no format_checker: `format` stays an annotation, as the spec allows


def schema_errors(validator: Draft6Validator, card: Card) -> list[str]:
    """Each error's path and reason, read inside the schema branch for the element's own `type`."""
    return sorted(
        {f"{e.json_path}: {e.message[:200]}" for top in validator.iter_errors(card) for e in _reasons(top)}
    )


def _reasons(error: ValidationError) -> Iterator[ValidationError]:
    """The schema lists every element type in an `anyOf`: skip branches for other types, keep the rest."""
    branches: dict[Any, list[ValidationError]] = defaultdict(list)
    for sub in error.context or []:
        branches[sub.relative_schema_path[0]].append(sub)
    kept = [
        sub for subs in branches.values() if not any(_other_type(sub, error) for sub in subs) for sub in subs
    ]
    if not kept:
        yield error
    for sub in kept:
        yield from _reasons(sub)


def _other_type(error: ValidationError, parent: ValidationError) -> bool:
    type_path = [*parent.absolute_path, "type"]
    return (error.validator == "enum" and list(error.absolute_path) == type_path) or any(
        _other_type(sub, parent) for sub in error.context or []
    )


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every object in a card, depth first."""
    if isinstance(node, dict):
        yield node
        for child in node.values():
            yield from walk(child)
    elif isinstance(node, list):
        for child in node:
            yield from walk(child)


def executes(card: Card) -> list[Card]:
    return [node for node in walk(card) if node.get("type") == "Action.Execute"]


def inputs(card: Card) -> dict[str, str]:
    """Plausible values a person leaves in the card's inputs: the first option, a typed comment."""
    filled = {}
    for node in walk(card):
        if node.get("type") == "Input.ChoiceSet":
            filled[node["id"]] = node["choices"][0]["value"]
        elif node.get("type") == "Input.Text":
            filled[node["id"]] = "Because the board agreed it in March."
    return filled


def texts(card: Card) -> list[str]:
    """Everything a client renders as markdown: TextBlocks, facts and expanded choices."""
    found = []
    for node in walk(card):
        if node.get("type") == "TextBlock":
            found.append(node["text"])
        elif node.get("type") == "FactSet":
            found += [part for fact in node["facts"] for part in (fact["title"], fact["value"])]
        elif node.get("type") == "Input.ChoiceSet" and node.get("style") == "expanded":
            found += [choice["title"] for choice in node["choices"]]
    return found


# -- every card is a valid Adaptive Card 1.5, alone in its message ---------------------------------


@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_card_a_partner_can_get_matches_the_adaptive_cards_1_5_schema(
    card_schema: Draft6Validator, name: str
) -> None:
    card = SAMPLES[name]
    assert schema_errors(card_schema, card) == []
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.5")
    assert card["fallbackText"].strip()


def test_the_schema_check_names_the_path_and_reason_of_a_broken_card(card_schema: Draft6Validator) -> None:
    card = json.loads(json.dumps(SAMPLES["levels question"]))
    card["body"][0]["wrapp"] = True
    card["actions"][0]["titel"] = card["actions"][0].pop("title")
    assert schema_errors(card_schema, card) == [
        "$.actions[0]: Additional properties are not allowed ('titel' was unexpected)",
        "$.body[0]: Additional properties are not allowed ('wrapp' was unexpected)",
    ]


def test_a_card_travels_alone_so_teams_keeps_one_message_whose_id_can_be_updated() -> None:
    renderer = CardRenderer()
    view = question("place-partnership-maturity", "vision")
    activities: list[Callable[[], Message]] = [
        lambda: renderer.question(view),
        lambda: renderer.answered(AnsweredView("S", "vision", "Vision", 1, 23, "Maturing")),
        lambda: renderer.review(ics_review()),
        lambda: renderer.survey_list(SurveyListView()),
        lambda: renderer.submitted(SubmittedView("S", 1, 0, "Soon.", False)),
    ]
    for make in activities:
        message = make()
        activity = to_activity(message)
        assert activity.type == ActivityTypes.message
        assert activity.text is None
        assert len(activity.attachments) == 1
        assert activity.attachments[0].content_type == "application/vnd.microsoft.card.adaptive"
        assert card_of(message)["type"] == "AdaptiveCard"
    assert card_of(renderer.question(view)) == renderer.question_card(view)
    plain = to_activity(renderer.text("Saved."))
    assert (plain.type, plain.text, plain.attachments) == (ActivityTypes.message, "Saved.", None)


def test_every_variable_text_wraps_so_nothing_is_cut_on_a_phone() -> None:
    for name, card in SAMPLES.items():
        blocks = [node for node in walk(card) if node.get("type") == "TextBlock"]
        assert blocks, name
        assert all(block["wrap"] is True for block in blocks), name
        assert not [node for node in walk(card) if "width" in node], name


# -- buttons send what the dialog can parse ---------------------------------------------------------


@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_button_sends_data_the_dialog_parses_as_a_card_action(name: str) -> None:
    card = SAMPLES[name]
    filled = inputs(card)
    for action in executes(card):
        assert action["verb"] == ACTION_VERB
        fallback = action["fallback"]
        assert fallback["type"] == "Action.Submit"
        assert (fallback["title"], fallback["data"]) == (action["title"], action["data"])
        assert fallback.get("associatedInputs") == action.get("associatedInputs")
        merged = action["data"] if action.get("associatedInputs") == "None" else {**action["data"], **filled}
        parsed = CardAction.model_validate(merged)
        assert parsed.survey_id > 0
        if parsed.action is CardActionKind.ANSWER:
            assert parsed.element_id
            assert parsed.value
        if parsed.action in (CardActionKind.CHANGE, CardActionKind.COMMENT, CardActionKind.SKIP):
            assert parsed.element_id


def test_skip_and_later_keep_the_comment_but_back_sends_nothing() -> None:
    card = SAMPLES["score question"]
    by_action = {action["data"]["action"]: action for action in executes(card)}
    assert set(by_action) == {"answer", "skip", "back", "pause"}
    for kind in ("skip", "back", "pause"):
        assert set(by_action[kind]["data"]) == {"action", "survey_id", "element_id"}
    assert by_action["back"]["associatedInputs"] == "None"
    for kind in ("answer", "skip", "pause"):  # the comment box (and, for answer, the score) come with it
        assert "associatedInputs" not in by_action[kind]
    score = next(item for item in walk(card) if item.get("type") == "Input.ChoiceSet")
    assert "isRequired" not in score  # a required score would block Skip; the bot checks it instead


def test_a_partner_can_read_every_descriptor_and_choose_a_level_with_one_click() -> None:
    view = question(
        "place-partnership-maturity",
        "vision",
        {"vision": stored(element_id="vision", value="maturing")},
    )
    card = CARDS.question_card(view)
    rendered = "\n".join(texts(card))
    for choice in view.choices:
        assert f"**{choice.number}. {choice.label}**" in rendered
        for line in (choice.description or "").splitlines():
            assert escape(line.strip()) in rendered
    choose = [a for a in executes(card) if a["data"]["action"] == "answer"]
    assert [a["title"] for a in choose] == [f"Choose {c.label}" for c in view.choices]
    assert [a["data"]["value"] for a in choose] == [c.value for c in view.choices]
    current = [
        node for node in walk(card) if node.get("type") == "Container" and node.get("style") == "emphasis"
    ]
    assert len(current) == 1
    assert "✓ Your current answer" in json.dumps(current[0], ensure_ascii=False)
    assert len(card["actions"]) <= 6
    assert all(len(s["actions"]) <= 6 for s in walk(card) if s.get("type") == "ActionSet")


def test_the_first_question_offers_no_back_button() -> None:
    card = CARDS.question_card(question("place-partnership-maturity", "vision"))
    assert [a["data"]["action"] for a in card["actions"]] == ["skip", "pause"]


def test_a_score_question_shows_the_whole_scale_with_its_ends_named_and_the_current_score_selected() -> None:
    card = SAMPLES["score question"]
    (choice_set,) = [node for node in walk(card) if node.get("type") == "Input.ChoiceSet"]
    titles = [choice["title"] for choice in choice_set["choices"]]
    assert titles[0] == "-5 (Not at all)"
    assert titles[-1] == "+5 (Fully)"
    assert "0" in titles
    assert (choice_set["id"], choice_set["value"]) == ("value", "+2")


def test_each_delivery_status_shows_its_rag_colour_beside_its_label() -> None:
    card = SAMPLES["status question"]
    rows = [node for node in walk(card) if node.get("type") == "Container" and "style" in node]
    heads = [row["items"][0]["text"] for row in rows]
    assert [row["style"] for row in rows] == ["accent", "good", "warning", "emphasis", "emphasis"]
    assert heads == [
        "🟦 **Delivered**",
        "🟩 **On track**",
        "🟧 **At risk**",
        "⬜ **Not started**",
        "⬜ **Out of scope**",
    ]


def test_an_outcome_still_in_development_only_takes_a_comment() -> None:
    card = SAMPLES["unscored question"]
    assert [a["data"]["action"] for a in executes(card)] == ["comment", "skip", "back", "pause"]
    assert "To be developed in Q1 22/23" in "\n".join(texts(card))
    assert [node["id"] for node in walk(card) if node.get("type", "").startswith("Input.")] == ["comment"]


def test_the_answered_card_is_read_only() -> None:
    for name in ("answered", "skipped"):
        card = SAMPLES[name]
        assert "actions" not in card
        assert not [node for node in walk(card) if node.get("type", "").startswith(("Input.", "Action."))]
    assert "✓ Your answer: **Maturing**" in texts(SAMPLES["answered"])
    assert "Skipped" in texts(SAMPLES["skipped"])


def test_the_review_marks_skipped_unanswered_and_unscored_items_and_changes_go_through_a_dropdown() -> None:
    view = ReviewView(
        survey_id=4,
        survey_title="Tiny",
        sections=[
            ReviewSection(
                "Vision",
                [
                    ReviewItem("a", "Vision", "Maturing", False, comment="Yes"),
                    ReviewItem("b", "Trust", None, True),
                    ReviewItem("c", "Digital", None, False, scored=False),
                    ReviewItem("d", "Quality", None, False),
                ],
            )
        ],
        answered=1,
        skipped=1,
        total=3,
        submitted=True,
    )
    card = CARDS.review_card(view)
    (facts,) = [node["facts"] for node in walk(card) if node.get("type") == "FactSet"]
    assert [fact["value"] for fact in facts] == [
        "Vision: **Maturing** 💬",
        "Trust: _Skipped_",
        "Digital: _Not scored_",
        "Quality: ⚠ _Not answered_",
    ]
    (dropdown,) = [node for node in walk(card) if node.get("type") == "Input.ChoiceSet"]
    assert dropdown["id"] == "element_id"
    assert dropdown["style"] == "compact"
    assert [c["title"] for c in dropdown["choices"]] == ["1. Vision", "2. Trust", "3. Digital", "4. Quality"]
    assert [a["title"] for a in executes(card)] == [
        "Change this answer",
        "Answer the 1 not answered",
        "Submit changes",
    ]
    assert "1 answered · 1 skipped · 1 not answered" in "\n".join(texts(card))


def test_the_survey_list_offers_start_continue_or_change_for_each_survey() -> None:
    card = SAMPLES["survey list"]
    assert [(a["title"], a["data"]) for a in executes(card)] == [
        ("Start", {"action": "start", "survey_id": 1}),
        ("Continue", {"action": "start", "survey_id": 2}),
        ("Change answers", {"action": "start", "survey_id": 3}),
    ]
    shown = "\n".join(texts(card))
    assert "0 of 23 answered · closes Sat 28 Nov" in shown
    assert "Submitted" in shown
    assert "no open surveys" in "\n".join(texts(SAMPLES["empty survey list"]))


# -- escaping ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("**bold** [x](http://evil)", r"\*\*bold\*\* \[x\](http://evil)"),
        ("1. list", r"1\. list"),
        ("# head", r"\# head"),
        ("- item\n+ item", "\\- item\n\n\\+ item"),
        ("<at>Admin</at> & <b>", "&lt;at&gt;Admin&lt;/at&gt; &amp; &lt;b&gt;"),
        ("snake_case `code` ~~gone~~ back\\slash", r"snake\_case \`code\` \~\~gone\~\~ back\\slash"),
        ("{{DATE(2017-02-14T06:08:00Z)}}", r"{\{DATE(2017-02-14T06:08:00Z)}}"),
        ("-5 to +5, 1.5 million, #1", "-5 to +5, 1.5 million, #1"),
        ("    indented\r\n\r\nnext", "indented\n\nnext"),
    ],
)
def test_markdown_and_markup_from_people_show_literally(typed: str, sent: str) -> None:
    assert escape(typed) == sent


def test_hostile_titles_and_comments_are_escaped_wherever_shown_but_the_comment_box_keeps_them_as_typed() -> (
    None
):
    view = QuestionView(
        survey_id=3,
        survey_title=HOSTILE,
        element_id="vision",
        domain_title="# Domain",
        position=2,
        total=5,
        title=HOSTILE,
        kind="levels",
        choices=question("place-partnership-maturity", "vision").choices,
        text="1. list",
        note=HOSTILE,
        current_comment=HOSTILE,
        can_go_back=True,
    )
    cards = [
        CARDS.question_card(view),
        CARDS.answered_card(AnsweredView(HOSTILE, "vision", HOSTILE, 1, 2, HOSTILE, HOSTILE, HOSTILE)),
        CARDS.review_card(
            ReviewView(
                3,
                HOSTILE,
                [ReviewSection(HOSTILE, [ReviewItem("a", HOSTILE, HOSTILE, False, HOSTILE)])],
                1,
                0,
                1,
                False,
            )
        ),
        CARDS.survey_list_card(SurveyListView([SurveyListItem(3, HOSTILE, 0, 1, False)], intro=HOSTILE)),
        CARDS.submitted_card(SubmittedView(HOSTILE, 1, 0, HOSTILE, True)),
        CARDS.domains_card(DomainsView(3, HOSTILE, [DomainProgress(1, "d", HOSTILE, 0, 0, 2)])),
        CARDS.submit_check_card(
            SubmitCheckView(
                3, HOSTILE, 4, 4, [DomainProgress(n, f"d{n}", HOSTILE, 0, 0, 2) for n in (1, 2)], True
            )
        ),
    ]
    for card in cards:
        for text in [*texts(card), card["fallbackText"]]:
            assert "<" not in text
            assert ">" not in text.replace("&gt;", "")
            assert "**bold**" not in text
            assert "[x](" not in text
            assert "{{DATE" not in text
        shown = [*texts(card), card["fallbackText"]]
        assert any(r"\*\*bold\*\* \[x\](http://evil) &lt;at&gt;Admin&lt;/at&gt;" in text for text in shown)
    (box,) = [node for node in walk(cards[0]) if node.get("id") == "comment"]
    assert box["value"] == HOSTILE
    (dropdown,) = [node for node in walk(cards[2]) if node.get("id") == "element_id"]
    assert dropdown["choices"][0]["title"].startswith("1. **bold** [x]")  # a dropdown option is plain text


# -- size -------------------------------------------------------------------------------------------


def test_the_review_of_all_128_roadmap_outcomes_fits_in_one_teams_message() -> None:
    card = SAMPLES["review, 128 outcomes"]
    assert card_size(card) < MAX_CARD_BYTES == 24_000
    (dropdown,) = [node for node in walk(card) if node.get("id") == "element_id"]
    assert len(dropdown["choices"]) == 128
    facts = [fact for node in walk(card) if node.get("type") == "FactSet" for fact in node["facts"]]
    titles = [element.title for _, element in framework("ics-development-roadmap").iter_elements()]
    assert len(facts) == len(titles)
    assert all(
        fact["value"].startswith(f"{escape(title)}: ") for fact, title in zip(facts, titles, strict=True)
    )


def test_every_place_partnership_row_fits_in_one_teams_message_even_with_a_long_comment() -> None:
    fw = framework("place-partnership-maturity")
    for _, element in fw.iter_elements():
        answers = {element.id: stored(element_id=element.id, value=None, comment="x" * 4000)}
        view = question_view(
            survey_of(fw), fw, element.id, answers, note="You answered this before: Maturing"
        )
        assert card_size(CARDS.question_card(view)) < MAX_CARD_BYTES, element.id


def test_every_question_of_every_seed_framework_fits_in_one_teams_message() -> None:
    for fw in CATALOGUE.frameworks.values():
        for _, element in fw.iter_elements():
            card = CARDS.question_card(question_view(survey_of(fw), fw, element.id, all_answered(fw)))
            assert card_size(card) < MAX_CARD_BYTES, (fw.id, element.id)


# -- plain text -------------------------------------------------------------------------------------


def test_in_plain_text_a_levels_question_shows_every_descriptor_and_what_to_type() -> None:
    view = question("place-partnership-maturity", "vision")
    activity = to_activity(TEXT.question(view))
    assert activity.attachments is None
    assert activity.text_format == "plain"
    for choice in view.choices:
        assert f"{choice.number} {choice.label}" in activity.text
        for line in (choice.description or "").splitlines():
            assert line.strip() in activity.text
    assert (
        "Reply with 1 Emerging, 2 Developing, 3 Maturing, 4 Thriving — or skip, stop (finish later), help. "
        "Add “because …” to leave a comment."
    ) in activity.text


def test_in_plain_text_the_review_numbers_match_the_positions_change_n_uses() -> None:
    fw = framework("ics-development-roadmap")
    text = TEXT.review(ics_review()).text
    for _, element in fw.iter_elements():
        assert f"  {position_of(fw, element.id)}. {element.title} —" in text
    assert "change N" in text


def test_in_plain_text_scores_statuses_and_unscored_items_say_what_to_type() -> None:
    score = TEXT.question(question("integrated-care-self-test", "effective-engagement")).text
    assert "Scale: -5 (Not at all) to +5 (Fully)" in score
    assert "Reply with a whole number from -5 to +5 — or skip, back" in score
    status = TEXT.question(question("ics-development-roadmap", "icb-people-single-executive-team")).text
    assert "🟧 At risk — " in status
    assert "Reply with Delivered, On track, At risk, Not started, Out of scope" in status
    unscored = TEXT.question(question("ics-development-roadmap", "clinical-leadership-outcomes")).text
    assert "isn't scored" in unscored
    assert "“comment: …”" in unscored


def test_in_plain_text_the_survey_list_and_thanks_name_the_commands_that_exist() -> None:
    listing = TEXT.survey_list(SurveyListView([SurveyListItem(1, "Matrix", 3, 23, False, CLOSES)])).text
    assert "1. Matrix — 3 of 23 answered · closes Sat 28 Nov" in listing
    assert "“resume”" in listing
    assert "no open surveys" in TEXT.survey_list(SurveyListView()).text
    thanks = TEXT.submitted(SubmittedView("Matrix", 20, 3, "Summary on Monday.", True)).text
    assert "20 answered · 3 skipped" in thanks
    assert "“my surveys”" in thanks
