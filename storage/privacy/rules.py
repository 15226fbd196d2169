"""What erasure and retention decide: each response's fate, and the plans they carry out (see the package
docstring for the rule)."""

from __future__ import annotations

import calendar
import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from frameworks.summary import SummaryRules
from storage.tables import Person

DEFAULT_K: int = SummaryRules.model_fields["k"].default
"""The summaries' anonymity threshold: a group kept for aggregates is one a summary could show."""
DEFAULT_RETENTION_MONTHS = 24
"""Two annual rounds: a person's previous answers stay theirs until the next round has run."""
TOMBSTONE_PREFIX = "erased:"
"""`teams_user_id` of the anonymous person rows that hold anonymised responses."""


class Fate(StrEnum):
    ANONYMISE = "anonymise"
    DELETE = "delete"


def fate_of(*, accepting_answers: bool, group_size: int, k: int) -> Fate:
    """What erasure or retention does to one response (the rule is in the module docstring)."""
    if accepting_answers or group_size < k:
        return Fate.DELETE
    return Fate.ANONYMISE


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the 31st becomes the month's last day)."""
    if months < 0:
        raise ValueError("months must not be negative")
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return moment.replace(year=year, month=month + 1, day=min(moment.day, last_day))


def subject_hash(person: Person) -> str:
    """What logs may say about whom: a digest of the AAD object id (else the Teams user id)."""
    subject = (person.aad_object_id or "").lower() or person.teams_user_id
    return hashlib.sha256(subject.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ResponseFate:
    response_id: int
    survey_id: int
    person_id: int
    fate: Fate
    stamp: datetime
    """The survey's closing time: every timestamp of an anonymised response becomes this."""


class FateCounts:
    """What a plan does to responses, counted for the person running it."""

    responses: tuple[ResponseFate, ...]

    @property
    def anonymised(self) -> int:
        return sum(1 for f in self.responses if f.fate is Fate.ANONYMISE)

    @property
    def deleted(self) -> int:
        return sum(1 for f in self.responses if f.fate is Fate.DELETE)


@dataclass(frozen=True)
class ErasurePlan(FateCounts):
    person_id: int
    subject: str
    """`subject_hash` of the person, the only way logs refer to them."""
    responses: tuple[ResponseFate, ...]
    invitations_deleted: int
    invitations_anonymised: int
    conversations: int
    outbox: int
    bot_state_keys: tuple[str, ...]
    other_records: dict[str, int]
    """Rows of other tables naming the person's AAD object id, by table."""


@dataclass(frozen=True)
class RetentionPlan(FateCounts):
    cutoff: datetime
    """Surveys closed and people last seen at or before this moment are expired."""
    responses: tuple[ResponseFate, ...]
    invitations_deleted: int
    outbox: int
    people: tuple[int, ...]
    """People forgotten: nothing links to them any more and they have not been seen since the cutoff."""
    bot_state_keys: tuple[str, ...]
