"""Which groups of a breakdown may be shown, and the notes that say how many were not.

Anonymity. Nothing about a group below `k` respondents is ever in a summary: its figures are left out,
not flagged, and a `Suppressed` note says how many groups are missing and why.
    - A survey with fewer than k respondents shows only how many people were invited.
    - An element's figures need k answers; an organisation's figures on an element need k answers from it.
    - An organisation type's figures need k answers and `k_orgs` organisations, so a type that is one
      organisation (a lone VCSE partner) is never shown as a type.
    - Comments (counts, and the lead-only texts) of an element need k people who answered it.
      Texts are never attributed, and are sorted so their order reveals nothing.
    "Answered" means one thing for every k rule (`is_answer`): an answer row that is not a skip (a
    value, or a comment on a question that takes none, such as one still being written). A skip, with
    or without a comment, is not an answer. Exports and erasure count people by the same rule
    (storage.summaries.answered).
    - Response rates by organisation and by type follow the same rules on the number who started;
      an organisation where nobody started is hidden too, as showing it would single out its invitees.
Differencing. The overall figure minus the shown groups is the pooled figure of the hidden ones, so the
hidden groups are also checked as pools (complementary suppression, as statistics offices do it):
    - types: if the hidden types together have fewer than k answers or fewer than k_orgs organisations,
      the smallest shown type is hidden too, until they pass (or no type is shown);
    - organisations: within each shown type, and among the organisations whose type is not shown, the
      hidden organisations together need k answers, else the smallest shown one is hidden as well.
The shown figures form a tree of sums (overall ⊃ types ⊃ organisations). What a tree of sums lets anyone
derive is exactly these pools (each shown figure minus the shown figures just below it), and each pool is
empty or has k answers or more; a pool that is a single organisation has k answers, so showing it
outright would have been allowed. Domain figures, organisation votes, spreads and changes are computed
only from element figures that are shown and from these pools, so they disclose nothing further.
Known limit: numbers of people, unlike answers, can sometimes be bounded across breakdowns (a pool's
answer count against a shown organisation's number who started); no answer of a hidden group can.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from frameworks.summary.inputs import (
    KindKey,
    OrgKey,
    kind_label,
)
from frameworks.summary.models import Suppressed, SuppressionReason, SuppressionScope
from frameworks.summary.rules import SummaryRules


@dataclass(frozen=True, slots=True)
class Leaf:
    """One organisation (or the unassigned) in one breakdown: `n` is what k protects."""

    key: OrgKey
    kind: KindKey
    n: int
    label: str


@dataclass
class Publication:
    root: bool
    kinds: set[KindKey] = field(default_factory=set)
    orgs: set[OrgKey] = field(default_factory=set)
    hidden_kinds: Counter[SuppressionReason] = field(default_factory=Counter)
    hidden_orgs: Counter[SuppressionReason] = field(default_factory=Counter)


def publish(leaves: Sequence[Leaf], rules: SummaryRules) -> Publication:
    """Which types and organisations of one breakdown may be shown (module docstring)."""
    k, k_orgs = rules.k, rules.k_orgs
    if not leaves or sum(leaf.n for leaf in leaves) < k:
        return Publication(root=False)
    result = Publication(root=True)
    by_kind: dict[KindKey, list[Leaf]] = defaultdict(list)
    for leaf in leaves:
        by_kind[leaf.kind].append(leaf)

    def total(group: Iterable[Leaf]) -> int:
        return sum(leaf.n for leaf in group)

    def active(group: Iterable[Leaf]) -> int:
        return sum(1 for leaf in group if leaf.n > 0)

    for kind, members in by_kind.items():
        if total(members) < k:
            result.hidden_kinds[SuppressionReason.FEW_RESPONDENTS] += 1
        elif active(members) < k_orgs:
            result.hidden_kinds[SuppressionReason.FEW_ORGANISATIONS] += 1
        else:
            result.kinds.add(kind)
    while result.kinds:
        rest = [leaf for leaf in leaves if leaf.kind not in result.kinds]
        if not rest or (total(rest) >= k and active(rest) >= k_orgs):
            break
        smallest = min(result.kinds, key=lambda kind: (total(by_kind[kind]), kind_label(kind)))
        result.kinds.discard(smallest)
        result.hidden_kinds[SuppressionReason.COMPLEMENTARY] += 1

    result.orgs = {leaf.key for leaf in leaves if leaf.n >= k}
    result.hidden_orgs[SuppressionReason.FEW_RESPONDENTS] = len(leaves) - len(result.orgs)
    # The pools are disjoint: each shown type's members, and everyone whose type is not shown.
    pools = [by_kind[kind] for kind in result.kinds]
    pools.append([leaf for leaf in leaves if leaf.kind not in result.kinds])
    for pool in pools:
        while True:
            hidden = [leaf for leaf in pool if leaf.key not in result.orgs]
            shown = [leaf for leaf in pool if leaf.key in result.orgs]
            if not hidden or total(hidden) >= k or not shown:
                break  # without shown members the pool is the type (or the overall), already checked
            smallest_org = min(shown, key=lambda leaf: (leaf.n, leaf.label))
            result.orgs.discard(smallest_org.key)
            result.hidden_orgs[SuppressionReason.COMPLEMENTARY] += 1
    return result


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


_REASONS = (
    SuppressionReason.FEW_RESPONDENTS,
    SuppressionReason.FEW_ORGANISATIONS,
    SuppressionReason.COMPLEMENTARY,
)


def suppression_notes(publication: Publication, rules: SummaryRules, noun: str) -> list[Suppressed]:
    """Suppression notes for a breakdown: counts and reasons only, never which groups."""
    notes: list[Suppressed] = []
    k = rules.k
    for reason in _REASONS:
        count = publication.hidden_kinds[reason]
        if count <= 0:
            continue
        what = plural(count, "organisation type", "organisation types")
        message = {
            SuppressionReason.FEW_RESPONDENTS: f"{what} not shown: fewer than {k} {noun}.",
            SuppressionReason.FEW_ORGANISATIONS: (
                f"{what} not shown: fewer than {rules.k_orgs} organisations of that type, "
                "so the figures would identify an organisation."
            ),
            SuppressionReason.COMPLEMENTARY: (
                f"{what} also not shown, so hidden types cannot be worked out from the totals."
            ),
        }[reason]
        notes.append(Suppressed(scope=SuppressionScope.KINDS, reason=reason, count=count, message=message))
    for reason in _REASONS:
        count = publication.hidden_orgs[reason]
        if count <= 0:
            continue
        what = plural(count, "organisation", "organisations")
        if reason is SuppressionReason.FEW_RESPONDENTS:
            message = f"{what} not shown separately: fewer than {k} {noun} each."
        else:
            message = (
                f"{what} also not shown separately, so hidden ones cannot be worked out from the totals."
            )
        notes.append(
            Suppressed(scope=SuppressionScope.ORGANISATIONS, reason=reason, count=count, message=message)
        )
    return notes
