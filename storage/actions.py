"""The action plan: what a partnership will do about a gap or a split, by whom and by when, tracked the
way the CCG delivery plan in the seeds tracks it (a reference, RAG and open/closed/live).

Actions are scoped like surveys (storage.surveys.Reach): to the tenant and the channel or chat they
were made in; a lead's 1:1 chat reaches every action of the tenant, anyone else's 1:1 chat none (an
owner's own actions are read by `actions_owned_by`). References (`A3`) are numbered per channel or
chat, the next number taken in the INSERT itself; two leads adding at once meet the unique
constraint, and the loser takes the next number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.surveys import Reach
from storage.tables import (
    Action,
    ActionRag,
    ActionState,
    ActionUpdate,
    Invitation,
    Person,
    stored_id,
    table_of,
)
from storage.upsert import insert

__all__ = [
    "DEFAULT_CHECKIN_DAYS",
    "PLAN_COLUMNS",
    "ActionCounts",
    "ActionLine",
    "ActionNotFound",
    "NewAction",
    "action_by_id",
    "action_counts",
    "actions_in_reach",
    "actions_owned_by",
    "add_action",
    "advance_checkin",
    "due_checkins",
    "find_actions",
    "forget_notes",
    "is_overdue",
    "owner_choices",
    "people_named",
    "plan_rows",
    "same_action",
    "update_action",
]

_ACTIONS = table_of(Action)
DEFAULT_CHECKIN_DAYS = 30
"""Monthly, as the seed's delivery plan is reported."""
_ADD_ATTEMPTS = 8
_DONE_STATES = (ActionState.CLOSED,)


class ActionNotFound(LookupError):
    """No action with that reference here (or not within reach: told apart from nothing)."""


@dataclass(frozen=True)
class NewAction:
    """What a lead gives when making an action; the reference is the bot's."""

    tenant_id: str
    conversation_id: str
    """The channel or chat (no `;messageid=`) whose plan it joins."""
    text: str
    owner_id: int
    created_by_id: int | None
    due_on: date | None = None
    survey_id: int | None = None
    partnership_id: int | None = None
    element_id: str | None = None
    element_title: str | None = None
    checkin_days: int = DEFAULT_CHECKIN_DAYS


@dataclass(frozen=True)
class ActionLine:
    """One action as lists and cards show it: the row and its owner's name (None when erased)."""

    action: Action
    owner_name: str | None

    @property
    def reference(self) -> str:
        return f"A{self.action.number}"


@dataclass(frozen=True)
class ActionCounts:
    """The plan in figures, for a channel's weekly post: no text, no names."""

    by_rag: dict[ActionRag, int]
    """Actions not closed, by RAG."""
    overdue: int
    changed: int
    """Actions with an update (or made) since the time asked about."""
    closed: int

    @property
    def total(self) -> int:
        return sum(self.by_rag.values()) + self.closed


def is_overdue(*, due_on: date | None, rag: ActionRag, state: ActionState, today: date) -> bool:
    """Past its due date and neither complete nor closed."""
    return (
        due_on is not None and due_on < today and rag is not ActionRag.COMPLETE and state not in _DONE_STATES
    )


def _in_reach(reach: Reach) -> sa.ColumnElement[bool]:
    if reach.tenant_id is None:
        return sa.false()
    tenant = col(Action.tenant_id) == reach.tenant_id
    if reach.place_id is not None:
        return sa.and_(tenant, col(Action.conversation_id) == reach.place_id)
    return tenant if reach.lead else sa.false()


async def add_action(session: AsyncSession, new: NewAction, *, now: datetime) -> Action:
    """Insert the action with the next reference of its channel or chat, in one statement."""
    place = sa.and_(_ACTIONS.c.tenant_id == new.tenant_id, _ACTIONS.c.conversation_id == new.conversation_id)
    next_number = sa.select(sa.func.coalesce(sa.func.max(_ACTIONS.c.number), 0) + 1).where(place)
    values = {
        "tenant_id": new.tenant_id,
        "conversation_id": new.conversation_id,
        "survey_id": new.survey_id,
        "partnership_id": new.partnership_id,
        "element_id": new.element_id,
        "element_title": new.element_title,
        "text": new.text,
        "owner_id": new.owner_id,
        "due_on": new.due_on,
        "rag": ActionRag.ON_TRACK.value,
        "state": ActionState.OPEN.value,
        "checkin_days": new.checkin_days,
        "next_checkin_at": now + timedelta(days=new.checkin_days),
        "created_by_id": new.created_by_id,
        "created_at": now,
        "updated_at": now,
    }
    names = list(values)
    selected = sa.select(
        *(sa.literal(value, type_=_ACTIONS.c[name].type) for name, value in values.items()),
        next_number.scalar_subquery(),
    ).where(sa.true())  # SQLite reads INSERT … SELECT … ON CONFLICT only with a WHERE
    statement = (
        insert(session, _ACTIONS)
        .from_select([*names, "number"], selected)
        .on_conflict_do_nothing(index_elements=["tenant_id", "conversation_id", "number"])
        .returning(_ACTIONS.c.id)
    )
    for _ in range(_ADD_ATTEMPTS):
        made = (await session.execute(statement)).scalar_one_or_none()
        if made is not None:
            return await action_by_id(session, made)
    raise RuntimeError("could not number a new action: too many made at once here")


async def action_by_id(session: AsyncSession, action_id: int, *, for_update: bool = False) -> Action:
    query = sa.select(Action).where(col(Action.id) == action_id).execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update()
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise ActionNotFound(action_id)
    return found


async def find_actions(session: AsyncSession, *, reach: Reach, number: int) -> list[Action]:
    """The actions with this reference within reach: one in a channel; in a lead's 1:1 chat, one per
    channel that has an A<number> (the caller asks which)."""
    query = (
        sa.select(Action)
        .where(_in_reach(reach), col(Action.number) == number)
        .order_by(col(Action.id))
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(query)).scalars())


async def actions_in_reach(
    session: AsyncSession,
    *,
    reach: Reach,
    survey_id: int | None = None,
    partnership_id: int | None = None,
    limit: int = 100,
) -> list[ActionLine]:
    """The plan within reach (optionally of one survey or partnership), open ones first, by reference."""
    query = _lines().where(_in_reach(reach))
    if survey_id is not None:
        query = query.where(col(Action.survey_id) == survey_id)
    if partnership_id is not None:
        query = query.where(col(Action.partnership_id) == partnership_id)
    return await _read_lines(session, query, limit)


async def actions_owned_by(session: AsyncSession, *, person_id: int, limit: int = 100) -> list[ActionLine]:
    """A person's own actions, wherever they were made (their 1:1 chat shows them these)."""
    return await _read_lines(session, _lines().where(col(Action.owner_id) == person_id), limit)


def _lines() -> sa.Select[Action, str | None]:
    return sa.select(Action, col(Person.name)).outerjoin(Person, col(Person.id) == col(Action.owner_id))


async def _read_lines(
    session: AsyncSession, query: sa.Select[Action, str | None], limit: int
) -> list[ActionLine]:
    closed_last = sa.case((col(Action.state) == ActionState.CLOSED.value, 1), else_=0)
    ordered = query.order_by(
        closed_last, col(Action.conversation_id), col(Action.number), col(Action.id)
    ).limit(limit)
    rows = (await session.execute(ordered.execution_options(populate_existing=True))).all()
    return [ActionLine(action=action, owner_name=name) for action, name in rows]


async def update_action(
    session: AsyncSession,
    action: Action,
    *,
    person_id: int | None,
    now: datetime,
    rag: ActionRag | None = None,
    state: ActionState | None = None,
    note: str | None = None,
    checkin_days: int | None = None,
) -> bool:
    """Change what is given and record it in the history; False (nothing recorded) when nothing
    changes. Setting complete does not close an action: the lead closes it, as in the seed's plan."""
    new_rag = rag if rag is not None and rag != action.rag else None
    new_state = state if state is not None and state != action.state else None
    new_days = checkin_days if checkin_days is not None and checkin_days != action.checkin_days else None
    if new_rag is None and new_state is None and not note and new_days is None:
        return False
    values: dict[str, object] = {"updated_at": now}
    if new_rag is not None:
        values["rag"] = new_rag.value
    if new_state is not None:
        values["state"] = new_state.value
    if new_days is not None:
        values["checkin_days"] = new_days
        values["next_checkin_at"] = now + timedelta(days=new_days)
    action_id = stored_id(action.id)
    await session.execute(sa.update(_ACTIONS).where(_ACTIONS.c.id == action_id).values(**values))
    if new_rag is not None or new_state is not None or note:
        session.add(
            ActionUpdate(
                action_id=action_id,
                person_id=person_id,
                rag=new_rag,
                state=new_state,
                note=note,
                created_at=now,
            )
        )
        await session.flush()
    await session.refresh(action)
    return True


async def due_checkins(session: AsyncSession, *, now: datetime, limit: int = 500) -> list[Action]:
    """Actions whose owner is owed a check-in: not closed, not complete, with an owner, and due."""
    query = (
        sa.select(Action)
        .where(
            col(Action.next_checkin_at) <= now,
            col(Action.owner_id).is_not(None),
            col(Action.state) != ActionState.CLOSED.value,
            col(Action.rag) != ActionRag.COMPLETE.value,
        )
        .order_by(col(Action.next_checkin_at), col(Action.id))
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def advance_checkin(session: AsyncSession, action: Action, *, now: datetime) -> None:
    """The next check-in, one period from now (after an answer, or once one is queued)."""
    await session.execute(
        sa.update(_ACTIONS)
        .where(_ACTIONS.c.id == stored_id(action.id))
        .values(next_checkin_at=now + timedelta(days=action.checkin_days))
    )


async def action_counts(
    session: AsyncSession, *, tenant_id: str, conversation_id: str, today: date, since: datetime | None
) -> ActionCounts:
    """A channel's or chat's plan in figures: by RAG (not closed), overdue, changed since `since`."""
    rows = (
        await session.execute(
            sa.select(
                col(Action.id), col(Action.rag), col(Action.state), col(Action.due_on), col(Action.created_at)
            ).where(col(Action.tenant_id) == tenant_id, col(Action.conversation_id) == conversation_id)
        )
    ).all()
    by_rag: Counter[ActionRag] = Counter()
    overdue = closed = 0
    for _id, rag, state, due_on, _created in rows:
        if ActionState(state) is ActionState.CLOSED:
            closed += 1
            continue
        by_rag[ActionRag(rag)] += 1
        overdue += is_overdue(due_on=due_on, rag=ActionRag(rag), state=ActionState(state), today=today)
    changed = 0
    if since is not None and rows:
        ids = [row[0] for row in rows]
        updated = set(
            (
                await session.execute(
                    sa.select(col(ActionUpdate.action_id))
                    .where(col(ActionUpdate.action_id).in_(ids), col(ActionUpdate.created_at) > since)
                    .distinct()
                )
            ).scalars()
        )
        made = {row[0] for row in rows if row[4] > since}
        changed = len(updated | made)
    return ActionCounts(
        by_rag={rag: by_rag.get(rag, 0) for rag in ActionRag}, overdue=overdue, changed=changed, closed=closed
    )


async def owner_choices(session: AsyncSession, *, survey_id: int, limit: int = 100) -> list[tuple[int, str]]:
    """People invited to a survey, by name: who a summary card's "Make an action" form offers."""
    rows = await session.execute(
        sa.select(col(Person.id), col(Person.name))
        .join(Invitation, col(Invitation.person_id) == col(Person.id))
        .where(col(Invitation.survey_id) == survey_id, col(Person.name).is_not(None))
        .order_by(col(Person.name), col(Person.id))
        .limit(limit)
    )
    return [(stored_id(pid), name or "") for pid, name in rows.all()]


async def people_named(session: AsyncSession, *, name: str, tenant_id: str) -> list[Person]:
    """People of the tenant the bot knows by this display name (any letter case): a typed owner."""
    rows = await session.execute(
        sa.select(Person)
        .where(
            sa.func.lower(col(Person.name)) == " ".join(name.split()).lower(),
            sa.or_(col(Person.tenant_id) == tenant_id, col(Person.tenant_id).is_(None)),
        )
        .order_by(col(Person.id))
        .limit(3)
    )
    return list(rows.scalars())


PLAN_COLUMNS = ("Ref", "Requirement", "Action", "Due Date", "GB Owner", "RAG", "Status")
"""The seed tracker's columns (CCG improvement and delivery plan 2018/19), in its order."""
RAG_WORDS = {
    ActionRag.ON_TRACK: "On-Track",
    ActionRag.AT_RISK: "At Risk",
    ActionRag.OFF_TRACK: "Off-Track",
    ActionRag.COMPLETE: "Complete",
}
"""RAG as the seed's tracker spells it (On-Track, Complete; its amber and red are named here)."""


async def plan_rows(session: AsyncSession, *, survey_id: int, anonymise: bool) -> list[tuple[str, ...]]:
    """A survey's actions as the seed tracker's rows (PLAN_COLUMNS); anonymised: no owner names."""
    query = _lines().where(col(Action.survey_id) == survey_id)
    rows: list[tuple[str, ...]] = []
    for line in await _read_lines(session, query, limit=10_000):
        action = line.action
        rows.append(
            (
                line.reference,
                action.element_title or "",
                action.text,
                action.due_on.isoformat() if action.due_on is not None else "",
                "" if anonymise else (line.owner_name or ""),
                RAG_WORDS[ActionRag(action.rag)],
                ActionState(action.state).value.capitalize(),
            )
        )
    return rows


async def forget_notes(session: AsyncSession, *, person_ids: Sequence[int]) -> None:
    """An erased person's notes on actions go; the plan keeps what changed (RAG, state), unattributed
    once their person row is deleted (the foreign keys set it NULL)."""
    if person_ids:
        await session.execute(
            sa.update(ActionUpdate).where(col(ActionUpdate.person_id).in_(person_ids)).values(note=None)
        )


async def same_action(session: AsyncSession, new: NewAction) -> Action | None:
    """An open action of this plan with the same text, owner and due date: a command run again (Teams
    redelivers a command whose instance died) or typed twice finds it instead of adding another."""
    query = sa.select(Action).where(
        col(Action.tenant_id) == new.tenant_id,
        col(Action.conversation_id) == new.conversation_id,
        col(Action.text) == new.text,
        col(Action.owner_id) == new.owner_id,
        col(Action.due_on).is_not_distinct_from(new.due_on),
        col(Action.state) != ActionState.CLOSED.value,
    )
    return (await session.execute(query.order_by(col(Action.id)).limit(1))).scalar_one_or_none()
