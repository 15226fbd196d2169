"""Fuzzing /api/messages: whatever arrives, the bot answers 4xx or 2xx, logs no ERROR, and changes no
data it should not.

Hypothesis generates malformed activities (random JSON, Teams' published shapes with fields of the
wrong type, huge or deeply nested values, lone surrogates raw and escaped), malformed card payloads
(`adaptiveCard/action` data, Action.Submit values) and, with an app id, garbage bearer tokens. One app
and client serve all of a test's examples. A refused request must leave every table as it was; an
accepted one may only record who spoke where (activity claims, people, conversation references,
conversation state), never surveys, answers, invitations or anything queued to send.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft6Validator

from bot.app import create_app
from bot.settings import Settings
from frameworks.loader import load_directory
from tests.bot.cards.test_cards import card_schema  # noqa: F401 (a fixture)
from tests.conftest import FIXED_NOW, Database
from tests.e2e.test_auth import KeyEndpoint, _app, key_endpoint
from tests.e2e.test_hostile_input import snapshot
from tests.fakes.connector import FakeConnector, fake_connector
from tests.fakes.conversation import open_survey_for
from tests.fakes.entra import token_endpoint
from tests.fakes.teams_wire import Channel, Member, TeamsShapes, card_problems, teams_json

AUDIT = load_directory().frameworks["audit-committee-maturity"]
BEN = Member("29:1ben", "Ben Okafor", "aad-ben")
"""Not invited to the open survey, and not a lead: nothing he sends may change the survey's data."""
CHANNEL = Channel()
DATA_TABLES = (
    "surveys",
    "invitations",
    "responses",
    "answers",
    "outbox",
    "lead_grants",
    "organisations",
    "organisation_domains",
    "partnerships",
    "partnership_members",
    "summary_subscriptions",
    "summary_posts",
)
"""What no stranger's activity may change, even one the bot accepts and answers."""
DEEP = "<deep>"
"""Stands for a deeply nested array, spliced into the JSON text (json.dumps would recurse too far)."""

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
"""One app for all examples (the fixtures are function-scoped on purpose); no example database in
the tree. A failure prints the example to replay."""


# What to throw ----------------------------------------------------------------------------------------

HOSTILE_TEXT = st.sampled_from(
    [
        "\ud800",
        "a:1ben\udfff",
        "x" * 120_000,
        "29:" + "9" * 5_000,
        "",
        "\x00",
        "<at>Survey bot</at>",
        "2026-13-45T99:99:99Z",
        "javascript:alert(1)",
        DEEP,
    ]
)
HOSTILE_NUMBERS = st.sampled_from([10**30, -(10**30), -1, 0, 2**31, 2**63, 1e308, -0.0, 0.5])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | HOSTILE_TEXT
    | HOSTILE_NUMBERS
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
DELETE = object()
PATHS = [
    "type",
    "id",
    "timestamp",
    "localTimestamp",
    "serviceUrl",
    "channelId",
    "from",
    "from.id",
    "from.name",
    "from.aadObjectId",
    "recipient",
    "recipient.id",
    "conversation",
    "conversation.id",
    "conversation.conversationType",
    "conversation.tenantId",
    "conversation.isGroup",
    "channelData",
    "channelData.tenant",
    "channelData.tenant.id",
    "channelData.team",
    "channelData.team.id",
    "entities",
    "entities.0",
    "entities.0.type",
    "entities.0.mentioned",
    "entities.0.text",
    "attachments",
    "text",
    "textFormat",
    "value",
    "value.action",
    "value.action.data",
    "name",
    "replyToId",
    "membersAdded",
    "action",
    "locale",
]
MUTATIONS = st.lists(
    st.tuples(st.sampled_from(PATHS), st.one_of(st.just(DELETE), JSON)), min_size=1, max_size=3
)


def _teams_activities(service_url: str) -> list[dict[str, Any]]:
    """Ben's activities in the shapes Microsoft publishes."""
    teams = TeamsShapes(service_url)
    return [
        teams.personal_message(BEN, "my surveys"),
        teams.channel_message(BEN, "status", CHANNEL),
        teams.execute(BEN, {"action": "start", "survey_id": 1}),
        teams.execute(BEN, {"lead": "confirm", "survey_id": 1}, verb="lead"),
        teams.installation_added(BEN),
        teams.bot_added_to_personal_chat(BEN),
    ]


def _mutated(activity: dict[str, Any], mutations: list[tuple[str, Any]]) -> dict[str, Any]:
    activity = json.loads(json.dumps(activity))
    for path, replacement in mutations:
        *parents, last = path.split(".")
        node: Any = activity
        for part in parents:
            node = (
                node[int(part)]
                if isinstance(node, list) and part.isdigit() and int(part) < len(node)
                else (node.get(part) if isinstance(node, dict) else None)
            )
        if isinstance(node, dict):
            if replacement is DELETE:
                node.pop(last, None)
            else:
                node[last] = replacement
        elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
            if replacement is DELETE:
                del node[int(last)]
            else:
                node[int(last)] = replacement
    return activity


def _encoded(body: Any, *, raw_surrogates: bool, depth: int) -> bytes:
    """As JSON text: lone surrogates escaped (`\\ud800`) or as raw bytes, DEEP spliced in as nesting."""
    text = json.dumps(body, ensure_ascii=not raw_surrogates)
    text = text.replace(json.dumps(DEEP), "[" * depth + "]" * depth)
    return text.encode("utf-8", "surrogatepass")


ENCODING = st.fixed_dictionaries(
    {"raw_surrogates": st.booleans(), "depth": st.sampled_from([3, 150, 199, 201, 1_000, 5_000])}
)


# The app under fire -----------------------------------------------------------------------------------


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


@pytest.fixture
async def client(database: Database, connector: FakeConnector) -> AsyncIterator[TestClient]:
    """The real app on a database with one open survey (Amina's), for all of a test's examples."""
    await open_survey_for(database.sessions, AUDIT, FIXED_NOW)
    settings_ = Settings(database_url=database.url, lead_user_ids="aad-lead", _env_file=None)
    app = create_app(settings_, clock=lambda: FIXED_NOW, engine_options=database.engine_kwargs)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    caplog.set_level(logging.INFO)
    return caplog.records


async def _throw(
    client: TestClient,
    database: Database,
    records: list[logging.LogRecord],
    body: bytes,
    schema: Draft6Validator,
    headers: dict[str, str] | None = None,
) -> int:
    """POST the body; check the status, the logs, what changed, and any card in the answer."""
    before = await snapshot(database)
    seen = len(records)
    response = await client.post(
        "/api/messages", data=body, headers={"Content-Type": "application/json", **(headers or {})}
    )
    raw = await response.read()
    assert response.status < 500, raw[:300]
    errors = [f"{r.name}: {r.getMessage()[:200]}" for r in records[seen:] if r.levelno >= logging.ERROR]
    assert errors == []
    after = await snapshot(database)
    if response.status >= 400:
        assert after == before, "a refused request changed the database"
    else:
        assert {t: after[t] for t in DATA_TABLES} == {t: before[t] for t in DATA_TABLES}
    if response.content_type == "application/json":
        assert card_problems(schema, raw) == [], "an answer Teams could not read"
        teams_json(raw)
    return response.status


# The properties -----------------------------------------------------------------------------------------


sqlite_only = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@sqlite_only
@FUZZ
@example(body=DEEP, encoding={"raw_surrogates": False, "depth": 5_000})  # was a RecursionError and 500
@example(body={"type": "message", "text": "\ud800"}, encoding={"raw_surrogates": True, "depth": 3})
@given(body=JSON | st.builds(lambda value: {"type": "message", "value": value}, JSON), encoding=ENCODING)
async def test_random_json_is_refused_cleanly(
    body: Any,
    encoding: dict[str, Any],
    client: TestClient,
    database: Database,
    records: list[logging.LogRecord],
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    await _throw(client, database, records, _encoded(body, **encoding), card_schema)


@sqlite_only
@FUZZ
@given(which=st.integers(0, 5), mutations=MUTATIONS, encoding=ENCODING)
async def test_teams_activities_with_broken_fields_never_break_the_bot(
    which: int,
    mutations: list[tuple[str, Any]],
    encoding: dict[str, Any],
    client: TestClient,
    connector: FakeConnector,
    database: Database,
    records: list[logging.LogRecord],
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    activity = _mutated(_teams_activities(connector.url)[which], mutations)
    await _throw(client, database, records, _encoded(activity, **encoding), card_schema)


CARD_FIELDS = {
    "action": st.sampled_from(
        ["answer", "skip", "back", "pause", "comment", "review", "change", "submit", "start"]
    ),
    "survey_id": st.sampled_from([1, 2, 10**30, -1, 0, 2**31, 2**31 - 1, "1", 1.5, True]),
    "element_id": st.sampled_from(["mergers-acquisitions-and-disposals", "continuity-of-supply"]),
    "value": st.sampled_from(["basic", "results", "maturity", "3"]),
    "comment": st.sampled_from(["Board minutes agree", "x" * 10_240, " "]),
    "lead": st.sampled_from(["confirm", "cancel", "start_form"]),
    "framework_id": st.just("audit-committee-maturity"),
    "closes": st.sampled_from(["2026-11-30", "2026-02-30"]),
    "title": st.just("Audit 2026"),
}
"""Fields as our cards send them (ids at and beyond the database's bounds); `CARD_DATA` drops some
and breaks one or two."""
CARD_DATA = st.builds(
    lambda fields, dropped, broken: {k: v for k, v in fields.items() if k not in dropped} | broken,
    st.fixed_dictionaries(CARD_FIELDS),
    st.sets(st.sampled_from(sorted(CARD_FIELDS)), max_size=4),
    st.dictionaries(st.sampled_from(sorted(CARD_FIELDS)) | st.text(max_size=8), JSON, max_size=2),
)
"""Card data as our cards send it, with each field sometimes of the wrong type or out of range."""


@sqlite_only
@FUZZ
@example(data={"action": "start", "survey_id": 10**30}, verb="survey", how=0)  # was 501 and an overflow
@example(data={"action": "answer", "survey_id": 2**31, "value": "basic"}, verb="survey", how=2)
@example(data={"lead": "confirm", "survey_id": 10**30}, verb="lead", how=1)
@given(
    data=CARD_DATA | JSON,
    verb=st.sampled_from(["survey", "survey", "survey", "lead", "lead", "", "other"]),
    how=st.sampled_from(range(4)),
)
async def test_random_card_payloads_get_an_answer_and_change_no_survey_data(
    data: Any,
    verb: str,
    how: int,
    client: TestClient,
    connector: FakeConnector,
    database: Database,
    records: list[logging.LogRecord],
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    teams = TeamsShapes(connector.url)
    if how == 0:  # Action.Execute in Ben's 1:1 chat
        activity = teams.execute(BEN, data, verb=verb)
    elif how == 1:  # Action.Execute on a card in the channel
        conversation = teams.channel_message(BEN, "", CHANNEL)["conversation"]
        activity = teams.execute(BEN, data, verb=verb, conversation=conversation)
    elif how == 2:  # Action.Submit in Ben's 1:1 chat
        activity = teams.personal_message(BEN, "") | {"value": data, "replyToId": "1481567603000"}
    else:  # Action.Submit in the channel
        activity = teams.channel_message(BEN, "", CHANNEL) | {"value": data}
    await _throw(client, database, records, _encoded(activity, raw_surrogates=False, depth=3), card_schema)


# With an app id: garbage tokens and malformed bodies together --------------------------------------------


@pytest.fixture
async def keys() -> AsyncIterator[KeyEndpoint]:
    async with key_endpoint() as endpoint:
        yield endpoint


@pytest.fixture
async def guarded_client(database: Database, keys: KeyEndpoint) -> AsyncIterator[TestClient]:
    async with (
        token_endpoint() as entra,
        TestClient(TestServer(_app(database, keys.url, entra), host="127.0.0.1")) as test_client,
    ):
        yield test_client


TOKENS = st.one_of(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=200).map(lambda t: f"Bearer {t}"),
    st.lists(
        st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=60), max_size=4
    ).map(lambda parts: "Bearer " + ".".join(parts)),
    st.just(""),
)


@sqlite_only
@FUZZ
@given(
    token=TOKENS,
    which=st.integers(0, 5),
    mutations=st.lists(st.tuples(st.sampled_from(PATHS), JSON), max_size=2),
    encoding=ENCODING,
)
async def test_garbage_tokens_on_any_body_get_401_and_change_nothing(
    token: str,
    which: int,
    mutations: list[tuple[str, Any]],
    encoding: dict[str, Any],
    guarded_client: TestClient,
    connector: FakeConnector,
    database: Database,
    records: list[logging.LogRecord],
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    activity = _mutated(_teams_activities(connector.url)[which], mutations)
    body = _encoded(activity, **encoding)
    status = await _throw(guarded_client, database, records, body, card_schema, {"Authorization": token})
    assert status == 401, "the token is checked before the body: nothing about its shape is told"


# A shorter run on PostgreSQL ------------------------------------------------------------------------------


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
@settings(FUZZ, max_examples=40)
@given(which=st.integers(0, 5), mutations=MUTATIONS, data=CARD_DATA, encoding=ENCODING)
async def test_on_postgresql_broken_activities_and_card_payloads_never_break_the_bot(
    which: int,
    mutations: list[tuple[str, Any]],
    data: Any,
    encoding: dict[str, Any],
    client: TestClient,
    connector: FakeConnector,
    database: Database,
    records: list[logging.LogRecord],
    card_schema: Draft6Validator,  # noqa: F811
) -> None:
    activity = _mutated(_teams_activities(connector.url)[which], mutations)
    await _throw(client, database, records, _encoded(activity, **encoding), card_schema)
    click = TeamsShapes(connector.url).execute(BEN, data if isinstance(data, dict) else {"data": data})
    await _throw(client, database, records, _encoded(click, raw_surrogates=False, depth=3), card_schema)
