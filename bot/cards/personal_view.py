"""A partner's own view of a closed round, as one card for their 1:1 chat (rendering only).

Laid out for a phone: one block per domain, its three figures side by side in narrow columns (you, the
partnership's median, the middle half of everyone's ratings), then the elements where they differ most.
Every title comes from a framework file, so it is escaped.
"""

from __future__ import annotations

from bot.cards.blocks import Card, adaptive_card, escape, said_block, text_block
from dialogs.messages import Message, card_message
from frameworks.summary.personal import DomainComparison, ElementDifference, PersonalView

TOO_FEW = "Too few answers to show"
NOT_RATED = "—"


def personal_view_card(view: PersonalView) -> Card:
    people = f" ({view.respondents} people answered)" if view.respondents is not None else ""
    partnership = escape(view.partnership_name) if view.partnership_name else "the partnership"
    body: list[Card] = [
        said_block(view.title, weight="bolder", size="medium"),
        text_block(
            f"This round has closed. Here are your answers beside {partnership}'s{people}, domain by domain.",
        ),
    ]
    body.extend(_domain(domain) for domain in view.domains)
    if view.differences:
        body.append(text_block("Where you differ most", weight="bolder", separator=True, spacing="medium"))
        body.extend(_difference(item) for item in view.differences)
    body.append(
        text_block(
            "Only you see this card. The partnership's figures are the ones its channel sees, and any "
            "answered by too few people to keep them anonymous are left out. The middle half is where the "
            "middle 50% of everyone's ratings fall (yours included).",
            isSubtle=True,
            size="small",
            separator=True,
        )
    )
    return adaptive_card(body, f"{view.title}: your answers beside the partnership's.")


def render_personal_view(view: PersonalView) -> Message:
    return card_message(personal_view_card(view))


def _domain(domain: DomainComparison) -> Card:
    items: list[Card] = [said_block(domain.title, weight="bolder")]
    if not domain.shown:
        items.append(text_block(TOO_FEW, isSubtle=True, spacing="none"))
        return {"type": "Container", "items": items, "separator": True, "spacing": "medium"}
    columns = [("You", domain.you_label or NOT_RATED), ("Partnership", domain.median_label or NOT_RATED)]
    if domain.q1_label is not None and domain.q3_label is not None:
        middle = (
            domain.q1_label
            if domain.q1_label == domain.q3_label
            else f"{domain.q1_label} to {domain.q3_label}"
        )
        columns.append(("Middle half", middle))
    items.append(
        {
            "type": "ColumnSet",
            "spacing": "small",
            "columns": [
                {
                    "type": "Column",
                    "width": "stretch",
                    "items": [
                        text_block(label, isSubtle=True, size="small"),
                        said_block(value, spacing="none"),
                    ],
                }
                for label, value in columns
            ],
        }
    )
    return {"type": "Container", "items": items, "separator": True, "spacing": "medium"}


def _difference(item: ElementDifference) -> Card:
    direction = "above" if item.steps > 0 else "below"
    size = abs(item.steps)
    steps = f"{size:.2f}".rstrip("0").rstrip(".")
    unit = "step" if size == 1 else "steps"
    return text_block(
        f"**{escape(item.title)}** ({escape(item.domain_title)}): you said {escape(item.you_label)}, "
        f"the partnership's median is {escape(item.median_label)}: {steps} {unit} {direction} it."
    )
