"""A partner answers a survey in a 1:1 chat: the whole journey, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from frameworks.loader import load_directory
from frameworks.schema import Framework
from storage.bot_state import SqlStorage
from storage.db import session_factory, transaction
from storage.surveys import close_survey
from storage.tables import Answer, Invitation, Response, Survey
from tests.conftest import Database
from tests.fakes.conversation import HeldStorage, Partner, open_survey_for, text_bot

CATALOGUE = load_directory()
AUDIT = CATALOGUE.frameworks["audit-committee-maturity"]
SELF_TEST = CATALOGUE.frameworks["integrated-care-self-test"]
CHECK_IN = Framework.model_validate(
    {
        "id": "mini-roadmap",
        "title": "Mini roadmap",
        "version": "1.0",
        "source": "test",
        "description": "Three outcomes, one not yet written",
        "scale": CATALOGUE.frameworks["ics-development-roadmap"].scale.model_dump(),
        "domains": [
            {
                "id": "architecture",
                "title": "ICB Architecture",
                "elements": [
                    {
                        "id": "board",
                        "title": "Board appointed",
                        "text": "ICB Board members have been appointed",
                        "milestone": {"label": "By 1 April 2022", "due": "2022-04-01"},
                    },
                    {"id": "inequalities", "title": "Tackling inequalities", "in_development": True},
                    {"id": "website", "title": "Website", "text": "The ICB website is operational"},
                ],
            }
        ],
    }
)


async def _answers(db: Database) -> dict[str, Answer]:
    async with transaction(db.sessions) as session:
        rows = (await session.execute(sa.select(Answer))).scalars().all()
    return {row.element_id: row for row in rows}


def _joined(replies: list[str]) -> str:
    return "\n".join(replies)


async def test_partner_completes_a_maturity_matrix_by_typing(database: Database, now: datetime) -> None:
    await open_survey_for(database.sessions, AUDIT, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))

    offer = _joined(await partner.says("hello"))
    assert "Audit committee maturity matrix" in offer
    first = _joined(await partner.says("resume"))
    assert "Key elements · 1 of 5" in first
    assert "Mergers, acquisitions and disposals" in first
    assert "AC has sought and adopted guidance" in first  # every descriptor is shown
    second = _joined(await partner.says("3"))
    assert "Saved “Mergers, acquisitions and disposals (MAD)”: Early progress." in second
    assert "2 of 5" in second
    await partner.says("Maturity because we tested supply disruption in June")
    await partner.says("results")
    await partner.says("exemplar beyond")
    last = _joined(await partner.says("2"))
    assert "last question" in last
    done = _joined(await partner.says("submit"))
    assert "Thank" in done or "thank" in done

    answers = await _answers(database)
    assert {k: (a.value, a.score) for k, a in answers.items()} == {
        "mergers-acquisitions-and-disposals": ("early-progress", 3),
        "continuity-of-supply": ("maturity", 5),
        "novel-contracts-assurance": ("results", 4),
        "integrated-care-systems": ("exemplar-beyond-the-organisation", 7),
        "resilience-to-cyber-threats": ("basic", 2),
    }
    assert answers["continuity-of-supply"].comment == "we tested supply disruption in June"
    async with transaction(database.sessions) as session:
        response = (await session.execute(sa.select(Response))).scalar_one()
        invitation = (await session.execute(sa.select(Invitation))).scalar_one()
    assert response.submitted_at == now
    assert invitation.completed_at == now


async def test_partner_completes_a_minus_five_to_plus_five_self_test(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, SELF_TEST, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    first = _joined(await partner.says("resume"))
    assert "1 of 10" in first
    assert "collaborative leadership" in first
    replies = ["+2", "-5 comment: no engine room yet", "0", "5", "−3", "+1 because", "-1", "4", "3", "-2"]
    for reply in replies[:-1]:
        await partner.says(reply)
    last = _joined(await partner.says(replies[-1]))
    assert "last question" in last
    assert "10 answered" in last or "10 of 10" in last
    assert "Thank" in _joined(await partner.says("submit"))
    answers = await _answers(database)
    assert sorted(a.score for a in answers.values()) == sorted([2, -5, 0, 5, -3, 1, -1, 4, 3, -2])
    assert [a.comment for a in answers.values() if a.score == -5] == ["no engine room yet"]
    assert all(a.comment is None for a in answers.values() if a.score != -5)


async def test_partner_checks_in_on_delivery_and_comments_on_an_unwritten_outcome(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, CHECK_IN, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    first = _joined(await partner.says("resume"))
    assert "ICB Board members have been appointed" in first
    assert "By 1 April 2022" in first
    unwritten = _joined(await partner.says("at risk because two NED posts are vacant"))
    assert "Tackling inequalities" in unwritten
    refused = _joined(await partner.says("on track"))
    assert "not scored" in refused or "comment" in refused
    await partner.says("comment: our own plan is drafted")
    await partner.says("delivered")
    assert "Thank" in _joined(await partner.says("submit"))
    answers = await _answers(database)
    assert answers["board"].value == "at-risk"
    assert answers["board"].score is None
    assert answers["board"].comment == "two NED posts are vacant"
    assert (answers["inequalities"].value, answers["inequalities"].comment) == (
        None,
        "our own plan is drafted",
    )
    assert answers["website"].value == "delivered"


async def test_skip_back_and_change_an_answer(database: Database, now: datetime) -> None:
    await open_survey_for(database.sessions, AUDIT, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    await partner.says("2")
    skipped = _joined(await partner.says("skip"))
    assert "Skipped" in skipped
    back = _joined(await partner.says("back"))
    assert "2 of 5" in back
    assert "skipped this one" in back
    await partner.says("4")
    again = _joined(await partner.says("back"))
    assert "Your answer was Results" in again
    await partner.says("5")
    changed = _joined(await partner.says("change 1"))
    assert "1 of 5" in changed
    await partner.says("6")
    answers = await _answers(database)
    assert answers["mergers-acquisitions-and-disposals"].value == "exemplar"
    assert answers["continuity-of-supply"].value == "maturity"
    assert not answers["continuity-of-supply"].skipped
    assert len(answers) == 2


async def test_wrong_input_gets_a_specific_hint_and_the_same_question(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, SELF_TEST, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    out_of_range = await partner.says("9")
    assert out_of_range == [
        "+9 is not on this scale: reply with a whole number from -5 (Not at all) to +5 (Fully) "
        "— or skip, stop, help."
    ]  # one line (issue 17 item 5): the question it answers is the one still in view
    gibberish = await partner.says("quite good really")
    assert len(gibberish) == 1
    assert gibberish[0].startswith("I didn't recognise “quite good really”: reply with")
    assert await _answers(database) == {}
    assert "Saved “Collaborative leadership”: +2." in _joined(await partner.says("+2"))


async def test_partner_resumes_survey_after_restart(database: Database, now: datetime) -> None:
    await open_survey_for(database.sessions, AUDIT, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    await partner.says("2")
    await partner.says("3")

    engine = database.new_engine()  # a new process: nothing in memory survives
    try:
        later = now + timedelta(days=3)
        restarted = Partner.chatting_with(text_bot(session_factory(engine), lambda: later))
        carry_on = _joined(await restarted.says("good morning"))
        assert "3 of 5" in carry_on  # the dialog is still running: the same question again, with a hint
        await restarted.says("4")
        stopped = _joined(await restarted.says("stop"))
        assert "3 of 5 answered" in stopped
        resumed = _joined(await restarted.says("resume"))
        assert "4 of 5" in resumed
        assert "Welcome back" in resumed
    finally:
        await engine.dispose()
    assert len(await _answers(database)) == 3


async def test_an_earlier_card_edits_that_answer_and_says_so(database: Database, now: datetime) -> None:
    survey = await open_survey_for(database.sessions, AUDIT, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    await partner.says("2")
    await partner.says("3")
    stale = {
        "action": "answer",
        "survey_id": survey.id,
        "element_id": "mergers-acquisitions-and-disposals",
        "value": "results",
    }
    replies = _joined(await partner.clicks(stale))
    assert "Updated “Mergers, acquisitions and disposals (MAD)” to Results" in replies
    assert "still on question 3" in replies
    again = await partner.clicks(stale)  # a double click on that old card
    assert again == []
    answers = await _answers(database)
    assert answers["mergers-acquisitions-and-disposals"].value == "results"
    assert len(answers) == 2


async def test_the_current_card_answers_the_question(database: Database, now: datetime) -> None:
    survey = await open_survey_for(database.sessions, AUDIT, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    card = {
        "action": "answer",
        "survey_id": survey.id,
        "element_id": "mergers-acquisitions-and-disposals",
        "value": "maturity",
        "comment": "  Board paper, March  ",
    }
    replies = _joined(await partner.clicks(card))
    assert "2 of 5" in replies
    answer = (await _answers(database))["mergers-acquisitions-and-disposals"]
    assert (answer.value, answer.comment) == ("maturity", "Board paper, March")


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "answer"},
        {"action": "launch-missiles", "survey_id": 1},
        {"action": "answer", "survey_id": "one"},
        {
            "action": "answer",
            "survey_id": 1,
            "element_id": "mergers-acquisitions-and-disposals",
            "value": "x" * 500,
        },
        ["not", "an", "object"],
    ],
)
async def test_malformed_card_payloads_get_a_clear_message(
    database: Database, now: datetime, payload
) -> None:
    await open_survey_for(database.sessions, AUDIT, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    replies = _joined(await partner.clicks(payload))
    assert "couldn't read that card" in replies or "did not come through" in replies
    assert await _answers(database) == {}


async def test_a_card_value_outside_the_scale_is_refused(database: Database, now: datetime) -> None:
    survey = await open_survey_for(database.sessions, SELF_TEST, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    element = SELF_TEST.scored_elements[0][1].id
    replies = _joined(
        await partner.clicks(
            {"action": "answer", "survey_id": survey.id, "element_id": element, "value": "+9"}
        )
    )
    assert "outside the scale" in replies
    assert await _answers(database) == {}


async def test_a_redelivered_message_is_answered_once(database: Database, now: datetime) -> None:
    await open_survey_for(database.sessions, AUDIT, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    first = await partner.says("2", activity_id="teams-42")
    retry = await partner.says("2", activity_id="teams-42")
    assert len(first) == 1
    assert retry == []
    assert len(await _answers(database)) == 1
    assert "2 of 5" in _joined(await partner.says("help"))  # still on question 2, not 3


class _FlakyStorage(SqlStorage):
    """The database connection drops once, while the turn saves its state."""

    failed = False

    async def write(self, changes: Any) -> None:
        if not self.failed:
            self.failed = True
            raise ConnectionResetError("connection to the database was lost")
        await super().write(changes)


async def test_a_turn_that_fails_half_way_keeps_nothing_and_teams_retry_is_answered(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, AUDIT, now)
    storage = _FlakyStorage(database.sessions)
    storage.failed = True
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now, storage=storage))
    await partner.says("resume")
    storage.failed = False
    with pytest.raises(ConnectionResetError):
        await partner.says("2", activity_id="teams-43")
    assert partner.replies() == []  # no reply promised an answer the database does not hold
    assert await _answers(database) == {}  # the answer was rolled back with the rest of the turn
    retry = _joined(await partner.says("2", activity_id="teams-43"))
    assert "2 of 5" in retry
    assert len(await _answers(database)) == 1


async def test_answers_after_closing_are_refused_and_earlier_ones_kept(
    database: Database, now: datetime
) -> None:
    survey = await open_survey_for(database.sessions, AUDIT, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    await partner.says("2")
    async with transaction(database.sessions) as session:
        await close_survey(session, await session.get(Survey, survey.id), now=now)
    closed = _joined(await partner.says("3"))
    assert "is closed" in closed
    assert "kept" in closed
    assert len(await _answers(database)) == 1
    assert "not part of an open survey" in _joined(await partner.says("resume"))


async def test_a_person_outside_any_survey_gets_a_friendly_explanation(
    database: Database, now: datetime
) -> None:
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now), user_id="29:stranger")
    replies = _joined(await partner.says("hi"))
    assert "not part of an open survey" in replies
    assert "help" in replies


async def test_a_lead_can_lock_answers_once_submitted(database: Database, now: datetime) -> None:
    survey = await open_survey_for(database.sessions, CHECK_IN, now, lock_after_submit=True)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    for reply in ("delivered", "skip", "on track", "submit"):
        await partner.says(reply)
    refused = _joined(
        await partner.clicks(
            {"action": "answer", "survey_id": survey.id, "element_id": "board", "value": "at-risk"}
        )
    )
    assert "submitted" in refused
    assert (await _answers(database))["board"].value == "delivered"


async def test_two_instances_racing_on_one_conversation_keep_one_answer(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, AUDIT, now)
    here = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await here.says("resume")
    engine = database.new_engine()
    try:
        there = Partner.chatting_with(text_bot(session_factory(engine), lambda: now))
        first, second = await asyncio.gather(here.says("2"), there.says("3"))
        answers = await _answers(database)
        if "two replies at the same moment" in _joined(first + second):
            # They overlapped: the loser was told, and its answer to the same question did not add a row.
            assert list(answers) == ["mergers-acquisitions-and-disposals"]
        else:
            # One ran after the other: each answered its own question.
            assert sorted(a.value for a in answers.values()) == ["basic", "early-progress"]
        # Whatever happened, the conversation carries on from the state the database holds.
        assert f"{len(answers) + 1} of 5" in _joined(await here.says("help"))
    finally:
        await engine.dispose()


async def test_two_instances_answering_at_once_keep_one_answer_and_tell_the_partner(
    database: Database, now: datetime
) -> None:
    """A double click reaching two instances. PostgreSQL lets both turns run: the one saving second
    loses on the state's e-tag, is rolled back whole and says so. SQLite serialises whole turns (one
    writer at a time), so the second simply answers the next question."""
    await open_survey_for(database.sessions, AUDIT, now)
    fast = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await fast.says("resume")
    slow_engine = database.new_engine()
    try:
        held = HeldStorage(session_factory(slow_engine))
        slow = Partner.chatting_with(text_bot(session_factory(slow_engine), lambda: now, storage=held))
        await slow.says("resume")  # both instances have met the partner: neither rewrites their details
        held.armed = True
        slow_turn = asyncio.create_task(slow.says("2"))  # reads the state at question 1, then stalls
        await held.read_done.wait()
        if database.kind == "postgresql":
            await fast.says("3")  # answers question 1 on the other instance and commits first
            held.release.set()
            replies = _joined(await slow_turn)
            assert "two replies at the same moment" in replies
            assert "2 of 5" in replies  # shown the state that won
            answers = await _answers(database)
            assert {key: a.score for key, a in answers.items()} == {"mergers-acquisitions-and-disposals": 3}
        else:
            fast_turn = asyncio.create_task(fast.says("3"))  # waits for the slow turn's write lock
            held.release.set()
            assert "two replies" not in _joined(await slow_turn)
            assert "3 of 5" in _joined(await fast_turn)  # the second reply answered question 2
            answers = await _answers(database)
            assert sorted(a.score for a in answers.values()) == [2, 3]
            assert answers["mergers-acquisitions-and-disposals"].score == 2
    finally:
        await slow_engine.dispose()


async def test_a_card_clicked_after_pausing_saves_the_answer_and_carries_on(
    database: Database, now: datetime
) -> None:
    survey = await open_survey_for(database.sessions, AUDIT, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    await partner.says("stop")
    click = {
        "action": "answer",
        "survey_id": survey.id,
        "element_id": "mergers-acquisitions-and-disposals",
        "value": "basic",
    }
    replies = _joined(await partner.clicks(click))
    assert "Saved “Mergers, acquisitions and disposals (MAD)”: Basic." in replies
    assert "2 of 5" in replies
    assert (await _answers(database))["mergers-acquisitions-and-disposals"].value == "basic"


async def test_my_surveys_lists_each_open_survey_and_a_number_opens_it(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, AUDIT, now)
    await open_survey_for(database.sessions, SELF_TEST, now, title="Leeds self-test 2026")
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    listing = _joined(await partner.says("my surveys"))
    assert "1. Audit committee maturity matrix" in listing
    assert "2. Leeds self-test 2026" in listing
    opened = _joined(await partner.says("2"))
    assert "1 of 10" in opened
    await partner.says("+3")
    again = _joined(await partner.says("my surveys"))
    assert "1 of 10" in again or "1 answered" in again


async def test_someone_not_invited_cannot_answer_a_forwarded_card(database: Database, now: datetime) -> None:
    survey = await open_survey_for(database.sessions, AUDIT, now)
    outsider = Partner.chatting_with(text_bot(database.sessions, lambda: now), user_id="29:outsider")
    card = {
        "action": "answer",
        "survey_id": survey.id,
        "element_id": "continuity-of-supply",
        "value": "basic",
    }
    replies = _joined(await outsider.clicks(card))
    assert "sent to other people" in replies
    started = _joined(await outsider.clicks({"action": "start", "survey_id": survey.id}))
    assert "sent to other people" in started
    assert await _answers(database) == {}


async def test_a_comment_typed_before_skip_or_later_is_kept(database: Database, now: datetime) -> None:
    survey = await open_survey_for(database.sessions, AUDIT, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    first, second = "mergers-acquisitions-and-disposals", "continuity-of-supply"
    await partner.clicks(
        {"action": "skip", "survey_id": survey.id, "element_id": first, "comment": "not our remit"}
    )
    paused = _joined(
        await partner.clicks(
            {"action": "pause", "survey_id": survey.id, "element_id": second, "comment": "ask finance"}
        )
    )
    assert "Saved" in paused
    answers = await _answers(database)
    assert (answers[first].skipped, answers[first].comment) == (True, "not our remit")
    assert (answers[second].value, answers[second].skipped, answers[second].comment) == (
        None,
        False,
        "ask finance",
    )
    resumed = _joined(await partner.says("resume"))
    assert "2 of 5" in resumed  # a comment alone does not count as an answer


async def test_saving_without_choosing_a_score_asks_for_one(database: Database, now: datetime) -> None:
    survey = await open_survey_for(database.sessions, SELF_TEST, now)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now))
    await partner.says("resume")
    element = SELF_TEST.scored_elements[0][1].id
    replies = _joined(
        await partner.clicks({"action": "answer", "survey_id": survey.id, "element_id": element})
    )
    assert "Choose one of the options first" in replies
    assert "1 of 10" in replies
    assert await _answers(database) == {}


class _DeadlockVictim(SqlStorage):
    """The real SQL storage, except that its next write is where PostgreSQL picks this turn as the
    victim of a deadlock with another instance's turn (as `INSERT … ON CONFLICT` on one response can)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.armed = False

    async def write(self, changes: dict[str, Any]) -> None:
        if self.armed:
            self.armed = False
            orig = Exception("deadlock detected")
            orig.sqlstate = "40P01"  # type: ignore[attr-defined]
            raise sa.exc.DBAPIError("UPDATE bot_state …", None, orig)
        await super().write(changes)


async def test_a_turn_chosen_as_a_deadlock_victim_is_rolled_back_and_the_partner_told(
    database: Database, now: datetime
) -> None:
    await open_survey_for(database.sessions, AUDIT, now)
    storage = _DeadlockVictim(database.sessions)
    partner = Partner.chatting_with(text_bot(database.sessions, lambda: now, storage=storage))
    await partner.says("resume")
    storage.armed = True
    replies = _joined(await partner.says("2"))
    assert "two replies at the same moment" in replies
    assert "1 of 5" in replies  # shown the state that was kept: the answer went with the turn
    assert await _answers(database) == {}
    assert "2 of 5" in _joined(await partner.says("2"))  # and answering again works
