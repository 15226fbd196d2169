"""A consensus round's question shows the first round above its choices: how everyone answered (as the
first round's summary showed it: nothing below k), the reasons given when at least k people gave one,
never who, and what this partner answered, so they can confirm it or change it and say why."""

from __future__ import annotations

from dataclasses import replace

from dialogs.views import FirstRoundBar, FirstRoundView, QuestionView
from storage.consensus import FirstRoundContext


def first_round_view(context: FirstRoundContext | None, view: QuestionView) -> FirstRoundView | None:
    """The first-round block for one question; None outside a consensus round."""
    if context is None:
        return None
    element = context.first_round.element(view.element_id)
    if element is None:
        return None
    own = context.own.get(view.element_id)
    values = [choice.value for choice in view.choices]
    labels = {choice.value: choice.label for choice in view.choices}
    bars = []
    if element.counts is not None and len(element.counts) == len(element.labels):
        bars = [
            FirstRoundBar(
                label=label,
                count=count,
                own=own is not None and index < len(values) and values[index] == own,
            )
            for index, (label, count) in enumerate(zip(element.labels, element.counts, strict=True))
        ]
    return FirstRoundView(
        k=context.first_round.k,
        bars=bars,
        reasons=list(element.reasons),
        more_reasons=element.more_reasons,
        own_value=own,
        own_label=labels.get(own, own) if own is not None else None,
        added=element.added,
    )


def with_first_round(view: QuestionView, context: FirstRoundContext | None) -> QuestionView:
    """The question with its first-round block (unchanged outside a consensus round)."""
    block = first_round_view(context, view)
    return view if block is None else replace(view, first_round=block)
