"""Subject access: everything held about one person, as JSON-ready records."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from frameworks.schema import Framework, LevelsScale, ScoreScale, StatusScale
from storage.privacy.records import (
    ANSWERS,
    INVITATIONS,
    ORGANISATIONS,
    OUTBOX,
    PEOPLE,
    REFERENCES,
    RESPONSES,
    STATE,
    SUBSCRIPTIONS,
    SURVEYS,
    find_person,
    other_tables,
    rows_of,
    same_aad,
    state_keys,
)
from storage.surveys import framework_of
from storage.tables import Person, Survey

_IDENTITY = ("aad_object_id", "teams_user_id", "name", "email")
_WITHHELD = "(withheld: another person)"


class PersonalData(BaseModel):
    """Everything held about one person; datetimes serialise as ISO 8601 in UTC."""

    format: str = "surveybot.personal-data/1"
    exported_at: datetime
    person: dict[str, Any]
    organisation: dict[str, Any] | None
    invitations: list[dict[str, Any]]
    responses: list[dict[str, Any]]
    """Each with the survey's title and its answers, labelled from the survey's framework snapshot."""
    conversation_references: list[dict[str, Any]]
    outbox: list[dict[str, Any]]
    bot_state: list[dict[str, Any]]
    surveys_created: list[dict[str, Any]]
    summary_subscriptions_created: list[dict[str, Any]]
    other_records: dict[str, list[dict[str, Any]]]
    """Rows of any other table that refers to the person (lead grants, once that table exists)."""


async def export_person(session: AsyncSession, user_id: str, *, now: datetime) -> PersonalData | None:
    """Everything held about the person, or None when nobody with that id is held."""
    person = await find_person(session, user_id)
    if person is None:
        return None
    pid = person.id
    organisation = None
    if person.organisation_id is not None:
        organisations = await rows_of(
            session, sa.select(ORGANISATIONS).where(ORGANISATIONS.c.id == person.organisation_id)
        )
        organisation = organisations[0] if organisations else None
    invitations = await rows_of(
        session,
        sa.select(INVITATIONS, SURVEYS.c.title.label("survey_title"))
        .join(SURVEYS, SURVEYS.c.id == INVITATIONS.c.survey_id)
        .where(INVITATIONS.c.person_id == pid)
        .order_by(INVITATIONS.c.id),
    )
    references = await rows_of(
        session, sa.select(REFERENCES).where(REFERENCES.c.person_id == pid).order_by(REFERENCES.c.id)
    )
    keys = await state_keys(session, [person])
    states = await rows_of(
        session,
        sa.select(STATE.c.key, STATE.c.updated_at, STATE.c.data)
        .where(STATE.c.key.in_(keys))
        .order_by(STATE.c.key),
    )
    for state in states:
        state["data"] = json.loads(state["data"])
    created = await rows_of(
        session,
        sa.select(
            SURVEYS.c.id,
            SURVEYS.c.title,
            SURVEYS.c.framework_id,
            SURVEYS.c.state,
            SURVEYS.c.created_at,
            SURVEYS.c.closed_at,
        )
        .where(SURVEYS.c.created_by_id == pid)
        .order_by(SURVEYS.c.id),
    )
    return PersonalData(
        exported_at=now,
        person=(await rows_of(session, sa.select(PEOPLE).where(PEOPLE.c.id == pid)))[0],
        organisation=organisation,
        invitations=invitations,
        responses=await _export_responses(session, pid),
        conversation_references=references,
        outbox=await rows_of(
            session, sa.select(OUTBOX).where(OUTBOX.c.person_id == pid).order_by(OUTBOX.c.id)
        ),
        bot_state=states,
        surveys_created=created,
        summary_subscriptions_created=await rows_of(
            session,
            sa.select(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.created_by_id == pid).order_by(SUBSCRIPTIONS.c.id),
        ),
        other_records=await _other_records(session, person),
    )


async def _export_responses(session: AsyncSession, person_id: int | None) -> list[dict[str, Any]]:
    responses = await rows_of(
        session,
        sa.select(RESPONSES, ORGANISATIONS.c.name.label("organisation_name"))
        .outerjoin(ORGANISATIONS, ORGANISATIONS.c.id == RESPONSES.c.organisation_id)
        .where(RESPONSES.c.person_id == person_id)
        .order_by(RESPONSES.c.id),
    )
    if not responses:
        return []
    surveys = {
        survey.id: survey
        for survey in (
            await session.execute(
                sa.select(Survey).where(col(Survey.id).in_([r["survey_id"] for r in responses]))
            )
        ).scalars()
    }
    answers = await rows_of(
        session,
        sa.select(ANSWERS)
        .where(ANSWERS.c.response_id.in_([r["id"] for r in responses]))
        .order_by(ANSWERS.c.response_id, ANSWERS.c.id),
    )
    for response in responses:
        survey = surveys[response["survey_id"]]
        framework = framework_of(survey)
        response.update(
            survey_title=survey.title,
            framework_id=survey.framework_id,
            framework_version=survey.framework_version,
            answers=[
                _labelled(answer, framework) for answer in answers if answer["response_id"] == response["id"]
            ],
        )
    return responses


def _labelled(answer: dict[str, Any], framework: Framework) -> dict[str, Any]:
    """An answer as its person saw it: the question's title and the label of the value they chose."""
    found = framework.element(answer["element_id"])
    domain_title = element_title = value_label = target_label = None
    if found is not None:
        domain, element = found
        domain_title, element_title = domain.title, element.title
        scale = framework.scale_for(domain)
        value_label = _label(scale, answer["value"])
        target_label = _label(scale, answer.get("target_value"))  # where they wanted to be, if asked
    return {
        **answer,
        "domain_title": domain_title,
        "element_title": element_title,
        "value_label": value_label,
        "target_label": target_label,
    }


def _label(scale: LevelsScale | ScoreScale | StatusScale, value: str | None) -> str | None:
    if value is None:
        return None
    option = (
        scale.level(value)
        if isinstance(scale, LevelsScale)
        else scale.status(value)
        if isinstance(scale, StatusScale)
        else None
    )
    return option.label if option is not None else value


async def _other_records(session: AsyncSession, person: Person) -> dict[str, list[dict[str, Any]]]:
    """Rows naming the person's AAD object id, whole; rows that only refer to them (a lead grant they made)
    with the other person's identity withheld, as a subject access request requires."""
    records: dict[str, list[dict[str, Any]]] = {}
    for table, keys, aad in other_tables():
        about = same_aad(aad, person.aad_object_id) if aad is not None and person.aad_object_id else None
        conditions = [key == person.id for key in keys] + ([about] if about is not None else [])
        if not conditions:
            continue
        query = sa.select(table, (about if about is not None else sa.false()).label("_about_them"))
        rows = await rows_of(session, query.where(sa.or_(*conditions)))
        for row in rows:
            if not row.pop("_about_them"):
                row.update({column: _WITHHELD for column in _IDENTITY if row.get(column) is not None})
        records[table.name] = rows
    return records
