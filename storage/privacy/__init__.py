"""Data protection: everything held about a person (subject access), erasure, and retention.

rules (what happens to a response, the plans), records (where a person's data is), export (subject
access), fates (anonymise or delete responses, forget people), erasure and retention.

Who: `find_person` takes an AAD object id (what Entra ID and a DPO work with) or a Teams user id.

Erasure (`erase_person`), in the caller's transaction, so it happens completely or not at all:
    Each of the person's responses meets one fate (`fate_of`):
    - the survey still accepts answers (open, closing date not passed): the response and its answers
      are DELETED. Its figures are still moving, so a kept anonymous row could be told apart by when
      it stopped changing, and the answers could still be changed by nobody but the erased person.
    - the survey is closed (state closed, or its closing date has passed) and the *group* has at least
      k respondents: the response is ANONYMISED and kept, so closed rounds' aggregates do not move.
      "Group" = the responses to that survey with the same organisation as the response
      (`responses.organisation_id`, frozen when they answered; no organisation is a group of its own,
      shown as "Unassigned"), the person's own response and earlier anonymised ones included, counting
      only those that answered at least one question (`storage.summaries.answered`, the summaries' own
      definition): the respondents an organisation breakdown is computed from.
    - otherwise (closed, group below k) it is DELETED: in so small a group the others could tell
      which anonymous row was theirs.
    Anonymising keeps the organisation, values, scores and skips, and removes everything else that
    points at the person: the response moves to a new anonymous person row of its own (one per
    response, so anonymous rows cannot be linked across surveys; `teams_user_id` "erased:<uuid>", no
    other identity field; no schema change needed); comments are set to NULL and answer rows left
    empty without them are deleted; every timestamp of the response, its answers and its invitation is
    replaced by the survey's closing time (timing can identify), keeping only whether it was
    submitted. The invitation of a kept response moves with it (delivery error cleared), so response
    rates do not change either.
    Then the person's other invitations, the outbox messages addressed to them, their conversation
    references, the bot state of their 1:1 conversations and their user state, rows of other tables
    naming their AAD object id (their lead grant: they stop being a lead unless settings name them),
    and finally the person row go. Other tables referring to people.id follow their foreign key's
    ON DELETE (surveys, summary subscriptions and lead grants they made stay, with the person NULL).
    Erasing someone unknown (never seen, or already erased) does nothing and returns None.
    One log line at INFO records the erasure with counts and `subject_hash` (sha256 of the lower-case
    AAD object id, else of the Teams user id, first 16 hex digits): enough for someone who holds the id
    to confirm it was erased, nothing more.

Retention (`purge_expired`): responses to surveys closed more than `months` ago meet the same fate as
at erasure (anonymised when the group has k or more, deleted otherwise); those surveys' other
invitations and outbox messages of identifiable people are deleted; then people with nothing left
pointing at them (responses, invitations, outbox messages, surveys or subscriptions they created, rows
of any other table) and not seen for `months` (person row and every conversation reference unchanged
since) are forgotten as at erasure. Anonymous rows are never touched again, except that one left with
nothing at all (its survey deleted) goes too. `plan_*` compute exactly what the `erase`/`purge`
functions then carry out, so previews and dry runs are the real decision, not an estimate.
"""

from storage.privacy.erasure import erase_person, plan_erasure
from storage.privacy.export import PersonalData, export_person
from storage.privacy.records import find_person
from storage.privacy.retention import plan_expired, purge_expired
from storage.privacy.rules import (
    DEFAULT_K,
    DEFAULT_RETENTION_MONTHS,
    TOMBSTONE_PREFIX,
    ErasurePlan,
    Fate,
    ResponseFate,
    RetentionPlan,
    fate_of,
    months_before,
    subject_hash,
)

__all__ = [
    "DEFAULT_K",
    "DEFAULT_RETENTION_MONTHS",
    "TOMBSTONE_PREFIX",
    "ErasurePlan",
    "Fate",
    "PersonalData",
    "ResponseFate",
    "RetentionPlan",
    "erase_person",
    "export_person",
    "fate_of",
    "find_person",
    "months_before",
    "plan_erasure",
    "plan_expired",
    "purge_expired",
    "subject_hash",
]
