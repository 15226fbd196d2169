"""The question card: the element's words, its choices (levels, statuses or a score), a comment box,
and the buttons to save, skip, go back or finish later."""

from __future__ import annotations

from bot.cards.blocks import (
    Card,
    action_set,
    adaptive_card,
    card_action,
    escape,
    lines_of,
    said_block,
    text_block,
)
from bot.cards.first_round import FIRST_ANSWER_MARK, REASON_PLACEHOLDER, first_answer, first_round_block
from bot.reports.text import (
    RAG_MARKS,
    clip,
    reply_hint,
)
from dialogs.payloads import CardActionKind
from dialogs.views import (
    Choice,
    QuestionView,
)
from frameworks.scoring import COMMENT_LIMIT

_RAG_STYLES: dict[str, str] = {
    "blue": "accent",
    "green": "good",
    "amber": "warning",
    "red": "attention",
    "grey": "emphasis",
}
"""Status rows are tinted containers, not styled buttons. Action styles offer only `positive` and
`destructive`: two colours for five statuses, and `destructive` says "this deletes something" to
people and screen readers. Container styles give each status its own tint (accent blue, good green,
warning amber, attention red, emphasis grey); the coloured square and the label say it again for
anyone who cannot tell the colours apart, or whose client draws no tint."""


def _question_header(view: QuestionView) -> list[Card]:
    items = [
        said_block(view.survey_title, size="small", isSubtle=True),
        said_block(view.progress, size="small", isSubtle=True, spacing="none"),
    ]
    if view.note:
        items.append(said_block(view.note, color="accent", weight="bolder"))
    items.append(said_block(view.title, size="large", weight="bolder", style="heading"))
    items += [said_block(part, spacing="small") for part in (view.lead_in, view.text) if part]
    if view.group:
        items.append(said_block(view.group, isSubtle=True, spacing="small"))
    if view.milestone:
        items.append(said_block(view.milestone, weight="bolder", color="accent", spacing="small"))
    if view.guidance:
        items.append(text_block(f"**Guidance:** {escape(view.guidance)}", isSubtle=True))
    return items


def _levels_body(view: QuestionView) -> list[Card]:
    prompt = (
        f"Read the {len(view.choices)} descriptions and choose the one that fits best. "
        "To add a comment or evidence, write it in the box at the end first."
    )
    if view.target_question is not None:
        prompt = (
            f"Read the {len(view.choices)} descriptions and choose the one that fits where you are now. "
            f"First choose {view.target_question.lower()} at the end, and add a comment there if you like."
        )
    return [text_block(prompt, spacing="medium"), *(_choice_block(view, choice) for choice in view.choices)]


def _status_body(view: QuestionView) -> list[Card]:
    prompt = (
        "Choose the status that fits this outcome. "
        "To add a comment or evidence, write it in the box at the end first."
    )
    return [text_block(prompt, spacing="medium"), *(_choice_block(view, choice) for choice in view.choices)]


def _choice_block(view: QuestionView, choice: Choice) -> Card:
    """One level or status: its name, its full description, and its own button (no 6-button limit)."""
    current = choice.value == view.current_value
    if view.kind == "status":
        rag = choice.rag if choice.rag in RAG_MARKS else "grey"
        heading = f"{RAG_MARKS[rag]} **{escape(choice.label)}**"
        style: str | None = _RAG_STYLES[rag]
    else:
        number = f"{choice.number}. " if choice.number is not None else ""
        heading = f"**{number}{escape(choice.label)}**"
        style = "emphasis" if current else None
    items = [text_block(heading)]
    if current:
        items.append(text_block("✓ Your current answer", color="good", weight="bolder", spacing="none"))
    elif view.current_value is None and choice.value == first_answer(view):
        items.append(text_block(FIRST_ANSWER_MARK, color="accent", weight="bolder", spacing="none"))
    statements = lines_of(choice.description)
    bullet = "• " if len(statements) > 1 else ""
    items += [text_block(f"{bullet}{escape(line)}", spacing="small") for line in statements]
    items.append(
        action_set(
            card_action(
                f"Choose {choice.label}",
                CardActionKind.ANSWER,
                view.survey_id,
                element_id=view.element_id,
                value=choice.value,
            ),
            spacing="small",
        )
    )
    block: Card = {"type": "Container", "items": items, "separator": True, "spacing": "medium"}
    if style is not None:
        block["style"] = style
    return block


def _score_body(view: QuestionView) -> list[Card]:
    """A radio list: every point of the scale visible at once, the ends named."""
    last = len(view.choices) - 1
    choices = []
    for index, choice in enumerate(view.choices):
        end = view.min_label if index == 0 else view.max_label if index == last else None
        title = f"{choice.label} ({end})" if end else choice.label
        choices.append({"title": escape(title), "value": choice.value})
    choice_set: Card = {
        "type": "Input.ChoiceSet",
        "id": "value",
        "style": "expanded",
        "label": "Your answer",
        "choices": choices,
        "spacing": "medium",
    }
    selected = view.current_value or first_answer(view)  # a consensus round: confirming is one press
    if selected is not None and any(c.value == selected for c in view.choices):
        choice_set["value"] = selected
    return [choice_set]


def _unscored_body(view: QuestionView) -> list[Card]:
    items = [text_block("**In development**", spacing="medium")]
    if view.development_note:
        items.append(said_block(view.development_note, spacing="small"))
    items.append(
        text_block("This part isn't scored. You can leave a comment on it, or skip it.", isSubtle=True)
    )
    return items


_QUESTION_BODIES = {
    "levels": _levels_body,
    "score": _score_body,
    "status": _status_body,
    "unscored": _unscored_body,
}


def _target_input(view: QuestionView) -> list[Card]:
    """A target survey's second choice, on the same card: where we want to be, optional, sent with
    whichever button saves the answer (its id is `target` beside the answer's `value`)."""
    if view.target_question is None or not view.choices:
        return []
    choices = [
        {"title": clip(f"{c.number}. {c.label}" if view.kind == "levels" else c.label, 80), "value": c.value}
        for c in view.choices
    ]
    choice_set: Card = {
        "type": "Input.ChoiceSet",
        "id": "target",
        "style": "compact",
        "label": f"{view.target_question} (optional)",
        "placeholder": "Choose where you want to be",
        "choices": choices,
        "separator": True,
        "spacing": "medium",
    }
    if view.current_target is not None and any(c.value == view.current_target for c in view.choices):
        choice_set["value"] = view.current_target
    return [choice_set]


def _comment_input(view: QuestionView) -> Card:
    box: Card = {
        "type": "Input.Text",
        "id": "comment",
        "isMultiline": True,
        "maxLength": COMMENT_LIMIT,
        "placeholder": REASON_PLACEHOLDER if view.first_round else "Comment or evidence (optional)",
        "separator": True,
        "spacing": "medium",
    }
    if view.current_comment:
        box["value"] = view.current_comment  # an input's value is never markdown: not escaped
    return box


def _question_actions(view: QuestionView) -> list[Card]:
    """Saving (when the choice is an input), then navigation: at most 4, under Teams' 6 per set."""

    def nav(title: str, kind: CardActionKind, *, keep_comment: bool = False) -> Card:
        """Skip and Later carry the comment box, so a comment typed before leaving is kept."""
        return card_action(title, kind, view.survey_id, element_id=view.element_id, with_inputs=keep_comment)

    actions = []
    if view.kind == "score":
        actions.append(
            card_action(
                "Save answer",
                CardActionKind.ANSWER,
                view.survey_id,
                element_id=view.element_id,
                style="positive",
            )
        )
    elif view.kind == "unscored":
        actions.append(
            card_action(
                "Save comment",
                CardActionKind.COMMENT,
                view.survey_id,
                element_id=view.element_id,
                style="positive",
            )
        )
    actions.append(nav("Skip", CardActionKind.SKIP, keep_comment=True))
    if view.can_go_back:
        actions.append(nav("Back", CardActionKind.BACK))
    actions.append(nav("Save and finish later", CardActionKind.PAUSE, keep_comment=True))
    return actions


def question_card(view: QuestionView) -> Card:
    """The question with its choices, a comment box and the buttons to save, skip or leave."""
    body = [
        *_question_header(view),
        *first_round_block(view),
        *_QUESTION_BODIES[view.kind](view),
        *_target_input(view),
        _comment_input(view),
    ]
    fallback = "\n".join(
        part for part in (f"{view.progress} — {view.title}", view.text, reply_hint(view)) if part
    )
    return adaptive_card(body, fallback, _question_actions(view))
