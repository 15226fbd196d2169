"""Adaptive Cards (schema 1.5, Universal Actions) for the survey conversation in Teams.

Each card travels alone in its activity, with no `text` beside the attachment: Teams would split the
two and the id kept for updating the card would point at the wrong half.

Every word from a framework file or a person goes through `escape()` before it reaches a TextBlock,
a Fact or an expanded choice (Teams renders a markdown subset in all three). Compact dropdown
options, button titles and input values are plain text on every client: they are only clipped.
"""

from __future__ import annotations

import json
import re
from typing import Any

from botbuilder.core import CardFactory
from botbuilder.schema import Activity, ActivityTypes, AttachmentLayoutTypes

from bot.reports.text import (
    COMMENT_PREVIEW,
    RAG_MARKS,
    answered_count,
    clip,
    closes_label,
    continue_hint,
    domain_gaps,
    domain_state,
    reply_hint,
    review_counts,
    sentence,
    start_label,
    submitted_counts,
    unanswered_heading,
)
from dialogs.payloads import ACTION_VERB, CardActionKind
from dialogs.views import (
    AnsweredView,
    Choice,
    DomainProgress,
    DomainsView,
    QuestionView,
    ReviewItem,
    ReviewView,
    SubmitCheckView,
    SubmittedView,
    SurveyListItem,
    SurveyListView,
)
from storage.answers import COMMENT_LIMIT

Card = dict[str, Any]

SCHEMA_URL = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.5"
MAX_CARD_BYTES = 24_000
"""Our ceiling for one serialised card: Teams refuses oversized messages (413), older docs say ~28 KB."""
BUTTON_TITLE_LIMIT = 60

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

# ---------------------------------------------------------------------------------------------------
# Escaping

_INLINE = str.maketrans(
    {
        "\\": "\\\\",
        "*": "\\*",
        "_": "\\_",
        "`": "\\`",
        "~": "\\~",
        "[": "\\[",
        "]": "\\]",
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
    }
)
_HEADING = re.compile(r"^#(?=#{0,5}(?:\s|$))")
_BULLET = re.compile(r"^([-+])(?=[\s-]|$)")
_ORDERED = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")
_TEMPLATE = re.compile(r"(?<=\{)\{")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def escape(text: str) -> str:
    """Text from a framework file or a person, made to show literally in a TextBlock or Fact.

    Markdown specials are backslash-escaped (`**x**`, `_x_`, `[x](url)`, `` `x` ``, `~~x~~`), and so
    are the marks that only count at the start of a line (`# `, `- `, `+ `, `1. `). `&`, `<` and `>`
    become entities: Adaptive Cards renderers decode `&amp;`/`&lt;`/`&gt;` and never treat them as markup, so
    `<at>…</at>` or `<b>` show as typed and cannot become a mention or HTML. `{{` is broken up so
    `{{DATE(…)}}` is not run as a date function. Each line becomes its own paragraph (a TextBlock
    needs a blank line to break one), with outer spaces dropped so nothing turns into a code block.
    """
    lines = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    return "\n\n".join(_escape_line(line.strip()) for line in lines if line.strip())


def _escape_line(line: str) -> str:
    line = _TEMPLATE.sub(r"\\{", line.translate(_INLINE))
    line = _HEADING.sub(r"\\#", line)
    line = _BULLET.sub(r"\\\1", line)
    return _ORDERED.sub(r"\1\\\2", line)


# ---------------------------------------------------------------------------------------------------
# Building blocks


def card_action(
    title: str,
    kind: CardActionKind,
    survey_id: int,
    *,
    element_id: str | None = None,
    value: str | None = None,
    style: str | None = None,
    with_inputs: bool = True,
) -> Card:
    """A Universal Action button, with an Action.Submit fallback carrying the same data.

    The data holds only what is known here (`action`, `survey_id`, maybe `element_id`, `value`);
    the card's inputs (`value`, `comment`, `element_id`) are merged in by the client unless
    `with_inputs` is False, which navigation buttons use so they never carry half-filled inputs.
    """
    data: dict[str, Any] = {"action": kind.value, "survey_id": survey_id}
    if element_id is not None:
        data["element_id"] = element_id
    if value is not None:
        data["value"] = value
    return execute_action(title, ACTION_VERB, data, style=style, with_inputs=with_inputs)


def execute_action(
    title: str, verb: str, data: dict[str, Any], *, style: str | None = None, with_inputs: bool = True
) -> Card:
    """An `Action.Execute` with `verb` and `data`, and an `Action.Submit` fallback carrying the same."""
    common: Card = {"title": clip(title, BUTTON_TITLE_LIMIT)}
    if style is not None:
        common["style"] = style
    if not with_inputs:
        common["associatedInputs"] = "None"
    fallback = {"type": "Action.Submit", **common, "data": dict(data)}
    return {"type": "Action.Execute", "verb": verb, **common, "data": data, "fallback": fallback}


def _text(markdown: str, **style: Any) -> Card:
    """A TextBlock of our own words (markdown on purpose); always wraps, so nothing is cut on mobile."""
    return {"type": "TextBlock", "text": markdown, "wrap": True, **style}


def _said(text: str, **style: Any) -> Card:
    """A TextBlock of words from a framework file or a person: always escaped."""
    return _text(escape(text), **style)


def _action_set(*actions: Card, **style: Any) -> Card:
    return {"type": "ActionSet", "actions": list(actions), **style}


def adaptive_card(body: list[Card], fallback: str, actions: list[Card] | None = None) -> Card:
    """A version 1.5 card; `fallback` (shown where cards do not render) is escaped here."""
    card: Card = {
        "$schema": SCHEMA_URL,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": escape(fallback),
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return card


def card_size(card: Card) -> int:
    """Bytes of the card as sent (compact JSON, non-ASCII escaped): what MAX_CARD_BYTES bounds."""
    return len(json.dumps(card, separators=(",", ":")).encode())


class SentCard(dict[str, Any]):
    """A card once rendered is only read, so copies share it: TurnContext deep-copies every activity
    it sends, which for a 6.5 KB card costs more than sending it."""

    def __deepcopy__(self, memo: dict[int, Any]) -> SentCard:
        return self


def card_activity(card: Card) -> Activity:
    """A message whose only content is the card: no `text`, so Teams keeps it as one message."""
    return Activity(
        type=ActivityTypes.message,
        attachment_layout=AttachmentLayoutTypes.list,
        attachments=[CardFactory.adaptive_card(SentCard(card))],
        input_hint="acceptingInput",
    )


def card_of(activity: Activity) -> Card:
    """The card dict inside an activity from `CardRenderer`: the value of an invoke response."""
    if not activity.attachments or not isinstance(activity.attachments[0].content, dict):
        raise ValueError("the activity carries no Adaptive Card")
    return activity.attachments[0].content


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------------
# The renderer


class CardRenderer:
    """The `Renderer` for Teams: one Adaptive Card per activity, Universal Actions for every button.

    The `*_card` methods return the bare card dicts, for `adaptiveCard/action` invoke responses
    (returning a card there replaces the card that was clicked).
    """

    def question(self, view: QuestionView) -> Activity:
        return card_activity(self.question_card(view))

    def answered(self, view: AnsweredView) -> Activity:
        return card_activity(self.answered_card(view))

    def review(self, view: ReviewView) -> Activity:
        return card_activity(self.review_card(view))

    def survey_list(self, view: SurveyListView) -> Activity:
        return card_activity(self.survey_list_card(view))

    def submitted(self, view: SubmittedView) -> Activity:
        return card_activity(self.submitted_card(view))

    def domains(self, view: DomainsView) -> Activity:
        return card_activity(self.domains_card(view))

    def submit_check(self, view: SubmitCheckView) -> Activity:
        return card_activity(self.submit_check_card(view))

    def text(self, message: str) -> Activity:
        """Our own sentences (Teams renders them as markdown): escape any person's words put in them."""
        return Activity(type=ActivityTypes.message, text=message, input_hint="acceptingInput")

    # -- cards --------------------------------------------------------------------------------------

    def question_card(self, view: QuestionView) -> Card:
        body = [*_question_header(view), *_QUESTION_BODIES[view.kind](view), _comment_input(view)]
        fallback = "\n".join(
            part for part in (f"{view.progress} — {view.title}", view.text, reply_hint(view)) if part
        )
        return adaptive_card(body, fallback, _question_actions(view))

    def answered_card(self, view: AnsweredView) -> Card:
        """Read-only: it replaces an answered question, so it has no inputs and no buttons."""
        if view.answer is not None:
            outcome = _text(f"✓ Your answer: **{escape(view.answer)}**", color="good", spacing="small")
        else:
            outcome = _text("Skipped", weight="bolder", isSubtle=True, spacing="small")
        body = [
            _said(f"{view.survey_title} · {view.position} of {view.total}", size="small", isSubtle=True),
            _said(view.title, weight="bolder", spacing="small"),
            outcome,
        ]
        if view.comment:
            body.append(_text(f"💬 {escape(clip(view.comment, COMMENT_PREVIEW))}", isSubtle=True))
        if view.note:
            body.append(_said(view.note, isSubtle=True))
        return adaptive_card(body, f"{view.title}: {view.answer or 'skipped'}")

    def review_card(self, view: ReviewView) -> Card:
        """Every answer at a glance; shortens titles step by step until the card fits MAX_CARD_BYTES."""
        card: Card = {}
        for list_limit, choice_limit in _REVIEW_LAYOUTS:
            card = _review_card(view, list_limit, choice_limit)
            if card_size(card) < MAX_CARD_BYTES:
                break
        return card

    def survey_list_card(self, view: SurveyListView) -> Card:
        body = [_said(view.intro)] if view.intro else []
        body.append(_text("Your surveys", size="medium", weight="bolder", style="heading"))
        if not view.items:
            body.append(
                _text(
                    "You have no open surveys at the moment. When your partnership starts one, "
                    "it will appear here."
                )
            )
        body += [_survey_entry(item) for item in view.items]
        fallback = "; ".join(f"{item.title} ({answered_count(item)})" for item in view.items)
        return adaptive_card(body, f"Your surveys: {fallback or 'none open'}.")

    def submitted_card(self, view: SubmittedView) -> Card:
        change = (
            "You can still change your answers: type **my surveys** and choose **Change answers**."
            if view.can_still_change
            else "Your answers can no longer be changed."
        )
        body = [
            _text("Thank you!", size="large", weight="bolder", style="heading"),
            _text(f"Your answers to **{escape(view.survey_title)}** are submitted.", spacing="small"),
            _text(submitted_counts(view), isSubtle=True, spacing="small"),
            _said(view.summary_note),
            _text(change, isSubtle=True),
        ]
        return adaptive_card(body, f"Thank you! Your answers to {view.survey_title} are submitted.")

    def domains_card(self, view: DomainsView) -> Card:
        """One row per domain with its progress and a button to answer it now."""
        body = [
            _said(view.survey_title, size="small", isSubtle=True),
            _text(
                "Choose a domain to do now", size="medium", weight="bolder", style="heading", spacing="none"
            ),
        ]
        body += [_domain_entry(view.survey_id, domain) for domain in view.domains]
        fallback = "; ".join(f"{d.number}. {d.title} ({domain_state(d)})" for d in view.domains)
        return adaptive_card(body, f"Domains: {fallback}. Type “domain N” to answer one now.")

    def submit_check_card(self, view: SubmitCheckView) -> Card:
        """Asked before submitting a survey with many questions unanswered: the gaps, then three ways on."""
        body = [
            _said(view.survey_title, size="small", isSubtle=True),
            _text("Not submitted yet", size="medium", weight="bolder", style="heading", spacing="none"),
            _text(sentence(unanswered_heading(view)) + ".", color="warning", weight="bolder"),
        ]
        body += [_said(gap, spacing="small") for gap in domain_gaps(view)]
        if view.locks:
            body.append(_text("Once submitted, your answers can't be changed.", isSubtle=True))
        sid = view.survey_id
        actions = [
            card_action(
                "Answer the rest now", CardActionKind.CONTINUE, sid, style="positive", with_inputs=False
            )
        ]
        if len(view.domains) > 1:
            actions.append(card_action("Choose a domain", CardActionKind.DOMAIN, sid, with_inputs=False))
        actions.append(card_action("Submit anyway", CardActionKind.SUBMIT_ANYWAY, sid, with_inputs=False))
        fallback = (
            f"Not submitted yet: {unanswered_heading(view)}. "
            "Type “submit anyway” to submit as it is, or “continue” to answer them."
        )
        return adaptive_card(body, fallback, actions)


# ---------------------------------------------------------------------------------------------------
# Questions


def _question_header(view: QuestionView) -> list[Card]:
    items = [
        _said(view.survey_title, size="small", isSubtle=True),
        _said(view.progress, size="small", isSubtle=True, spacing="none"),
    ]
    if view.note:
        items.append(_said(view.note, color="accent", weight="bolder"))
    items.append(_said(view.title, size="large", weight="bolder", style="heading"))
    items += [_said(part, spacing="small") for part in (view.lead_in, view.text) if part]
    if view.group:
        items.append(_said(view.group, isSubtle=True, spacing="small"))
    if view.milestone:
        items.append(_said(view.milestone, weight="bolder", color="accent", spacing="small"))
    if view.guidance:
        items.append(_text(f"**Guidance:** {escape(view.guidance)}", isSubtle=True))
    return items


def _levels_body(view: QuestionView) -> list[Card]:
    prompt = (
        f"Read the {len(view.choices)} descriptions and choose the one that fits best. "
        "To add a comment or evidence, write it in the box at the end first."
    )
    return [_text(prompt, spacing="medium"), *(_choice_block(view, choice) for choice in view.choices)]


def _status_body(view: QuestionView) -> list[Card]:
    prompt = (
        "Choose the status that fits this outcome. "
        "To add a comment or evidence, write it in the box at the end first."
    )
    return [_text(prompt, spacing="medium"), *(_choice_block(view, choice) for choice in view.choices)]


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
    items = [_text(heading)]
    if current:
        items.append(_text("✓ Your current answer", color="good", weight="bolder", spacing="none"))
    statements = _lines(choice.description)
    bullet = "• " if len(statements) > 1 else ""
    items += [_text(f"{bullet}{escape(line)}", spacing="small") for line in statements]
    items.append(
        _action_set(
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
    if view.current_value is not None and any(c.value == view.current_value for c in view.choices):
        choice_set["value"] = view.current_value
    return [choice_set]


def _unscored_body(view: QuestionView) -> list[Card]:
    items = [_text("**In development**", spacing="medium")]
    if view.development_note:
        items.append(_said(view.development_note, spacing="small"))
    items.append(_text("This part isn't scored. You can leave a comment on it, or skip it.", isSubtle=True))
    return items


_QUESTION_BODIES = {
    "levels": _levels_body,
    "score": _score_body,
    "status": _status_body,
    "unscored": _unscored_body,
}


def _comment_input(view: QuestionView) -> Card:
    box: Card = {
        "type": "Input.Text",
        "id": "comment",
        "isMultiline": True,
        "maxLength": COMMENT_LIMIT,
        "placeholder": "Comment or evidence (optional)",
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


# ---------------------------------------------------------------------------------------------------
# Review and survey list


def _review_card(view: ReviewView, list_limit: int, choice_limit: int | None) -> Card:
    body = [
        _text("Review your answers", size="small", isSubtle=True),
        _said(view.survey_title, size="large", weight="bolder", style="heading", spacing="none"),
        _text(review_counts(view), spacing="small"),
    ]
    if view.closes_at is not None:
        body.append(_text(sentence(closes_label(view.closes_at)), isSubtle=True, spacing="none"))
    if view.submitted:
        body.append(
            _text(
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
        body.append(_said(section.title, weight="bolder", separator=True, spacing="medium"))
        body.append({"type": "FactSet", "facts": facts, "spacing": "small"})
    if choices and choice_limit is None:
        body.append(
            _text("To change an answer, type **change** and its number, e.g. **change 12**.", separator=True)
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
            _action_set(
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


def _domain_entry(survey_id: int, domain: DomainProgress) -> Card:
    items = [
        _said(f"{domain.number}. {domain.title}", weight="bolder"),
        _text(sentence(domain_state(domain)), isSubtle=True, spacing="none"),
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
        items.append(_action_set(button, spacing="small"))
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
    comment = " 💬" if item.comment else ""
    return f"{escape(clip(item.title, limit))}: {state}{comment}"


def _survey_entry(item: SurveyListItem) -> Card:
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
            _said(item.title, weight="bolder"),
            _text(sentence(answered_count(item)), isSubtle=True, spacing="none"),
            _action_set(button, spacing="small"),
        ],
    }
