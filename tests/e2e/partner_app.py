"""One partner, Amina, with a survey open for her, talking to the real aiohttp app: the set-up that
tests of a single partner's turns share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.settings import Settings
from frameworks.schema import Framework
from tests.conftest import FIXED_NOW, Database
from tests.e2e.test_app_survey import _buttons
from tests.fakes.connector import FakeConnector
from tests.fakes.conversation import open_survey_for
from tests.fakes.teams_wire import Member

AMINA = Member("29:1amina-Zk8fWq", "Amina Khan", "0b9a8c7d-6e5f-4a3b-2c1d-0e9f8a7b6c5d")


@asynccontextmanager
async def partner_app(database: Database, framework: Framework) -> AsyncIterator[TestClient]:
    """The app on 127.0.0.1 at FIXED_NOW, with `framework`'s survey open for AMINA."""
    await open_survey_for(database.sessions, framework, FIXED_NOW, user_ids=(AMINA.id,))
    app = create_app(
        Settings(database_url=database.url, _env_file=None),
        clock=lambda: FIXED_NOW,
        engine_options=database.engine_kwargs,
    )
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


def answer_button(connector: FakeConnector) -> dict[str, Any]:
    """The data of the first level's button on the last question card."""
    return next(data for data in _buttons(connector.cards()[-1]) if data.get("action") == "answer")
