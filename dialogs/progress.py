"""How far a person got in a survey, counted one way for every place that says it."""

from __future__ import annotations

from dialogs.views import SurveyListItem
from storage.invitations import PendingSurvey


def survey_list_item(pending: PendingSurvey) -> SurveyListItem:
    """A survey as the list shows it: answered scored questions of all scored ones, as the review and
    `stop` count them (an unscored question's comment, or a comment alone, answers nothing)."""
    scored = {element.id for _, element in pending.framework.scored_elements}
    return SurveyListItem(
        survey_id=pending.survey.id,
        title=pending.survey.title,
        answered=len(pending.chosen & scored),
        total=len(scored),
        submitted=pending.submitted,
        closes_at=pending.survey.closes_at,
    )
