"""The fan-out sender: delivers outbox rows to Teams within Teams' rate limits, each once.

A worker claims due rows under a short lease, renews the lease of every row still in hand with one UPDATE
each heartbeat, sends each row within the limiter, and records the outcome in its own tiny transaction
straight after Teams answers, with the 1:1 chat Teams created for it if any (a retry after a crash before
that commit asks Teams for the chat again and is given the same one). Delivery is at least once: a row is
marked sent only after Teams accepted it, so if the process dies between Teams' answer and that commit (a
few milliseconds), the row is sent again once its lease runs out (at most `lease` after the crash); and a
send that timed out may have reached Teams all the same before it is retried. Cancelling the worker is
not such a death: sends already on the wire finish and are recorded, rows not yet started are released.
Two instances never hold the same row (`claim_due`), and a row whose lease is nearly over (heartbeats
failing) or was lost to another instance is not started.

How Teams' answers map to outcomes (`bot.teams.proactive.classify`, `policy.outcome_for_status`):
- accepted → sent (with the activity id);
- 429 → the tenant's requests pause for Retry-After (seconds or an HTTP date), the row is
  rescheduled then, and the attempt is not counted: throttling says nothing about the message;
- 408, 412, 5xx (a gateway's HTML page included), a success whose body is not JSON, connection
  errors and timeouts → retried with exponential backoff and full jitter, failed after `max_attempts`;
- 403 (the person blocked the bot, or it is not installed) and 404 (the person left the
  organisation) → failed for good, as do 413 (too large) and any other 4xx.

What a row carries: `person_id` and, in `payload`, `service_url` and `tenant_id` (else the person's)
to reach someone the bot has no 1:1 chat with yet (with one, the chat is continued); or
`conversation_reference_id` to post into a stored conversation (a channel, a group chat). The message
comes from the composer of the row's kind (`composers`), else from `fallback` (by default
`payload["activity"]`, a serialised Activity). Rows of one fan-out carry `fanout` (its id)
and `report_to` (the conversation reference of the lead's chat), and may carry `title`; when the last
of them is sent or failed, one `fanout-report` row is enqueued with the counts and the reasons for
failures, never names.

The sending around the Teams calls is in `bot.outbox.delivery`, the Teams calls themselves behind its
`ProactiveChannel` (`bot.teams.proactive` at the edge), the recording in `bot.outbox.recorder`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.outbox.addresses import AddressBook
from bot.outbox.composers import Compose, Composers, compose_from_payload
from bot.outbox.config import SenderConfig
from bot.outbox.delivery import Delivery, ProactiveChannel
from bot.outbox.plans import InHand, Plan, SendResult
from bot.outbox.policy import Outcome, Reason, Verdict
from bot.outbox.recorder import RECORD_ATTEMPTS, OutboxRecorder
from bot.outbox.throttle import RateLimiter
from frameworks.clock import Clock, utc_now
from storage.db import Session, Sessions, again_on_lost_connection, lost_connection, transaction
from storage.outbox import claim_due, release, renew_leases
from storage.tables import OutboxKind, OutboxMessage, stored_id

__all__ = ["OutboxSender", "SenderConfig", "Sleep"]

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


# The worker -----------------------------------------------------------------------------------------


class OutboxSender:
    """Claims due outbox rows and sends them; one per process, several processes may share a database."""

    def __init__(
        self,
        sessions: Sessions,
        channel: ProactiveChannel,
        *,
        bot_app_id: str = "",
        limiter: RateLimiter | None = None,
        composers: Composers | None = None,
        fallback: Compose = compose_from_payload,
        config: SenderConfig | None = None,
        worker: str | None = None,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        on_outcome: Callable[[Outcome, OutboxKind], None] = lambda _outcome, _kind: None,
        on_recorded: Callable[[Plan, SendResult], None] = lambda _plan, _result: None,
    ) -> None:
        self.config = config or SenderConfig()
        self._on_outcome = on_outcome
        self._on_recorded = on_recorded
        """Told once a row's outcome is committed (the fan-out benchmark times it)."""
        if not 0 < 2 * self.config.heartbeat <= self.config.lease.total_seconds():
            raise ValueError("the lease must outlast two heartbeats, so that one missed is not fatal")
        self.worker = (worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")[:80]
        self.limiter = limiter or RateLimiter()
        self._sessions = sessions
        self._composers: Composers = composers or {}
        """Each kind's composer; a kind without one is composed by `fallback`."""
        self._fallback = fallback
        self._clock = clock
        self._sleep = sleep
        self._slots = asyncio.Semaphore(self.config.concurrency)
        self._rows: set[asyncio.Task[None]] = set()
        self._committing: set[asyncio.Task[None]] = set()
        self._in_hand = InHand()
        """Rows of each fan-out claimed by this sender and not yet recorded."""
        bot_id = self.config.bot_id or f"28:{bot_app_id or 'bot'}"
        shared_rng = rng or random.Random()
        self._recorder = OutboxRecorder(
            sessions, config=self.config, bot_id=bot_id, clock=clock, rng=shared_rng, in_hand=self._in_hand
        )
        self._delivery = Delivery(
            channel,
            limiter=self.limiter,
            config=self.config,
            bot_id=bot_id,
            clock=clock,
            rng=shared_rng,
            stopping=lambda: self._stopping,
        )
        self._plans: dict[int, Plan] = {}
        """Every row claimed and not yet done with, whose lease the heartbeat renews."""
        self._renew_at: datetime | None = None
        """When the heartbeat is next due, by the sender's clock (renewing more often costs an UPDATE)."""
        self._renewing: asyncio.Lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = False

    # Running ---------------------------------------------------------------------------------------

    def notify(self) -> None:
        """New rows were added: look now rather than at the next poll."""
        self._wake.set()

    async def drain_once(self) -> int:
        """Claim one batch of due rows and send them all; returns how many were claimed."""
        started = await self._claim_and_start(self.config.batch)
        try:
            pending = set(started)
            while pending:
                _done, pending = await asyncio.wait(pending, timeout=self.config.heartbeat)
                await self._keep_leases()
        except asyncio.CancelledError:
            await self.shutdown()
            raise
        return len(started)

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set or the task is cancelled (both end as `shutdown`), keeping up to
        `batch` rows in hand. Start it outside any `turn_transaction`, whose session it would join."""
        stopped = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                self._wake.clear()
                claimed = []
                if len(self._rows) < self.config.concurrency:
                    claimed = await self._claim_and_start(self.config.batch - len(self._rows))
                    if claimed and len(self._rows) < self.config.concurrency:
                        continue  # room for more: the next claim finds none due, then we wait
                waiters: set[asyncio.Future[Any]] = {stopped, *self._rows}
                timers: set[asyncio.Future[Any]] = set()
                if not claimed:
                    timers = {
                        asyncio.ensure_future(self._wake.wait()),
                        asyncio.ensure_future(self._sleep(self.config.poll_interval)),
                    }
                await asyncio.wait(
                    waiters | timers, timeout=self.config.heartbeat, return_when=asyncio.FIRST_COMPLETED
                )
                for timer in timers:
                    timer.cancel()
                await self._keep_leases()
        finally:
            stopped.cancel()
            await self.shutdown()

    async def shutdown(self) -> None:
        """Let sends already on the wire finish and be recorded; give back every other claimed row."""
        self._stopping = True
        for task in self._rows:
            task.cancel()
        await asyncio.gather(*self._rows, return_exceptions=True)
        await asyncio.gather(*self._committing, return_exceptions=True)
        # A row task cancelled before it ever ran did not let go of its row itself.
        for plan in self._plans.values():
            self._in_hand.let_go(plan)
        self._plans.clear()
        await self._release()
        self._stopping = False

    async def _release(self) -> None:
        """Give back the rows still claimed, on a fresh connection again if the pool's was dead (a
        failover while the bot idled); if that fails too, they return to the queue when their lease ends."""

        async def released() -> int:
            async with transaction(self._sessions) as session:
                return await release(session, worker=self.worker)

        try:
            count = await again_on_lost_connection(released, attempts=RECORD_ATTEMPTS)
        except Exception as error:
            if not lost_connection(error):
                log.exception("could not release claimed rows; they return when their lease ends")
                return
            log.warning(
                "could not release claimed rows (lost the database connection); they return when their "
                "lease ends"
            )
            return
        if count:
            log.info("sender %s released %d rows", self.worker, count)

    # Claiming and planning --------------------------------------------------------------------------

    async def _claim_and_start(self, limit: int) -> list[asyncio.Task[None]]:
        if limit <= 0 or self._stopping:
            return []
        now = self._clock()
        try:
            async with transaction(self._sessions) as session:
                rows = await claim_due(
                    session, worker=self.worker, now=now, lease=self.config.lease, limit=limit
                )
            if not rows:
                return []
            async with transaction(self._sessions) as session:
                book = await AddressBook.load(session, rows)
                plans = [await self._plan(session, row, book) for row in rows]
        except Exception:
            log.exception("claiming from the outbox failed; will try again")
            return []
        tasks = []
        if not self._plans:
            self._renew_at = now + timedelta(seconds=self.config.heartbeat)
        for plan in plans:
            self._in_hand.hold(plan)
            self._plans[plan.id] = plan
            task = asyncio.create_task(self._deliver(plan), name=f"outbox-{plan.id}")
            self._rows.add(task)
            task.add_done_callback(self._rows.discard)
            tasks.append(task)
        return tasks

    async def _plan(self, session: Session, row: OutboxMessage, book: AddressBook) -> Plan:
        payload = row.payload or {}
        plan = Plan(
            id=stored_id(row.id),
            attempts=row.attempts,
            claimed_until=row.claimed_until or self._clock(),
            fanout=row.fanout,
            report_to=payload.get("report_to"),
            kind=row.kind,
            survey_id=row.survey_id,
            person_id=row.person_id,
        )
        try:
            compose = self._composers.get(row.kind, self._fallback)
            if row.kind == OutboxKind.FANOUT_REPORT or compose is compose_from_payload:
                plan.message = await compose_from_payload(session, row)
            else:
                # A savepoint, so that one row's failing query leaves the batch's transaction usable.
                async with session.begin_nested():
                    plan.message = await compose(session, row)
        except Exception as error:
            log.exception("composing outbox row %s failed", row.id)
            plan.problem = Outcome(Verdict.RETRY, Reason.TRANSIENT, f"compose: {type(error).__name__}")
            return plan
        if plan.message is None:
            return plan
        plan.target = book.target(row)
        if plan.target is None:
            plan.problem = Outcome(Verdict.FAILED, Reason.NO_ADDRESS, "no conversation or service URL")
        return plan

    # Leases -----------------------------------------------------------------------------------------

    async def renew_leases(self) -> int:
        """Extend the lease of every row this sender still holds, in one UPDATE; a row another
        instance took meanwhile (its lease had run out) is no longer started here. Returns how many
        rows are still held."""
        async with self._renewing:
            now = self._clock()
            until = now + self.config.lease
            try:
                async with transaction(self._sessions) as session:
                    held = await renew_leases(session, worker=self.worker, until=until)
            except Exception as error:
                log.warning("renewing the outbox leases failed (%s); trying again soon", type(error).__name__)
                self._renew_at = now + timedelta(seconds=self.config.heartbeat / 3)
                return 0
            self._renew_at = now + timedelta(seconds=self.config.heartbeat)
            for plan_id, plan in self._plans.items():
                plan.claimed_until = until if plan_id in held else min(plan.claimed_until, now)
            return len(held)

    async def _keep_leases(self) -> None:
        """Renew when a heartbeat is due by the sender's clock and it holds rows."""
        if self._plans and self._renew_at is not None and self._clock() >= self._renew_at:
            await self.renew_leases()

    # Sending ----------------------------------------------------------------------------------------

    async def _deliver(self, plan: Plan) -> None:
        """Wait for a slot and the limiter (cancellable), then send and record (not cancellable)."""
        try:
            async with self._slots:
                if plan.problem is not None or plan.message is None or plan.target is None:
                    await self._commit(plan, SendResult(plan.problem or Outcome(Verdict.SKIPPED)))
                    return
                target = plan.target
                granted = await self.limiter.acquire(
                    target.thread_key, target.tenant, max_wait=self.config.max_wait
                )
                if granted is None:
                    await self._commit(plan, SendResult(self._delivery.deferred(target)))
                    return
                plan.granted = granted
                if self._stopping:
                    return
                await self._keep_leases()
                left = (plan.claimed_until - self._clock()).total_seconds()
                if left < self.config.heartbeat:
                    log.warning("outbox row %s: lease nearly over or lost, left for a later claim", plan.id)
                    return
                await self._commit(plan, None)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivering outbox row %s failed; it returns when its lease ends", plan.id)
        finally:
            if not plan.committing:
                self._in_hand.let_go(plan)
                self._plans.pop(plan.id, None)

    async def _commit(self, plan: Plan, result: SendResult | None) -> None:
        """Send (unless `result` is already known) and record, shielded from cancellation."""
        plan.committing = True
        task = asyncio.create_task(self._send_and_record(plan, result))
        self._committing.add(task)
        task.add_done_callback(self._committing.discard)
        await asyncio.shield(task)

    async def _send_and_record(self, plan: Plan, result: SendResult | None) -> None:
        if result is None:
            result = await self._delivery.send(plan)
        assert result.outcome is not None
        self._on_outcome(result.outcome, plan.kind)
        try:
            await self._recorder.record(plan, result)
            self._on_recorded(plan, result)
        except Exception:
            log.exception("recording outbox row %s failed; it may be sent again after its lease", plan.id)
        finally:
            self._in_hand.let_go(plan)
            self._plans.pop(plan.id, None)
