"""The bot's scheduled jobs, by name: housekeeping (hourly) and deadlines (every minute).

Each job runs now and then every interval until the app stops; a failure is logged, counted and
retried at the next interval, and a run in progress when the app stops finishes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.ops.metrics import Metrics
from bot.outbox.checkins import queue_due_checkins
from bot.outbox.weekly import queue_due_summaries
from bot.settings import Settings
from frameworks.clock import Clock
from storage.activities import purge_claims
from storage.db import Sessions, transaction
from storage.framework_uploads import purge_uploads
from storage.personal_views import queue_views_of_closed
from storage.privacy import purge_expired
from storage.reminders import queue_due_reminders
from storage.surveys import close_due_surveys

__all__ = [
    "CLAIM_RETENTION",
    "DEADLINE_INTERVAL",
    "HOUSEKEEPING_INTERVAL",
    "UPLOAD_RETENTION",
    "Job",
    "deadlines",
    "every",
    "housekeeping",
    "scheduled_jobs",
    "start_jobs",
]

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL = timedelta(hours=1)
DEADLINE_INTERVAL = timedelta(minutes=1)
CLAIM_RETENTION = timedelta(days=2)
"""Teams gives up retrying within minutes; two days of activity ids is ample."""
UPLOAD_RETENTION = timedelta(days=30)
"""How long an expired workbook upload is kept, so a late press on its card still hears what became
of it; after that the workbook (which may name its author's organisation) is deleted."""


@dataclass(frozen=True)
class Job:
    """A named background job and how often it runs."""

    name: str
    interval: timedelta
    run: Callable[[], Awaitable[None]]


def scheduled_jobs(
    sessions: Sessions, clock: Clock, settings: Settings, notify_sender: Callable[[], None]
) -> list[Job]:
    """The jobs an app runs while it serves."""
    return [
        Job("housekeeping", HOUSEKEEPING_INTERVAL, lambda: housekeeping(sessions, clock, settings)),
        Job("deadlines", DEADLINE_INTERVAL, lambda: deadlines(sessions, clock, settings, notify_sender)),
    ]


def start_jobs(jobs: list[Job], metrics: Metrics, stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """One task per job, each running until `stop` is set."""
    return [asyncio.create_task(every(job, metrics, stop), name=job.name) for job in jobs]


async def every(job: Job, metrics: Metrics, stop: asyncio.Event) -> None:
    """Run a background job now and then every `job.interval` until `stop`; a failure is logged,
    counted and retried. A run in progress when `stop` is set finishes first."""
    while not stop.is_set():
        try:
            await job.run()
            metrics.scheduler_run(job.name, ok=True)
        except Exception:
            metrics.scheduler_run(job.name, ok=False)
            log.exception("%s failed; will retry", job.name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), job.interval.total_seconds())


async def housekeeping(sessions: Sessions, clock: Clock, settings: Settings) -> None:
    """Hourly: forget old activity claims and long-expired workbook uploads, and apply the retention
    period."""
    async with transaction(sessions) as session:
        purged = await purge_claims(session, before=clock() - CLAIM_RETENTION)
        uploads = await purge_uploads(session, expired_before=clock() - UPLOAD_RETENTION)
    if purged:
        log.info("purged %d old activity claims", purged)
    if uploads:
        log.info("purged %d workbook uploads that expired over %d days ago", uploads, UPLOAD_RETENTION.days)
    async with transaction(sessions) as session:
        await purge_expired(session, now=clock(), months=settings.retention_months, k=settings.anonymity_k)


async def deadlines(sessions: Sessions, clock: Clock, settings: Settings, notify: Callable[[], None]) -> None:
    """Every minute: close surveys whose deadline passed (queueing their partners' own views with the
    close); queue the automatic reminders and weekly summaries due."""
    async with transaction(sessions) as session:
        closed = await close_due_surveys(session, now=clock())
        views = await queue_views_of_closed(session, closed, now=clock(), k=settings.anonymity_k)
        queued = await queue_due_reminders(
            session, now=clock(), before=timedelta(hours=settings.reminder_hours_before_close)
        )
        queued += await queue_due_summaries(session, now=clock())
        queued += await queue_due_checkins(session, now=clock())
    if closed:
        log.info("closed %d surveys at their deadline; %d personal views queued", len(closed), views)
    if views:
        notify()
    if queued:
        log.info("queued %d automatic reminders and weekly summaries", queued)
        notify()
