"""The review card (every answer at a glance, shortened until it fits) and the entries of the survey
and domain lists."""

from __future__ import annotations

from bot.cards.blocks import (
    MAX_CARD_BYTES,
    Card,
    action_set,
    adaptive_card,
    card_action,
    card_size,
    escape,
    said_block,
    text_block,
)
from bot.reports.text import (
    answered_count,
    clip,
    closes_label,
    continue_hint,
    domain_state,
    review_counts,
    sentence,
    start_label,
)
from dialogs.payloads import CardActionKind
from dialogs.views import (
    DomainProgress,
    ReviewItem,
    ReviewView,
    SurveyListItem,
)

_REVIEW_LAYOUTS: tuple[tuple[int, int | None], ...] = (
    (70, 48),
    (70, 32),
    (70, 20),
    (70, 0),
    (50, 0),
    (36, 0),
    (36, None),
)
"""(title length in the list, in the dropdown) tried in turn until the review fits MAX_CARD_BYTES.

The list keeps whole titles longest: it is what people read. The dropdown shrinks first, down to the
bare numbers shown in the list ("12."); the last resort drops it for the typed `change N`. The
128-outcome ICS roadmap, every outcome answered and commented, fits at (70, 0)."""


def _review_card(view: ReviewView, list_limit: int, choice_limit: int | None) -> Card:
    body = [
        text_block("Review your answers", size="small", isSubtle=True),
        said_block(view.survey_title, size="large", weight="bolder", style="heading", spacing="none"),
        text_block(review_counts(view), spacing="small"),
    ]
    if view.closes_at is not None:
        body.append(text_block(sentence(closes_label(view.closes_at)), isSubtle=True, spacing="none"))
    if view.submitted:
        body.append(
            text_block(
                "You have submitted this survey. Change any answer, then press **Submit changes**.",
                isSubtle=True,
            )
        )
    choices = []
    number = 0
    for section in view.sections:
        if not section.items:
            continue
        facts = []
        for item in section.items:
            number += 1
            facts.append({"title": str(number), "value": _review_value(item, list_limit)})
            title = clip(item.title, choice_limit or 0)
            choices.append(
                {"title": f"{number}. {title}" if title else f"{number}.", "value": item.element_id}
            )
        body.append(said_block(section.title, weight="bolder", separator=True, spacing="medium"))
        body.append({"type": "FactSet", "facts": facts, "spacing": "small"})
    if choices and choice_limit is None:
        body.append(
            text_block(
                "To change an answer, type **change** and its number, e.g. **change 12**.", separator=True
            )
        )
    elif choices:
        body.append(
            {
                "type": "Input.ChoiceSet",
                "id": "element_id",
                "style": "compact",
                "label": "Change an answer",
                "placeholder": "Choose a question",
                "isRequired": True,
                "errorMessage": "Choose the question to change.",
                "choices": choices,  # dropdown options are plain text: clipped, not escaped
                "separator": True,
                "spacing": "large",
            }
        )
        body.append(
            action_set(
                card_action("Change this answer", CardActionKind.CHANGE, view.survey_id), spacing="small"
            )
        )
    actions = []
    if view.unanswered:
        actions.append(
            card_action(
                f"Answer the {view.unanswered} not answered",
                CardActionKind.CONTINUE,
                view.survey_id,
                with_inputs=False,
            )
        )
        if len(view.sections) > 1:
            actions.append(
                card_action("Choose a domain", CardActionKind.DOMAIN, view.survey_id, with_inputs=False)
            )
    actions.append(
        card_action(
            "Submit changes" if view.submitted else "Submit",
            CardActionKind.SUBMIT,
            view.survey_id,
            style="positive",
            with_inputs=False,
        )
    )
    fallback = " ".join(
        filter(
            None,
            [
                f"{view.survey_title}: {review_counts(view)}.",
                continue_hint(view),
                "Type “change N” to change an answer, or “submit” to submit.",
            ],
        )
    )
    return adaptive_card(body, fallback, actions)


def domain_entry(survey_id: int, domain: DomainProgress) -> Card:
    items = [
        said_block(f"{domain.number}. {domain.title}", weight="bolder"),
        text_block(sentence(domain_state(domain)), isSubtle=True, spacing="none"),
    ]
    if domain.unanswered:
        button = card_action(
            f"Answer {domain.title}",
            CardActionKind.DOMAIN,
            survey_id,
            value=domain.domain_id,
            style="positive",
            with_inputs=False,
        )
        items.append(action_set(button, spacing="small"))
    return {"type": "Container", "separator": True, "spacing": "medium", "items": items}


def _review_value(item: ReviewItem, limit: int) -> str:
    """'Trust — **Maturing** 💬': the answer in bold, the missing ones in words, never by colour alone."""
    if not item.scored:
        state = "_Not scored_"
    elif item.skipped:
        state = "_Skipped_"
    elif item.answer is None:
        state = "⚠ _Not answered_"
    else:
        state = f"**{escape(item.answer)}**"
        if item.target is not None:
            state += f" → target **{escape(item.target)}**"
    comment = " 💬" if item.comment else ""
    return f"{escape(clip(item.title, limit))}: {state}{comment}"


def survey_entry(item: SurveyListItem) -> Card:
    button = card_action(
        start_label(item),
        CardActionKind.START,
        item.survey_id,
        style=None if item.submitted else "positive",
    )
    return {
        "type": "Container",
        "separator": True,
        "spacing": "medium",
        "items": [
            said_block(item.title, weight="bolder"),
            text_block(sentence(answered_count(item)), isSubtle=True, spacing="none"),
            action_set(button, spacing="small"),
        ],
    }


def review_card(view: ReviewView) -> Card:
    """Every answer at a glance; shortens titles step by step until the card fits MAX_CARD_BYTES."""
    card: Card = {}
    for list_limit, choice_limit in _REVIEW_LAYOUTS:
        card = _review_card(view, list_limit, choice_limit)
        if card_size(card) < MAX_CARD_BYTES:
            break
    return card
