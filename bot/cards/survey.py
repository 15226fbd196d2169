"""Adaptive Cards (schema 1.5, Universal Actions) for the survey conversation in Teams.

Each card travels alone in its activity, with no `text` beside the attachment: Teams would split the
two and the id kept for updating the card would point at the wrong half.

Every word from a framework file or a person goes through `escape()` before it reaches a TextBlock,
a Fact or an expanded choice (Teams renders a markdown subset in all three). Compact dropdown
options, button titles and input values are plain text on every client: they are only clipped.
"""

from __future__ import annotations

from bot.cards.blocks import (
    Card,
    adaptive_card,
    card_action,
    card_message,
    escape,
    said_block,
    text_block,
)
from bot.cards.questions import question_card
from bot.cards.review import domain_entry, review_card, survey_entry
from bot.reports.text import (
    COMMENT_PREVIEW,
    answered_count,
    clip,
    domain_gaps,
    domain_state,
    sentence,
    submitted_counts,
    unanswered_heading,
)
from dialogs.messages import Message, text_message
from dialogs.payloads import CardActionKind
from dialogs.views import (
    AnsweredView,
    DomainsView,
    QuestionView,
    ReviewView,
    SubmitCheckView,
    SubmittedView,
    SurveyListView,
)


class CardRenderer:
    """The `Renderer` for Teams: one Adaptive Card per message, Universal Actions for every button.

    The `*_card` methods return the bare card dicts, for `adaptiveCard/action` invoke responses
    (returning a card there replaces the card that was clicked).
    """

    def question(self, view: QuestionView) -> Message:
        return card_message(self.question_card(view))

    def answered(self, view: AnsweredView) -> Message:
        return card_message(self.answered_card(view))

    def review(self, view: ReviewView) -> Message:
        return card_message(self.review_card(view))

    def survey_list(self, view: SurveyListView) -> Message:
        return card_message(self.survey_list_card(view))

    def submitted(self, view: SubmittedView) -> Message:
        return card_message(self.submitted_card(view))

    def domains(self, view: DomainsView) -> Message:
        return card_message(self.domains_card(view))

    def submit_check(self, view: SubmitCheckView) -> Message:
        return card_message(self.submit_check_card(view))

    def text(self, message: str) -> Message:
        """Our own sentences (Teams renders them as markdown): escape any person's words put in them."""
        return text_message(message)

    # -- cards --------------------------------------------------------------------------------------

    def question_card(self, view: QuestionView) -> Card:
        return question_card(view)

    def answered_card(self, view: AnsweredView) -> Card:
        """Read-only: it replaces an answered question, so it has no inputs and no buttons."""
        if view.answer is not None:
            wanted = ""
            if view.target is not None:
                wanted = f" · in {view.target_months} months: **{escape(view.target)}**"
            outcome = text_block(
                f"✓ Your answer: **{escape(view.answer)}**{wanted}", color="good", spacing="small"
            )
        else:
            outcome = text_block("Skipped", weight="bolder", isSubtle=True, spacing="small")
        body = [
            said_block(f"{view.survey_title} · {view.position} of {view.total}", size="small", isSubtle=True),
            said_block(view.title, weight="bolder", spacing="small"),
            outcome,
        ]
        if view.comment:
            body.append(text_block(f"💬 {escape(clip(view.comment, COMMENT_PREVIEW))}", isSubtle=True))
        if view.note:
            body.append(said_block(view.note, isSubtle=True))
        target = f" → {view.target}" if view.answer is not None and view.target is not None else ""
        return adaptive_card(body, f"{view.title}: {view.answer or 'skipped'}{target}")

    def review_card(self, view: ReviewView) -> Card:
        """Every answer at a glance; shortens titles step by step until the card fits MAX_CARD_BYTES."""
        return review_card(view)

    def survey_list_card(self, view: SurveyListView) -> Card:
        body = [said_block(view.intro)] if view.intro else []
        body.append(text_block("Your surveys", size="medium", weight="bolder", style="heading"))
        if not view.items:
            body.append(
                text_block(
                    "You have no open surveys at the moment. When your partnership starts one, "
                    "it will appear here."
                )
            )
        body += [survey_entry(item) for item in view.items]
        fallback = "; ".join(f"{item.title} ({answered_count(item)})" for item in view.items)
        return adaptive_card(body, f"Your surveys: {fallback or 'none open'}.")

    def submitted_card(self, view: SubmittedView) -> Card:
        change = (
            "You can still change your answers: type **my surveys** and choose **Change answers**."
            if view.can_still_change
            else "Your answers can no longer be changed."
        )
        body = [
            text_block("Thank you!", size="large", weight="bolder", style="heading"),
            text_block(f"Your answers to **{escape(view.survey_title)}** are submitted.", spacing="small"),
            text_block(submitted_counts(view), isSubtle=True, spacing="small"),
            said_block(view.summary_note),
            text_block(change, isSubtle=True),
        ]
        return adaptive_card(body, f"Thank you! Your answers to {view.survey_title} are submitted.")

    def domains_card(self, view: DomainsView) -> Card:
        """One row per domain with its progress and a button to answer it now."""
        body = [
            said_block(view.survey_title, size="small", isSubtle=True),
            text_block(
                "Choose a domain to do now", size="medium", weight="bolder", style="heading", spacing="none"
            ),
        ]
        body += [domain_entry(view.survey_id, domain) for domain in view.domains]
        fallback = "; ".join(f"{d.number}. {d.title} ({domain_state(d)})" for d in view.domains)
        return adaptive_card(body, f"Domains: {fallback}. Type “domain N” to answer one now.")

    def submit_check_card(self, view: SubmitCheckView) -> Card:
        """Asked before submitting a survey with many questions unanswered: the gaps, then three ways on."""
        body = [
            said_block(view.survey_title, size="small", isSubtle=True),
            text_block("Not submitted yet", size="medium", weight="bolder", style="heading", spacing="none"),
            text_block(sentence(unanswered_heading(view)) + ".", color="warning", weight="bolder"),
        ]
        body += [said_block(gap, spacing="small") for gap in domain_gaps(view)]
        if view.locks:
            body.append(text_block("Once submitted, your answers can't be changed.", isSubtle=True))
        sid = view.survey_id
        actions = [
            card_action(
                "Answer the rest now", CardActionKind.CONTINUE, sid, style="positive", with_inputs=False
            )
        ]
        if len(view.domains) > 1:
            actions.append(card_action("Choose a domain", CardActionKind.DOMAIN, sid, with_inputs=False))
        actions.append(card_action("Submit anyway", CardActionKind.SUBMIT_ANYWAY, sid, with_inputs=False))
        fallback = (
            f"Not submitted yet: {unanswered_heading(view)}. "
            "Type “submit anyway” to submit as it is, or “continue” to answer them."
        )
        return adaptive_card(body, fallback, actions)
