"""Consensus (Delphi) rounds: which elements a second round asks again, what partners are shown of the
first round, and whether the second round brought agreement. Pure and synchronous.

A consensus round asks again, of those who answered a round, the elements its summary marks as split
(`frameworks.summary.consensus`) and any the lead adds. Each partner sees, per element, the first round's
distribution exactly as its summary shows it (nothing below k), the reasons given, sorted and never
attributed, only when at least k people commented, and their own first answer (`FirstRound`, frozen when
the round opens so everyone sees the same).

Agreement, before and after, by two rules:
    split      the summary's own rule (`SummaryRules`): agreed when the element is not split;
    SCIROCCO   agreed when fewer than `SCIROCCO_LIMIT` (4) ratings fall outside the `SCIROCCO_BAND`
               (3) consecutive points containing the median. Several bands may contain it (a median of 3
               on 0..5 lies in 1-3, 2-4 and 3-5): the band holding the most ratings is taken, as a panel
               would place its 3-point region. In steps, so levels with gaps in their values count points.
               Levels and scores only; statuses have no order to band.
Stability: of the people who rated an element in both rounds, how many changed their rating, shown only
when at least k rated it in both. `SummaryRules.consensus_rule` decides "consensus reached / still split".
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from frameworks.schema import Element, Framework, ScaleKind
from frameworks.summary.delphi_models import (
    Agreement,
    ConsensusHidden,
    ConsensusSummary,
    ElementConsensus,
    FirstRound,
    FirstRoundElement,
)
from frameworks.summary.models import ElementSummary, SurveySummary
from frameworks.summary.rules import SummaryRules
from frameworks.summary.stats import Ranked

SCIROCCO_BAND = 3
SCIROCCO_LIMIT = 4
"""Agreement needs fewer ratings than this outside the band."""
REASONS_SHOWN = 8
"""Reasons shown per element at most (sorted); the rest are counted."""


@dataclass(frozen=True)
class Unknown:
    """An element name the lead typed that matched none (or several): the near matches to offer."""

    name: str
    near: list[str]


@dataclass(frozen=True)
class Chosen:
    """The elements a consensus round asks again, in framework order."""

    split: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    """Named by the lead and not split already."""
    unknown: list[Unknown] = field(default_factory=list)

    @property
    def element_ids(self) -> set[str]:
        return {*self.split, *self.added}


def _key(text: str) -> str:
    return " ".join(text.casefold().replace("-", " ").split())


def match_element(framework: Framework, name: str) -> Element | Unknown:
    """The scored element a typed name means: its id or title, or words found in only one of them."""
    key = _key(name)
    scored = [element for _, element in framework.scored_elements]
    exact = [e for e in scored if key in (_key(e.id), _key(e.title))]
    if len(exact) == 1:
        return exact[0]
    containing = exact or [e for e in scored if key and (key in _key(e.id) or key in _key(e.title))]
    if len(containing) == 1:
        return containing[0]
    if containing:
        return Unknown(name, [f"{e.title} ({e.id})" for e in containing[:5]])
    by_key = {_key(e.title): e for e in scored} | {_key(e.id): e for e in scored}
    near = difflib.get_close_matches(key, list(by_key), n=3, cutoff=0.6)
    titles = list(dict.fromkeys(f"{by_key[k].title} ({by_key[k].id})" for k in near))
    return Unknown(name, titles)


def choose_elements(summary: SurveySummary, framework: Framework, names: Sequence[str] = ()) -> Chosen:
    """The split elements of a round's summary, and the ones the lead named (by id or title)."""
    split = {
        element.element_id
        for domain in summary.domains
        for element in domain.elements
        if element.divergence is not None and element.divergence.split
    }
    named: set[str] = set()
    unknown: list[Unknown] = []
    for name in names:
        found = match_element(framework, name)
        if isinstance(found, Unknown):
            unknown.append(found)
        else:
            named.add(found.id)
    order = [element.id for _, element in framework.iter_elements()]
    return Chosen(
        split=[i for i in order if i in split],
        added=[i for i in order if i in named and i not in split],
        unknown=unknown,
    )


def consensus_framework(framework: Framework, element_ids: Iterable[str]) -> Framework:
    """The framework with only these elements (same ids), keeping the domains they belong to."""
    keep = set(element_ids)
    data = framework.model_dump(mode="json")
    domains = []
    for domain in data["domains"]:
        elements = [e for e in domain["elements"] if e["id"] in keep]
        if elements:
            domains.append({**domain, "elements": elements})
    return Framework.model_validate({**data, "domains": domains})


def _elements_of(summary: SurveySummary) -> dict[str, tuple[list[str], ElementSummary, ScaleKind]]:
    return {
        element.element_id: ([p.label for p in domain.scale.points], element, domain.scale.kind)
        for domain in summary.domains
        for element in domain.elements
    }


def first_round(
    summary: SurveySummary,
    chosen: Chosen,
    comments: Iterable[tuple[str, str]],
    rules: SummaryRules,
    *,
    limit: int = REASONS_SHOWN,
) -> FirstRound:
    """What partners are shown of the round `summary` summarises, for the chosen elements: its
    distribution as the summary shows it, and the reasons when at least k people commented."""
    texts: dict[str, list[str]] = defaultdict(list)
    for element_id, text in comments:
        if text.strip():
            texts[element_id].append(text.strip())
    shown = _elements_of(summary)
    added = set(chosen.added)
    elements = []
    for domain in summary.domains:
        for element in domain.elements:
            if element.element_id not in chosen.element_ids:
                continue
            labels, _, _ = shown[element.element_id]
            reasons = sorted(texts[element.element_id]) if summary.respondents is not None else []
            if len(reasons) < rules.k:
                reasons = []
            elements.append(
                FirstRoundElement(
                    element_id=element.element_id,
                    title=element.title,
                    labels=labels,
                    counts=list(element.overall.counts) if element.overall is not None else None,
                    reasons=reasons[:limit],
                    more_reasons=max(len(reasons) - limit, 0),
                    added=element.element_id in added,
                )
            )
    return FirstRound(
        parent_survey_id=summary.survey_id, parent_title=summary.title, k=rules.k, elements=elements
    )


def scirocco(counts: Sequence[int]) -> tuple[bool, int] | None:
    """SCIROCCO agreement on a histogram in scale order: (agreed, ratings outside the best band
    containing the median); None without ratings."""
    n = sum(counts)
    if n == 0:
        return None
    median, _ = Ranked([(i, i, c) for i, c in enumerate(counts) if c > 0]).quantile(0.5)
    width = len(counts)
    if width <= SCIROCCO_BAND:
        return True, 0
    starts = [a for a in range(width - SCIROCCO_BAND + 1) if a <= median <= a + SCIROCCO_BAND - 1]
    outside = min(n - sum(counts[a : a + SCIROCCO_BAND]) for a in starts)
    return outside < SCIROCCO_LIMIT, outside


def agreement_of(element: ElementSummary | None, kind: ScaleKind | None) -> Agreement:
    """An element's agreement in one round, from its summary; empty where the summary shows nothing."""
    if element is None or element.overall is None:
        return Agreement()
    figures = element.overall
    check = scirocco(figures.counts) if kind is not ScaleKind.STATUS else None
    return Agreement(
        n=figures.n,
        median_label=figures.median_label or figures.status_label,
        split=element.divergence.split if element.divergence is not None else None,
        scirocco=check[0] if check else None,
        outside=check[1] if check else None,
    )


def compare_rounds(
    before: SurveySummary,
    after: SurveySummary,
    first: FirstRound,
    changes: Mapping[str, tuple[int, int]],
    rules: SummaryRules,
    *,
    consensus_survey_id: int,
    open: bool = False,
    hidden: ConsensusHidden | None = None,
) -> ConsensusSummary:
    """Per element the consensus round asked: agreement in the first round (`before`, the round's
    summary now) and in the consensus round (`after`), stability, and the verdict. `changes` gives,
    per element, (people who rated it in both rounds, how many of them changed)."""
    earlier = _elements_of(before)
    later = _elements_of(after)
    elements = []
    for asked in first.elements:
        found_before = earlier.get(asked.element_id)
        found_after = later.get(asked.element_id)
        was = agreement_of(found_before[1], found_before[2]) if found_before else Agreement()
        now = agreement_of(found_after[1], found_after[2]) if found_after else Agreement()
        both, changed = changes.get(asked.element_id, (0, 0))
        shown = both >= rules.k and after.respondents is not None
        element = found_after[1] if found_after else found_before[1] if found_before else None
        elements.append(
            ElementConsensus(
                element_id=asked.element_id,
                title=asked.title,
                domain_id=element.domain_id if element else "",
                added=asked.added,
                before=was,
                after=now,
                answered_both=both if shown else None,
                changed=changed if shown else None,
                reached=now.agreed(rules.consensus_rule),
            )
        )
    return ConsensusSummary(
        consensus_survey_id=consensus_survey_id,
        consensus_title=after.title,
        parent_survey_id=first.parent_survey_id,
        parent_title=before.title,
        rule=rules.consensus_rule,
        open=open,
        hidden=hidden,
        asked=len(first.elements),
        elements=elements,
    )


def hidden_round(
    first: FirstRound, *, consensus_survey_id: int, title: str, rules: SummaryRules, why: ConsensusHidden
) -> ConsensusSummary:
    """A consensus round whose results are not for partners yet, as the round it revisits mentions it:
    no figures, only why (still taking answers, or closed and not shared)."""
    return ConsensusSummary(
        consensus_survey_id=consensus_survey_id,
        consensus_title=title,
        parent_survey_id=first.parent_survey_id,
        parent_title=first.parent_title,
        rule=rules.consensus_rule,
        open=why is ConsensusHidden.TAKING_ANSWERS,
        hidden=why,
        asked=len(first.elements),
    )


def with_consensus(summary: SurveySummary, consensus: ConsensusSummary | None) -> SurveySummary:
    """The summary with its consensus round (of it, or revisiting it) beside it."""
    if consensus is None:
        return summary
    return summary.model_copy(update={"consensus": consensus})
