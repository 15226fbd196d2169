"""What the conversation shows, independent of how: Adaptive Cards in Teams, plain text in a terminal.

The dialogs build these; renderers in `bot/` turn them into messages (`dialogs.messages`). Every text
here may come from a framework file or a person, so renderers must escape it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from dialogs.messages import Message

QuestionKind = Literal["levels", "score", "status", "unscored"]


@dataclass(frozen=True)
class Choice:
    value: str
    """What a card submits and what is stored: a level id, a signed score or a status id."""
    label: str
    number: int | None = None
    """What can be typed to choose it: a level's value or a score; None for statuses."""
    description: str | None = None
    """Levels: the matrix cell for this element (one statement per line). Statuses: what it means."""
    rag: str | None = None
    """Statuses: blue, green, amber, red or grey."""


@dataclass(frozen=True)
class QuestionView:
    survey_id: int
    survey_title: str
    element_id: str
    domain_title: str
    position: int
    """1-based position among the survey's questions (including unscored ones shown for comment)."""
    total: int
    title: str
    kind: QuestionKind
    choices: list[Choice]
    text: str | None = None
    lead_in: str | None = None
    guidance: str | None = None
    group: str | None = None
    milestone: str | None = None
    development_note: str | None = None
    min_label: str | None = None
    max_label: str | None = None
    current_value: str | None = None
    current_comment: str | None = None
    can_go_back: bool = False
    note: str | None = None
    """A line shown above the question, e.g. why it is asked again."""
    target_months: int | None = None
    """Also asks where they want to be in this many months (a target survey's levels and scores)."""
    current_target: str | None = None
    first_round: FirstRoundView | None = None
    """A consensus round: how the first round answered, shown above the choices (dialogs.first_round)."""

    @property
    def progress(self) -> str:
        return f"{self.domain_title} · {self.position} of {self.total}"

    @property
    def target_question(self) -> str | None:
        """'Where we want to be in 12 months', when this question asks it."""
        if self.target_months is None:
            return None
        return f"Where we want to be in {self.target_months} months"


@dataclass(frozen=True)
class FirstRoundBar:
    label: str
    count: int
    own: bool = False
    """The partner's own first answer."""


@dataclass(frozen=True)
class FirstRoundView:
    """The first round as a consensus round shows it to every partner: no figure below k, no name."""

    k: int
    bars: list[FirstRoundBar]
    """Answers per point of the scale; empty when the first round showed none (fewer than k)."""
    reasons: list[str]
    """Sorted, unattributed; empty unless at least k people gave one."""
    more_reasons: int = 0
    own_value: str | None = None
    own_label: str | None = None
    """What the partner answered in the first round (None: they did not answer it)."""
    added: bool = False
    """Asked again because the lead added it, not because partners split."""


@dataclass(frozen=True)
class AnsweredView:
    """The compact, read-only card that replaces a question once it is answered."""

    survey_title: str
    element_id: str
    title: str
    position: int
    total: int
    answer: str | None
    """The chosen choice's label; None when skipped."""
    comment: str | None = None
    note: str | None = None
    target: str | None = None
    """Where they want to be: its label (a target survey, when given)."""
    target_months: int | None = None


@dataclass(frozen=True)
class ReviewItem:
    element_id: str
    title: str
    answer: str | None
    skipped: bool
    comment: str | None = None
    scored: bool = True
    target: str | None = None
    """Where they want to be: its label (a target survey, when given)."""


@dataclass(frozen=True)
class ReviewSection:
    title: str
    items: list[ReviewItem]


@dataclass(frozen=True)
class ReviewView:
    survey_id: int
    survey_title: str
    sections: list[ReviewSection]
    answered: int
    skipped: int
    total: int
    submitted: bool
    closes_at: datetime | None = None

    @property
    def unanswered(self) -> int:
        return self.total - self.answered - self.skipped


@dataclass(frozen=True)
class SurveyListItem:
    survey_id: int
    title: str
    answered: int
    total: int
    submitted: bool
    closes_at: datetime | None = None


@dataclass(frozen=True)
class SurveyListView:
    items: list[SurveyListItem] = field(default_factory=list)
    intro: str | None = None


@dataclass(frozen=True)
class SubmittedView:
    survey_title: str
    answered: int
    skipped: int
    summary_note: str
    """When and where the partnership summary will appear."""
    can_still_change: bool
    unanswered: int = 0


@dataclass(frozen=True)
class DomainProgress:
    """One domain of a framework and how far the person got in it (scored questions only)."""

    number: int
    """1-based, as `domain N` takes it; domains without questions are left out of the numbering."""
    domain_id: str
    title: str
    answered: int
    skipped: int
    total: int

    @property
    def unanswered(self) -> int:
        return self.total - self.answered - self.skipped


@dataclass(frozen=True)
class DomainsView:
    """`domains`: a long framework answered one domain at a time."""

    survey_id: int
    survey_title: str
    domains: list[DomainProgress]


@dataclass(frozen=True)
class SubmitCheckView:
    """Asked before submitting with many questions unanswered: what is missing, and how to go on."""

    survey_id: int
    survey_title: str
    unanswered: int
    total: int
    domains: list[DomainProgress]
    """Every domain with questions; those still missing answers are named."""
    locks: bool
    """Answers can no longer be changed once submitted."""


class Renderer(Protocol):
    """Turns views into messages for one kind of client (Teams cards, plain text); the edge makes them
    activities (`dialogs.messages.to_activity`)."""

    def question(self, view: QuestionView) -> Message: ...

    def answered(self, view: AnsweredView) -> Message: ...

    def review(self, view: ReviewView) -> Message: ...

    def survey_list(self, view: SurveyListView) -> Message: ...

    def submitted(self, view: SubmittedView) -> Message: ...

    def domains(self, view: DomainsView) -> Message: ...

    def submit_check(self, view: SubmitCheckView) -> Message: ...

    def text(self, message: str) -> Message: ...
