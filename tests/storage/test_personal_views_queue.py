"""Who gets their own view when a round closes, as queued in the closing transaction (both databases)."""

from __future__ import annotations

import sqlalchemy as sa

from storage.answers import record_answer
from storage.db import transaction
from storage.people import upsert_person
from storage.personal_views import queue_personal_views
from storage.surveys import close_survey, create_survey
from storage.tables import OutboxKind, OutboxMessage, SurveyKind
from tests.conftest import FIXED_NOW, Database
from tests.storage.test_summary_aggregation import MATRIX


async def _closed_round(database: Database, kind: SurveyKind) -> int:
    async with transaction(database.sessions) as session:
        survey = await create_survey(session, MATRIX, now=FIXED_NOW, tenant_id="t1")
        survey.kind = kind
        for name, value in (("a", "emerging"), ("b", "maturing"), ("c", "thriving"), ("d", None)):
            person = await upsert_person(session, teams_user_id=f"29:{name}", now=FIXED_NOW, tenant_id="t1")
            await record_answer(session, survey, person, "vision", value, now=FIXED_NOW)
        await close_survey(session, survey, now=FIXED_NOW)
        queued = await queue_personal_views(session, survey, now=FIXED_NOW, k=3)
        again = await queue_personal_views(session, survey, now=FIXED_NOW, k=3)
        rows = (
            await session.execute(
                sa.select(sa.func.count()).where(OutboxMessage.kind == OutboxKind.PERSONAL_VIEW)
            )
        ).scalar_one()
    assert again == 0  # the same close queues nothing twice
    assert rows == queued
    return queued


async def test_a_closing_round_queues_one_view_per_person_who_answered_not_the_one_who_skipped(
    database: Database,
) -> None:
    assert await _closed_round(database, SurveyKind.ROUND) == 3


async def test_a_closing_consensus_round_queues_none_its_results_are_the_leads_to_share(
    database: Database,
) -> None:
    assert await _closed_round(database, SurveyKind.CONSENSUS) == 0
