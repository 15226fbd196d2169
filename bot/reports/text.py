"""Plain-text rendering of the survey conversation: the terminal, and any client where cards do not render.

Replies are marked `textFormat: plain`, so a client shows people's words exactly as typed and
nothing needs escaping. The wording helpers here (`reply_hint`, `closes_label`, `clip`, `RAG_MARKS`)
are shared with the card renderer so both say the same thing.
"""

from __future__ import annotations

import re
from datetime import datetime

from bot.reports.first_round_text import first_round_lines
from dialogs.intents import describe_options
from dialogs.messages import Message, TextFormat, text_message
from dialogs.views import (
    AnsweredView,
    Choice,
    DomainProgress,
    DomainsView,
    QuestionView,
    ReviewItem,
    ReviewView,
    SubmitCheckView,
    SubmittedView,
    SurveyListItem,
    SurveyListView,
)
from dialogs.wording import answered_phrase

RAG_MARKS: dict[str, str] = {"blue": "🟦", "green": "🟩", "amber": "🟧", "red": "🟥", "grey": "⬜"}
"""Coloured squares for delivery statuses: the colour reads at a glance and the label still says it."""

COMMENT_PREVIEW = 300
"""How much of a comment the compact answered/review lines repeat."""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


def clip(text: str, limit: int) -> str:
    """One line of at most `limit` characters, ending in "…" when cut (0 means no text at all)."""
    flat = _SPACES.sub(" ", _CONTROL.sub("", text)).strip()
    if limit <= 0:
        return ""
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "…"


def clean(text: str) -> str:
    """People's text without control characters (a comment must not drive the terminal), lines kept."""
    lines = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).split("\n")
    return "\n".join(line.rstrip() for line in lines).strip()


def sentence(text: str) -> str:
    """Capitalise the first letter only ('closes Fri 28 Nov' → 'Closes Fri 28 Nov')."""
    return text[:1].upper() + text[1:]


def closes_label(when: datetime) -> str:
    """'closes Fri 28 Nov': the dialog passes the time already in the partnership's time zone."""
    return f"closes {when:%a} {when.day} {when:%b}"


def reply_hint(view: QuestionView) -> str:
    """What can be typed in reply to this question, naming only the commands that apply to it."""
    commands = ", ".join(["skip", *(["back"] if view.can_go_back else []), "stop (finish later)", "help"])
    if view.kind == "unscored" or not view.choices:
        return f"This one isn't scored: write “comment: …” to leave a note — or {commands}."
    if view.target_question is not None:
        low, high = view.choices[0].label, view.choices[-1].label
        example = f"{view.choices[0].number} → {view.choices[-1].number}" if view.kind == "levels" else ""
        example = example or f"{low} → {high}"
        return (
            f"Reply with {describe_options(view.choices)}, then an arrow and "
            f"{view.target_question.lower()} (e.g. {example}; optional) — or {commands}. "
            "Add “because …” to leave a comment."
        )
    return f"Reply with {describe_options(view.choices)} — or {commands}. Add “because …” to leave a comment."


def answered_count(item: SurveyListItem) -> str:
    """'12 of 31 answered · closes Fri 28 Nov' or 'submitted'."""
    parts = ["submitted" if item.submitted else answered_phrase(item.answered, item.total)]
    if item.closes_at is not None and not item.submitted:
        parts.append(closes_label(item.closes_at))
    return " · ".join(parts)


def start_label(item: SurveyListItem) -> str:
    """The survey list's button: start a new survey, continue one, or revisit a submitted one."""
    if item.submitted:
        return "Change answers"
    return "Continue" if item.answered else "Start"


def item_state(item: ReviewItem) -> str:
    """A review line's answer: the label, or why there is none."""
    if not item.scored:
        return "not scored"
    if item.skipped:
        return "skipped"
    if item.answer is not None and item.target is not None:
        return f"{item.answer} → target {item.target}"
    return item.answer if item.answer is not None else "not answered"


def questions(count: int) -> str:
    return f"{count} question" if count == 1 else f"{count} questions"


def continue_hint(view: ReviewView) -> str | None:
    """What the review offers when questions are left: 'Type “continue” to answer the 14 questions…'."""
    if not view.unanswered:
        return None
    domains = ", or “domains” to choose a domain to do now" if len(view.sections) > 1 else ""
    return f"Type “continue” to answer the {questions(view.unanswered)} not answered yet{domains}."


def unanswered_heading(view: SubmitCheckView) -> str:
    """'118 of 124 questions are not answered yet'."""
    verb = "is" if view.unanswered == 1 else "are"
    return f"{view.unanswered} of {view.total} questions {verb} not answered yet"


def domain_gaps(view: SubmitCheckView) -> list[str]:
    """'ICB Architecture: 36 of 42 not answered', for each domain with gaps (when there are several)."""
    if len(view.domains) < 2:
        return []
    return [f"{d.title}: {d.unanswered} of {d.total} not answered" for d in view.domains if d.unanswered]


def domain_state(domain: DomainProgress) -> str:
    """'1 of 42 answered · 1 skipped', '✓ all done'."""
    if not domain.total:
        return "nothing to score"
    if not domain.unanswered:
        return f"✓ all done ({domain.answered} answered, {domain.skipped} skipped)"
    skipped = f" · {domain.skipped} skipped" if domain.skipped else ""
    return f"{domain.answered} of {domain.total} answered{skipped}"


def submitted_counts(view: SubmittedView) -> str:
    missing = f" · {view.unanswered} not answered" if view.unanswered else ""
    return f"{view.answered} answered · {view.skipped} skipped{missing}"


def review_counts(view: ReviewView) -> str:
    return (
        f"{view.answered} answered · {view.skipped} skipped · {view.unanswered} not answered"
        f" — of {view.total} scored questions"
    )


class TextRenderer:
    """The `Renderer` for plain text: the same information as the cards, with the words to type."""

    def question(self, view: QuestionView) -> Message:
        return _message(_question_lines(view))

    def answered(self, view: AnsweredView) -> Message:
        status = f"✓ Your answer: {view.answer}" if view.answer is not None else "Skipped"
        if view.answer is not None and view.target is not None:
            status += f" · in {view.target_months} months: {view.target}"
        lines = [f"{view.position} of {view.total} · {clean(view.title)} — {status}"]
        if view.comment:
            lines.append(f"Comment: {clip(view.comment, COMMENT_PREVIEW)}")
        if view.note:
            lines.append(clean(view.note))
        return _message(lines)

    def review(self, view: ReviewView) -> Message:
        lines = [f"Review: {clean(view.survey_title)}", review_counts(view)]
        if view.closes_at is not None:
            lines.append(sentence(closes_label(view.closes_at)))
        number = 0
        for section in view.sections:
            lines += ["", clean(section.title)]
            for item in section.items:
                number += 1
                marker = " 💬" if item.comment else ""
                lines.append(f"  {number}. {clip(item.title, 90)} — {item_state(item)}{marker}")
        submit = "submit your changes" if view.submitted else "submit your answers"
        hint = continue_hint(view)
        lines += ["", *([hint] if hint else [])]
        lines += [
            "To change an answer, reply “change N” (for example “change 1”).",
            f"Reply “submit” to {submit}, or “stop” to finish later.",
        ]
        return _message(lines)

    def domains(self, view: DomainsView) -> Message:
        lines = [f"Domains of {clean(view.survey_title)}:"]
        lines += [f"  {d.number}. {clean(d.title)} — {domain_state(d)}" for d in view.domains]
        lines.append("Reply “domain N” to answer that domain's questions now, or “continue” to carry on.")
        return _message(lines)

    def submit_check(self, view: SubmitCheckView) -> Message:
        lines = [f"Not submitted: {unanswered_heading(view)}" + (":" if domain_gaps(view) else ".")]
        lines += [f"  {clean(gap)}" for gap in domain_gaps(view)]
        if view.locks:
            lines.append("Once submitted, your answers can't be changed.")
        domain = ", “domain N” to answer one domain now" if len(view.domains) > 1 else ""
        lines.append(
            f"Reply “submit anyway” (or “yes”) to submit as it is, “continue” to answer them{domain}, "
            "or “review” to see every answer."
        )
        return _message(lines)

    def survey_list(self, view: SurveyListView) -> Message:
        lines = [clean(view.intro)] if view.intro else []
        if not view.items:
            lines.append("You have no open surveys at the moment.")
            return _message(lines)
        lines.append("Your surveys:")
        lines += [
            f"  {n}. {clean(item.title)} — {answered_count(item)}" for n, item in enumerate(view.items, 1)
        ]
        lines.append("Reply with a survey's number to open it, or “resume” to carry on where you left off.")
        return _message(lines)

    def submitted(self, view: SubmittedView) -> Message:
        lines = [
            f"Thank you! Your answers to {clean(view.survey_title)} are submitted.",
            f"{submitted_counts(view)}.",
            clean(view.summary_note),
        ]
        if view.can_still_change:
            lines.append("You can still change your answers: reply “my surveys”.")
        else:
            lines.append("Your answers can no longer be changed.")
        return _message(lines)

    def text(self, message: str) -> Message:
        return _message([message])


def _question_lines(view: QuestionView) -> list[str]:
    lines = [clean(view.note), ""] if view.note else []  # what became of the last answer comes first
    lines += [f"{clean(view.survey_title)} · {clean(view.progress)}", "", clean(view.title)]
    lines += [clean(part) for part in (view.lead_in, view.text) if part]
    context = " · ".join(clean(part) for part in (view.group, view.milestone) if part)
    if context:
        lines.append(context)
    if view.guidance:
        lines.append(f"Guidance: {clean(view.guidance)}")
    lines.append("")
    lines += first_round_lines(view.first_round)  # a consensus round: the first round, then the choices
    lines += _choice_lines(view)
    if view.current_comment:
        lines += ["", f"Your comment so far: {clip(view.current_comment, COMMENT_PREVIEW)}"]
    lines += ["", reply_hint(view)]
    return lines


def _choice_lines(view: QuestionView) -> list[str]:
    if view.kind == "unscored":
        note = (
            f"In development: {clean(view.development_note)}" if view.development_note else "In development."
        )
        return [note]  # the reply hint below says it isn't scored and how to comment
    if view.kind == "score" and view.choices:
        low, high = view.choices[0], view.choices[-1]
        lowest, highest = view.min_label or "lowest", view.max_label or "highest"
        lines = [f"Scale: {low.label} ({lowest}) to {high.label} ({highest})"]
        current = _current(view)
        if current is not None:
            lines.append(f"Your current answer: {current.label}")
        if view.current_target is not None:
            lines.append(f"Your target: {view.current_target}")
        return lines
    lines = []
    for choice in view.choices:
        mark = "  ← your current answer" if choice.value == view.current_value else ""
        if choice.value == view.current_target:
            mark += "  ← your target"
        if view.kind == "status":
            square = RAG_MARKS.get(choice.rag or "grey", RAG_MARKS["grey"])
            about = f" — {clean(choice.description)}" if choice.description else ""
            lines.append(f"{square} {choice.label}{about}{mark}")
        else:
            lines.append(f"{choice.number} {choice.label}{mark}")
            lines += [f"   • {line}" for line in _lines(choice.description)]
            lines.append("")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _current(view: QuestionView) -> Choice | None:
    return next((c for c in view.choices if c.value == view.current_value), None)


def _lines(text: str | None) -> list[str]:
    """A descriptor's statements, one per line as the framework file keeps them."""
    return [line.strip() for line in clean(text or "").split("\n") if line.strip()]


def _message(lines: list[str]) -> Message:
    return text_message("\n".join(lines).strip(), text_format=TextFormat.PLAIN)
