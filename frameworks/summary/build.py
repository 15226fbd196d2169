"""Building the summary: elements, domains and response rates, each shown only as anonymity allows."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from frameworks.schema import Domain, Element
from frameworks.summary.anonymity import Leaf, publish, suppression_notes
from frameworks.summary.changes import compare
from frameworks.summary.consensus import divergence_of, headline_of, organisation_spread
from frameworks.summary.highlights import highlights_of, status_overview
from frameworks.summary.inputs import (
    AnswerCount,
    KindKey,
    OrganisationInfo,
    OrgKey,
    SurveyData,
    is_answer,
    kind_label,
    org_kind,
    org_label,
)
from frameworks.summary.models import (
    DomainSummary,
    ElementSummary,
    Highlights,
    KindFigures,
    KindRate,
    OrganisationFigures,
    OrganisationRate,
    RateFigures,
    ResponseRate,
    Suppressed,
    SuppressionReason,
    SuppressionScope,
    SurveySummary,
)
from frameworks.summary.rules import SummaryRules
from frameworks.summary.stats import Cell, ScaleIndex, cell_of, figure_fields, figures_of, scale_of
from frameworks.summary.targets import with_targets
from frameworks.versions import descriptor_fingerprint


@dataclass
class _ElementCounts:
    by_org: dict[OrgKey, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    skipped: dict[OrgKey, int] = field(default_factory=lambda: defaultdict(int))
    rows: int = 0
    comments: int = 0

    @property
    def answered(self) -> int:
        """Rows that are answers (`is_answer`): what every k rule on this element counts."""
        return self.rows - sum(self.skipped.values())


@dataclass
class _Shown:
    """What an element contributes to its domain: only figures that were shown, and the hidden pool."""

    overall: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    orgs: dict[OrgKey, Counter[str]] = field(default_factory=dict)
    org_skipped: dict[OrgKey, int] = field(default_factory=dict)
    kinds: dict[KindKey, Counter[str]] = field(default_factory=dict)
    kind_skipped: dict[KindKey, int] = field(default_factory=dict)
    kind_members: dict[KindKey, set[OrgKey]] = field(default_factory=dict)
    answering_orgs: set[OrgKey] = field(default_factory=set)
    hidden_any: bool = False


@dataclass
class _Context:
    data: SurveyData
    rules: SummaryRules
    suppressed: bool
    counts: dict[str, _ElementCounts]


def count_answers(rows: Iterable[AnswerCount]) -> dict[str, _ElementCounts]:
    counts: dict[str, _ElementCounts] = defaultdict(_ElementCounts)
    for row in rows:
        element = counts[row.element_id]
        element.rows += row.count
        element.comments += row.comments
        if row.value is not None:
            element.by_org[row.organisation_id][row.value] += row.count
        elif not is_answer(skipped=row.skipped):
            element.skipped[row.organisation_id] += row.count
    return counts


def _element(
    ctx: _Context, domain: Domain, element: Element, scale: ScaleIndex, position: int
) -> tuple[ElementSummary, _Shown | None]:
    rules, organisations = ctx.rules, ctx.data.organisations
    counts = ctx.counts.get(element.id, _ElementCounts())
    base: dict[str, Any] = {
        "element_id": element.id,
        "title": element.title,
        "domain_id": domain.id,
        "position": position,
        "group": element.group,
        "milestone": element.milestone.label if element.milestone else None,
        "scale": scale.info.kind,
        "scored": not element.in_development,
        "not_scored_note": element.development_note
        or ("Still being written in the source framework: not scored." if element.in_development else None),
        "wording": descriptor_fingerprint(element),
    }
    notes: list[Suppressed] = []
    if ctx.suppressed:
        return ElementSummary(**base), None
    if counts.answered >= rules.k:  # below k, even whether anyone commented stays unsaid
        base["respondents"] = counts.rows
        base["comments"] = counts.comments
    if element.in_development:
        return ElementSummary(**base, suppressed=notes), None

    # Values the scale does not know (none, unless a snapshot was edited) are dropped before anything
    # is counted, so that k is checked on exactly the answers each figure is made of.
    by_org = {
        key: Counter({value: n for value, n in values.items() if value in scale.by_key})
        for key, values in counts.by_org.items()
    }
    leaves = [
        Leaf(key, org_kind(key, organisations), sum(values.values()), org_label(key, organisations))
        for key, values in by_org.items()
        if sum(values.values()) > 0
    ]
    publication = publish(leaves, rules)
    if not publication.root:
        notes.append(
            Suppressed(
                scope=SuppressionScope.ELEMENT,
                reason=SuppressionReason.FEW_RESPONDENTS,
                message=f"Not shown: fewer than {rules.k} answers.",
            )
        )
        return ElementSummary(**base, suppressed=notes), None

    notes.extend(suppression_notes(publication, rules, "answers"))
    overall_counts: Counter[str] = Counter()
    for values in by_org.values():
        overall_counts.update(values)
    overall_skipped = sum(counts.skipped.values())
    overall = cell_of(scale, overall_counts, overall_skipped)

    shown = _Shown(overall=overall_counts, skipped=overall_skipped)
    shown.answering_orgs = {leaf.key for leaf in leaves}
    shown.hidden_any = len(publication.orgs) < len(leaves) or len(publication.kinds) < len(
        {leaf.kind for leaf in leaves}
    )
    org_figs: list[tuple[OrgKey, Cell]] = []
    pooled_counts = Counter(overall_counts)
    for leaf in sorted(leaves, key=lambda leaf: (leaf.key is None, leaf.label)):
        if leaf.key not in publication.orgs:
            continue
        values = by_org[leaf.key]
        fig = cell_of(scale, values, counts.skipped.get(leaf.key, 0))
        org_figs.append((leaf.key, fig))
        shown.orgs[leaf.key] = values
        shown.org_skipped[leaf.key] = counts.skipped.get(leaf.key, 0)
        pooled_counts.subtract(values)
    kind_figs: list[tuple[KindKey, Cell, int]] = []
    for kind in sorted(publication.kinds, key=lambda kind: (kind is None, kind_label(kind))):
        members = [leaf.key for leaf in leaves if leaf.kind == kind]
        merged: Counter[str] = Counter()
        for key in members:
            merged.update(by_org[key])
        skipped = sum(counts.skipped.get(key, 0) for key in members)
        kind_figs.append((kind, cell_of(scale, merged, skipped), len(members)))
        shown.kinds[kind] = merged
        shown.kind_skipped[kind] = skipped
        shown.kind_members[kind] = set(members)

    hidden_votes = len(leaves) - len(publication.orgs)
    pooled = cell_of(scale, +pooled_counts, 0) if hidden_votes else None
    groups = [fig for _, fig in org_figs]
    headline = headline_of(scale, rules, overall, groups, pooled, hidden_votes)
    summary = ElementSummary(
        **base,
        overall=figures_of(scale, overall),
        headline=headline,
        organisation_spread=organisation_spread(scale, groups),
        organisations=[_org_figures(scale, key, fig, organisations) for key, fig in org_figs],
        kinds=[
            KindFigures(kind=kind, label=kind_label(kind), organisations=members, **figure_fields(scale, fig))
            for kind, fig, members in kind_figs
        ],
        divergence=divergence_of(scale, rules, overall, groups),
        at_risk=None
        if scale.numeric
        else (headline.concern_share is not None and headline.concern_share >= rules.at_risk_share - 1e-9),
        suppressed=notes,
    )
    return summary, shown


def _org_figures(
    scale: ScaleIndex,
    key: OrgKey,
    fig: Cell,
    organisations: Mapping[int, OrganisationInfo],
    elements: int | None = None,
) -> OrganisationFigures:
    return OrganisationFigures(
        organisation_id=key,
        name=org_label(key, organisations),
        kind=org_kind(key, organisations),
        elements=elements,
        **figure_fields(scale, fig),
    )


def _domain(
    ctx: _Context, domain: Domain, scale: ScaleIndex, elements: list[ElementSummary], shown: list[_Shown]
) -> DomainSummary:
    rules, organisations = ctx.rules, ctx.data.organisations
    comments = [e.comments for e in elements if e.comments is not None]
    base: dict[str, Any] = {
        "domain_id": domain.id,
        "title": domain.title,
        "scale": scale.info,
        "elements": elements,
        "split_elements": sum(1 for e in elements if e.divergence and e.divergence.split),
        "comments": sum(comments) if comments else None,
    }
    if not shown:
        return DomainSummary(**base)
    overall_counts: Counter[str] = Counter()
    org_counts: dict[OrgKey, Counter[str]] = defaultdict(Counter)
    org_skipped: dict[OrgKey, int] = defaultdict(int)
    org_elements: Counter[OrgKey] = Counter()
    kind_counts: dict[KindKey, Counter[str]] = defaultdict(Counter)
    kind_skipped: dict[KindKey, int] = defaultdict(int)
    kind_elements: Counter[KindKey] = Counter()
    kind_members: dict[KindKey, set[OrgKey]] = defaultdict(set)
    answering: set[OrgKey] = set()
    skipped = 0
    for item in shown:
        overall_counts.update(item.overall)
        skipped += item.skipped
        answering |= item.answering_orgs
        for key, values in item.orgs.items():
            org_counts[key].update(values)
            org_skipped[key] += item.org_skipped[key]
            org_elements[key] += 1
        for kind, values in item.kinds.items():
            kind_counts[kind].update(values)
            kind_skipped[kind] += item.kind_skipped[kind]
            kind_elements[kind] += 1
            kind_members[kind] |= item.kind_members[kind]
    overall = cell_of(scale, overall_counts, skipped)
    order = sorted(org_counts, key=lambda key: (key is None, org_label(key, organisations)))
    org_figs = [(key, cell_of(scale, org_counts[key], org_skipped[key])) for key in order]
    pooled_counts = Counter(overall_counts)
    for values in org_counts.values():
        pooled_counts.subtract(values)
    hidden_votes = len(answering - set(org_counts))
    pooled = cell_of(scale, +pooled_counts, 0) if +pooled_counts else None
    groups = [fig for _, fig in org_figs]
    kinds = sorted(kind_counts, key=lambda kind: (kind is None, kind_label(kind)))
    notes = []
    if any(item.hidden_any for item in shown):
        notes.append(
            "Figures for organisations and types cover only the elements where their own figures are shown."
        )
    return DomainSummary(
        **base,
        overall=figures_of(scale, overall),
        headline=headline_of(scale, rules, overall, groups, pooled, hidden_votes),
        organisation_spread=organisation_spread(scale, groups),
        organisations=[
            _org_figures(scale, key, fig, organisations, org_elements[key]) for key, fig in org_figs
        ],
        kinds=[
            KindFigures(
                kind=kind,
                label=kind_label(kind),
                organisations=len(kind_members[kind]),
                elements=kind_elements[kind],
                **figure_fields(scale, cell_of(scale, kind_counts[kind], kind_skipped[kind])),
            )
            for kind in kinds
        ],
        notes=notes,
    )


def _response_rate(data: SurveyData, rules: SummaryRules) -> ResponseRate:
    by_org: dict[OrgKey, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in data.responses:
        totals = by_org[row.organisation_id]
        totals[0] += row.invited
        totals[1] += row.started
        totals[2] += row.completed
    invited = sum(t[0] for t in by_org.values())
    started = sum(t[1] for t in by_org.values())
    completed = sum(t[2] for t in by_org.values())
    leaves = [
        Leaf(key, org_kind(key, data.organisations), totals[1], org_label(key, data.organisations))
        for key, totals in by_org.items()
        if totals[0] or totals[1]
    ]
    publication = publish(leaves, rules)
    if not publication.root:
        return ResponseRate(
            overall=RateFigures(invited=invited),
            suppressed=[
                Suppressed(
                    scope=SuppressionScope.SURVEY,
                    reason=SuppressionReason.FEW_RESPONDENTS,
                    message=f"Response counts are shown once at least {rules.k} people have started.",
                )
            ],
        )

    def rate(totals: Sequence[int]) -> dict[str, Any]:
        return {
            "invited": totals[0],
            "started": totals[1],
            "completed": totals[2],
            "started_share": totals[1] / totals[0] if totals[0] else None,
            "completed_share": totals[2] / totals[0] if totals[0] else None,
        }

    organisations = [
        OrganisationRate(
            organisation_id=leaf.key,
            name=leaf.label,
            kind=leaf.kind,
            **rate(by_org[leaf.key]),
        )
        for leaf in sorted(leaves, key=lambda leaf: (leaf.key is None, leaf.label))
        if leaf.key in publication.orgs
    ]
    kinds = []
    for kind in sorted(publication.kinds, key=lambda kind: (kind is None, kind_label(kind))):
        members = [leaf.key for leaf in leaves if leaf.kind == kind]
        totals = [sum(by_org[key][i] for key in members) for i in range(3)]
        kinds.append(KindRate(kind=kind, label=kind_label(kind), organisations=len(members), **rate(totals)))
    return ResponseRate(
        overall=RateFigures(**rate([invited, started, completed])),
        organisations=organisations,
        kinds=kinds,
        suppressed=suppression_notes(publication, rules, "people who started"),
    )


def respondent_count(data: SurveyData, rules: SummaryRules) -> int:
    if rules.submitted_only:
        return sum(row.completed for row in data.responses)
    return sum(row.started for row in data.responses)


def summarise(
    data: SurveyData, rules: SummaryRules, *, now: datetime, previous: SurveySummary | None = None
) -> SurveySummary:
    """The summary of one survey; with `previous` (an earlier round or stored summary), what changed."""
    framework = data.framework
    respondents = respondent_count(data, rules)
    suppressed = respondents < rules.k
    domains = _domains(_Context(data, rules, suppressed, count_answers(data.answers)))
    if data.target_months is not None and not suppressed:
        # The targets are summarised by the very same code as the answers, then set beside them.
        wanted = _domains(_Context(data, rules, suppressed, count_answers(data.targets)))
        domains = with_targets(domains, wanted, rules)
    notes = []
    if suppressed:
        notes.append(
            Suppressed(
                scope=SuppressionScope.SURVEY,
                reason=SuppressionReason.FEW_RESPONDENTS,
                message=f"Results are shown once at least {rules.k} people have responded.",
            )
        )
    summary = SurveySummary(
        survey_id=data.survey_id,
        title=data.title,
        framework_id=framework.id,
        framework_title=framework.title,
        framework_version=framework.version,
        partnership_id=data.partnership_id,
        partnership_name=data.partnership_name,
        created_at=data.created_at,
        generated_at=now,
        rules=rules,
        weighting=rules.weighting,
        respondents=None if suppressed else respondents,
        response_rate=_response_rate(data, rules),
        domains=domains,
        statuses=status_overview(domains),
        highlights=Highlights(),
        suppressed=notes,
        target_months=data.target_months,
    )
    return with_changes(summary, previous)


def _domains(ctx: _Context) -> list[DomainSummary]:
    framework = ctx.data.framework
    domains: list[DomainSummary] = []
    position = 0
    for domain in framework.domains:
        scale = scale_of(framework, domain)
        elements: list[ElementSummary] = []
        shown: list[_Shown] = []
        for element in domain.elements:
            element_summary, contribution = _element(ctx, domain, element, scale, position)
            position += 1
            elements.append(element_summary)
            if contribution is not None:
                shown.append(contribution)
        domains.append(_domain(ctx, domain, scale, elements, shown))
    return domains


def with_changes(summary: SurveySummary, previous: SurveySummary | None) -> SurveySummary:
    """The summary with its highlights, and its changes since `previous` when one is given."""
    changes = compare(summary, previous) if previous is not None else None
    return summary.model_copy(update={"changes": changes, "highlights": highlights_of(summary, changes)})


def since_last_post(summary: SurveySummary, posted: SurveySummary | None) -> SurveySummary:
    """The summary with what changed since `posted`, the summary a channel was last shown.

    Only a summary of the same survey is compared: another round is what `changes` is for."""
    if posted is None or posted.survey_id != summary.survey_id:
        return summary
    return summary.model_copy(update={"since_last": compare(summary, posted)})
