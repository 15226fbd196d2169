"""What the summary is computed from: the counted answers and response totals `storage.summaries` queries,
and how organisations and their types are labelled."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from frameworks.schema import Framework

OrgKey = int | None
KindKey = str | None

UNASSIGNED = "Unassigned"
"""How people without an organisation are shown."""
NO_KIND = "Type not recorded"


@dataclass(frozen=True, slots=True)
class AnswerCount:
    """How many answer rows of one element and organisation carry one value (None: skipped or comment)."""

    element_id: str
    organisation_id: int | None
    value: str | None
    skipped: bool
    count: int
    comments: int


def is_answer(*, skipped: bool) -> bool:
    """Whether an answer row counts as answered for a k rule: anything but a skip (the rule is
    explained in `frameworks.summary.anonymity`)."""
    return not skipped


@dataclass(frozen=True, slots=True)
class ResponseCount:
    organisation_id: int | None
    invited: int
    started: int
    completed: int


@dataclass(frozen=True, slots=True)
class OrganisationInfo:
    id: int
    name: str
    kind: str | None


@dataclass(frozen=True)
class SurveyData:
    """Everything a summary of one survey is computed from; the framework is the survey's snapshot."""

    survey_id: int
    title: str
    framework: Framework
    created_at: datetime
    answers: Sequence[AnswerCount]
    responses: Sequence[ResponseCount]
    organisations: Mapping[int, OrganisationInfo]
    partnership_id: int | None = None
    partnership_name: str | None = None
    target_months: int | None = None
    """The survey also asked where partners want to be in this many months (None: current only)."""
    targets: Sequence[AnswerCount] = ()
    """The targets given, counted like `answers` (value: the target token; never skipped)."""


def kind_label(kind: KindKey) -> str:
    return kind if kind is not None else NO_KIND


def org_label(key: OrgKey, organisations: Mapping[int, OrganisationInfo]) -> str:
    if key is None:
        return UNASSIGNED
    info = organisations.get(key)
    return info.name if info else f"Organisation {key}"


def org_kind(key: OrgKey, organisations: Mapping[int, OrganisationInfo]) -> KindKey:
    info = organisations.get(key) if key is not None else None
    return info.kind if info else None
