"""Leads (and partners) type commands to the bot in a channel, a group chat or 1:1.

Text reaches the parser as Teams sends it, minus the bot's mention: with `<p>`, `&nbsp;`, smart
quotes and `<at>…</at>` mentions of other people. Frameworks are the real seed catalogue.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jsonschema import Draft4Validator

from bot.commands import (
    COMMANDS,
    MENU_DESCRIPTION_LIMIT,
    MENU_LIMIT,
    MENU_TITLE_LIMIT,
    PARSED_COMMAND,
    PARTNER_COMMANDS,
    Clarification,
    CloseCommand,
    CommandError,
    CommentsCommand,
    DomainsCommand,
    ExportCommand,
    ExportFormat,
    FrameworksCommand,
    GrantLeadCommand,
    HelpCommand,
    MapDomainCommand,
    MyOrganisationCommand,
    ParsedCommand,
    PersonRef,
    RemindCommand,
    ReopenCommand,
    ResultsCommand,
    RevokeLeadCommand,
    Scope,
    StartCommand,
    StatusCommand,
    SubscribeCommand,
    SubscriptionsCommand,
    SummaryTarget,
    SurveyRef,
    SurveysCommand,
    UnknownCommand,
    UnmapDomainCommand,
    UnsubscribeCommand,
    help_text,
    manifest_command_lists,
    parse_command,
    refusal,
    spec_for,
)
from bot.commands.dates import DateError, parse_date
from dialogs.intents import command_of
from frameworks.loader import load_directory
from frameworks.summary import Weighting
from tests.conftest import shared_file

LONDON = ZoneInfo("Europe/London")
FRAMEWORKS = [(framework.id, framework.title) for framework in load_directory().frameworks.values()]
MANIFEST_SCHEMA = "schemas/MicrosoftTeams.v1.29.schema.json"


def parse(text: str, now: datetime) -> ParsedCommand:
    return parse_command(text, frameworks=FRAMEWORKS, now=now, tz=LONDON)


def refused(text: str, now: datetime) -> str:
    with pytest.raises(CommandError) as error:
        parse(text, now)
    return error.value.message


def start(text: str, now: datetime) -> StartCommand:
    command = parse(text, now)
    assert isinstance(command, StartCommand), command
    return command


# --- start ---------------------------------------------------------------------------------------


def test_lead_starts_a_survey_by_framework_id(now: datetime) -> None:
    command = start("start place-partnership-maturity", now)
    assert command == StartCommand(framework_id="place-partnership-maturity")


@pytest.mark.parametrize(
    ("typed", "framework_id"),
    [
        ("Place partnership maturity matrix", "place-partnership-maturity"),
        ("PLACE-PARTNERSHIP-MATURITY", "place-partnership-maturity"),
        ("place", "place-partnership-maturity"),
        ("audit", "audit-committee-maturity"),
        ("BOB ICS", "ics-development-roadmap"),
        ("roadmap", "ics-development-roadmap"),
        ("self test", "integrated-care-self-test"),
        ("integration", "integration-self-assessment"),
        ("the audit committee survey", "audit-committee-maturity"),
        ("“Integrated care system self-test”", "integrated-care-self-test"),
    ],
)
def test_lead_names_a_framework_by_its_title_a_start_of_it_or_its_words(
    typed: str, framework_id: str, now: datetime
) -> None:
    assert start(f"start {typed}", now).framework_id == framework_id


def test_a_framework_name_matching_several_lists_them(now: datetime) -> None:
    message = refused("start maturity", now)
    assert message == (
        "“maturity” could be more than one framework: audit-committee-maturity (Audit committee maturity "
        "matrix); place-partnership-maturity (Place partnership maturity matrix). Say which."
    )


def test_start_without_a_framework_asks_which_and_lists_the_ids(now: datetime) -> None:
    message = refused("start", now)
    assert message.startswith("Which framework? Say start followed by one of: ")
    for framework_id, _ in FRAMEWORKS:
        assert framework_id in message


def test_an_unknown_framework_lists_the_ids(now: datetime) -> None:
    message = refused("start wellbeing census", now)
    assert message.startswith("I don't know a framework called “wellbeing census”. Choose one of: ")
    assert "ics-development-roadmap" in message


def test_no_frameworks_loaded_says_so(now: datetime) -> None:
    with pytest.raises(CommandError, match="No frameworks are loaded"):
        parse_command("start place", frameworks=[], now=now, tz=LONDON)


def test_lead_starts_with_partnership_close_date_and_title_in_any_order(now: datetime) -> None:
    command = start('start place closes Friday 5pm title “Winter review 2026” for "Anytown place"', now)
    assert command.framework_id == "place-partnership-maturity"
    assert command.partnership == "Anytown place"
    assert command.title == "Winter review 2026"
    assert command.closes is not None
    assert command.closes.at == datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


def test_unquoted_partnership_runs_to_the_next_keyword(now: datetime) -> None:
    command = start("start audit for Anytown and District closing 4 Dec", now)
    assert command.partnership == "Anytown and District"
    assert command.closes is not None
    assert command.closes.local_date == date(2026, 12, 4)


def test_commas_between_the_parts_are_ignored(now: datetime) -> None:
    command = start("start place partnership, for Anytown, closes Friday,", now)
    assert command.framework_id == "place-partnership-maturity"
    assert command.partnership == "Anytown"
    assert command.closes is not None
    assert command.closes.local_date == date(2026, 11, 27)


def test_an_unquoted_title_ends_at_the_next_keyword(now: datetime) -> None:
    command = start("start place title Review for Anytown", now)
    assert (command.title, command.partnership) == ("Review", "Anytown")


def test_quoted_names_can_hold_the_keywords(now: datetime) -> None:
    command = start('start place for "Partnership for Health" title "Review: closes early"', now)
    assert command.partnership == "Partnership for Health"
    assert command.title == "Review: closes early"
    assert command.closes is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("start place for", "For which partnership?"),
        ("start place closes", "Closes when?"),
        ("start place title", "What title?"),
        ("start place for Anytown for Bigtown", "The partnership is given twice: give it once, and put"),
        ("start place closes Friday until Monday", "The close date is given twice"),
        ("start place title " + "x" * 201, "A title can be at most 200 characters; that one has 201."),
    ],
)
def test_start_clauses_that_cannot_be_used_say_why(text: str, message: str, now: datetime) -> None:
    assert message in refused(text, now)


@pytest.mark.parametrize("date_text", ["someday", "19 November 2026", "31 Feb"])
def test_a_bad_close_date_gets_the_date_error(date_text: str, now: datetime) -> None:
    with pytest.raises(DateError) as expected:
        parse_date(date_text, now=now, tz=LONDON)
    assert refused(f"start place closes {date_text}", now) == expected.value.message


def test_an_ambiguous_close_date_is_asked_back_with_both_whole_commands(now: datetime) -> None:
    asked = parse("start place for “Anytown place” closes 4/12 title “Winter”", now)
    assert isinstance(asked, Clarification)
    assert asked.question == "Did you mean Friday 4 December or Monday 12 April 2027?"
    assert [choice.label for choice in asked.choices] == [
        "Friday 4 December 2026, 23:59",
        "Monday 12 April 2027, 23:59",
    ]
    assert [choice.text for choice in asked.choices] == [
        'start place for "Anytown place" closes 4 December 2026 title "Winter"',
        'start place for "Anytown place" closes 12 April 2027 title "Winter"',
    ]
    chosen = [start(choice.text, now) for choice in asked.choices]
    assert [command.closes.local_date for command in chosen if command.closes] == [
        date(2026, 12, 4),
        date(2027, 4, 12),
    ]
    assert {(command.partnership, command.title) for command in chosen} == {("Anytown place", "Winter")}


def test_next_friday_is_asked_back_when_starting(now: datetime) -> None:
    asked = parse("start audit closes next Friday", now)
    assert isinstance(asked, Clarification)
    assert asked.question == "Did you mean Friday 27 November or Friday 4 December?"


# --- survey commands -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "survey"),
    [
        ("status", None),
        ("status #12", SurveyRef(number=12)),
        ("status 12", SurveyRef(number=12)),
        ("status survey 12", SurveyRef(number=12)),
        ("status of #12", SurveyRef(number=12)),
        ("status “Winter review”", SurveyRef(fragment="Winter review")),
        ("status winter review", SurveyRef(fragment="winter review")),
        ("status the survey", None),
        ("status this survey", None),
        ("status no. 7", SurveyRef(number=7)),
    ],
)
def test_status_names_a_survey_by_number_or_title_or_not_at_all(
    text: str, survey: SurveyRef | None, now: datetime
) -> None:
    assert parse(text, now) == StatusCommand(survey=survey)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("remind #3", RemindCommand(survey=SurveyRef(number=3))),
        ("close", CloseCommand()),
        ("close Anytown winter", CloseCommand(survey=SurveyRef(fragment="Anytown winter"))),
        ("reopen #3", ReopenCommand(survey=SurveyRef(number=3))),
        ("re-open", ReopenCommand()),
        ("results #3", ResultsCommand(target=SummaryTarget(survey=SurveyRef(number=3)))),
        ("unsubscribe", UnsubscribeCommand()),
        ("frameworks", FrameworksCommand()),
        ("surveys", SurveysCommand()),
        ("subscriptions", SubscriptionsCommand()),
        ("domains", DomainsCommand()),
        ("organisation domains", DomainsCommand()),
    ],
)
def test_survey_and_listing_commands(text: str, expected: ParsedCommand, now: datetime) -> None:
    assert parse(text, now) == expected


def test_survey_zero_does_not_exist(now: datetime) -> None:
    assert (
        refused("status #0", now)
        == "There's no survey #0: they are numbered from 1. Say surveys to see them."
    )


def test_lead_reopens_a_survey_with_a_new_close_date(now: datetime) -> None:
    command = parse("reopen #3 until end of month", now)
    assert isinstance(command, ReopenCommand)
    assert command.survey == SurveyRef(number=3)
    assert command.closes is not None
    assert command.closes.local_date == date(2026, 11, 30)
    asked = parse("reopen #3 closes next friday", now)
    assert isinstance(asked, Clarification)
    assert asked.choices[0].text == "reopen #3 closes 27 November 2026"


# --- what Teams does to the text -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "thanks!",
        "can you start place",
        "please close #3",
        "my surveys",
        "",
        "   ",
        "<p></p>",
    ],
)
def test_unknown_command_gets_help(text: str, now: datetime) -> None:
    command = parse(text, now)
    assert isinstance(command, UnknownCommand)
    assert spec_for(command) is None


def test_unknown_text_is_returned_cleaned_for_the_reply(now: datetime) -> None:
    assert parse("<p>Hello&nbsp;there</p>", now) == UnknownCommand(text="Hello there")


@pytest.mark.parametrize(
    "text",
    [
        "  STATUS   #12. ",
        "<p>status&nbsp;#12</p>",
        "Status #12!",
        "status\u200b #12",
        "<div><p>status</p><p>#12</p></div>",
        "status: #12",
    ],
)
def test_case_spacing_punctuation_and_html_are_tolerated(text: str, now: datetime) -> None:
    assert parse(text, now) == StatusCommand(survey=SurveyRef(number=12))


def test_smart_quotes_and_entities_from_teams_and_outlook(now: datetime) -> None:
    command = start("<p>start&nbsp;place for “Anytown &amp; District” title &quot;Q4&quot;.</p>", now)
    assert command.partnership == "Anytown & District"
    assert command.title == "Q4"


def test_the_bots_own_mention_left_in_the_text_is_ignored(now: datetime) -> None:
    assert parse("<at>Survey Bot</at> status #4", now) == StatusCommand(survey=SurveyRef(number=4))


def test_html_typed_as_text_stays_text(now: datetime) -> None:
    command = parse("status &lt;b&gt;draft&lt;/b&gt;", now)
    assert command == StatusCommand(survey=SurveyRef(fragment="<b>draft</b>"))


# --- leads -----------------------------------------------------------------------------------------


def test_lead_grants_lead_to_a_mentioned_person(now: datetime) -> None:
    command = parse("grant lead <at>Amina Khan</at>", now)
    assert command == GrantLeadCommand(people=(PersonRef(name="Amina Khan", mentioned=True),))


def test_every_mention_is_returned_for_the_handler_to_resolve(now: datetime) -> None:
    command = parse("Grant lead to <at>Amina</at> <at>Khan</at> and <at>O&#39;Brien</at>.", now)
    assert isinstance(command, GrantLeadCommand)
    assert [(person.name, person.mentioned) for person in command.people] == [
        ("Amina", True),
        ("Khan", True),
        ("O'Brien", True),
    ]


def test_typed_names_are_split_at_commas_and_and(now: datetime) -> None:
    command = parse("revoke lead @Amina Khan, Bob Smith and amina.khan@nhs.net", now)
    assert command == RevokeLeadCommand(
        people=(
            PersonRef(name="Amina Khan", mentioned=False),
            PersonRef(name="Bob Smith", mentioned=False),
            PersonRef(name="amina.khan@nhs.net", mentioned=False),
        )
    )


def test_granting_without_a_person_asks_who(now: datetime) -> None:
    assert refused("grant lead", now) == "Who? Mention them: grant lead @Name"
    assert refused("revoke lead please", now) == "Who? Mention them: revoke lead @Name"


def test_half_a_two_word_command_gets_the_whole_form(now: datetime) -> None:
    assert refused("grant <at>Amina Khan</at>", now) == "Did you mean “grant lead @Name”?"
    assert refused("map nhs.uk", now).startswith("Did you mean “map domain ")


# --- organisations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("my organisation", None),
        ("my organisation Anytown Community Health Trust", "Anytown Community Health Trust"),
        ("My organization is “Anytown Council”", "Anytown Council"),
        ("my org: Anytown Council.", "Anytown Council"),
        ("my organisation Children's Services", "Children's Services"),
    ],
)
def test_partner_sees_or_corrects_their_organisation(text: str, name: str | None, now: datetime) -> None:
    assert parse(text, now) == MyOrganisationCommand(name=name)


@pytest.mark.parametrize(
    "text",
    [
        'map domain anytown-trust.nhs.uk to "Anytown NHS Trust"',
        "map domain @Anytown-Trust.NHS.uk to Anytown NHS Trust",
        "organisation domain anytown-trust.nhs.uk = Anytown NHS Trust",
        "organization domain anytown-trust.nhs.uk=“Anytown NHS Trust”",
        'map domain <a href="http://anytown-trust.nhs.uk">anytown-trust.nhs.uk</a> to Anytown NHS Trust',
    ],
)
def test_lead_maps_an_email_domain_to_an_organisation(text: str, now: datetime) -> None:
    assert parse(text, now) == MapDomainCommand(
        domain="anytown-trust.nhs.uk", organisation="Anytown NHS Trust"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("map domain", "Which domain?"),
        ("map domain anytown-trust.nhs.uk", "Map anytown-trust.nhs.uk to which organisation?"),
        ("map domain amina@anytown.nhs.uk to X", "Give just the domain after the @, e.g. anytown.nhs.uk."),
        ("map domain not-a-domain to X", "“not-a-domain” isn't an email domain"),
        ("unmap domain", "Which domain?"),
    ],
)
def test_domain_mapping_problems_are_explained(text: str, message: str, now: datetime) -> None:
    assert message in refused(text, now)


def test_lead_unmaps_a_domain(now: datetime) -> None:
    assert parse("unmap domain Anytown-Trust.nhs.uk.", now) == UnmapDomainCommand(
        domain="anytown-trust.nhs.uk"
    )


# --- results, subscriptions, exports ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("results", ResultsCommand()),
        ("results by respondent", ResultsCommand(weighting=Weighting.RESPONDENT)),
        (
            "results #4 weighted by organisations",
            ResultsCommand(
                target=SummaryTarget(survey=SurveyRef(number=4)), weighting=Weighting.ORGANISATION
            ),
        ),
        ("results per person", ResultsCommand(weighting=Weighting.RESPONDENT)),
        (
            "results Led by carers",  # "by" in a title, not a weighting
            ResultsCommand(target=SummaryTarget(survey=SurveyRef(fragment="Led by carers"))),
        ),
        ("results partnership North Place", ResultsCommand(target=SummaryTarget(partnership="North Place"))),
        (
            "unsubscribe from partnership North",
            UnsubscribeCommand(target=SummaryTarget(partnership="North")),
        ),
    ],
)
def test_results_name_a_survey_or_a_partnership_and_a_weighting(
    text: str, expected: ParsedCommand, now: datetime
) -> None:
    assert parse(text, now) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("results by", "By what?"),
        ("results partnership", "Which partnership?"),
        ("results partnership North framework", "Which framework?"),
        ("results partnership North framework astrology", "I don't know a framework called"),
    ],
)
def test_incomplete_summary_targets_get_a_specific_hint(text: str, message: str, now: datetime) -> None:
    with pytest.raises(CommandError, match=message):
        parse(text, now)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("subscribe weekly Monday 09:00", SubscribeCommand(weekday=0, at=time(9, 0))),
        ("subscribe every Friday at 4pm", SubscribeCommand(weekday=4, at=time(16, 0))),
        ("subscribe weekly 9 am on Wednesdays", SubscribeCommand(weekday=2, at=time(9, 0))),
        (
            "subscribe weekly mon 08:30 #12",
            SubscribeCommand(weekday=0, at=time(8, 30), target=SummaryTarget(survey=SurveyRef(number=12))),
        ),
        (
            "subscribe weekly Friday 17:00 for Friday review",
            SubscribeCommand(
                weekday=4, at=time(17, 0), target=SummaryTarget(survey=SurveyRef(fragment="Friday review"))
            ),
        ),
        (
            'subscribe weekly Monday 09:00 partnership "Anytown place" by respondent',
            SubscribeCommand(
                weekday=0,
                at=time(9, 0),
                target=SummaryTarget(partnership="Anytown place"),
                weighting=Weighting.RESPONDENT,
            ),
        ),
        (
            "subscribe weekly Monday 09:00 partnership Anytown framework roadmap",
            SubscribeCommand(
                weekday=0,
                at=time(9, 0),
                target=SummaryTarget(partnership="Anytown", framework_id="ics-development-roadmap"),
            ),
        ),
    ],
)
def test_lead_subscribes_a_channel_to_a_weekly_summary(
    text: str, expected: ParsedCommand, now: datetime
) -> None:
    assert parse(text, now) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("subscribe", "Which day of the week?"),
        ("subscribe weekly 09:00", "Which day of the week?"),
        ("subscribe weekly Monday", "At what time on Mondays?"),
        ("subscribe daily 09:00", "Summaries are weekly."),
    ],
)
def test_an_incomplete_subscription_asks_for_what_is_missing(text: str, message: str, now: datetime) -> None:
    assert refused(text, now).startswith(message)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("export", ExportCommand()),
        ("export #12 xlsx", ExportCommand(survey=SurveyRef(number=12), format=ExportFormat.XLSX)),
        ("export #12 as csv", ExportCommand(survey=SurveyRef(number=12), format=ExportFormat.CSV)),
        (
            "export excel winter review",
            ExportCommand(survey=SurveyRef(fragment="winter review"), format="xlsx"),
        ),
        ("export “csv survey”", ExportCommand(survey=SurveyRef(fragment="csv survey"))),
    ],
)
def test_lead_exports_answers_as_csv_or_excel(text: str, expected: ParsedCommand, now: datetime) -> None:
    assert parse(text, now) == expected


def test_an_unsupported_export_format_is_refused(now: datetime) -> None:
    assert refused("export #12 as pdf", now) == "I can export CSV or Excel: say export csv or export xlsx."
    assert refused("export csv xlsx", now) == "Say one format: export csv or export xlsx."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "export #12 xlsx anonymised",
            ExportCommand(survey=SurveyRef(number=12), format=ExportFormat.XLSX, anonymise=True),
        ),
        ("export anonymous", ExportCommand(anonymise=True)),
        ("Export anonymized.", ExportCommand(anonymise=True)),
        (
            "export anonymise excel winter review",
            ExportCommand(
                survey=SurveyRef(fragment="winter review"), format=ExportFormat.XLSX, anonymise=True
            ),
        ),
        (
            "export winter review as xlsx, anonymised",
            ExportCommand(
                survey=SurveyRef(fragment="winter review"), format=ExportFormat.XLSX, anonymise=True
            ),
        ),
        ("export #12 anonymised as csv", ExportCommand(survey=SurveyRef(number=12), anonymise=True)),
        ("export #12 csv and anonymous", ExportCommand(survey=SurveyRef(number=12), anonymise=True)),
        ("export “anonymous survey”", ExportCommand(survey=SurveyRef(fragment="anonymous survey"))),
    ],
)
def test_lead_exports_anonymised_with_the_option_at_either_end(
    text: str, expected: ParsedCommand, now: datetime
) -> None:
    assert parse(text, now) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("comments", CommentsCommand()),
        ("comments #12", CommentsCommand(survey=SurveyRef(number=12))),
        ("comments for the winter review", CommentsCommand(survey=SurveyRef(fragment="winter review"))),
    ],
)
def test_lead_asks_for_a_surveys_comments(text: str, expected: ParsedCommand, now: datetime) -> None:
    assert parse(text, now) == expected


def test_comments_are_for_leads_anywhere_and_suggested_in_the_personal_menu_only(now: datetime) -> None:
    command = parse("comments", now)
    assert refusal(command.kind, Scope.TEAM, is_lead=False) == (
        "Only partnership leads can use “comments”. A lead can make you one with “grant lead @you”."
    )
    assert refusal(command.kind, Scope.TEAM, is_lead=True) is None
    assert refusal(command.kind, Scope.PERSONAL, is_lead=True) is None
    personal, team, _ = manifest_command_lists()
    assert "comments" in [c["title"] for c in personal["commands"]]
    assert "comments" not in [c["title"] for c in team["commands"]]
    details = help_text(Scope.TEAM, is_lead=True, topic="comments")
    assert "Never shown in a channel" in details


# --- help --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("help", None),
        ("?", None),
        ("Help.", None),
        ("commands", None),
        ("help start", "start"),
        ("help grant", "grant lead"),
        ("help revoke lead", "revoke lead"),
        ("help organisation domain", "map domain"),
        ("help my", "my organisation"),
        ("help dates", "dates"),
    ],
)
def test_help_and_help_on_one_command(text: str, topic: str | None, now: datetime) -> None:
    assert parse(text, now) == HelpCommand(topic=topic)


def test_help_on_something_that_is_not_a_command_says_so(now: datetime) -> None:
    assert refused("help pizza", now) == "There's no command called “pizza”. Say help to see them all."


def test_partner_in_a_channel_sees_their_commands_and_hears_leads_can_do_more() -> None:
    text = help_text(Scope.TEAM, is_lead=False)
    assert text.startswith("Here's what I can do (mention me first):")
    assert "• status [survey] — " in text
    assert "• subscriptions — " in text
    assert "• start " not in text
    assert "Partnership leads can also: start, remind, close, reopen, export, comments, subscribe" in text
    assert "my organisation" not in text  # a 1:1 command


def test_lead_in_a_1_to_1_chat_sees_lead_commands_but_not_channel_ones() -> None:
    """`start` invites everyone in the chat it is typed in, so a 1:1 chat is the wrong place."""
    text = help_text(Scope.PERSONAL, is_lead=True)
    lines = text.splitlines()
    assert lines[:3] == [
        "Here's what I can do:",
        "• my surveys — Your open surveys and how far you got.",
        "• resume — Carry on where you left off.",
    ]
    assert not any(line.startswith("• start") for line in lines)  # it invites the chat's members
    assert any(line.startswith("• status [survey]") for line in lines)
    assert any(line.startswith("• my organisation [<name>]") for line in lines)
    assert any(line.startswith('• map domain <domain> to "<organisation>"') for line in lines)
    assert not any(line.startswith("• subscribe") for line in lines)
    assert "Partnership leads can also" not in text


def test_help_on_start_explains_frameworks_and_dates() -> None:
    text = help_text(Scope.TEAM, is_lead=True, topic="start")
    assert text.splitlines()[0] == 'start <framework> [for <partnership>] [closes <date>] [title "<text>"]'
    assert "Example: start place-partnership-maturity for Anytown closes Friday 5pm" in text
    assert "Without a time a survey closes at the end of that day (23:59)." in text
    assert "Only partnership leads" not in text


def test_help_on_a_command_says_who_and_where_it_works() -> None:
    text = help_text(Scope.PERSONAL, is_lead=False, topic="subscribe")
    assert "Only partnership leads can use it." in text
    assert "It works in channels and group chats." in text


def test_a_partner_trying_a_lead_command_is_told_why(now: datetime) -> None:
    command = parse("close #3", now)
    assert refusal(command.kind, Scope.TEAM, is_lead=False) == (
        "Only partnership leads can use “close”. A lead can make you one with “grant lead @you”."
    )
    assert refusal(command.kind, Scope.TEAM, is_lead=True) is None
    assert refusal(parse("status", now).kind, Scope.TEAM, is_lead=False) is None
    assert refusal(parse("hello", now).kind, Scope.TEAM, is_lead=False) is None
    assert (
        refusal("subscribe", Scope.PERSONAL, is_lead=True) == "“subscribe” works in channels and group chats."
    )
    assert refusal("surveys", Scope.PERSONAL, is_lead=False) == "“surveys” works in channels and group chats."
    assert refusal("my_organisation", Scope.GROUP_CHAT, is_lead=False) == (
        "“my organisation” works in a 1:1 chat with me."
    )


def test_a_partner_is_refused_before_being_coached_on_a_lead_command(now: datetime) -> None:
    with pytest.raises(CommandError) as error:
        parse("start", now)
    assert error.value.kind == "start"
    assert refusal(error.value.kind, Scope.TEAM, is_lead=False) is not None
    asked = parse("start place closes 4/12", now)
    assert isinstance(asked, Clarification)
    assert asked.about == "start"
    assert refusal(asked.about, Scope.TEAM, is_lead=False) is not None


def test_lead_only_commands_are_the_ones_the_issue_names() -> None:
    assert {spec.name for spec in COMMANDS if spec.lead_only} == {
        "start",
        "remind",
        "close",
        "reopen",
        "grant lead",
        "revoke lead",
        "map domain",
        "unmap domain",
        "domains",
        "export",
        "comments",
        "subscribe",
        "unsubscribe",
        "frameworks export",
        "action add",
        "action",
        "consensus",
        "share results",
        "personal views",
    }


def test_every_example_in_help_parses_as_its_own_command(now: datetime) -> None:
    for spec in COMMANDS:
        command = parse(spec.example, now)
        assert spec_for(command) == spec, spec.example


def test_conversation_types_map_to_manifest_scopes() -> None:
    assert Scope.of("channel") is Scope.TEAM
    assert Scope.of("groupChat") is Scope.GROUP_CHAT
    assert Scope.of("personal") is Scope.PERSONAL
    assert Scope.of(None) is Scope.PERSONAL


def test_a_command_survives_a_trip_through_a_cards_data(now: datetime) -> None:
    command = start('start place for "Anytown place" closes Friday 5pm', now)
    carried = json.loads(command.model_dump_json())
    assert PARSED_COMMAND.validate_python(carried) == command


# --- the Teams app manifest ------------------------------------------------------------------------


def test_manifest_has_one_command_menu_per_scope_within_teams_limits() -> None:
    lists = manifest_command_lists()
    assert [entry["scopes"] for entry in lists] == [["personal"], ["team"], ["groupChat"]]
    for entry in lists:
        assert 0 < len(entry["commands"]) <= MENU_LIMIT
        for command in entry["commands"]:
            assert len(command["title"]) <= MENU_TITLE_LIMIT
            assert len(command["description"]) <= MENU_DESCRIPTION_LIMIT


def test_the_channel_menu_offers_the_leads_commands_marked_as_theirs() -> None:
    channel = {c["title"]: c["description"] for c in manifest_command_lists()[1]["commands"]}
    assert {"help", "surveys", "start", "status", "close", "subscribe", "grant lead"} <= set(channel)
    assert channel["start"] == (
        "Start a survey and invite the partners, e.g. start place-partnership-maturity for Anytown closes "
        "Friday 5pm (leads only)"
    )
    assert not channel["status"].endswith("(leads only)")
    assert "my organisation" not in channel


def test_the_personal_menu_starts_with_the_survey_commands_partners_use() -> None:
    personal = [c["title"] for c in manifest_command_lists()[0]["commands"]]
    assert personal[:2] == ["my surveys", "resume"]
    assert "my organisation" in personal
    assert "subscribe" not in personal
    for title, _ in PARTNER_COMMANDS:  # read by the survey dialog, not by this grammar
        assert command_of(title) is not None


def test_manifest_command_lists_validate_against_the_teams_schema() -> None:
    schema: dict[str, Any] = json.loads(shared_file(MANIFEST_SCHEMA).read_text(encoding="utf-8"))
    command_lists = schema["properties"]["bots"]["items"]["properties"]["commandLists"]
    Draft4Validator(command_lists).validate(manifest_command_lists())


def test_whatever_is_typed_the_bot_answers_with_a_command_a_question_or_a_reason(now: datetime) -> None:
    """Every combination of awkward pieces ends in a result or a CommandError, never a crash."""
    pieces = [
        "start", "status", "close", "reopen", "grant", "lead", "map", "domain", "subscribe", "weekly",
        "export", "help", "for", "closes", "until", "title", "“", "”", '"', "<at>", "</at>", "<at>Amina</at>",
        "&nbsp;", "<p>", "#", "#0", "12", "4/12", "next", "Friday", "5pm", "25:00", "=", "@", ".", "…",
        "nhs.uk", "\u200b", "my", "organisation", "place", "maturity", "csv", "in", "99999", "days",
    ]  # fmt: skip
    generator = random.Random(20261123)
    reasons: list[str] = []
    for _ in range(3000):
        text = " ".join(generator.choice(pieces) for _ in range(generator.randint(0, 8)))
        try:
            result = parse(text, now)
        except CommandError as error:
            reasons.append(error.message)
            continue
        assert PARSED_COMMAND.validate_python(result.model_dump()) == result
    assert reasons
    assert all(reason.strip() for reason in reasons)


def test_start_in_a_1_to_1_chat_says_where_to_start_instead_of_inviting_only_the_lead(now: datetime) -> None:
    command = parse("start place-partnership-maturity", now)
    message = refusal(command.kind, Scope.PERSONAL, is_lead=True)
    assert message is not None
    assert "in the channel or group chat whose members should answer it" in message
    assert refusal(command.kind, Scope.TEAM, is_lead=True) is None
