"""Outbox delivery: the sender worker, its delivery policy and throttle, the Teams calls it needs
(`ProactiveChannel`, implemented by `bot.teams.proactive`), the lead's fan-out report,
and what each kind of outbox row says (composers, invitations, weekly summaries)."""

from bot.outbox.addresses import ChatAddress
from bot.outbox.composers import Compose, Composers, compose_from_payload
from bot.outbox.config import SenderConfig
from bot.outbox.delivery import ProactiveChannel
from bot.outbox.policy import Outcome, Reason, Verdict, backoff_seconds, outcome_for_status, parse_retry_after
from bot.outbox.report import report_text
from bot.outbox.sender import OutboxSender
from bot.outbox.throttle import RateLimiter, RateLimits, Window

__all__ = [
    "ChatAddress",
    "Compose",
    "Composers",
    "OutboxSender",
    "Outcome",
    "ProactiveChannel",
    "RateLimiter",
    "RateLimits",
    "Reason",
    "SenderConfig",
    "Verdict",
    "Window",
    "backoff_seconds",
    "compose_from_payload",
    "outcome_for_status",
    "parse_retry_after",
    "report_text",
]
