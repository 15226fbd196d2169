"""The chart route draws from whatever summary its caller's loader reads, and only for a valid link."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.reports.chart_links import PROFILE, ChartLinks, SummaryLoader, chart_route
from frameworks.summary import SummaryRules, SurveySummary, Weighting

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
LINKS = ChartLinks("https://bot.example.nhs.uk", b"chart-key")


def _client(load: SummaryLoader) -> TestClient:
    app = web.Application()
    app.router.add_get("/charts/{survey_id}/{name}", chart_route(LINKS, load, SummaryRules(), lambda: NOW))
    return TestClient(TestServer(app, host="127.0.0.1"))


def _path(survey_id: int) -> str:
    url = LINKS.url(survey_id, PROFILE, Weighting.RESPONDENT, now=NOW)
    return url.removeprefix("https://bot.example.nhs.uk")


async def test_a_signed_link_to_a_survey_the_loader_does_not_find_is_not_found() -> None:
    asked: list[tuple[int, SummaryRules, datetime]] = []

    async def load(survey_id: int, rules: SummaryRules, now: datetime) -> SurveySummary | None:
        asked.append((survey_id, rules, now))
        return None

    async with _client(load) as client:
        response = await client.get(_path(7))
        assert response.status == 404
    assert [(survey_id, now) for survey_id, _, now in asked] == [(7, NOW)]
    assert asked[0][1].weighting is Weighting.RESPONDENT


async def test_an_unsigned_link_never_reaches_the_loader() -> None:
    async def load(survey_id: int, rules: SummaryRules, now: datetime) -> SurveySummary | None:
        raise AssertionError("loaded for an unsigned link")

    async with _client(load) as client:
        response = await client.get(_path(7).replace("sig=", "sig=0"))
        assert response.status == 403
