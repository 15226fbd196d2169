"""The fan-out sender: delivers outbox rows to Teams within Teams' rate limits, each once.

A worker claims due rows under a short lease, renews the lease of every row still in hand with one
UPDATE each heartbeat, sends each row within the limiter, and records the outcome in its own tiny
transaction straight after Teams answers. A 1:1 chat is stored the moment Teams creates it, so a
retry after a crash continues it instead of creating it again. Delivery is at least once: a row is
marked sent only after Teams accepted it, so if the process dies between Teams' answer and that
commit (a few milliseconds), the row is sent again once its lease runs out (at most `lease` after the
crash); and a send that timed out may have reached Teams all the same before it is retried. Cancelling
the worker is not such a death: sends already on the wire finish and are recorded, rows not yet
started are released. Two instances never hold the same row (`claim_due`), and a row whose lease is
nearly over (heartbeats failing) or was lost to another instance is not started.

How Teams' answers map to outcomes (`classify`):
- accepted → sent (with the activity id);
- 429 → the tenant's requests pause for Retry-After (seconds or an HTTP date), the row is
  rescheduled then, and the attempt is not counted: throttling says nothing about the message;
- 408, 412, 5xx, an error body that is not JSON (a gateway's page), connection errors and
  timeouts → retried with exponential backoff and full jitter, failed after `max_attempts`;
- 403 (the person blocked the bot, or it is not installed) and 404 (the person left the
  organisation) → failed for good, as do 413 (too large) and any other 4xx.

What a row carries: `person_id` and, in `payload`, `service_url` and `tenant_id` (else the person's)
to reach someone the bot has no 1:1 chat with yet (with one, the chat is continued); or
`conversation_reference_id` to post into a stored conversation (a channel, a group chat). The activity
comes from `compose` (by default `payload["activity"]`, a serialised botbuilder Activity). Rows of one
fan-out carry `fanout` (its id) and `report_to` (the conversation reference of the lead's chat), and
may carry `title`; when the last of them is sent or failed, one `fanout-report` row is enqueued with
the counts and the reasons for failures, never names.

The SDK's outbound calls are `requests` calls in the loop's default thread pool (msrest), not aiohttp:
errors arrive as `ErrorResponseException` (status and headers on `.response`), azure-core's
`DeserializationError` (a non-JSON body, status unknown) or msrest's `ClientRequestError` (connection
refused, read timeout; urllib3 retries failed connects itself, about 5 s).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from botbuilder.core import CloudAdapterBase, TurnContext
from botbuilder.schema import (
    Activity,
    ChannelAccount,
    ConversationParameters,
    ConversationReference,
)

from bot.outbox.addresses import AddressBook, Existing, NewChat
from bot.outbox.composers import Compose, compose_from_payload
from bot.outbox.policy import Outcome, Reason, Verdict, backoff_seconds, classify
from bot.outbox.report import report_if_done
from bot.outbox.throttle import RateLimiter
from frameworks.clock import Clock, utc_now
from storage.conversations import save_reference
from storage.db import Session, Sessions, lost_connection, transaction
from storage.invitations import record_delivery
from storage.outbox import (
    SKIPPED_NOTE,
    claim_due,
    mark_failed,
    mark_retry,
    mark_sent,
    mark_skipped,
    postpone,
    release,
    renew_leases,
)
from storage.tables import DeliveryState, OutboxKind, OutboxMessage

log = logging.getLogger(__name__)

RECORD_ATTEMPTS = 3
"""Tries to record an outcome whose database connection dropped: each try gets a fresh connection."""

Sleep = Callable[[float], Awaitable[None]]

CHANNEL = "msteams"


@dataclass(frozen=True)
class SenderConfig:
    concurrency: int = 8
    """Rows being sent at once. The SDK sends from the default thread pool (min(32, CPUs + 4)
    threads), which caps it too."""
    batch: int = 32
    """Rows claimed at a time (and held in memory at most)."""
    lease: timedelta = timedelta(seconds=45)
    """How long a claim lasts unless renewed: the most a crashed instance's rows wait for another."""
    heartbeat: float = 15.0
    """Seconds between renewals of the lease of every row in hand (one UPDATE for all of them)."""
    poll_interval: float = 2.0
    """Seconds between looks at the outbox when nothing is due."""
    max_attempts: int = 8
    backoff_base: float = 2.0
    backoff_cap: float = 600.0
    request_timeout: float = 30.0
    max_wait: float = 30.0
    """A row whose thread cannot send for longer than this goes back to the outbox until then,
    rather than hold a slot (and its lease) while waiting."""
    bot_id: str | None = None
    """The bot's Teams id for new 1:1 chats; default `28:<app id>`."""


@dataclass
class _Plan:
    id: int
    attempts: int
    claimed_until: datetime
    kind: OutboxKind
    activity: Activity | None = None
    target: Existing | NewChat | None = None
    problem: Outcome | None = None
    fanout: str | None = None
    report_to: int | None = None
    survey_id: int | None = None
    person_id: int | None = None
    granted: float = 0.0
    """When the limiter let its first request go."""
    holding: bool = False
    """Counted in the sender's rows in hand of its fan-out (until recorded or given up)."""
    committing: bool = False


@dataclass
class _Result:
    outcome: Outcome | None = None
    reference: ConversationReference | None = None
    """The new 1:1 chat, once created (kept even when the send then fails)."""
    chat_stored: bool = False
    """The new chat is in the database already."""
    error: Exception | None = None
    """What the send raised inside the turn, carried out of the adapter's pipeline, whose
    on_turn_error would log and swallow it."""


# The worker -----------------------------------------------------------------------------------------


class OutboxSender:
    """Claims due outbox rows and sends them; one per process, several processes may share a database."""

    def __init__(
        self,
        sessions: Sessions,
        adapter: CloudAdapterBase,
        *,
        bot_app_id: str = "",
        limiter: RateLimiter | None = None,
        compose: Compose = compose_from_payload,
        config: SenderConfig | None = None,
        worker: str | None = None,
        clock: Clock = utc_now,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        on_outcome: Callable[[Outcome, OutboxKind], None] = lambda _outcome, _kind: None,
    ) -> None:
        self.config = config or SenderConfig()
        self._on_outcome = on_outcome
        if not 0 < 2 * self.config.heartbeat <= self.config.lease.total_seconds():
            raise ValueError("the lease must outlast two heartbeats, so that one missed is not fatal")
        self.worker = (worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")[:80]
        self.limiter = limiter or RateLimiter()
        self._sessions = sessions
        self._adapter = adapter
        self._app_id = bot_app_id
        self._bot_id = self.config.bot_id or f"28:{bot_app_id or 'bot'}"
        self._compose = compose
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(self.config.concurrency)
        self._rows: set[asyncio.Task[None]] = set()
        self._committing: set[asyncio.Task[None]] = set()
        self._timed_urls: set[str] = set()
        self._in_hand: Counter[str] = Counter()
        """Rows of each fan-out claimed by this sender and not yet recorded."""
        self._plans: dict[int, _Plan] = {}
        """Every row claimed and not yet done with, whose lease the heartbeat renews."""
        self._renew_at: datetime | None = None
        """When the heartbeat is next due, by the sender's clock (renewing more often costs an UPDATE)."""
        self._renewing: asyncio.Lock = asyncio.Lock()
        self._fanout_locks: dict[str, asyncio.Lock] = {}
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
            self._let_go(plan)
        self._plans.clear()
        try:
            async with transaction(self._sessions) as session:
                released = await release(session, worker=self.worker)
            if released:
                log.info("sender %s released %d rows", self.worker, released)
        except Exception:
            log.exception("could not release claimed rows; they return when their lease ends")
        self._stopping = False

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
            if plan.fanout is not None:
                plan.holding = True
                self._in_hand[plan.fanout] += 1
            self._plans[plan.id] = plan
            task = asyncio.create_task(self._deliver(plan), name=f"outbox-{plan.id}")
            self._rows.add(task)
            task.add_done_callback(self._rows.discard)
            tasks.append(task)
        return tasks

    async def _plan(self, session: Session, row: OutboxMessage, book: AddressBook) -> _Plan:
        payload = row.payload or {}
        plan = _Plan(
            id=row.id or 0,
            attempts=row.attempts,
            claimed_until=row.claimed_until or self._clock(),
            fanout=row.fanout,
            report_to=payload.get("report_to"),
            kind=row.kind,
            survey_id=row.survey_id,
            person_id=row.person_id,
        )
        try:
            if row.kind == OutboxKind.FANOUT_REPORT or self._compose is compose_from_payload:
                plan.activity = await compose_from_payload(session, row)
            else:
                # A savepoint, so that one row's failing query leaves the batch's transaction usable.
                async with session.begin_nested():
                    plan.activity = await self._compose(session, row)
        except Exception as error:
            log.exception("composing outbox row %s failed", row.id)
            plan.problem = Outcome(Verdict.RETRY, Reason.TRANSIENT, f"compose: {type(error).__name__}")
            return plan
        if plan.activity is None:
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

    async def _deliver(self, plan: _Plan) -> None:
        """Wait for a slot and the limiter (cancellable), then send and record (not cancellable)."""
        try:
            async with self._slots:
                if plan.problem is not None or plan.activity is None or plan.target is None:
                    await self._commit(plan, _Result(plan.problem or Outcome(Verdict.SKIPPED)))
                    return
                target = plan.target
                granted = await self.limiter.acquire(
                    target.thread_key, target.tenant, max_wait=self.config.max_wait
                )
                if granted is None:
                    await self._commit(plan, _Result(self._deferred(target)))
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
                self._let_go(plan)
                self._plans.pop(plan.id, None)

    async def _commit(self, plan: _Plan, result: _Result | None) -> None:
        """Send (unless `result` is already known) and record, shielded from cancellation."""
        plan.committing = True
        task = asyncio.create_task(self._send_and_record(plan, result))
        self._committing.add(task)
        task.add_done_callback(self._committing.discard)
        await asyncio.shield(task)

    async def _send_and_record(self, plan: _Plan, result: _Result | None) -> None:
        if result is None:
            result = await self._send(plan)
        self._on_outcome(result.outcome, plan.kind)
        try:
            await self._recorded(plan, result)
        except Exception:
            log.exception("recording outbox row %s failed; it may be sent again after its lease", plan.id)
        finally:
            self._let_go(plan)
            self._plans.pop(plan.id, None)

    async def _recorded(self, plan: _Plan, result: _Result) -> None:
        """`_record`, again at once when the database connection dropped under it (the pool does not
        hand that connection out again): a send Teams accepted and left unrecorded would be sent a
        second time once its lease ran out."""
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                await self._record(plan, result)
                return
            except Exception as error:
                if attempt == RECORD_ATTEMPTS or not lost_connection(error):
                    raise
                log.warning(
                    "recording outbox row %s: lost the database connection; recording it again", plan.id
                )

    def _let_go(self, plan: _Plan) -> None:
        if plan.holding and plan.fanout is not None:
            plan.holding = False
            self._in_hand[plan.fanout] -= 1
            if self._in_hand[plan.fanout] <= 0:
                del self._in_hand[plan.fanout]
                self._fanout_locks.pop(plan.fanout, None)

    async def _send(self, plan: _Plan) -> _Result:
        target, activity = plan.target, plan.activity
        assert target is not None
        assert activity is not None
        result = _Result()
        try:
            await self._bound_request_timeout(
                target.service_url if isinstance(target, NewChat) else target.reference.service_url
            )
            if isinstance(target, Existing):
                await self._continue(target, activity, result, plan.granted)
            else:
                await self._create_and_send(target, activity, result, plan.granted)
        except Exception as error:
            result.outcome = classify(error, now=self._clock())
        if result.outcome is None:
            result.outcome = Outcome(Verdict.RETRY, Reason.TRANSIENT, "no answer from the send")
        if result.outcome.verdict is Verdict.THROTTLED:
            # Teams does not say which limit was hit, so the whole tenant waits (the safe reading).
            if result.outcome.retry_after is None:
                result.outcome = replace(result.outcome, retry_after=self._backoff(plan) + 1)
            self.limiter.pause(result.outcome.retry_after or 0, tenant=target.tenant)
        return result

    async def _continue(self, target: Existing, activity: Activity, result: _Result, granted: float) -> None:
        async def send(context: TurnContext) -> None:
            await self._send_in_turn(context, activity, result)

        try:
            async with asyncio.timeout(self._turn_timeout):
                await self._adapter.continue_conversation(target.reference, send, bot_app_id=self._app_id)
        finally:
            self.limiter.settle(target.thread_key, target.tenant, granted)
        _raise_caught(result)

    async def _create_and_send(
        self, target: NewChat, activity: Activity, result: _Result, granted: float
    ) -> None:
        parameters = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=self._bot_id),
            members=[ChannelAccount(id=target.user_id)],
            tenant_id=target.tenant or None,
            channel_data={"tenant": {"id": target.tenant}} if target.tenant else None,
        )

        created = False

        async def send(context: TurnContext) -> None:
            nonlocal created
            deadline.reschedule(None)
            created = True
            self.limiter.settle(target.thread_key, target.tenant, granted)
            reference = TurnContext.get_conversation_reference(context.activity)
            reference.activity_id = None
            reference.user = ChannelAccount(id=target.user_id)
            if reference.conversation is not None:
                reference.conversation.conversation_type = "personal"
            result.reference = reference
            await self._keep_chat(target, result)
            if self._stopping:
                result.outcome = Outcome(Verdict.STOPPED)
                return
            sending = await self.limiter.acquire(
                target.thread_key, target.tenant, max_wait=self.config.max_wait
            )
            if sending is None:
                result.outcome = self._deferred(target)
                return
            try:
                async with asyncio.timeout(self._turn_timeout):
                    await self._send_in_turn(context, activity, result)
            finally:
                self.limiter.settle(target.thread_key, target.tenant, sending)

        try:
            async with asyncio.timeout(self._turn_timeout) as deadline:
                await self._adapter.create_conversation(
                    self._app_id, send, parameters, CHANNEL, target.service_url
                )
        finally:
            if not created:
                self.limiter.settle(target.thread_key, target.tenant, granted)
        _raise_caught(result)

    async def _keep_chat(self, target: NewChat, result: _Result) -> None:
        """Store the chat Teams just created, before sending into it: if this process dies before the
        send is recorded, the retry continues this chat instead of creating it again. If storing
        fails, the outcome's transaction tries again."""
        assert result.reference is not None
        try:
            async with transaction(self._sessions) as session:
                await self._remember(session, target, result.reference, now=self._clock())
        except Exception as error:
            log.warning("storing a new 1:1 chat failed (%s); kept with the outcome", type(error).__name__)
            return
        result.chat_stored = True

    async def _send_in_turn(self, context: TurnContext, activity: Activity, result: _Result) -> None:
        # A proactive turn's activity has a made-up id; without clearing it the SDK would send a reply
        # to that id instead of a new message in the conversation.
        context.activity.id = None
        try:
            response = await context.send_activity(activity)
        except Exception as error:
            result.error = error
            return
        result.outcome = Outcome(Verdict.SENT, activity_id=response.id if response else None)

    @property
    def _turn_timeout(self) -> float:
        return self.config.request_timeout + 5

    async def _bound_request_timeout(self, service_url: str) -> None:
        """Give the connector client for this service URL our timeout (msrest's default is 100 s).

        The adapter from `bot.teams.adapter` reuses one client per service URL, so setting it once holds;
        with another adapter it only misses, and the asyncio timeout around each send still applies.
        """
        if service_url in self._timed_urls:
            return
        authentication = self._adapter.bot_framework_authentication
        factory = authentication.create_connector_factory(self._adapter.create_claims_identity(self._app_id))
        client = await factory.create(service_url, None)
        client.config.connection.timeout = self.config.request_timeout
        self._timed_urls.add(service_url)

    def _deferred(self, target: Existing | NewChat) -> Outcome:
        delay = self.limiter.delay(target.thread_key, target.tenant)
        return Outcome(Verdict.DEFERRED, Reason.DEFERRED, f"held back {delay:.0f} s", retry_after=delay)

    def _backoff(self, plan: _Plan) -> float:
        return backoff_seconds(
            plan.attempts, base=self.config.backoff_base, cap=self.config.backoff_cap, rng=self._rng
        )

    # Recording --------------------------------------------------------------------------------------

    async def _record(self, plan: _Plan, result: _Result) -> None:
        """One short transaction: the new chat if any, the outcome, and the fan-out's report if this
        was its last row.

        Whether it was is asked only by a sender's last row of that fan-out in hand: while it holds
        others, they are not done yet. Its rows of one fan-out are recorded one at a time, so that
        last one runs after the others have committed.
        """
        outcome = result.outcome
        assert outcome is not None
        if plan.fanout is None or plan.report_to is None:
            await self._store(plan, result, outcome, last=False)
            return
        lock = self._fanout_locks.setdefault(plan.fanout, asyncio.Lock())
        async with lock:
            await self._store(plan, result, outcome, last=self._in_hand[plan.fanout] == 1)
            self._let_go(plan)

    async def _store(self, plan: _Plan, result: _Result, outcome: Outcome, *, last: bool) -> None:
        now = self._clock()
        async with transaction(self._sessions) as session:
            if result.reference is not None and not result.chat_stored:
                assert isinstance(plan.target, NewChat)
                await self._remember(session, plan.target, result.reference, now=now)
            terminal = await self._apply(session, plan, outcome, now=now)
            if terminal and last and plan.fanout and plan.report_to is not None:
                await report_if_done(session, plan.fanout, plan.report_to, now=now)
        if outcome.verdict is Verdict.FAILED or (outcome.verdict is Verdict.RETRY and terminal):
            log.warning("outbox row %s failed: %s", plan.id, outcome.error)

    async def _apply(self, session: Session, plan: _Plan, outcome: Outcome, *, now: datetime) -> bool:
        """Store the outcome, and an invitation's delivery state with it; True when the row is now
        final (sent or failed)."""
        match outcome.verdict:
            case Verdict.SENT:
                await mark_sent(session, message_id=plan.id, now=now, activity_id=outcome.activity_id)
                await self._invitation(session, plan, DeliveryState.SENT, plan.attempts + 1)
                return True
            case Verdict.SKIPPED:
                await mark_skipped(session, message_id=plan.id, now=now)
                await self._invitation(session, plan, DeliveryState.SKIPPED, plan.attempts, SKIPPED_NOTE)
                return True
            case Verdict.FAILED:
                await mark_failed(session, message_id=plan.id, error=outcome.error)
                await self._invitation(session, plan, DeliveryState.FAILED, plan.attempts + 1, outcome.error)
                return True
            case Verdict.THROTTLED | Verdict.DEFERRED:
                wait = outcome.retry_after or 0.0
                await postpone(
                    session,
                    message_id=plan.id,
                    retry_at=now + timedelta(seconds=wait),
                    error=outcome.error,
                )
                await self._invitation(session, plan, DeliveryState.RETRYING, plan.attempts, outcome.error)
                return False
            case Verdict.RETRY:
                if plan.attempts + 1 >= self.config.max_attempts:
                    failed = Outcome(
                        Verdict.FAILED,
                        Reason.UNREACHABLE,
                        f"{plan.attempts + 1} attempts, last {outcome.error}",
                    )
                    await mark_failed(session, message_id=plan.id, error=failed.error)
                    await self._invitation(
                        session, plan, DeliveryState.FAILED, plan.attempts + 1, failed.error
                    )
                    return True
                wait = self._backoff(plan)
                if outcome.retry_after is not None:
                    wait = max(wait, outcome.retry_after)
                await mark_retry(
                    session, message_id=plan.id, error=outcome.error, retry_at=now + timedelta(seconds=wait)
                )
                await self._invitation(
                    session, plan, DeliveryState.RETRYING, plan.attempts + 1, outcome.error
                )
                return False
            case Verdict.STOPPED:
                return False
        return False

    @staticmethod
    async def _invitation(
        session: Session, plan: _Plan, state: DeliveryState, attempts: int, error: str | None = None
    ) -> None:
        """An invitation row says what became of its message, in the transaction recording it."""
        if plan.kind == OutboxKind.INVITE and plan.survey_id is not None and plan.person_id is not None:
            await record_delivery(
                session,
                survey_id=plan.survey_id,
                person_id=plan.person_id,
                state=state,
                attempts=attempts,
                error=error,
            )

    async def _remember(
        self, session: Session, target: NewChat, reference: ConversationReference, *, now: datetime
    ) -> None:
        assert reference.conversation is not None
        await save_reference(
            session,
            conversation_id=reference.conversation.id,
            service_url=target.service_url,
            reference=reference.serialize(),
            conversation_type="personal",
            tenant_id=target.tenant or None,
            bot_id=self._bot_id,
            person_id=target.person_id,
            now=now,
        )


def _raise_caught(result: _Result) -> None:
    if result.error is not None:
        raise result.error
