"""`make chat` with a framework that asks where partners want to be: the trial asks it too, typed after
an arrow, and the terminal shows what was kept, exactly as Teams does."""

from __future__ import annotations

import os
from datetime import datetime

import sqlalchemy as sa

from bot.terminal import Keyboard, run_chat
from frameworks.loader import Catalogue, load_directory
from storage.db import transaction
from storage.tables import Answer, Survey
from tests.conftest import Database
from tests.fakes.conversation import text_bot

PLACE = load_directory().frameworks["place-partnership-maturity"]


async def test_the_trial_of_a_target_framework_takes_now_and_target_typed_with_an_arrow(
    database: Database, now: datetime
) -> None:
    catalogue = Catalogue(frameworks={PLACE.id: PLACE.model_copy(update={"target_months": 18})})
    screen: list[str] = []
    typed, keys = os.pipe()
    try:
        with Keyboard.listening(typed) as keyboard:
            os.write(keys, b"2 -> 4\nreview\n")
            os.close(keys)  # then Ctrl-D: the chat ends once both lines are answered
            keys = -1
            status = await run_chat(
                text_bot(database.sessions, lambda: now, catalogue),
                database.sessions,
                catalogue,
                lambda: now,
                name="Amina",
                framework_id=PLACE.id,
                read=keyboard.read,
                write=screen.append,
                columns=lambda: 200,
            )
    finally:
        os.close(typed)
        if keys != -1:
            os.close(keys)

    shown = "".join(screen)
    assert status == 0
    assert "then an arrow and where we want to be in 18 months (e.g. 1 → 4; optional)" in shown
    assert "Saved “Vision”: Developing. In 18 months: Thriving." in shown
    assert "1. Vision — Developing → target Thriving" in shown
    async with transaction(database.sessions) as session:
        survey = (await session.execute(sa.select(Survey))).scalar_one()
        answers = (await session.execute(sa.select(Answer.value, Answer.target_value))).all()
    assert survey.target_months == 18
    assert [tuple(row) for row in answers] == [("developing", "thriving")]
