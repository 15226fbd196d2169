"""Comment texts for the lead: kept out of `SurveySummary`, withheld where k people did not answer."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from frameworks.summary.build import count_answers, respondent_count
from frameworks.summary.inputs import SurveyData
from frameworks.summary.models import (
    ElementComments,
    LeadComments,
    Suppressed,
    SuppressionReason,
    SuppressionScope,
)
from frameworks.summary.rules import SummaryRules


def lead_comments(data: SurveyData, texts: Iterable[tuple[str, str]], rules: SummaryRules) -> LeadComments:
    """Comment texts by element, for the lead only: unattributed, sorted, withheld below k respondents.

    Elements below k are left out silently (a note there would say that someone commented)."""
    rule = Suppressed(
        scope=SuppressionScope.COMMENTS,
        reason=SuppressionReason.FEW_RESPONDENTS,
        message=f"Comments are shown only for questions that at least {rules.k} people answered.",
    )
    if respondent_count(data, rules) < rules.k:
        return LeadComments(survey_id=data.survey_id, title=data.title, elements=[], suppressed=[rule])
    counts = count_answers(data.answers)
    by_element: dict[str, list[str]] = defaultdict(list)
    for element_id, text in texts:
        by_element[element_id].append(text)
    elements = [
        ElementComments(
            element_id=element.id,
            title=element.title,
            domain_id=domain.id,
            comments=sorted(by_element[element.id]),
        )
        for domain, element in data.framework.iter_elements()
        if by_element.get(element.id) and element.id in counts and counts[element.id].answered >= rules.k
    ]
    return LeadComments(survey_id=data.survey_id, title=data.title, elements=elements, suppressed=[rule])
