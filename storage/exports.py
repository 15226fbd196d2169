"""Every answer of one survey, one row each, for a lead's CSV or Excel export.

Identified exports name the person. Anonymised exports name nobody and keep k-anonymity on the one column that
groups people: an organisation is left blank unless at least `SummaryRules.k` of its people answered (not only
skips: `frameworks.summary.is_answer`), and the blanked ones together need k as well, else the
smallest named one is blanked too (as summaries do, so a blank cannot be worked out as the one missing
organisation). They also give dates instead of times, and list rows by element and answer, never person by
person, so neither timing nor order links one person's answers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from frameworks.schema import Framework, LevelsScale, StatusScale
from frameworks.summary import UNASSIGNED, SummaryRules, SurveySummary, is_answer
from storage.actions import plan_rows
from storage.summaries import survey_summary
from storage.surveys import SnapshotCache
from storage.tables import Answer, Organisation, Person, Response, table_of

_answers = table_of(Answer)
_responses = table_of(Response)
_people = table_of(Person)
_organisations = table_of(Organisation)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExportRow(_Model):
    domain: str
    element_id: str
    element: str
    workstream: str | None = None
    answer: str | None = None
    """The level or status label, or the score as written ('+2'); None when skipped or only commented."""
    value: int | None = None
    """The level's value or the score; None for statuses, skips and comments."""
    skipped: bool = False
    target: str | None = None
    """Where they want to be (a survey asked with a target): the level label or the score as written."""
    target_value: int | None = None
    gap: int | None = None
    """The target's value minus the answer's (levels or points); None unless both are given."""
    comment: str | None = None
    organisation: str | None = None
    """None in an anonymised export where the organisation is too small to name."""
    person: str | None = None
    """Only in identified exports."""
    started: datetime | date
    answered: datetime | date
    updated: datetime | date
    submitted: datetime | date | None = None


class AnswerExport(_Model):
    survey_id: int
    title: str
    framework_id: str
    framework_title: str
    framework_version: str
    anonymised: bool
    k: int
    hidden_organisations: int = 0
    """Anonymised: how many organisations (with Unassigned) were left blank."""
    target_months: int | None = None
    """The survey also asked where partners want to be in this many months: the rows carry targets."""
    rows: list[ExportRow]
    plan: list[tuple[str, ...]] = []
    """The survey's action plan in the seed tracker's columns (storage.actions.PLAN_COLUMNS)."""


async def export_rows(
    session: AsyncSession,
    survey_id: int,
    *,
    anonymise: bool,
    rules: SummaryRules | None = None,
    cache: SnapshotCache | None = None,
) -> AnswerExport:
    """Every answer row of the survey, labelled from its framework snapshot (see the module docstring)."""
    rules = rules or SummaryRules()
    cache = cache or SnapshotCache()
    survey, framework = await cache.survey(session, survey_id)
    a, r, p, o = _answers, _responses, _people, _organisations
    query = (
        sa.select(
            r.c.id,
            r.c.organisation_id,
            o.c.name,
            p.c.name,
            r.c.started_at,
            r.c.submitted_at,
            a.c.element_id,
            a.c.value,
            a.c.score,
            a.c.skipped,
            a.c.comment,
            a.c.answered_at,
            a.c.updated_at,
            a.c.target_value,
            a.c.target_score,
        )
        .select_from(
            a.join(r, r.c.id == a.c.response_id)
            .join(p, p.c.id == r.c.person_id)
            .outerjoin(o, o.c.id == r.c.organisation_id)
        )
        .where(r.c.survey_id == survey_id)
    )
    found = (await session.execute(query)).all()
    names = {row[1]: row[2] or f"Organisation {row[1]}" for row in found if row[1] is not None}
    shown = _named_organisations(found, rules.k) if anonymise else {row[1] for row in found}
    labels = _Labels(framework)
    last = len(labels.position)
    rows = [_row(labels, record, names, shown, anonymise) for record in found]
    if anonymise:
        rows.sort(key=lambda row: (labels.position.get(row.element_id, last), *_anonymous_order(row)))
    else:
        rows.sort(
            key=lambda row: (
                labels.position.get(row.element_id, last),
                row.organisation or "",
                row.person or "",
                row.answered,
            )
        )
    organisations = {row[1] for row in found}
    return AnswerExport(
        survey_id=survey_id,
        title=survey.title,
        framework_id=framework.id,
        framework_title=framework.title,
        framework_version=framework.version,
        anonymised=anonymise,
        k=rules.k,
        hidden_organisations=len(organisations - shown) if anonymise else 0,
        rows=rows,
        target_months=survey.target_months,
    )


async def export_data(
    session: AsyncSession,
    *,
    survey_id: int,
    with_summary: bool,
    anonymise: bool,
    rules: SummaryRules,
    now: datetime,
    cache: SnapshotCache | None = None,
) -> tuple[AnswerExport, SurveySummary | None]:
    """What an export file is written from: the answer rows and, for a workbook (`with_summary`), the
    summary its first sheet mirrors. Raises SurveyNotFound."""
    export = await export_rows(session, survey_id, anonymise=anonymise, rules=rules, cache=cache)
    plan = await plan_rows(session, survey_id=survey_id, anonymise=anonymise)
    export = export.model_copy(update={"plan": plan}) if plan else export
    summary = None
    if with_summary:
        summary = await survey_summary(session, survey_id, rules=rules, now=now, cache=cache)
    return export, summary


def _named_organisations(found: Sequence[sa.Row[*tuple[Any, ...]]], k: int) -> set[int | None]:
    """Organisations (None: Unassigned) where k people or more answered, less any needed to protect the
    rest."""
    people: dict[int | None, set[int]] = defaultdict(set)
    for row in found:
        if is_answer(skipped=bool(row[9])):
            people[row[1]].add(row[0])
        else:
            people.setdefault(row[1], set())
    size = {key: len(ids) for key, ids in people.items()}
    shown = {key for key, n in size.items() if n >= k}
    while True:
        hidden = sum(n for key, n in size.items() if key not in shown)
        if not hidden or hidden >= k or not shown:
            return shown
        shown.discard(min(shown, key=lambda key: (size[key], key is None, key or 0)))


def _anonymous_order(row: ExportRow) -> tuple[Any, ...]:
    return (row.organisation or "", row.value is None, row.value or 0, row.answer or "", row.comment or "")


class _Labels:
    """Domain, element and answer labels from the survey's own framework snapshot."""

    def __init__(self, framework: Framework) -> None:
        self.framework = framework
        self.elements = {element.id: (domain, element) for domain, element in framework.iter_elements()}
        self.position = {element_id: index for index, element_id in enumerate(self.elements)}

    def answer(self, element_id: str, value: str | None) -> str | None:
        located = self.elements.get(element_id)
        if located is None or value is None:
            return value
        scale = self.framework.scale_for(located[0])
        if isinstance(scale, LevelsScale):
            level = scale.level(value)
            return level.label if level else value
        if isinstance(scale, StatusScale):
            status = scale.status(value)
            return status.label if status else value
        return value


def _row(
    labels: _Labels,
    record: sa.Row[*tuple[Any, ...]],
    names: dict[int | None, str],
    shown: set[int | None],
    anonymise: bool,
) -> ExportRow:
    (
        _,
        org_id,
        _,
        person,
        started,
        submitted,
        element_id,
        value,
        score,
        skipped,
        comment,
        answered,
        updated,
        target,
        target_score,
    ) = record
    located = labels.elements.get(element_id)
    if org_id not in shown:
        organisation = None
    else:
        organisation = names.get(org_id, UNASSIGNED) if org_id is not None else UNASSIGNED

    def when(moment: datetime) -> datetime | date:
        return moment.date() if anonymise else moment

    return ExportRow(
        domain=located[0].title if located else "",
        element_id=element_id,
        element=located[1].title if located else element_id,
        workstream=located[1].group if located else None,
        answer=labels.answer(element_id, value),
        value=score,
        skipped=bool(skipped),
        target=labels.answer(element_id, target),
        target_value=target_score,
        gap=target_score - score if target_score is not None and score is not None else None,
        comment=comment,
        organisation=organisation,
        person=None if anonymise else person,
        started=when(started),
        answered=when(answered),
        updated=when(updated),
        submitted=when(submitted) if submitted is not None else None,
    )
