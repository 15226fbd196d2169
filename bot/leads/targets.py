"""Which survey a lead's command means, within the turn's reach, and the words when there is none.

A survey outside the reach is answered exactly like one that does not exist (storage.surveys)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.cards import escape
from bot.commands import SummaryTarget, SurveyRef
from bot.reports.text import clip
from storage.db import Session
from storage.organisations import find_partnerships
from storage.summaries import latest_round, partnership_frameworks
from storage.surveys import Reach, find_survey, survey_by_id
from storage.tables import Partnership, Survey, SurveyState, stored_id

_STATE_WORD = {SurveyState.OPEN: "open ", SurveyState.CLOSED: "closed "}


def missing(ref: SurveyRef | None, state: SurveyState | None = None, *, reach: Reach) -> str:
    """Why a command found no survey: the same words whether or not the survey exists out of reach.
    In a lead's 1:1 chat `surveys` lists every survey they can reach, so it is offered there."""
    word = _STATE_WORD.get(state, "") if state is not None else ""
    leads_chat = reach.place_id is None and reach.lead
    if ref is not None and ref.number is not None:
        where = "to see their numbers" if leads_chat else "in its channel to see its numbers"
        return f"There is no {word}survey #{ref.number} here. Say surveys {where}."
    if ref is not None and ref.fragment:
        return f"No {word}survey here matches “{escape(clip(ref.fragment, 60))}”."
    if leads_chat:
        return f"Which {word}survey? Add its number, e.g. #12; say surveys to see the numbers."
    return f"There is no {word}survey here yet. Name one (status #12), or see the ones here with surveys."


def survey_keywords(ref: SurveyRef | None) -> dict[str, Any]:
    """A typed survey reference as `find_survey`'s keywords."""
    if ref is None:
        return {}
    return {"number": ref.number, "fragment": ref.fragment}


@dataclass(frozen=True)
class Target:
    """What a summary command resolved to: the survey to summarise, and the partnership it follows."""

    survey: Survey
    partnership: Partnership | None = None
    framework_id: str | None = None

    @property
    def label(self) -> str:
        if self.partnership is not None:
            return f"“{escape(self.partnership.name)}” (its latest {escape(self.framework_id or '')} round)"
        return f"“{escape(self.survey.title)}”"

    def keys(self) -> dict[str, Any]:
        """A subscription's target columns: a partnership follows its latest round; a survey is fixed."""
        if self.partnership is not None:
            return {"partnership_id": self.partnership.id, "framework_id": self.framework_id}
        return {"survey_id": self.survey.id}


async def summary_target(session: Session, *, reach: Reach, target: SummaryTarget) -> Target | str:
    """The survey a summary command means (for a partnership: its latest round here), or why not.
    A partnership with no round within reach is answered as one that does not exist."""
    if target.partnership is None:
        survey = await find_survey(session, reach=reach, **survey_keywords(target.survey))
        return Target(survey) if survey is not None else missing(target.survey, reach=reach)
    name = escape(target.partnership)
    found = [
        (partnership, ran)
        for partnership in await find_partnerships(session, target.partnership)
        if (ran := await partnership_frameworks(session, stored_id(partnership.id), reach=reach))
    ]
    if not found:
        return f"There is no partnership called “{name}” with a survey here."
    if len(found) > 1:
        names = ", ".join(f"“{escape(p.name)}”" for p, _ in found[:10])
        return f"“{name}” could be {names}. Put the whole name in quotes."
    partnership, ran = found[0]
    framework_id = target.framework_id
    if framework_id is None:
        if len(ran) > 1:
            return (
                f"“{escape(partnership.name)}” has run more than one framework: {', '.join(ran)}. "
                "Add framework <framework>, e.g. "
                f'results partnership "{escape(partnership.name)}" framework {ran[0]}.'
            )
        framework_id = ran[0]
    latest = await latest_round(session, stored_id(partnership.id), framework_id, reach=reach)
    survey = await survey_by_id(session, survey_id=latest) if latest is not None else None
    if survey is None:
        return f"“{escape(partnership.name)}” has no survey of {escape(framework_id)} here."
    return Target(survey, partnership, framework_id)
