"""The action plan as Adaptive Cards (1.5): the plan's list, the owner's check-in and the lead's "Make an
action" form on a summary card.

RAG colours follow the delivery plan in the seeds as closely as Adaptive Cards allow: a TextBlock's
colour is one of good, warning, attention, accent, so on track is `good` (green), at risk `warning`
(amber), off track `attention` (red) and complete `accent` (blue, as "delivered" is blue in the ICS
roadmap). A mark (🟢 🟠 🔴 🔵) goes with each, so the status reads without colour too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from bot.cards.blocks import (
    MAX_CARD_BYTES,
    Card,
    adaptive_card,
    card_size,
    escape,
    execute_action,
    text_block,
)
from bot.reports.text import clip
from dialogs.action_payloads import CHECKIN, MAKE_ACTION
from dialogs.payloads import LEAD_VERB
from storage.actions import ActionCounts, ActionLine, is_overdue
from storage.tables import ActionRag, ActionState

__all__ = [
    "RAG_COLOURS",
    "RAG_LABELS",
    "STATE_LABELS",
    "CheckinView",
    "actions_card",
    "checkin_card",
    "checkin_done_card",
    "day_text",
    "make_action_form",
    "plan_section",
    "rag_text",
]

RAG_LABELS = {
    ActionRag.ON_TRACK: "On track",
    ActionRag.AT_RISK: "At risk",
    ActionRag.OFF_TRACK: "Off track",
    ActionRag.COMPLETE: "Complete",
}
RAG_COLOURS = {
    ActionRag.ON_TRACK: "good",
    ActionRag.AT_RISK: "warning",
    ActionRag.OFF_TRACK: "attention",
    ActionRag.COMPLETE: "accent",
}
_MARKS = {
    ActionRag.ON_TRACK: "🟢",
    ActionRag.AT_RISK: "🟠",
    ActionRag.OFF_TRACK: "🔴",
    ActionRag.COMPLETE: "🔵",
}
STATE_LABELS = {ActionState.OPEN: "Open", ActionState.LIVE: "Live", ActionState.CLOSED: "Closed"}
TEXT_LIMIT = 300
"""Characters of an action's text in a list (a check-in card shows it whole)."""
FORM_CHOICES = 100


def rag_text(rag: ActionRag | str) -> str:
    """'🟠 At risk'."""
    key = ActionRag(rag)
    return f"{_MARKS[key]} {RAG_LABELS[key]}"


def day_text(day: date) -> str:
    """'31 Dec 2026', as the seed's tracker writes due dates (with the year)."""
    return f"{day.day} {day:%b %Y}"


def _due_text(line: ActionLine, today: date) -> tuple[str, bool]:
    action = line.action
    if action.due_on is None:
        return "no due date", False
    late = is_overdue(
        due_on=action.due_on, rag=ActionRag(action.rag), state=ActionState(action.state), today=today
    )
    when = day_text(action.due_on)
    return (f"⚠ overdue, due {when}" if late else f"due {when}"), late


def _action_block(line: ActionLine, today: date) -> Card:
    action = line.action
    rag = ActionRag(action.rag)
    due, late = _due_text(line, today)
    details = [
        f"Owner: {escape(line.owner_name or 'nobody (erased)')}",
        STATE_LABELS[ActionState(action.state)],
    ]
    if action.element_title:
        details.insert(0, f"For: {escape(clip(action.element_title, 80))}")
    if action.survey_id is not None:  # a lead's 1:1 chat lists several channels' plans, each with its A1
        details.append(f"survey #{action.survey_id}")
    return {
        "type": "Container",
        "separator": True,
        "spacing": "medium",
        "items": [
            {
                "type": "ColumnSet",
                "columns": [
                    {"type": "Column", "width": "auto", "items": [text_block(f"**{line.reference}**")]},
                    {
                        "type": "Column",
                        "width": "stretch",
                        "items": [text_block(rag_text(rag), color=RAG_COLOURS[rag], weight="bolder")],
                    },
                    {
                        "type": "Column",
                        "width": "auto",
                        "items": [
                            text_block(due, color="attention" if late else "default", isSubtle=not late)
                        ],
                    },
                ],
            },
            text_block(escape(clip(action.text, TEXT_LIMIT)), spacing="small"),
            text_block(" · ".join(details), size="small", isSubtle=True, spacing="none"),
        ],
    }


def actions_card(title: str, lines: Sequence[ActionLine], *, today: date, note: str | None = None) -> Card:
    """The plan: reference, RAG, due (overdue flagged), text, element, owner and state, as much as
    fits in one Teams message."""
    overdue = sum(1 for line in lines if _due_text(line, today)[1])
    counts = {rag: 0 for rag in ActionRag}
    for line in lines:
        if ActionState(line.action.state) is not ActionState.CLOSED:
            counts[ActionRag(line.action.rag)] += 1
    summary = " · ".join(f"{rag_text(rag)} {count}" for rag, count in counts.items() if count)
    head: list[Card] = [
        text_block("Action plan", size="small", isSubtle=True),
        text_block(escape(title), size="large", weight="bolder", style="heading", spacing="none"),
        text_block(
            (summary or "Nothing open") + (f" · ⚠ {overdue} overdue" if overdue else ""), spacing="small"
        ),
    ]
    body = list(head)
    shown = 0
    for line in lines:
        block = _action_block(line, today)
        if card_size(adaptive_card([*body, block], title)) > MAX_CARD_BYTES - 400:
            break
        body.append(block)
        shown += 1
    if shown < len(lines):
        body.append(
            text_block(
                f"… and {len(lines) - shown} more. A lead gets them all with **export xlsx**.", separator=True
            )
        )
    if note:
        body.append(text_block(note, size="small", isSubtle=True, separator=True))
    return adaptive_card(body, f"Action plan: {title}")


def _rag_choices() -> list[Card]:
    return [{"title": rag_text(rag), "value": rag.value} for rag in ActionRag]


@dataclass(frozen=True)
class CheckinView:
    """What a check-in shows its owner: the action, where it came from, and its due date."""

    action_id: int
    reference: str
    text: str
    element_title: str | None
    rag: ActionRag
    state: ActionState
    due: str
    overdue: bool
    place: str
    """Whose plan it is: the survey's title, or "your partnership's plan"."""
    every_days: int = 30
    assigned: bool = False
    """The owner's first card, as the action is made: it says so, and when they will be asked."""


def checkin_card(view: CheckinView) -> Card:
    """The owner's monthly question: how is it going (RAG), a note, and whether it is live."""
    facts = [{"title": "Action", "value": escape(view.text)}]
    if view.element_title:
        facts.append({"title": "For", "value": escape(view.element_title)})
    facts.append({"title": "Due", "value": ("⚠ overdue: " if view.overdue else "") + view.due})
    facts.append({"title": "Now", "value": f"{rag_text(view.rag)}, {STATE_LABELS[view.state].lower()}"})
    heading = (
        f"You own a new action: **{view.reference}**"
        if view.assigned
        else f"How is **{view.reference}** going?"
    )
    owned = (
        f"A lead added it to {escape(view.place)}. I'll ask you how it is going every {view.every_days} "
        "days; tell me now, or whenever it changes, here."
        if view.assigned
        else f"You own this action in {escape(view.place)}."
    )
    body: list[Card] = [
        text_block("Action plan" if view.assigned else "Action check-in", size="small", isSubtle=True),
        text_block(heading, size="large", weight="bolder", style="heading", spacing="none"),
        text_block(owned, isSubtle=True, spacing="none"),
        {"type": "FactSet", "facts": facts, "spacing": "small"},
        {
            "type": "Input.ChoiceSet",
            "id": "rag",
            "label": "How is it going?",
            "style": "expanded",
            "value": view.rag.value,
            "choices": _rag_choices(),
        },
        {
            "type": "Input.ChoiceSet",
            "id": "state",
            "label": "Is it live (in place and running)?",
            "value": (ActionState.LIVE if view.state is ActionState.LIVE else ActionState.OPEN).value,
            "choices": [{"title": "Open", "value": "open"}, {"title": "Live", "value": "live"}],
        },
        {
            "type": "Input.Text",
            "id": "note",
            "label": "A note for the lead (optional)",
            "isMultiline": True,
            "maxLength": 2000,
        },
    ]
    send = execute_action(
        "Send update", LEAD_VERB, {"lead": CHECKIN, "action_id": view.action_id}, style="positive"
    )
    return adaptive_card(body, f"How is {view.reference} going? {view.text}", actions=[send])


def checkin_done_card(reference: str, rag: ActionRag, note: str | None) -> Card:
    """What the check-in card becomes once answered: read-only, so it is not sent twice."""
    body = [
        text_block("Action check-in", size="small", isSubtle=True),
        text_block(f"✓ Thanks: {reference} is {rag_text(rag)}.", weight="bolder", color=RAG_COLOURS[rag]),
    ]
    if note:
        body.append(text_block(f"Your note: {escape(clip(note, TEXT_LIMIT))}", isSubtle=True))
    body.append(text_block("I'll ask again at the next check-in.", isSubtle=True, size="small"))
    return adaptive_card(body, f"Thanks: {reference} is {RAG_LABELS[rag]}.")


def make_action_form(
    survey_id: int, elements: Sequence[tuple[str, str]], people: Sequence[tuple[int, str]]
) -> Card:
    """A summary card's "Make an action" button: a small form (the element, what, who, by when) that
    a lead submits; `elements` are the split elements and gaps, `people` those invited."""
    element_choices = [{"title": clip(title, 80), "value": element_id} for element_id, title in elements]
    owner_choices = [{"title": clip(name, 80), "value": str(pid)} for pid, name in people[:FORM_CHOICES]]
    inputs: list[Card] = [
        {
            "type": "Input.ChoiceSet",
            "id": "action_element",
            "label": "About",
            "value": elements[0][0] if elements else "",
            "choices": [*element_choices, {"title": "No one element", "value": ""}],
        },
        {
            "type": "Input.Text",
            "id": "action_text",
            "label": "What will be done",
            "isRequired": True,
            "errorMessage": "Say what will be done.",
            "maxLength": 2000,
        },
        {
            "type": "Input.ChoiceSet",
            "id": "action_owner",
            "label": "Owner",
            "isRequired": True,
            "errorMessage": "Choose who owns it.",
            "choices": owner_choices,
        },
        {
            "type": "Input.Date",
            "id": "action_due",
            "label": "Due",
            "isRequired": True,
            "errorMessage": "Choose a due date.",
        },
    ]
    add = execute_action(
        "Add to the plan", LEAD_VERB, {"lead": MAKE_ACTION, "survey_id": survey_id}, style="positive"
    )
    form = adaptive_card(inputs, "Make an action", actions=[add])
    form.pop("$schema", None)
    form.pop("version", None)
    form.pop("fallbackText", None)
    return {"type": "Action.ShowCard", "title": "Make an action", "card": form}


def plan_section(counts: ActionCounts) -> list[Card]:
    """The weekly post's action-plan section: figures only (by RAG, overdue, changed since the last
    post, closed), never an action's text or owner; a lead posts those with `actions`."""
    if counts.total == 0:
        return []
    facts = [{"title": rag_text(rag), "value": str(n)} for rag, n in counts.by_rag.items() if n]
    facts += [
        {"title": "⚠ Overdue", "value": str(counts.overdue)},
        {"title": "Changed since the last post", "value": str(counts.changed)},
    ]
    if counts.closed:
        facts.append({"title": "Closed", "value": str(counts.closed)})
    return [
        text_block("Action plan", weight="bolder", separator=True, spacing="medium"),
        {"type": "FactSet", "facts": facts, "spacing": "small"},
        text_block("A lead posts the actions themselves here with **actions**.", size="small", isSubtle=True),
    ]
