"""Building the conversation's views from a survey's framework snapshot and the person's answers.

Pure functions: the dialog loads rows, these decide what to show and which question comes next.
"""

from __future__ import annotations

from datetime import tzinfo

from dialogs.views import (
    AnsweredView,
    Choice,
    DomainProgress,
    DomainsView,
    QuestionKind,
    QuestionView,
    ReviewItem,
    ReviewSection,
    ReviewView,
    SubmitCheckView,
    SubmittedView,
)
from frameworks.schema import Domain, Element, Framework, LevelsScale, ScoreScale, StatusScale
from storage.details import StoredAnswer, SurveyDetails

UNANSWERED_WITHOUT_ASKING = 3
"""Submitting with more scored questions unanswered than this asks first (with any, when answers lock
on submit): a few gaps are usual, a mostly empty survey sent by mistake is not."""


def choices_for(scale: LevelsScale | ScoreScale | StatusScale, element: Element) -> list[Choice]:
    if element.in_development:
        return []
    if isinstance(scale, LevelsScale):
        return [
            Choice(value=lv.id, label=lv.label, number=lv.value, description=element.descriptors.get(lv.id))
            for lv in scale.levels
        ]
    if isinstance(scale, ScoreScale):
        return [Choice(value=_signed(n), label=_signed(n), number=n) for n in scale.values]
    return [
        Choice(value=s.id, label=s.label, description=s.description, rag=s.rag.value) for s in scale.statuses
    ]


def _signed(number: int) -> str:
    return f"{number:+d}" if number else "0"


def _kind(scale: LevelsScale | ScoreScale | StatusScale, element: Element) -> QuestionKind:
    return "unscored" if element.in_development else scale.kind


def element_ids(framework: Framework) -> tuple[str, ...]:
    """Every element in the order partners meet them, unscored ones included (they take comments)."""
    return framework.element_ids


def position_of(framework: Framework, element_id: str) -> int:
    return element_ids(framework).index(element_id) + 1


def is_done(element: Element, answer: StoredAnswer | None) -> bool:
    """Answered or skipped; an unscored element is done once seen (a row exists)."""
    if answer is None:
        return False
    return element.in_development or answer.value is not None or answer.skipped


def next_element(
    framework: Framework, answers: dict[str, StoredAnswer], after: str | None = None
) -> str | None:
    """The first element not yet done after `after` (wrapping round), or None when all are done."""
    elements = [element for _, element in framework.iter_elements()]
    start = 0
    if after is not None:
        start = next((i + 1 for i, e in enumerate(elements) if e.id == after), 0)
    for element in elements[start:] + elements[:start]:
        if not is_done(element, answers.get(element.id)):
            return element.id
    return None


def domain_progress(framework: Framework, answers: dict[str, StoredAnswer]) -> list[DomainProgress]:
    """The domains that have questions, numbered as `domain N` takes them, with their scored counts."""
    progress: list[DomainProgress] = []
    for domain in (d for d in framework.domains if d.elements):
        scored = [e for e in domain.elements if not e.in_development]
        found = [answers.get(e.id) for e in scored]
        progress.append(
            DomainProgress(
                number=len(progress) + 1,
                domain_id=domain.id,
                title=domain.title,
                answered=sum(1 for a in found if a is not None and a.value is not None),
                skipped=sum(1 for a in found if a is not None and a.skipped),
                total=len(scored),
            )
        )
    return progress


def domain_of(framework: Framework, element_id: str) -> str | None:
    found = framework.element(element_id)
    return found[0].id if found else None


def first_open_in(framework: Framework, answers: dict[str, StoredAnswer], domain_id: str) -> str | None:
    """The domain's first question not yet answered or skipped, or None when all are."""
    domain = next((d for d in framework.domains if d.id == domain_id), None)
    elements = domain.elements if domain else []
    return next((e.id for e in elements if not is_done(e, answers.get(e.id))), None)


def domains_view(
    survey: SurveyDetails, framework: Framework, answers: dict[str, StoredAnswer]
) -> DomainsView:
    return DomainsView(
        survey_id=survey.id, survey_title=survey.title, domains=domain_progress(framework, answers)
    )


def submit_check_view(
    survey: SurveyDetails, framework: Framework, answers: dict[str, StoredAnswer], review: ReviewView
) -> SubmitCheckView | None:
    """What to ask before submitting, or None when few enough are unanswered to submit at once."""
    limit = 0 if survey.lock_after_submit else UNANSWERED_WITHOUT_ASKING
    if review.unanswered <= limit:
        return None
    return SubmitCheckView(
        survey_id=survey.id,
        survey_title=survey.title,
        unanswered=review.unanswered,
        total=review.total,
        domains=[d for d in domain_progress(framework, answers) if d.total],
        locks=survey.lock_after_submit,
    )


def previous_element(framework: Framework, element_id: str) -> str | None:
    ids = element_ids(framework)
    index = ids.index(element_id)
    return ids[index - 1] if index > 0 else None


def label_of(framework: Framework, element_id: str, value: str | None) -> str | None:
    """The label people saw for a stored value ('Maturing', '+2', 'On track')."""
    if value is None:
        return None
    found = framework.element(element_id)
    if found is None:
        return value
    domain, element = found
    choice = next((c for c in choices_for(framework.scale_for(domain), element) if c.value == value), None)
    return choice.label if choice else value


def asks_target(survey: SurveyDetails, framework: Framework, element_id: str) -> bool:
    """A target survey asks where they want to be on levels and scores; statuses and unscored parts
    have no target."""
    found = framework.element(element_id)
    if survey.target_months is None or found is None or found[1].in_development:
        return False
    return not isinstance(framework.scale_for(found[0]), StatusScale)


def question_view(
    survey: SurveyDetails,
    framework: Framework,
    element_id: str,
    answers: dict[str, StoredAnswer],
    *,
    note: str | None = None,
) -> QuestionView:
    domain, element = _find(framework, element_id)
    scale = framework.scale_for(domain)
    answer = answers.get(element_id)
    position = position_of(framework, element_id)
    return QuestionView(
        survey_id=survey.id,
        survey_title=survey.title,
        element_id=element.id,
        domain_title=domain.title,
        position=position,
        total=len(element_ids(framework)),
        title=element.title,
        kind=_kind(scale, element),
        choices=choices_for(scale, element),
        text=element.text,
        lead_in=domain.lead_in,
        guidance=element.guidance,
        group=element.group,
        milestone=element.milestone.label if element.milestone else None,
        development_note=element.development_note,
        min_label=scale.min_label if isinstance(scale, ScoreScale) else None,
        max_label=scale.max_label if isinstance(scale, ScoreScale) else None,
        current_value=answer.value if answer else None,
        current_comment=answer.comment if answer else None,
        can_go_back=position > 1,
        note=note,
        target_months=survey.target_months if asks_target(survey, framework, element_id) else None,
        current_target=answer.target if answer else None,
    )


def answered_view(
    survey: SurveyDetails,
    framework: Framework,
    element_id: str,
    answer: StoredAnswer,
    *,
    note: str | None = None,
) -> AnsweredView:
    _, element = _find(framework, element_id)
    return AnsweredView(
        survey_title=survey.title,
        element_id=element_id,
        title=element.title,
        position=position_of(framework, element_id),
        total=len(element_ids(framework)),
        answer=label_of(framework, element_id, answer.value),
        comment=answer.comment,
        note=note,
        target=label_of(framework, element_id, answer.target),
        target_months=survey.target_months,
    )


def review_view(
    survey: SurveyDetails, framework: Framework, answers: dict[str, StoredAnswer], *, submitted: bool
) -> ReviewView:
    sections = []
    for domain in framework.domains:
        items = [_review_item(framework, element, answers.get(element.id)) for element in domain.elements]
        if items:
            sections.append(ReviewSection(title=domain.title, items=items))
    scored = [element for _, element in framework.scored_elements]
    answered = sum(1 for e in scored if (a := answers.get(e.id)) is not None and a.value is not None)
    skipped = sum(1 for e in scored if (a := answers.get(e.id)) is not None and a.skipped)
    return ReviewView(
        survey_id=survey.id,
        survey_title=survey.title,
        sections=sections,
        answered=answered,
        skipped=skipped,
        total=len(scored),
        submitted=submitted,
        closes_at=survey.closes_at,
    )


def _review_item(framework: Framework, element: Element, answer: StoredAnswer | None) -> ReviewItem:
    return ReviewItem(
        element_id=element.id,
        title=element.title,
        answer=label_of(framework, element.id, answer.value) if answer else None,
        skipped=bool(answer and answer.skipped),
        comment=answer.comment if answer else None,
        scored=not element.in_development,
        target=label_of(framework, element.id, answer.target) if answer else None,
    )


def submitted_view(survey: SurveyDetails, review: ReviewView, *, tz: tzinfo) -> SubmittedView:
    if survey.closes_at is not None:
        when = survey.closes_at.astimezone(tz).strftime("%-d %B %Y")
        note = (
            f"The survey closes on {when}; the partnership summary is then posted in your team's channel, "
            "with no individual answers shown."
        )
    else:
        note = (
            "When your lead closes the survey, the partnership summary is posted in your team's channel, "
            "with no individual answers shown."
        )
    return SubmittedView(
        survey_title=survey.title,
        answered=review.answered,
        skipped=review.skipped,
        summary_note=note,
        can_still_change=not survey.lock_after_submit,
        unanswered=review.unanswered,
    )


def _find(framework: Framework, element_id: str) -> tuple[Domain, Element]:
    found = framework.element(element_id)
    if found is None:
        raise KeyError(f"{framework.id} has no element {element_id!r}")
    return found
