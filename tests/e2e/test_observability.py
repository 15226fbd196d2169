"""Operating the bot: JSON logs an operator can follow a turn through (and that name nobody), metrics
at /metrics, readiness at /readyz, refusing to start half-configured, a tenant allow-list, and a
graceful stop that lets a turn in flight finish."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.app import create_app
from bot.ops.health import MissingCredential, check_credentials, readiness, serve_until_signalled
from bot.ops.logs import (
    QUIET_LOGGERS,
    TextFormatter,
    bound_turn,
    configure_logging,
    hash_id,
    set_turn_outcome,
)
from bot.ops.metrics import Metrics, metrics_handler, outbox_depth
from bot.settings import Settings
from bot.teams.edge import tenant_allowed, turn_middleware
from storage.db import create_engine, transaction
from storage.migrate import upgrade
from storage.outbox import NewMessage, enqueue, mark_failed, mark_retry
from storage.tables import OutboxMessage, Person
from tests.conftest import FIXED_NOW, Database
from tests.fakes.connector import FakeConnector, fake_connector

TENANT = "7d3f5a2e-0000-4000-8000-00000000aaaa"


# The app as bot/app.py is to wire it ------------------------------------------------------------------


def operated_app(settings: Settings, *, allowed_tenants: tuple[str, ...] = ()) -> web.Application:
    """The real app, as `make run` builds it, on the test's clock."""
    settings = settings.model_copy(update={"allowed_tenant_ids": list(allowed_tenants)})
    return create_app(settings, clock=lambda: FIXED_NOW)


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    return url


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    async with fake_connector() as fake:
        yield fake


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The process's logs as `serve` configures them, written to a buffer; restored afterwards."""
    root = logging.getLogger()
    level = root.level
    quiet = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    buffer = io.StringIO()
    handler = configure_logging("DEBUG", "json", stream=buffer)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for name, old in quiet.items():
            logging.getLogger(name).setLevel(old)


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def _message(connector: FakeConnector, text: str, *, tenant: str = TENANT, **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "id": "msg-1",
        "text": text,
        "channelId": "msteams",
        "serviceUrl": connector.url,
        "from": {"id": "29:1Amina-teams-id", "name": "Amina Khan", "aadObjectId": "aad-amina"},
        "recipient": {"id": "28:surveybot", "name": "Survey bot"},
        "conversation": {"id": "a:personal-amina", "conversationType": "personal", "tenantId": tenant},
        "channelData": {"tenant": {"id": tenant}},
        **extra,
    }


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


# Logs -------------------------------------------------------------------------------------------------


def test_a_log_line_is_one_json_object_with_the_turn_it_belongs_to(json_logs: io.StringIO) -> None:
    log = logging.getLogger("bot.example")
    with bound_turn("act-7", "a:personal-amina", turn_id="turn-1"):
        log.info("survey %s opened; %d invitations queued", 12, 30)
        try:
            raise ValueError("no such survey")
        except ValueError:
            log.exception("could not open survey %s", 13)
    log.warning("outside any turn")

    opened, failed, outside = _lines(json_logs)
    assert opened["message"] == "survey 12 opened; 30 invitations queued"
    assert (opened["level"], opened["logger"]) == ("INFO", "bot.example")
    assert opened["time"].endswith("+00:00")
    assert (opened["turn_id"], opened["activity_id"]) == ("turn-1", "act-7")
    assert opened["conversation"] == hash_id("a:personal-amina")
    assert failed["error_type"] == "ValueError"
    assert "Traceback" in failed["exception"]
    assert "no such survey" in failed["exception"]
    assert failed["turn_id"] == "turn-1"
    assert "turn_id" not in outside


def test_people_never_appear_in_the_logs_even_by_mistake(json_logs: io.StringIO) -> None:
    log = logging.getLogger("bot.example")
    log.info("message from %s <%s>", "29:1Amina-teams-id", "Amina.Khan@nhs.example")
    log.info("chat 8:orgid:6F1B0C2E-2D5B-4D7C-9E3A-1234567890AB at 12:29:45 for 29:45 minutes")

    mistake, clock = _lines(json_logs)
    assert "Amina" not in json.dumps(mistake)
    assert hash_id("29:1Amina-teams-id") in mistake["message"]
    assert hash_id("amina.khan@nhs.example") in mistake["message"]
    assert "6F1B0C2E" not in clock["message"]
    assert "at 12:29:45 for 29:45 minutes" in clock["message"], "times are not mistaken for ids"


def test_an_aad_object_id_hashes_as_an_erasure_logs_it() -> None:
    from storage.privacy import subject_hash

    person = Person(teams_user_id="29:x", aad_object_id="6F1B0C2E-2D5B-4D7C-9E3A-1234567890AB", name="A")
    assert hash_id("6F1B0C2E-2D5B-4D7C-9E3A-1234567890AB") == subject_hash(person)
    assert hash_id("29:x", salt="pepper") != hash_id("29:x")


def test_libraries_that_log_message_bodies_stay_quiet_at_debug(json_logs: io.StringIO) -> None:
    assert logging.getLogger("bot.teams.handler").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("msrest.http_logger").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("sqlalchemy.engine.Engine").isEnabledFor(logging.INFO)


def test_text_logs_for_a_terminal_carry_the_turn_too() -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(TextFormatter())
    record = logging.LogRecord("bot.x", logging.INFO, __file__, 1, "hello %s", ("29:1Amina-teams-id",), None)
    with bound_turn("act-1", None, turn_id="turn-9"):
        handler.emit(record)
    line = buffer.getvalue()
    assert " INFO bot.x: hello <user:" in line
    assert line.rstrip().endswith("[turn turn-9]")


async def test_an_operator_can_follow_a_redelivered_turn_through_the_logs(
    json_logs: io.StringIO, database_url: str, connector: FakeConnector
) -> None:
    app = operated_app(Settings(database_url=database_url, _env_file=None))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await client.post("/api/messages", json=_message(connector, "hello"))).status == 201
        assert (await client.post("/api/messages", json=_message(connector, "hello"))).status == 201

    lines = _lines(json_logs)
    [ignored] = [line for line in lines if line["message"] == "redelivered activity msg-1 ignored"]
    assert ignored["activity_id"] == "msg-1"
    assert ignored["conversation"] == hash_id("a:personal-amina")
    assert ignored["turn_id"]
    everything = json_logs.getvalue()
    assert "Amina" not in everything
    assert "hello" not in everything, "what people say is not logged"


# Metrics ----------------------------------------------------------------------------------------------


async def test_metrics_show_the_turns_answered(database_url: str, connector: FakeConnector) -> None:
    app = operated_app(Settings(database_url=database_url, _env_file=None))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await client.post("/api/messages", json=_message(connector, "hello"))).status == 201
        bad = await client.post(
            "/api/messages", data="{not json", headers={"Content-Type": "application/json"}
        )
        assert bad.status == 400
        response = await client.get("/metrics")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        samples = _samples(await response.text())

    assert samples[("surveybot_turns_total", (("outcome", "ok"), ("type", "message")))] == 1
    assert samples[("surveybot_turns_total", (("outcome", "rejected"), ("type", "invalid")))] == 1
    assert samples[("surveybot_turn_duration_seconds_count", (("type", "message"),))] == 1
    assert samples[("surveybot_outbox_messages", (("state", "pending"),))] == 0
    assert samples[("surveybot_database_up", ())] == 1


async def test_a_turn_that_failed_inside_is_counted_as_failed_though_answered_200(
    connector: FakeConnector,
) -> None:
    metrics = Metrics()

    async def fails(_request: web.Request) -> web.Response:
        set_turn_outcome("failed")  # as the adapter's on_turn_error does, then answers as usual
        return web.Response(status=200)

    app = web.Application(middlewares=[turn_middleware(metrics)])
    app.router.add_post("/api/messages", fails)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await client.post("/api/messages", json=_message(connector, "x"))).status == 200

    turns = {"type": "message", "outcome": "failed"}
    assert metrics.registry.get_sample_value("surveybot_turns_total", turns) == 1
    with pytest.raises(ValueError, match="unknown turn outcome"):
        set_turn_outcome("great")


async def test_errors_logged_anywhere_are_counted() -> None:
    metrics = Metrics()
    with metrics.counting_errors():
        logging.getLogger("bot.outbox.sender").error("recording outbox row 4 failed")
        logging.getLogger("bot.outbox.sender").warning("a warning is not an error")
    logging.getLogger("bot.outbox.sender").error("after the app stopped: not counted")
    assert metrics.registry.get_sample_value("surveybot_errors_total", {"logger": "bot.outbox.sender"}) == 1


async def test_metrics_show_the_outbox_waiting_and_how_overdue_it_is(database: Database) -> None:
    async with transaction(database.sessions) as session:
        await enqueue(
            session,
            [NewMessage(dedupe_key=f"invite:1:{n}", kind="invitation") for n in range(4)],
            now=FIXED_NOW - timedelta(minutes=10),
        )
        ids = list(await session.scalars(sa.select(OutboxMessage.id).order_by(OutboxMessage.id)))
        await mark_failed(session, message_id=ids[0], error="blocked: 403")
        await mark_retry(
            session, message_id=ids[1], error="transient: 503", retry_at=FIXED_NOW + timedelta(minutes=5)
        )
    metrics = Metrics()
    metrics.send_outcome("throttled", "throttled")
    metrics.scheduler_run("deadlines", ok=False)
    app = web.Application()
    app.router.add_get(
        "/metrics",
        metrics_handler(metrics, lambda: outbox_depth(database.sessions, now=FIXED_NOW), token="scrape-me"),
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        assert (await client.get("/metrics")).status == 401
        response = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        samples = _samples(await response.text())

    assert samples[("surveybot_outbox_messages", (("state", "pending"),))] == 2
    assert samples[("surveybot_outbox_messages", (("state", "retrying"),))] == 1
    assert samples[("surveybot_outbox_messages", (("state", "failed"),))] == 1
    assert samples[("surveybot_outbox_overdue_seconds", ())] == 600
    assert samples[("surveybot_outbox_sends_total", (("reason", "throttled"), ("verdict", "throttled")))] == 1
    assert samples[("surveybot_scheduler_runs_total", (("job", "deadlines"), ("result", "error")))] == 1


async def test_a_scrape_still_answers_when_the_database_does_not() -> None:
    metrics = Metrics()
    metrics.answer_recorded()

    async def unreachable() -> Any:
        raise ConnectionRefusedError("database down")

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler(metrics, unreachable))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        samples = _samples(await response.text())
    assert samples[("surveybot_database_up", ())] == 0
    assert samples[("surveybot_answers_recorded_total", ())] == 1
    assert not any(name == "surveybot_outbox_messages" for name, _ in samples)


NO_KEYS_HERE = "http://127.0.0.1:9/v1/.well-known/openidconfiguration"
"""A loopback signing-key address nothing listens on: these tests are about /metrics, not tokens."""


async def test_with_an_app_id_and_no_scrape_token_metrics_are_closed_and_the_start_says_so(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        database_url=database_url,
        microsoft_app_id="app-1",
        microsoft_app_password="secret",
        bot_openid_metadata_url=NO_KEYS_HERE,
        bot_token_url="http://127.0.0.1:9/botframework.com/oauth2/v2.0/token",  # nor a token
        _env_file=None,
    )
    with caplog.at_level(logging.WARNING, logger="bot.ops.metrics"):
        app = operated_app(settings)
    assert any("METRICS_TOKEN" in record.getMessage() for record in caplog.records)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
            response = await client.get("/metrics", headers=headers)
            assert response.status == 403
            assert "METRICS_TOKEN" in await response.text()
            assert "surveybot_" not in await response.text()


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_the_scrape_token_is_accepted_whatever_the_case_of_its_scheme(
    database_url: str, scheme: str
) -> None:
    settings = Settings(database_url=database_url, metrics_token="scrape-me", _env_file=None)
    async with TestClient(TestServer(operated_app(settings), host="127.0.0.1")) as client:
        response = await client.get("/metrics", headers={"Authorization": f"{scheme} scrape-me"})
        assert response.status == 200
        assert "surveybot_turns" in await response.text()


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer scrape-m", "Bearer scrape-me-too", "Basic scrape-me", "scrape-me", "Bearer wrong"],
)
async def test_a_wrong_scrape_token_is_refused(database_url: str, header: str) -> None:
    settings = Settings(database_url=database_url, metrics_token="scrape-me", _env_file=None)
    async with TestClient(TestServer(operated_app(settings), host="127.0.0.1")) as client:
        response = await client.get("/metrics", headers={"Authorization": header} if header else {})
        assert response.status == 401
        assert "surveybot_" not in await response.text()


# Readiness --------------------------------------------------------------------------------------------


def _probe_app(engine: Any) -> web.Application:
    app = web.Application()
    app.router.add_get("/readyz", readiness(lambda: engine))
    return app


async def test_ready_when_the_database_answers_and_is_migrated(database: Database) -> None:
    async with TestClient(TestServer(_probe_app(database.engine), host="127.0.0.1")) as client:
        response = await client.get("/readyz")
        assert response.status == 200
        assert await response.json() == {"status": "ready"}


async def test_not_ready_on_an_unmigrated_database(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        async with TestClient(TestServer(_probe_app(engine), host="127.0.0.1")) as client:
            response = await client.get("/readyz")
            assert response.status == 503
            body = await response.json()
    finally:
        await engine.dispose()
    assert body["status"] == "not ready"
    assert "migration none" in body["reason"]
    assert "db upgrade" in body["reason"]


async def test_not_ready_when_the_database_is_unreachable() -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    try:
        async with TestClient(TestServer(_probe_app(engine), host="127.0.0.1")) as client:
            response = await client.get("/readyz")
            assert response.status == 503
            assert "unreachable" in (await response.json())["reason"]
    finally:
        await engine.dispose()


async def test_not_ready_before_the_app_has_started() -> None:
    async with TestClient(TestServer(_probe_app(None), host="127.0.0.1")) as client:
        response = await client.get("/readyz")
        assert response.status == 503
        assert "starting" in (await response.json())["reason"]


async def test_the_real_app_is_ready_and_still_healthy(database_url: str) -> None:
    async with TestClient(
        TestServer(operated_app(Settings(database_url=database_url, _env_file=None)), host="127.0.0.1")
    ) as client:
        assert (await client.get("/readyz")).status == 200
        assert (await client.get("/healthz")).status == 200


# Starting: credentials --------------------------------------------------------------------------------


def test_an_app_id_without_a_secret_refuses_to_start() -> None:
    settings = Settings(microsoft_app_id="app-1", microsoft_app_type="SingleTenant", _env_file=None)
    with pytest.raises(MissingCredential, match="MICROSOFT_APP_PASSWORD is empty"):
        check_credentials(settings)


@pytest.mark.parametrize(
    "settings",
    [
        Settings(_env_file=None),
        Settings(microsoft_app_id="app-1", microsoft_app_password="secret", _env_file=None),
        Settings(microsoft_app_id="app-1", microsoft_app_type="UserAssignedMSI", _env_file=None),
    ],
    ids=["local mode", "with a secret", "managed identity"],
)
def test_a_complete_configuration_starts(settings: Settings) -> None:
    check_credentials(settings)


# Tenants ----------------------------------------------------------------------------------------------


def test_the_tenant_allow_list() -> None:
    on_conversation = {"type": "message", "conversation": {"id": "c", "tenantId": TENANT.upper()}}
    in_channel_data = {"type": "message", "channelData": {"tenant": {"id": "other-tenant"}}}
    nameless = {"type": "message", "conversation": {"id": "c"}}
    assert tenant_allowed(on_conversation, [TENANT])
    assert not tenant_allowed(in_channel_data, [TENANT])
    assert tenant_allowed(in_channel_data, [TENANT, "other-tenant"])
    assert not tenant_allowed(nameless, [TENANT])
    assert tenant_allowed(nameless, []), "no allow-list: every tenant"


async def test_a_tenant_not_on_the_allow_list_is_refused_before_anything_is_stored(
    database_url: str, connector: FakeConnector, json_logs: io.StringIO
) -> None:
    app = operated_app(Settings(database_url=database_url, _env_file=None), allowed_tenants=(TENANT,))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        refused = await client.post(
            "/api/messages", json=_message(connector, "hello", tenant="stranger-tenant")
        )
        assert refused.status == 403
        welcome = await client.post("/api/messages", json=_message(connector, "hello", id="msg-2"))
        assert welcome.status == 201
        samples = _samples(await (await client.get("/metrics")).text())

    assert len(connector.sent) == 1, "only the allowed tenant's message was answered"
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            people = (await connection.execute(sa.select(Person.__table__.c.tenant_id))).all()
    finally:
        await engine.dispose()
    assert people == [(TENANT,)]
    assert samples[("surveybot_turns_total", (("outcome", "refused"), ("type", "message")))] == 1
    [warning] = [line for line in _lines(json_logs) if line["level"] == "WARNING"]
    assert "stranger-tenant" in warning["message"]
    assert warning["activity_id"] == "msg-1"


# Stopping ---------------------------------------------------------------------------------------------


@asynccontextmanager
async def held_connector(arrived: asyncio.Event, release: asyncio.Event) -> AsyncIterator[FakeConnector]:
    """A fake Bot Connector that holds every request until `release`: a reply still on its way."""
    connector = FakeConnector()
    connector_app = connector.app()

    @web.middleware
    async def hold(request: web.Request, handler: Any) -> web.StreamResponse:
        arrived.set()
        await release.wait()
        return await handler(request)

    connector_app.middlewares.append(hold)
    server = TestServer(connector_app, host="127.0.0.1")
    await server.start_server()
    connector.url = str(server.make_url("/")).rstrip("/") + "/"
    try:
        yield connector
    finally:
        await server.close()


async def test_sigterm_lets_the_turn_in_flight_finish_then_cleans_up(
    database_url: str, json_logs: io.StringIO
) -> None:
    events: list[str] = []
    listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    shutting_down = asyncio.Event()
    arrived, release = asyncio.Event(), asyncio.Event()

    async with held_connector(arrived, release) as connector:
        app = operated_app(Settings(database_url=database_url, _env_file=None))

        @web.middleware
        async def witness(request: web.Request, handler: Any) -> web.StreamResponse:
            response = await handler(request)
            if request.path == "/api/messages":
                events.append(f"answered {response.status}")
            return response

        async def on_shutdown(_app: web.Application) -> None:
            events.append("stopped listening")
            shutting_down.set()

        async def on_cleanup(_app: web.Application) -> None:  # after the app's own cleanup contexts
            events.append("cleaned up")

        app.middlewares.append(witness)
        app.on_shutdown.append(on_shutdown)
        app.on_cleanup.append(on_cleanup)

        server = asyncio.create_task(
            serve_until_signalled(
                app,
                host="127.0.0.1",
                port=0,
                shutdown_timeout=60,
                started=lambda addresses: listening.set_result(addresses[0][1]),
            )
        )
        try:
            async with asyncio.timeout(20):  # a guard against hanging, not a measurement
                port = await listening
                url = f"http://127.0.0.1:{port}"
                async with aiohttp.ClientSession() as session:
                    assert (await session.get(f"{url}/readyz")).status == 200
                    turn = asyncio.create_task(
                        session.post(f"{url}/api/messages", json=_message(connector, "hi"))
                    )
                    await arrived.wait()  # the turn is sending its reply

                    signal.raise_signal(signal.SIGTERM)
                    await shutting_down.wait()
                    async with aiohttp.ClientSession() as newcomer:
                        with pytest.raises(aiohttp.ClientConnectionError):
                            await newcomer.get(f"{url}/healthz")
                    assert events == ["stopped listening"], "the turn is still in flight"

                    release.set()
                    response = await turn
                    assert response.status == 201
                await server
        finally:
            release.set()
            server.cancel()

    assert events == ["stopped listening", "answered 201", "cleaned up"]
    assert [activity["_conversation_id"] for activity in connector.sent] == ["a:personal-amina"]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, "the handler is removed again"
    access = [  # the fake connector's own server logs to aiohttp.access too, in aiohttp's format
        line
        for line in _lines(json_logs)
        if line["logger"] == "aiohttp.access" and "/v3/" not in line["message"]
    ]
    assert [line["message"].rsplit(" ", 2)[0] for line in access] == ["POST /api/messages 201"]
    assert access[0]["activity_id"] == "msg-1", "the access line names the turn; probes are not logged"
