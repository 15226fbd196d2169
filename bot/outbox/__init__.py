"""Outbox delivery: the sender worker, its delivery policy and throttle, the lead's fan-out report,
and what each kind of outbox row says (composers, invitations, weekly summaries)."""

from bot.outbox.composers import Compose, Composers, compose_from_payload
from bot.outbox.config import SenderConfig
from bot.outbox.policy import Outcome, Reason, Verdict, backoff_seconds, classify, parse_retry_after
from bot.outbox.report import report_text
from bot.outbox.sender import OutboxSender
from bot.outbox.throttle import RateLimiter, RateLimits, Window

__all__ = [
    "Compose",
    "Composers",
    "OutboxSender",
    "Outcome",
    "RateLimiter",
    "RateLimits",
    "Reason",
    "SenderConfig",
    "Verdict",
    "Window",
    "backoff_seconds",
    "classify",
    "compose_from_payload",
    "parse_retry_after",
    "report_text",
]
