"""A lead opens a consensus (Delphi) round in a Teams channel, through the real web app and a fake Bot
Connector, on SQLite and PostgreSQL; partners answer it in their 1:1 chats; the summaries show agreement
before and after.

The channel runs two rounds of place-partnership-maturity for "Anytown place", then a consensus round on
the second. Seven partners p0..p6 answer both rounds; p7 only skips. By hand (levels emerging 0 ..
thriving 3, in steps; k = 3; split: IQR ≥ 2 levels; SCIROCCO: ratings outside the best 3-level band
containing the median, fewer than 4 agreed):

Round 1 (#1): everyone "developing" on vision, enabler-data and culture: agreed.
Round 2 (#2):
    vision        p0-p2 emerging, p3 maturing, p4-p6 thriving = [3, 0, 1, 3]: sorted 0,0,0,2,3,3,3,
                  median step 2 (Maturing), Q1 0, Q3 3, IQR 3: split. Bands 0-2 and 1-3 leave 3 out.
    enabler-data  p0-p1 emerging, p2-p3 developing, p4-p6 thriving = [2, 2, 0, 3]: 0,0,1,1,3,3,3, median
                  Developing, Q1 0.5, Q3 3, IQR 2.5: split. Band 0-2 leaves 3 out, 1-3 leaves 2: 2.
    culture       p0-p2 developing, p3-p6 maturing = [0, 3, 4, 0]: IQR 1, agreed; band 0-2 leaves 0.
The lead types `consensus 2 add culture`: vision and enabler-data (split) and culture (added).
Consensus round (#3):
    vision        p0 developing, p1-p5 maturing, p6 thriving = [0, 1, 5, 1]: IQR 0, agreed: consensus
                  reached. Median Maturing. Bands leave 1 and 0 out: 0. Changed: p0, p1, p2, p4, p5: 5 of 7.
    enabler-data  p0-p2 emerging, p3-p6 thriving = [3, 0, 0, 4]: 0,0,0,3,3,3,3, median Thriving, Q1 0,
                  Q3 3, IQR 3: still split. Only band 1-3 contains the median: 3 out. Changed: p2, p3: 2 of 7.
    culture       p0, p1 developing: 2 answers, below k: nothing shown, no verdict, no stability.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft6Validator

from bot.app import SENDER, create_app
from bot.outbox.weekly import compose_summary, queue_due_summaries
from bot.settings import Settings
from frameworks.loader import load_directory
from frameworks.summary import SummaryRules
from storage.answers import record_answer
from storage.db import transaction
from storage.organisations import ensure_partnership
from storage.people import upsert_person
from storage.surveys import close_survey, create_survey, get_survey
from storage.tables import Answer, Invitation, OutboxKind, OutboxMessage, Person, Response, Survey, SurveyKind
from tests.bot.cards.test_cards import card_schema, schema_errors  # noqa: F401 (card_schema is a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.fakes.connector import FakeConnector, fake_connector

PLACE = load_directory().frameworks["place-partnership-maturity"]
CHANNEL_ID = "19:general@thread.tacv2"
CHANNEL = f"{CHANNEL_ID};messageid=1700000000001"
TEAM = "19:team@thread.tacv2"
LEAD = {"id": "29:lead", "name": "Lee Lead", "aadObjectId": "aad-lead"}
E, D, M, T = "emerging", "developing", "maturing", "thriving"
ROUND_1 = {"vision": [D] * 7, "enabler-data": [D] * 7, "culture": [D] * 7}
ROUND_2 = {
    "vision": [E, E, E, M, T, T, T],
    "enabler-data": [E, E, D, D, T, T, T],
    "culture": [D, D, D, M, M, M, M],
}
CONSENSUS = {
    "vision": [D, M, M, M, M, M, T],
    "enabler-data": [E, E, E, T, T, T, T],
    "culture": [D, D],
}
REASONS = {0: "No shared plan yet", 3: "Agreed at the board", 5: "Only the NHS knows it"}


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


def _partner(index: int) -> dict[str, str]:
    return {"id": f"29:p{index}", "name": f"Partner {index}", "aadObjectId": f"aad-p{index}"}


def _activity(
    connector: FakeConnector,
    text: str,
    sender: dict[str, str],
    *,
    conversation: str = CHANNEL,
    tenant: str = "t1",
    number: list[int] = [0],  # noqa: B006 (a counter shared by every activity of the module)
) -> dict[str, Any]:
    """A message as Teams sends it: in the channel (mentioning the bot) or in a 1:1 chat (`a:…`)."""
    number[0] += 1
    personal = conversation.startswith("a:")
    activity: dict[str, Any] = {
        "id": f"1700000009{number[0]:04d}",
        "type": "message",
        "text": text if personal else f"<at>Survey bot</at> {text}",
        "channelId": "msteams",
        "serviceUrl": connector.url,
        "from": sender,
        "recipient": {"id": "28:surveybot", "name": "Survey bot"},
        "conversation": {
            "id": conversation,
            "conversationType": "personal" if personal else "channel",
            "tenantId": tenant,
        },
        "channelData": {"tenant": {"id": tenant}},
    }
    if not personal:
        activity["channelData"].update(team={"id": TEAM}, channel={"id": conversation.split(";")[0]})
        activity["entities"] = [
            {
                "type": "mention",
                "mentioned": {"id": "28:surveybot", "name": "Survey bot"},
                "text": "<at>Survey bot</at>",
            }
        ]
    return activity


def _press(
    connector: FakeConnector, data: dict[str, Any], sender: dict[str, str], **inputs: Any
) -> dict[str, Any]:
    """A partner's Action.Execute press in their 1:1 chat."""
    activity = _activity(connector, "", sender, conversation=f"a:{sender['id']}")
    action = {"type": "Action.Execute", "verb": "survey", "data": {**data, **inputs}}
    activity.update(type="invoke", name="adaptiveCard/action", value={"action": action, "trigger": "manual"})
    return activity


def _client(database: Database, clock: Callable[[], datetime]) -> TestClient:
    configured = Settings(database_url=database.url, lead_user_ids="aad-lead", _env_file=None)
    app = create_app(configured, clock=clock, engine_options=database.engine_kwargs)
    return TestClient(TestServer(app, host="127.0.0.1"))


async def _post(client: TestClient, activity: dict[str, Any]) -> Any:
    response = await client.post("/api/messages", json=activity)
    assert response.status in (200, 201)
    return await response.json() if response.content_type == "application/json" else None


async def _round(database: Database, answers: dict[str, list[str]], *, title: str, when: datetime) -> int:
    """A closed round of the partnership in the channel, answered by p0.. as `answers` says."""
    async with transaction(database.sessions) as session:
        place = await ensure_partnership(session, "Anytown place", kind="place")
        people = [
            await upsert_person(session, teams_user_id=f"29:p{i}", name=f"Partner {i}", now=when)
            for i in range(8)
        ]
        survey = await create_survey(
            session,
            PLACE,
            now=when,
            title=title,
            partnership_id=place.id,
            conversation_id=CHANNEL,
            tenant_id="t1",
            team_id=TEAM,
        )
        for element_id, values in answers.items():
            for index, value in enumerate(values):
                comment = REASONS.get(index) if element_id == "vision" and title.endswith("2") else None
                await record_answer(
                    session, survey, people[index], element_id, value, now=when, comment=comment
                )
        await record_answer(session, survey, people[7], "vision", None, now=when)  # p7 only skips
        await close_survey(session, survey, now=when + timedelta(days=1))
        return survey.id or 0


async def _two_rounds(database: Database) -> int:
    await _round(database, ROUND_1, title="Anytown round 1", when=FIXED_NOW - timedelta(days=60))
    return await _round(database, ROUND_2, title="Anytown round 2", when=FIXED_NOW - timedelta(days=8))


async def _answer_consensus(database: Database, survey_id: int, when: datetime) -> None:
    async with transaction(database.sessions) as session:
        survey = await get_survey(session, survey_id)
        people = {
            p.teams_user_id: p
            for p in (await session.execute(sa.select(Person))).scalars()
            if p.teams_user_id
        }
        for element_id, values in CONSENSUS.items():
            for index, value in enumerate(values):
                await record_answer(session, survey, people[f"29:p{index}"], element_id, value, now=when)


def _text(card: dict[str, Any]) -> str:
    """Every TextBlock's text of a card, one per line (escaped as the card shows it)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return "\n".join(found)


async def test_lead_opens_a_consensus_round_and_only_those_who_answered_are_invited(
    database: Database, connector: FakeConnector
) -> None:
    parent_id = await _two_rounds(database)
    async with _client(database, lambda: FIXED_NOW) as client:
        await _post(client, _activity(connector, f"consensus {parent_id} add culture", LEAD))
        reply = connector.texts_to(CHANNEL)[-1]
        assert "Consensus round #3 is open: a second look at 3 elements of #2" in reply
        assert "(2 where partners differed and 1 you added)" in reply
        assert "“Vision”, “Enabler – Data”, “Culture”" in reply
        assert "Sending 7 invitations" in reply
        await connector.wait_for_sent(1 + 7 + 1)  # the reply, seven invitations, the lead's report
        for index in range(7):
            (invitation,) = connector.sent_to(f"a:29:p{index}")
            assert "a second look at 3 elements where partners differed" in json.dumps(invitation)
        assert connector.sent_to("a:29:p7") == []  # p7 only skipped: nothing to reconsider

        await _post(client, _activity(connector, "surveys", _partner(1)))
        listed = connector.texts_to(CHANNEL)[-1]
        assert "#3 Anytown round 2: consensus round (place-partnership-maturity, for Anytown place, " in (
            listed
        )
        assert "consensus round on #2): open, no closing date" in listed

        await _post(client, _activity(connector, f"consensus {parent_id}", LEAD))
        assert "Consensus round #3 on #2 is still open: one at a time" in connector.texts_to(CHANNEL)[-1]
        await _post(client, _activity(connector, "consensus 3", LEAD))
        assert "#3 is itself a consensus round" in connector.texts_to(CHANNEL)[-1]
        await _post(client, _activity(connector, "consensus 1 add narative, enabler", LEAD))
        refused = connector.texts_to(CHANNEL)[-1]
        assert "Did you mean: Common Narrative (common-narrative)?" in refused
        assert "Enabler – OD (enabler-od)" in refused
        await _post(client, _activity(connector, "consensus 1", LEAD))
        assert "Partners agree on every element of #1 — nothing to revisit" in connector.texts_to(CHANNEL)[-1]
        await _post(client, _activity(connector, "consensus 2", _partner(1)))
        assert "Only partnership leads" in connector.texts_to(CHANNEL)[-1]

    async with transaction(database.sessions) as session:
        consensus = await get_survey(session, 3)
        invited = (
            await session.execute(sa.select(sa.func.count()).where(Invitation.survey_id == 3))
        ).scalar()
    assert (consensus.kind, consensus.parent_survey_id, consensus.conversation_id) == (
        SurveyKind.CONSENSUS,
        parent_id,
        CHANNEL_ID,
    )
    assert invited == 7


async def test_another_channel_or_tenant_cannot_open_a_consensus_round_on_a_survey(
    database: Database, connector: FakeConnector
) -> None:
    parent_id = await _two_rounds(database)
    async with _client(database, lambda: FIXED_NOW) as client:
        other = "19:other@thread.tacv2;messageid=1"
        await _post(client, _activity(connector, f"consensus {parent_id}", LEAD, conversation=other))
        assert f"There is no survey #{parent_id} here" in connector.texts_to(other)[-1]
        await _post(client, _activity(connector, f"consensus {parent_id}", LEAD, tenant="t2"))
        assert f"There is no survey #{parent_id} here" in connector.texts_to(CHANNEL)[-1]
    async with transaction(database.sessions) as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(Survey))).scalar() == 2


async def test_a_partner_sees_the_first_round_and_their_own_answer_and_confirms_it(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    parent_id = await _two_rounds(database)
    p3 = _partner(3)
    async with _client(database, lambda: FIXED_NOW) as client:
        await _post(client, _activity(connector, f"consensus {parent_id}", LEAD))
        await connector.wait_for_sent(1 + 7 + 1)
        await _post(client, _activity(connector, "resume", p3, conversation="a:29:p3"))
        card = connector.cards()[-1]
        assert schema_errors(card_schema, card) == []
        shown = _text(card)
        assert "**First round (partners differed here)**" in shown
        bars = [line for line in shown.split("\n") if "█" in line or line.startswith("Developing")]
        assert [line.split()[0] for line in bars] == ["Emerging", "Developing", "Maturing", "Thriving"]
        assert bars[0].endswith("████████████ 3")  # the longest bar: 3 of 7
        assert bars[2].endswith("████ 1  ← you")  # p3 said Maturing
        assert bars[1].endswith(" 0")
        # 3 reasons on vision in round 2 (k = 3): shown, sorted, nobody named
        assert "“Agreed at the board”\n“No shared plan yet”\n“Only the NHS knows it”" in shown
        assert "Partner" not in json.dumps(card)
        assert "You said: Maturing" in shown
        assert "◆ Your first-round answer" in shown
        assert "Why? Your reason" in json.dumps(card)

        choose = next(
            action["data"]
            for action in _actions(card)
            if action["data"].get("action") == "answer" and action["data"].get("value") == M
        )
        await _post(client, _press(connector, choose, p3, comment="Still where we are"))
        await _post(client, _activity(connector, "results 3", p3, conversation=CHANNEL))
        hidden = connector.texts_to(CHANNEL)[-1]
        assert "stay hidden until it closes" in hidden  # a partner cannot see the round while it runs

    async with transaction(database.sessions) as session:
        stored = (
            await session.execute(
                sa.select(Answer.value, Answer.comment)
                .join(Response, Response.id == Answer.response_id)
                .where(Response.survey_id == 3, Answer.element_id == "vision")
            )
        ).one()
    assert tuple(stored) == (M, "Still where we are")


def _actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "Action.Execute":
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


async def test_two_rounds_and_a_consensus_round_show_agreement_before_and_after(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    """The figures of the module docstring, in `results` and the weekly post of the channel."""
    parent_id = await _two_rounds(database)
    today = [FIXED_NOW]
    async with _client(database, lambda: today[0]) as client:
        await _post(client, _activity(connector, f"consensus {parent_id} add culture", LEAD))
        await connector.wait_for_sent(1 + 7 + 1)
        await _answer_consensus(database, 3, FIXED_NOW + timedelta(hours=1))
        today[0] = FIXED_NOW + timedelta(hours=2)

        # While it runs: hidden in the channel, even from the lead; the round says only that it runs.
        await _post(client, _activity(connector, "results 3", LEAD))
        assert "stay hidden until it closes" in connector.texts_to(CHANNEL)[-1]
        await _post(client, _activity(connector, 'results partnership "Anytown place"', LEAD))
        running = _text(connector.cards()[-1])
        assert "A second look at 3 elements of “Anytown round 2” is under way" in running
        assert "consensus reached" not in running
        await _post(client, _activity(connector, "results 3", LEAD, conversation="a:29:lead"))
        assert "consensus reached" in _text(connector.cards()[-1])  # the lead, privately

        await _post(
            client, _activity(connector, 'subscribe weekly Monday 09:00 partnership "Anytown place"', LEAD)
        )
        today[0] = FIXED_NOW + timedelta(hours=3)
        await _post(client, _activity(connector, "close 3", LEAD))
        assert "share results #3" in connector.texts_to(CHANNEL)[-1]
        # Closed, its results wait for the lead: the round says so, without figures.
        await _post(client, _activity(connector, 'results partnership "Anytown place"', LEAD))
        waiting = _text(connector.cards()[-1])
        assert "A second look at 3 elements of “Anytown round 2” has closed; the lead has not shared" in (
            waiting
        )
        assert "consensus reached" not in waiting
        await _post(client, _activity(connector, "share results 3", LEAD))
        await _post(client, _activity(connector, 'results partnership "Anytown place"', LEAD))
        card = connector.cards()[-1]
        assert schema_errors(card_schema, card) == []
        shown = _text(card)
        assert "Anytown round 2" in shown
        assert "Anytown round 1" in json.dumps(card)  # compared with round 1, not the consensus round
        assert "Consensus round #3: agreement before and after" in shown
        lines = shown.replace("\n\n", "\n").split("\n")
        vision = next(line for line in lines if line.startswith("• Vision"))
        assert vision == (
            "• Vision: split → agreed, **consensus reached** · median Maturing → Maturing · "
            "SCIROCCO: 3 → 0 outside the band · 5 of 7 changed their rating"
        )
        data = next(line for line in lines if line.startswith("• Enabler"))
        assert data == (
            "• Enabler – Data: split → split, **still split** · median Developing → Thriving · "
            "SCIROCCO: 2 → 3 outside the band · 2 of 7 changed their rating"
        )
        culture = next(line for line in lines if line.startswith("• Culture"))
        assert culture == (
            "• Culture (added by the lead): agreed → not shown, **too few answers to tell** · "
            "median Maturing → – · SCIROCCO: 0 → – outside the band"
        )
        assert "**Still split after the consensus round**: Enabler – Data." in shown

        next_monday = FIXED_NOW + timedelta(days=7)
        async with transaction(database.sessions) as session:
            assert await queue_due_summaries(session, now=next_monday) == 1
        before = len(connector.sent)
        today[0] = next_monday
        await client.app[SENDER].drain_once()
        await connector.wait_for_sent(before + 1)
        posted = _text(connector.sent_to(CHANNEL_ID)[-1]["attachments"][0]["content"])
        assert "**Still split after the consensus round**: Enabler – Data." in posted


async def test_a_weekly_post_of_a_consensus_round_still_open_says_only_that_it_runs(
    database: Database, connector: FakeConnector
) -> None:
    parent_id = await _two_rounds(database)
    async with _client(database, lambda: FIXED_NOW) as client:
        await _post(client, _activity(connector, f"consensus {parent_id} add culture", LEAD))
        await connector.wait_for_sent(1 + 7 + 1)
    await _answer_consensus(database, 3, FIXED_NOW + timedelta(hours=1))
    post = OutboxMessage(
        dedupe_key="summary:test", kind=OutboxKind.SUMMARY, survey_id=3, next_attempt_at=FIXED_NOW
    )

    async with transaction(database.sessions) as session:
        message = await compose_summary(
            session, post, rules=SummaryRules(), now=FIXED_NOW + timedelta(days=1)
        )

    assert message is not None
    (card,) = message.cards
    shown = _text(card)
    assert "The results of consensus round #3 stay hidden until it closes" in shown
    assert "Maturing" not in json.dumps(card)  # no figure of it at all


async def test_a_closed_consensus_rounds_results_are_the_leads_to_share(
    database: Database,
    connector: FakeConnector,
    card_schema: Draft6Validator,  # noqa: F811 (the fixture imported above)
) -> None:
    """Closed, a consensus round's results wait for the lead: partners are told so, the lead reads them
    privately first, and only a lead's `share results` shows them to the channel, once."""
    parent_id = await _two_rounds(database)
    today = [FIXED_NOW]
    p1 = _partner(1)
    async with _client(database, lambda: today[0]) as client:
        await _post(client, _activity(connector, f"consensus {parent_id} add culture", LEAD))
        await connector.wait_for_sent(1 + 7 + 1)
        await _answer_consensus(database, 3, FIXED_NOW + timedelta(hours=1))
        today[0] = FIXED_NOW + timedelta(hours=2)
        await _post(client, _activity(connector, "share results 3", LEAD))
        assert "still taking answers" in connector.texts_to(CHANNEL)[-1]
        assert "close it first: close #3" in connector.texts_to(CHANNEL)[-1]
        await _post(client, _activity(connector, "close 3", LEAD))

        await _post(client, _activity(connector, "results 3", p1))
        refused = connector.texts_to(CHANNEL)[-1]
        assert refused == "Consensus round #3 has closed; the lead has not shared its results yet."
        await _post(client, _activity(connector, "results 3", LEAD))
        assert "Share them with everyone here with share results #3" in connector.texts_to(CHANNEL)[-1]
        await _post(client, _activity(connector, "surveys", LEAD))
        (listed,) = [
            line for line in connector.texts_to(CHANNEL)[-1].splitlines() if line.startswith("- #3 ")
        ]
        assert listed.endswith(
            "closed Monday 23 November 2026, 11:30, results not shared yet (share results #3); "
            "none of 7 submitted, 7 started"
        )
        cards_in_channel = len(connector.cards())

        await _post(client, _activity(connector, "results 3", LEAD, conversation="a:29:lead"))
        private = _text(connector.cards()[-1])
        assert "**consensus reached**" in private  # the lead reads the figures first, privately
        assert "these figures are for leads until one shares them (share results #3)" in private

        await _post(client, _activity(connector, "share results 3", p1))
        assert connector.texts_to(CHANNEL)[-1].startswith("Only partnership leads can use “share results”")
        await _post(client, _activity(connector, "share results 2", LEAD))
        assert "is not a consensus round: its results are already visible" in connector.texts_to(CHANNEL)[-1]
        await _post(client, _activity(connector, "share results 99", LEAD))
        assert "There is no survey #99 here" in connector.texts_to(CHANNEL)[-1]
        other = "19:other@thread.tacv2;messageid=1"  # another channel's lead, and another tenant's
        await _post(client, _activity(connector, "share results 3", LEAD, conversation=other))
        assert "There is no survey #3 here" in connector.texts_to(other)[-1]
        await _post(client, _activity(connector, "share results 3", LEAD, tenant="t2"))
        assert "There is no survey #3 here" in connector.texts_to(CHANNEL)[-1]
        assert len(connector.cards()) == cards_in_channel + 1  # only the lead's private card so far

        await _post(client, _activity(connector, "share results 3", LEAD))
        *_, said, posted = connector.sent_to(CHANNEL)
        assert said["text"] == (
            "Shared the results of consensus round #3 “Anytown round 2: consensus round” with everyone here:"
        )
        (attachment,) = posted["attachments"]
        card = attachment["content"]
        assert schema_errors(card_schema, card) == []
        shown = _text(card)
        assert "Consensus round #3: agreement before and after" in shown
        assert "**Still split after the consensus round**: Enabler – Data." in shown
        assert "for leads" not in shown

        # Again (or Teams redelivering it after the bot died between the share and its reply): nothing
        # changes, and the card is posted all the same, so the reply is never lost.
        await _post(client, _activity(connector, "share results 3", LEAD))
        *_, said_again, posted_again = connector.sent_to(CHANNEL)
        assert said_again["text"] == (
            "The results of consensus round #3 are already shared (since Monday 23 November 2026, 11:30); "
            "nothing changed. Here they are again:"
        )
        (attachment,) = posted_again["attachments"]
        assert schema_errors(card_schema, attachment["content"]) == []
        assert _text(attachment["content"]) == shown

        await _post(client, _activity(connector, "results 3", p1))
        assert "**consensus reached**" in _text(connector.cards()[-1])  # partners see it now
        await _post(client, _activity(connector, "surveys", p1))
        assert "not shared" not in connector.texts_to(CHANNEL)[-1]

    async with transaction(database.sessions) as session:
        shared = (await get_survey(session, 3)).results_shared_at
    assert shared == FIXED_NOW + timedelta(hours=2)  # the first share's time: the second changed nothing


async def test_a_lead_shares_from_their_own_chat_and_the_weekly_post_has_the_news(
    database: Database, connector: FakeConnector
) -> None:
    parent_id = await _two_rounds(database)
    async with _client(database, lambda: FIXED_NOW) as client:
        await _post(client, _activity(connector, f"consensus {parent_id} add culture", LEAD))
        await connector.wait_for_sent(1 + 7 + 1)
    await _answer_consensus(database, 3, FIXED_NOW + timedelta(hours=1))
    async with transaction(database.sessions) as session:
        await close_survey(session, await get_survey(session, 3), now=FIXED_NOW + timedelta(hours=2))
    last_post = FIXED_NOW + timedelta(days=1)  # after the close: the post a week on had that news
    post = OutboxMessage(
        dedupe_key="summary:test",
        kind=OutboxKind.SUMMARY,
        survey_id=3,
        next_attempt_at=FIXED_NOW,
        payload={"since": last_post.isoformat()},
    )

    async with transaction(database.sessions) as session:
        waiting = await compose_summary(
            session, post, rules=SummaryRules(), now=FIXED_NOW + timedelta(days=7)
        )
    assert waiting is not None
    (card,) = waiting.cards
    assert "Consensus round #3 has closed; the lead has not shared its results yet." in _text(card)
    assert "Maturing" not in json.dumps(card)

    shared_at = FIXED_NOW + timedelta(days=8)
    async with _client(database, lambda: shared_at) as client:
        await _post(client, _activity(connector, "share results 3", LEAD, conversation="a:29:lead"))
        assert connector.texts_to("a:29:lead")[-1] == (
            "Shared the results of consensus round #3 “Anytown round 2: consensus round”: results #3 in its "
            "channel shows them, and the next weekly post there includes them."
        )

    async with transaction(database.sessions) as session:
        message = await compose_summary(
            session, post, rules=SummaryRules(), now=shared_at + timedelta(days=6)
        )
    assert message is not None
    (card,) = message.cards
    shown = _text(card)
    assert "Consensus round #3: agreement before and after" in shown  # the sharing is news: a full post
    assert "**Still split after the consensus round**: Enabler – Data." in shown
