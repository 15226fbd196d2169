"""Summary charts served by the bot on signed, expiring links, so a card can show them as images.

Teams fetches a card's images itself, so the link is the only credential: an HMAC over the survey and
the expiry time, with a key from the environment. The chart is drawn from the same k-anonymous
summary as the card, at request time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.charts import domain_profile, render_async
from frameworks.summary import SummaryRules
from storage.db import transaction
from storage.errors import SurveyNotFound
from storage.summaries import survey_summary

LIFETIME = timedelta(days=28)
"""Long enough for a weekly post to be looked at weeks later; short enough that a forwarded link dies."""


@dataclass(frozen=True)
class ChartLinks:
    base_url: str
    key: bytes

    def url(self, survey_id: int, *, now: datetime) -> str:
        expires = int((now + LIFETIME).timestamp())
        return (
            f"{self.base_url.rstrip('/')}/charts/{survey_id}/profile.png"
            f"?expires={expires}&sig={self._signature(survey_id, expires)}"
        )

    def valid(self, survey_id: int, expires: int, signature: str, *, now: datetime) -> bool:
        expected = self._signature(survey_id, expires)
        return hmac.compare_digest(expected, signature) and now.timestamp() < expires

    def _signature(self, survey_id: int, expires: int) -> str:
        message = f"profile:{survey_id}:{expires}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()


def chart_route(
    links: ChartLinks,
    sessions: Callable[[], async_sessionmaker[AsyncSession]],
    rules: SummaryRules,
    clock: Callable[[], datetime],
) -> Callable[[web.Request], object]:
    async def profile(request: web.Request) -> web.StreamResponse:
        try:
            survey_id = int(request.match_info["survey_id"])
            expires = int(request.query.get("expires", ""))
        except ValueError:
            raise web.HTTPNotFound() from None
        if not links.valid(survey_id, expires, request.query.get("sig", ""), now=clock()):
            raise web.HTTPForbidden(text="This chart link is not valid or has expired.")
        try:
            async with transaction(sessions()) as session:
                summary = await survey_summary(session, survey_id, rules=rules, now=clock())
        except SurveyNotFound:
            raise web.HTTPNotFound() from None
        chart = domain_profile(summary)
        if chart is None:  # nothing to draw yet, or everything below k
            raise web.HTTPNotFound(text="No chart: too few answers to show.")
        png = await render_async(chart)
        return web.Response(
            body=png, content_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
        )

    return profile
