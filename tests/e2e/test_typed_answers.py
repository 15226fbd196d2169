"""What a partner types, and what the bot understands and says back (issue 17, items 2 and 5).

A partner who types before pressing Start, or types a number word, a scale's end label or a RAG
colour, is understood or told precisely why not. Told the same way in the terminal (TestAdapter
with the text renderer) and in Teams (the real app, Teams-shaped JSON, a fake Bot Connector).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft6Validator

from bot.app import create_app
from bot.settings import Settings
from dialogs.intents import AnswerIntent, Unrecognised, parse_reply
from dialogs.survey_views import choices_for
from dialogs.views import Choice
from frameworks.loader import load_directory
from frameworks.schema import Framework
from storage.db import transaction
from storage.tables import Answer
from tests.bot.cards.test_cards import card_schema  # noqa: F401 (a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.e2e.test_teams_contract import Wire
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.conversation import Partner, open_survey_for, text_bot
from tests.fakes.teams_wire import ADAPTIVE_CARD, Member, TeamsShapes

CATALOGUE = load_directory()
PLACE = CATALOGUE.frameworks["place-partnership-maturity"]
AUDIT = CATALOGUE.frameworks["audit-committee-maturity"]
SELF_TEST = CATALOGUE.frameworks["integrated-care-self-test"]
ROADMAP = CATALOGUE.frameworks["ics-development-roadmap"]
AMINA = Member("29:1amina-Zk8fWq", "Amina Khan", "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d")


async def _answers(db: Database) -> dict[str, tuple[str | None, bool]]:
    async with transaction(db.sessions) as session:
        rows = (await session.execute(sa.select(Answer))).scalars().all()
    return {row.element_id: (row.value, row.skipped) for row in rows}


def _joined(replies: list[str]) -> str:
    return "\n".join(replies)


def _first_id(framework: Framework) -> str:
    return framework.iter_elements()[0][1].id


# Typing before pressing Start ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("framework", "typed", "stored", "saved"),
    [
        (PLACE, "2", "developing", "Saved “Vision”: Developing."),
        (PLACE, "1", "emerging", "Saved “Vision”: Emerging."),
        (PLACE, "thr", "thriving", "Saved “Vision”: Thriving."),
        (AUDIT, "2", "basic", "Saved “Mergers, acquisitions and disposals (MAD)”: Basic."),
        (SELF_TEST, "3", "+3", "Saved “Collaborative leadership”: +3."),
    ],
    ids=["level-2", "level-1-not-survey-1", "level-prefix", "audit-scale-starts-at-2", "score"],
)
async def test_invited_partner_who_types_an_answer_before_pressing_start_has_it_saved(
    database: Database, now: datetime, framework: Framework, typed: str, stored: str, saved: str
) -> None:
    await open_survey_for(database.sessions, framework, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))

    reply = _joined(await partner.says(typed))

    assert "Welcome back" not in reply
    assert saved in reply
    assert f"2 of {len(framework.iter_elements())}" in reply  # straight on to the second question
    assert await _answers(database) == {_first_id(framework): (stored, False)}


async def test_invited_partner_whose_reply_is_not_an_answer_sees_the_first_question_and_why(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, PLACE, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))

    reply = _joined(await partner.says("banana"))

    assert "Welcome back" not in reply
    assert "I didn't recognise “banana”" in reply
    assert "1 Emerging, 2 Developing, 3 Maturing, 4 Thriving" in reply
    assert "Ambition and vision · 1 of 23" in reply  # they have not seen the question yet: it is shown
    assert await _answers(database) == {}
    assert "Saved “Vision”: Maturing." in _joined(await partner.says("3"))


async def test_partner_with_two_open_surveys_picks_one_by_number_and_is_told_how_otherwise(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, PLACE, now)
    await open_survey_for(database.sessions, AUDIT, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))

    for typed in ("3", "banana"):
        reply = _joined(await partner.says(typed))
        assert "Welcome back" not in reply
        assert "You have 2 open surveys" in reply
        assert "reply 1 or 2 to open one" in reply
        assert "1. Place partnership maturity matrix" in reply
    opened = _joined(await partner.says("2"))
    assert "Audit committee maturity matrix · Key elements · 1 of 5" in opened
    assert await _answers(database) == {}


async def test_welcome_back_only_for_a_partner_who_has_started(database: Database, now: datetime) -> None:
    await open_survey_for(database.sessions, PLACE, now)
    await open_survey_for(database.sessions, AUDIT, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    assert "Welcome back" not in _joined(await partner.says("hello"))

    await partner.says("2")  # opens the audit survey
    await partner.says("3")
    await partner.says("stop")

    assert "Welcome back!" in _joined(await partner.says("hello"))


async def test_started_partner_with_one_survey_who_types_an_answer_carries_on_where_they_stopped(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, PLACE, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("2")
    await partner.says("stop")

    reply = _joined(await partner.says("4"))

    assert "Saved “Health and Care Needs Assessment”: Thriving." in reply
    assert "3 of 23" in reply
    answers = await _answers(database)
    assert answers["health-and-care-needs-assessment"] == ("thriving", False)


# What the bot understands ---------------------------------------------------------------------------


def _choices(framework: Framework) -> list[Choice]:
    domain, element = framework.iter_elements()[0]
    return choices_for(framework.scale_for(domain), element)


def _scale_ends(framework: Framework) -> dict[str, str | None]:
    scale = framework.scale
    return {"min_label": getattr(scale, "min_label", None), "max_label": getattr(scale, "max_label", None)}


@pytest.mark.parametrize(
    ("framework", "typed", "value"),
    [
        (PLACE, "3.", "maturing"),
        (PLACE, "three", "maturing"),
        (PLACE, "Three!", "maturing"),
        (PLACE, "+ 3", "maturing"),
        (PLACE, "4)", "thriving"),
        (AUDIT, "seven", "exemplar-beyond-the-organisation"),
        (SELF_TEST, "+ 3", "+3"),
        (SELF_TEST, "- 2", "-2"),
        (SELF_TEST, "minus two", "-2"),
        (SELF_TEST, "plus five", "+5"),
        (SELF_TEST, "zero", "0"),
        (SELF_TEST, "fully", "+5"),
        (SELF_TEST, "Not at all", "-5"),
        (SELF_TEST, "not at all.", "-5"),
        (ROADMAP, "green", "on-track"),
        (ROADMAP, "Amber", "at-risk"),
        (ROADMAP, "blue", "delivered"),
        (ROADMAP, "on track.", "on-track"),
    ],
)
def test_a_partner_is_understood_in_their_own_words(framework: Framework, typed: str, value: str) -> None:
    intent = parse_reply(typed, _choices(framework), **_scale_ends(framework))
    assert intent == AnswerIntent(value)


@pytest.mark.parametrize(
    ("framework", "typed", "hint"),
    [
        (PLACE, "7", "7 is not on this scale: reply with 1 Emerging, 2 Developing, 3 Maturing, 4 Thriving"),
        (PLACE, "seven", "seven is not on this scale: reply with 1 Emerging"),
        (SELF_TEST, "six", "six is not on this scale: reply with a whole number from -5 (Not at all)"),
        (
            ROADMAP,
            "red",
            "No status here is red: reply with Delivered, On track, At risk, Not started, Out of scope",
        ),
        (ROADMAP, "grey", "Grey could be Not started or Out of scope: which one?"),
        (ROADMAP, "2", "Statuses have no numbers: reply with Delivered, On track"),
    ],
)
def test_a_reply_that_does_not_fit_says_why_and_what_does(
    framework: Framework, typed: str, hint: str
) -> None:
    intent = parse_reply(typed, _choices(framework), **_scale_ends(framework))
    assert isinstance(intent, Unrecognised)
    assert hint in intent.hint


async def test_out_of_range_and_unrecognised_replies_each_get_one_line(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, PLACE, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")

    out_of_range = await partner.says("7")
    unrecognised = await partner.says("banana")

    assert out_of_range == [
        "7 is not on this scale: reply with 1 Emerging, 2 Developing, 3 Maturing, 4 Thriving "
        "— or skip, stop, help."
    ]
    assert unrecognised == [
        "I didn't recognise “banana”: reply with 1 Emerging, 2 Developing, 3 Maturing, 4 Thriving "
        "— or skip, stop, help."
    ]
    assert await _answers(database) == {}


async def test_partner_asked_back_which_grey_status_they_meant(database: Database, now: datetime) -> None:
    await open_survey_for(database.sessions, ROADMAP, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")

    asked = _joined(await partner.says("grey"))
    assert "Grey could be Not started or Out of scope: which one?" in asked
    saved = _joined(await partner.says("green because the board met in April"))

    assert "Saved “ICB Board members appointed”: On track (with your comment)." in saved
    assert await _answers(database) == {"icb-people-board-members-appointed": ("on-track", False)}


# What the bot says ----------------------------------------------------------------------------------


async def test_a_title_with_its_own_quotes_is_not_quoted_inside_quotes(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, ROADMAP, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    await partner.says("delivered")
    await partner.says("on track")

    saved = _joined(await partner.says("amber"))

    assert "Saved “OD plan for a ‘one team’ mindset agreed”: At risk." in saved


async def test_an_unscored_question_says_it_is_not_scored_once(database: Database, now: datetime) -> None:
    await open_survey_for(database.sessions, PLACE, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")

    question = _joined(await partner.says("change 9"))  # Enabler – Digital is still being written

    assert "In development" in question
    assert question.count("isn't scored") == 1


async def test_stop_and_my_surveys_count_the_same_way(database: Database, now: datetime) -> None:
    await open_survey_for(database.sessions, PLACE, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    for typed in ("2", "3", "skip", "1", "comment: we have not met yet"):
        await partner.says(typed)

    stopped = _joined(await partner.says("stop"))
    listed = _joined(await partner.says("my surveys"))

    # Three answered (one skipped), of the 21 scored questions: a comment alone answers nothing.
    assert "3 of 21 answered (1 skipped)" in stopped
    assert "3 of 21 answered" in listed


# In Teams -----------------------------------------------------------------------------------------------


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


def _client(database: Database) -> TestClient:
    app = create_app(
        Settings(database_url=database.url, _env_file=None),
        clock=lambda: FIXED_NOW,
        engine_options=database.engine_kwargs,
    )
    return TestClient(TestServer(app, host="127.0.0.1"))


async def test_in_teams_a_level_typed_before_pressing_start_is_saved_and_the_next_card_follows(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    await open_survey_for(database.sessions, PLACE, FIXED_NOW, user_ids=(AMINA.id,))
    teams = TeamsShapes(connector.url)
    async with _client(database) as client:
        wire = Wire(client, connector, card_schema)
        await wire.post(teams.personal_message(AMINA, "2"))

    assert "Welcome back" not in str(connector.sent)
    cards = [
        attachment["content"]
        for activity in connector.sent
        for attachment in activity.get("attachments") or []
        if attachment["contentType"] == ADAPTIVE_CARD
    ]
    assert len(cards) == 1
    assert "Saved “Vision”: Developing." in str(cards[0])  # the note above the next question
    assert "Health and Care Needs Assessment" in str(cards[0])
    assert wire.cards_seen == 1
    assert await _answers(database) == {"vision": ("developing", False)}


async def test_in_teams_a_grey_status_is_asked_back_in_one_line(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    await open_survey_for(database.sessions, ROADMAP, FIXED_NOW, user_ids=(AMINA.id,))
    teams = TeamsShapes(connector.url)
    async with _client(database) as client:
        wire = Wire(client, connector, card_schema)
        await wire.post(teams.personal_message(AMINA, "resume"))
        before = len(connector.sent)
        await wire.post(teams.personal_message(AMINA, "grey"))
        asked = connector.sent[before:]
        await wire.post(teams.personal_message(AMINA, "red"))
        refused = connector.sent[before + len(asked) :]

    assert [a.get("attachments") for a in asked + refused] == [None, None]  # one line each, no card again
    assert "Grey could be Not started or Out of scope: which one?" in asked[0]["text"]
    assert "No status here is red" in refused[0]["text"]
    assert await _answers(database) == {}
