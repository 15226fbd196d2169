"""Summary charts served by the bot on signed, expiring links, so a card can show them as images.

Teams fetches a card's images itself, so the link is the only credential: an HMAC over the survey and
the expiry time, with a key from the environment. The chart is drawn from the same k-anonymous
summary as the card, at request time, loaded by the caller's `SummaryLoader` (which owns the transaction).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web

from bot.reports.charts import Chart, distribution_names, distributions, domain_profile, render_async
from dialogs.payloads import MAX_ROW_ID
from frameworks.summary import SummaryRules, SurveySummary, Weighting

NO_SUCH_CHART = "There is no such chart."
LIFETIME = timedelta(days=28)
"""Long enough for a weekly post to be looked at weeks later; short enough that a forwarded link dies."""

PROFILE = "domain-profile.png"
_DISTRIBUTION = re.compile(r"distribution-(?P<domain>.+)-\d+\.png")
"""`bot.reports.charts.distributions` names its pages so: the domain id, then the page number."""

SummaryLoader = Callable[[int, SummaryRules, datetime], Awaitable[SurveySummary | None]]
"""(survey id, rules, now) to the survey's summary, read in a transaction of its own; None when there is
no such survey."""


@dataclass(frozen=True)
class ChartUrls:
    """Where a summary's charts are: the domain profile, and each domain's answer distributions (one
    link per page of elements), in the summary's domain order."""

    profile: str
    distributions: list[tuple[str, str]]
    """(domain title, link) pairs; a long domain has several, titled "… (1 of 2)"."""


@dataclass(frozen=True)
class ChartLinks:
    base_url: str
    key: bytes

    def url(self, survey_id: int, name: str, weighting: Weighting, *, now: datetime) -> str:
        expires = int((now + LIFETIME).timestamp())
        signature = self._signature(survey_id, name, weighting.value, expires)
        return (
            f"{self.base_url.rstrip('/')}/charts/{survey_id}/{name}"
            f"?w={weighting.value}&expires={expires}&sig={signature}"
        )

    def for_summary(self, summary: SurveySummary, *, now: datetime) -> ChartUrls | None:
        """Links to the charts this summary has (none while results are withheld below k)."""
        if summary.respondents is None or domain_profile(summary) is None:
            return None
        by_domain: dict[str, list[str]] = defaultdict(list)
        for name in distribution_names(summary):  # names only: no colours, so no matplotlib
            if (match := _DISTRIBUTION.fullmatch(name)) is not None:
                by_domain[match["domain"]].append(name)
        pages: list[tuple[str, str]] = []
        for domain in summary.domains:
            own = by_domain.get(domain.domain_id, [])
            for index, name in enumerate(own, start=1):
                title = f"{domain.title} ({index} of {len(own)})" if len(own) > 1 else domain.title
                pages.append((title, self.url(summary.survey_id, name, summary.weighting, now=now)))
        return ChartUrls(
            profile=self.url(summary.survey_id, PROFILE, summary.weighting, now=now), distributions=pages
        )

    def valid(
        self, survey_id: int, name: str, weighting: str, expires: int, signature: str, *, now: datetime
    ) -> bool:
        expected = self._signature(survey_id, name, weighting, expires)
        return hmac.compare_digest(expected, signature) and now.timestamp() < expires

    def _signature(self, survey_id: int, name: str, weighting: str, expires: int) -> str:
        message = f"{name}:{survey_id}:{weighting}:{expires}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()


def chart_route(
    links: ChartLinks,
    load_summary: SummaryLoader,
    rules: SummaryRules,
    clock: Callable[[], datetime],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """`GET /charts/{survey_id}/{name}`: one chart of the survey's summary, as the link's weighting
    drew it, redrawn from the current answers."""

    async def chart(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        weighting = request.query.get("w", "")
        try:
            survey_id = int(request.match_info["survey_id"])
            expires = int(request.query.get("expires", ""))
            chosen = rules.weighted(Weighting(weighting))
        except ValueError:  # not numbers, or a weighting this version does not know
            raise web.HTTPNotFound(text=NO_SUCH_CHART) from None
        if not 1 <= survey_id <= MAX_ROW_ID:
            raise web.HTTPNotFound(text=NO_SUCH_CHART)
        if not links.valid(survey_id, name, weighting, expires, request.query.get("sig", ""), now=clock()):
            raise web.HTTPForbidden(text="This chart link is not valid or has expired.")
        summary = await load_summary(survey_id, chosen, clock())
        if summary is None:
            raise web.HTTPNotFound()
        # in a worker thread: a distribution's colours load matplotlib, the first time a second or so
        drawn = await asyncio.to_thread(_chart_named, summary, name)
        if drawn is None:  # nothing to draw yet, everything below k, or a domain that has gone
            raise web.HTTPNotFound(text="No chart: too few answers to show.")
        png = await render_async(drawn)
        return web.Response(
            body=png, content_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
        )

    return chart


def _chart_named(summary: SurveySummary, name: str) -> Chart | None:
    profile = domain_profile(summary)
    charts = ([profile] if profile is not None else []) + distributions(summary)
    return next((chart for chart in charts if chart.name == name), None)
