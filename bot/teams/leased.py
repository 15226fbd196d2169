"""Leased turns: a lead's command or file consent cannot sit in one transaction (a roster fetch, an
upload), so its activity's claim holds a short lease, renewed while the work runs, and is completed
with its replies once the work is done. A redelivery of a completed claim sends what was not confirmed
sent; of one whose lease ran out (its instance died), runs the work again; of one still leased, is
asked to come back (503)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from botbuilder.core import TurnContext
from botbuilder.schema import InvokeResponse

from bot.leads.chat import CLAIMED_ACTIVITY
from bot.ops.logs import set_turn_outcome
from bot.teams.delivery import KeptReplies, deliver, redelivered, still_owed
from bot.teams.invokes import invoke_json
from bot.teams.references import References
from bot.teams.unfinished import StillInProgress
from dialogs import outgoing
from frameworks.clock import Clock
from storage.activities import Claim, claim_leased, complete_claim, lease_left, renew_lease
from storage.db import Sessions, transaction, turn_transaction

__all__ = ["CLAIM_LEASE", "LeasedTurns", "Work"]

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(seconds=30)
"""How long a command's claim is held unrenewed. Renewed every third of it while the command works, so
a redelivery after an instance died waits at most this long to run the command again."""

Work = Callable[[TurnContext], Awaitable[InvokeResponse | None]]


class LeasedTurns:
    """Runs a turn's work under a leased claim, then delivers what it owes."""

    def __init__(self, *, sessions: Sessions, clock: Clock, references: References) -> None:
        self._sessions = sessions
        self._clock = clock
        self._references = references

    async def run(self, turn_context: TurnContext, key: str | None, work: Work) -> None:
        """Claim with a lease, do the work with its replies held, then complete the claim keeping the
        replies, and send them after that commit. A redelivery of a completed claim sends what was not
        confirmed sent; of one whose lease ran out, runs the work again; of one still leased, gets 503."""
        kept: KeptReplies | None = None
        if key is not None:
            now = self._clock()
            left: timedelta | None = None
            async with turn_transaction(self._sessions) as session:
                claim = await claim_leased(session, key, now=now, lease=CLAIM_LEASE)
                if claim is Claim.RUN:
                    await self._references.remember(session, turn_context)
                elif claim is Claim.OWED:
                    kept = await still_owed(session, turn_context, key)
                elif claim is Claim.HELD:
                    left = await lease_left(session, key, now=now)
            if claim is Claim.HELD:
                set_turn_outcome("duplicate")
                log.info("redelivered activity %s: its command is in progress", turn_context.activity.id)
                raise StillInProgress(left or CLAIM_LEASE)
            if claim is Claim.DONE or (claim is Claim.OWED and kept is None):
                await redelivered(turn_context)
                return
            turn_context.turn_state[CLAIMED_ACTIVITY] = key
        if kept is None:
            kept = await self._worked(turn_context, key, work)
        await deliver(turn_context, key, kept, sessions=self._sessions)

    async def _worked(self, turn_context: TurnContext, key: str | None, work: Work) -> KeptReplies:
        """Do a leased turn's work, keeping its lease renewed, and complete its claim with its replies."""
        outgoing.hold(turn_context)
        try:
            async with self._lease_renewed(key):
                response = await work(turn_context)
            kept = KeptReplies(replies=outgoing.held(turn_context), invoke=invoke_json(response))
            if key is not None:
                async with turn_transaction(self._sessions) as session:
                    await complete_claim(session, key, kept.to_keep())
        except BaseException:
            outgoing.discard(turn_context)  # not completed: a redelivery after the lease does it again
            raise
        return kept

    @asynccontextmanager
    async def _lease_renewed(self, key: str | None) -> AsyncIterator[None]:
        """Renew the claim's lease every third of it while the body runs, so only the claim of an
        instance that died runs out."""

        async def renew(claim: str) -> None:
            while True:
                await asyncio.sleep(CLAIM_LEASE.total_seconds() / 3)
                try:
                    async with transaction(self._sessions) as session:
                        await renew_lease(session, claim, until=self._clock() + CLAIM_LEASE)
                except Exception as error:  # the next renewal tries again; the lease is three times longer
                    log.warning("could not renew a command's lease: %s", type(error).__name__)

        if key is None:
            yield
            return
        renewing = asyncio.create_task(renew(key), name="claim-lease")
        try:
            yield
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
