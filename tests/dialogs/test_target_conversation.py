"""In a survey asked with a target, a partner typing in chat (or in the terminal: the same text renderer)
gives where they are and where they want to be; the bot says what it kept, review shows both."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from frameworks.loader import load_directory
from storage.db import transaction
from storage.tables import Answer
from tests.conftest import Database
from tests.dialogs.test_survey_conversation import CHECK_IN
from tests.fakes.conversation import Partner, open_survey_for, text_bot

CATALOGUE = load_directory()
PLACE = CATALOGUE.frameworks["place-partnership-maturity"]
SELF_TEST = CATALOGUE.frameworks["integrated-care-self-test"]


async def _targets(db: Database) -> dict[str, tuple[str | None, str | None, int | None]]:
    async with transaction(db.sessions) as session:
        rows = (await session.execute(sa.select(Answer))).scalars().all()
    return {row.element_id: (row.value, row.target_value, row.target_score) for row in rows}


async def test_partner_types_where_they_are_and_where_they_want_to_be(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, PLACE, now, target_months=12)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    first = "\n".join(await partner.says("resume"))
    assert "then an arrow and where we want to be in 12 months (e.g. 1 → 4; optional)" in first

    saved = "\n".join(await partner.says("2 -> 4 because the plan is signed"))
    assert "Saved “Vision”: Developing (with your comment). In 12 months: Thriving." in saved
    lower = "\n".join(await partner.says("3 → 2"))
    assert "In 12 months: Developing (lower than now, as you chose)." in lower
    none = "\n".join(await partner.says("maturing"))
    assert "No target for 12 months: type it after an arrow (3 → 4) to add one." in none
    refused = "\n".join(await partner.says("2 -> 7"))
    assert "For where you want to be in 12 months: 7 is not on this scale" in refused

    assert await _targets(database) == {
        "vision": ("developing", "thriving", 4),
        "health-and-care-needs-assessment": ("maturing", "developing", 2),
        "clinically-and-professionally-led": ("maturing", None, None),
    }

    await partner.says("change 1")
    kept = "\n".join(await partner.says("3"))  # a new answer alone keeps the target given before
    assert "Saved “Vision”: Maturing (with your comment). In 12 months: Thriving." in kept
    review = "\n".join(await partner.says("review"))
    assert "1. Vision — Maturing → target Thriving 💬" in review
    assert "3. Clinically and professionally led — Maturing" in review
    await partner.says("change 2")
    await partner.says("skip")  # skipping an answered question keeps it, target and all
    assert (await _targets(database))["vision"] == ("maturing", "thriving", 4)
    assert (await _targets(database))["health-and-care-needs-assessment"] == ("maturing", "developing", 2)


async def test_a_score_takes_a_signed_target_and_a_survey_without_targets_refuses_one(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, SELF_TEST, now, target_months=18)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    saved = "\n".join(await partner.says("-2 -> +3"))
    assert "In 18 months: +3." in saved
    assert await _targets(database) == {"collaborative-leadership": ("-2", "+3", 3)}

    other = Partner.chatting_with(text_bot(database.sessions, lambda: now), user_id="29:ben", name="Ben")
    await open_survey_for(database.sessions, PLACE, now, user_ids=("29:ben",))
    await other.says("my surveys")
    await other.says("1")
    refused = "\n".join(await other.says("2 -> 4"))
    assert "This question asks only where you are now: reply with 1 Emerging" in refused


async def test_a_status_has_no_target_even_in_a_target_survey(database: Database, now: datetime) -> None:
    await open_survey_for(database.sessions, CHECK_IN, now, target_months=12)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    first = "\n".join(await partner.says("resume"))
    assert "arrow" not in first
    refused = "\n".join(await partner.says("on track -> delivered"))
    assert "This question asks only where you are now" in refused
    saved = "\n".join(await partner.says("on track"))
    assert "Saved “Board appointed”: On track." in saved
    assert "months" not in saved


async def test_an_earlier_card_pressed_later_updates_now_and_target_together(
    database: Database, now: datetime
) -> None:
    survey = await open_survey_for(database.sessions, PLACE, now, target_months=12)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    await partner.says("2 -> 3")  # on to question 2
    pressed = {
        "action": "answer",
        "survey_id": survey.id,
        "element_id": "vision",
        "value": "maturing",
        "target": "thriving",
        "comment": "",
    }
    updated = "\n".join(await partner.clicks(pressed))
    assert "Updated “Vision” to Maturing (in 12 months: Thriving)." in updated
    assert (await _targets(database))["vision"] == ("maturing", "thriving", 4)
