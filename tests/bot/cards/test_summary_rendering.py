"""A partnership sees its summary as a card Teams can show, as plain text, and as charts: valid, small
enough for one message, safe with anyone's words, and never naming a group below the anonymity threshold.

Summaries are computed by `frameworks.summary.summarise` from answer counts of the real seed frameworks,
so the cards tested here are the ones a channel gets.
"""

from __future__ import annotations

import dataclasses
import io
import json
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft6Validator
from PIL import Image

from bot.cards import MAX_CARD_BYTES, card_of, card_size
from bot.cards.summary_cards import (
    DROP_ORDER,
    Detail,
    render_summary,
    render_unchanged,
    summary_card,
    unchanged_card,
)
from bot.reports.chart_links import ChartLinks
from bot.reports.charts import Chart, distributions, domain_profile, render, summary_charts
from bot.reports.summary_text import SINCE_LAST_ELEMENTS, since_last_section, summary_text, unchanged_text
from dialogs.messages import to_activity
from frameworks.loader import load_directory
from frameworks.schema import Framework, LevelsScale, ScoreScale
from frameworks.summary import (
    AnswerCount,
    OrganisationInfo,
    ResponseCount,
    SummaryRules,
    SurveyData,
    SurveySummary,
    since_last_post,
    summarise,
)
from storage.db import transaction
from storage.summaries import survey_summary
from tests.bot.cards.test_cards import schema_errors, texts, walk
from tests.conftest import FIXED_NOW, Database, shared_file
from tests.storage.test_summary_aggregation import MATRIX, crowd, run_round

Card = dict[str, Any]

SCHEMA_NAME = "schemas/adaptive-card.v1.5.schema.json"
CATALOGUE = load_directory()
EARLIER = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
HOSTILE = "**bold** <at>Admin</at> [x](http://evil) _under_ {{DATE(2017-02-14T06:08:00Z)}}"
SEEDS = sorted(CATALOGUE.frameworks)


@pytest.fixture(scope="module")
def card_schema() -> Draft6Validator:
    schema = json.loads(shared_file(SCHEMA_NAME).read_text(encoding="utf-8"))
    Draft6Validator.check_schema(schema)
    return Draft6Validator(schema)


# Building summaries -------------------------------------------------------------------------------------

Pick = Callable[[list[str], random.Random, int], str]
"""How a partner answers: from the scale's tokens, a random source and the partner's leaning."""


def leaning(tokens: list[str], rng: random.Random, centre: int) -> str:
    """Mostly near the partner's own view of the scale, sometimes further off."""
    weights = [1 / (1 + abs(index - centre % len(tokens))) ** 2 for index in range(len(tokens))]
    return rng.choices(tokens, weights)[0]


def always(position: int) -> Pick:
    return lambda tokens, _rng, _centre: tokens[min(position, len(tokens) - 1)]


@dataclass
class Partner:
    name: str
    people: int
    kind: str = "NHS trust"
    pick: Pick = leaning


def tokens_of(framework: Framework, domain_id: str) -> list[str]:
    domain = next(d for d in framework.domains if d.id == domain_id)
    scale = framework.scale_for(domain)
    if isinstance(scale, LevelsScale):
        return [level.id for level in scale.levels]
    if isinstance(scale, ScoreScale):
        return ["0" if v == 0 else f"{v:+d}" for v in scale.values]
    return [status.id for status in scale.statuses]


def survey_data(
    framework: Framework, partners: list[Partner], *, seed: int, title: str, survey_id: int
) -> SurveyData:
    """Answer counts as the summary queries return them: each partner's people answer every element."""
    rng = random.Random(seed)
    organisations = {
        index: OrganisationInfo(index, partner.name, partner.kind)
        for index, partner in enumerate(partners, 1)
    }
    answers: list[AnswerCount] = []
    responses: list[ResponseCount] = []
    for org_id, partner in enumerate(partners, 1):
        responses.append(ResponseCount(org_id, partner.people + 1, partner.people, partner.people - 1))
        centre = rng.randrange(12)
        for domain, element in framework.scored_elements:
            tokens = tokens_of(framework, domain.id)
            picked = [partner.pick(tokens, rng, centre) for _ in range(partner.people)]
            for token in dict.fromkeys(picked):
                answers.append(AnswerCount(element.id, org_id, token, False, picked.count(token), 0))
    return SurveyData(
        survey_id,
        title,
        framework,
        EARLIER if survey_id == 1 else FIXED_NOW,
        answers,
        responses,
        organisations,
        partnership_id=1,
        partnership_name="Anytown place partnership",
    )


def summary_of(
    framework_id: str,
    partners: list[Partner],
    *,
    before: list[Partner] | None = None,
    seed: int = 7,
    title: str = "Autumn round",
    rules: SummaryRules | None = None,
) -> SurveySummary:
    """This round's summary, compared with an earlier round of `before` when given."""
    rules = rules or SummaryRules()
    framework = CATALOGUE.frameworks[framework_id]
    previous = None
    if before is not None:
        earlier = survey_data(framework, before, seed=seed + 1, title="Spring round", survey_id=1)
        previous = summarise(earlier, rules, now=EARLIER)
    data = survey_data(framework, partners, seed=seed, title=title, survey_id=2)
    return summarise(data, rules, now=FIXED_NOW, previous=previous)


PARTNERS = [
    Partner("Leeds Teaching Hospitals", 9),
    Partner("Leeds Community Healthcare", 5),
    Partner("Leeds City Council", 6, "council"),
    Partner("Forum Central", 4, "VCSE"),
    Partner("Carers Leeds", 3, "VCSE"),
]


def many_partners(count: int) -> list[Partner]:
    """Partners with the longest names an organisation may have (200 characters)."""
    return [
        Partner(
            f"{index:02d} " + "Very Long Named Community Interest Company " * 5,
            3 + index % 4,
            f"kind {index % 3}",
        )
        for index in range(count)
    ]


def table(card: Card) -> Card:
    return next(node for node in walk(card) if node.get("type") == "Table")


def cell_texts(row: Card) -> list[list[str]]:
    return [[item["text"] for item in cell["items"]] for cell in row["cells"]]


def facts(card: Card) -> dict[str, str]:
    return {
        fact["title"]: fact["value"]
        for node in walk(card)
        if node.get("type") == "FactSet"
        for fact in node["facts"]
    }


def all_text(card: Card) -> str:
    return "\n".join(texts(card))


# The card is a valid Adaptive Card 1.5 that fits one Teams message ---------------------------------------


@pytest.mark.parametrize("framework_id", SEEDS)
def test_every_framework_summary_card_matches_the_adaptive_cards_1_5_schema(
    card_schema: Draft6Validator, framework_id: str
) -> None:
    summary = summary_of(framework_id, PARTNERS, before=PARTNERS)
    card = summary_card(summary)

    assert schema_errors(card_schema, card) == []
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.5")
    assert card["fallbackText"].startswith("Results: Autumn round.")
    assert card_size(card) < MAX_CARD_BYTES
    blocks = [node for node in walk(card) if node.get("type") == "TextBlock"]
    assert all(block["wrap"] is True for block in blocks)
    domains = table(card)["rows"][1:]
    assert [cell_texts(row)[0][0] for row in domains] == [d.title for d in summary.domains]


def test_the_summary_travels_alone_in_its_message() -> None:
    summary = summary_of("place-partnership-maturity", PARTNERS)
    for message, card in (
        (render_summary(summary), summary_card(summary)),
        (render_unchanged(summary, EARLIER), unchanged_card(summary, EARLIER)),
    ):
        activity = to_activity(message)
        assert activity.text is None
        assert len(activity.attachments) == 1
        assert card_of(message) == card


def test_the_roadmap_with_forty_partners_fits_one_message_and_says_what_was_left_out(
    card_schema: Draft6Validator,
) -> None:
    summary = summary_of("ics-development-roadmap", many_partners(40), before=many_partners(40))
    assert sum(len(d.elements) for d in summary.domains) == 128

    card = summary_card(summary)

    assert card_size(card) < MAX_CARD_BYTES
    assert schema_errors(card_schema, card) == []
    text = all_text(card)
    left_out = next(line for line in texts(card) if line.startswith("Left out to fit one Teams message"))
    assert Detail.ELEMENTS.value in left_out
    assert "export xlsx" in left_out
    assert len(table(card)["rows"]) == 1 + 3  # the domain table is always there
    assert "Outcomes by status" in text
    assert any(title.endswith("At risk") for title in facts(card))


@pytest.mark.parametrize("framework_id", SEEDS)
def test_every_framework_fits_one_message_with_sixty_long_named_partners(
    card_schema: Draft6Validator, framework_id: str
) -> None:
    summary = summary_of(framework_id, many_partners(60), before=many_partners(60))
    card = summary_card(summary)
    assert card_size(card) < MAX_CARD_BYTES
    assert schema_errors(card_schema, card) == []


def test_a_tighter_limit_drops_detail_in_the_stated_order_then_shortens_then_keeps_the_headline(
    card_schema: Draft6Validator,
) -> None:
    summary = summary_of("integration-self-assessment", PARTNERS, before=PARTNERS)
    full = summary_card(summary)
    assert not any(line.startswith("Left out") for line in texts(full))

    # no delivery statuses, and no chart links without a public address
    order = [detail for detail in DROP_ORDER if detail not in (Detail.RISK_TITLES, Detail.CHART_LINKS)]
    dropped_before = 0
    for limit in (card_size(full), 12_000, 8000, 7000, 5000, 4000):
        card = summary_card(summary, limit=limit)
        assert card_size(card) < limit
        assert schema_errors(card_schema, card) == []
        note = next(line for line in texts(card) if line.startswith("Left out"))
        dropped = [detail for detail in DROP_ORDER if detail.value in note]
        assert dropped == order[: len(dropped)]  # always the first ones of the order
        assert len(dropped) >= max(dropped_before, 1)
        dropped_before = len(dropped)
    assert dropped_before == len(order)
    shortened = summary_card(summary, limit=4000)
    assert any("more domain" in line for line in texts(shortened))
    smallest = summary_card(summary, limit=2500)
    assert not [node for node in walk(smallest) if node.get("type") == "Table"]
    assert "too long for one Teams message" in all_text(smallest)


# What the card says ---------------------------------------------------------------------------------------


def test_the_domain_table_leads_with_the_median_then_the_mean_and_shows_the_trend() -> None:
    now = [Partner("Trust A", 4, pick=always(2)), Partner("Council B", 3, "council", pick=always(2))]
    before = [Partner("Trust A", 4, pick=always(1)), Partner("Council B", 3, "council", pick=always(1))]
    summary = summary_of("place-partnership-maturity", now, before=before)

    card = summary_card(summary)

    rows = table(card)["rows"]
    assert cell_texts(rows[0]) == [["Domain"], ["Median"], ["Split"], ["Trend"]]
    assert cell_texts(rows[1]) == [["Ambition and vision"], ["**Maturing**", "mean 3"], ["none"], ["▲"]]
    assert facts(card)["Weighting"] == "one organisation, one vote"
    assert facts(card)["Compared with"] == "Spring round (1 Jun 2026)"
    assert facts(card)["Responses"] == "7 of 9 invited responded (78%) · 5 submitted"


def test_partners_far_apart_are_flagged_split_and_named_as_a_divergence() -> None:
    apart = [Partner("Trust A", 4, pick=always(0)), Partner("Council B", 4, "council", pick=always(3))]
    summary = summary_of("place-partnership-maturity", apart)

    card = summary_card(summary)

    ambition = cell_texts(table(card)["rows"][1])
    assert ambition[2] == ["9 of 9"]  # every scored row of the domain
    text = all_text(card)
    assert "Where partners differ" in text
    assert "organisations far apart" in text
    assert "Trend" not in json.dumps(table(card))  # no earlier round: no trend column


def test_a_delivery_roadmap_counts_outcomes_by_status_and_lists_at_risk_ones_by_workstream() -> None:
    worried = [Partner("ICB", 4, "ICB", pick=always(2)), Partner("Trust", 3, pick=always(2))]
    summary = summary_of("ics-development-roadmap", worried)

    card = summary_card(summary)

    assert facts(card)["🟧 At risk"] == "124 outcomes"  # 128 less the 4 in development
    assert facts(card)["🟦 Delivered"] == "0 outcomes"
    text = all_text(card)
    assert "At-risk outcomes by workstream" in text
    assert "**System Governance** · 12 at risk" in text
    header = cell_texts(table(card)["rows"][0])
    assert header[1] == ["Most common"]
    assert cell_texts(table(card)["rows"][1])[1] == ["🟧 **At risk**", "100% amber or red"]


def test_hostile_names_and_titles_are_escaped_wherever_the_card_shows_them() -> None:
    partners = [Partner(HOSTILE, 4), Partner("Council <b>B</b>", 3, "council"), Partner("Trust C", 3)]
    framework = CATALOGUE.frameworks["place-partnership-maturity"]
    data = survey_data(framework, partners, seed=3, title=f"Round {HOSTILE}", survey_id=2)
    data = dataclasses.replace(data, partnership_name=HOSTILE)
    summary = summarise(data, SummaryRules(), now=FIXED_NOW)

    card = summary_card(summary)

    shown = texts(card)
    assert not [line for line in shown if "<at>" in line or "<b>" in line or "**bold**" in line]
    assert not [line for line in shown if "{{DATE" in line]
    escaped = r"\*\*bold\*\* &lt;at&gt;Admin&lt;/at&gt; \[x\](http://evil) \_under\_"
    assert sum(escaped in line for line in shown) >= 3  # the title, the partnership and the organisation
    assert any("Council &lt;b&gt;B&lt;/b&gt;" in line for line in shown)
    assert "**bold**" not in card["fallbackText"]


def test_hostile_words_in_a_framework_are_escaped_in_the_table_highlights_and_detail() -> None:
    raw = MATRIX.model_dump(mode="json")
    raw["domains"][0]["title"] = f"Domain {HOSTILE}"
    raw["domains"][0]["elements"][0]["title"] = f"Element {HOSTILE}"
    raw["scale"]["levels"][2]["label"] = "Maturing <at>x</at>"
    framework = Framework.model_validate(raw)
    partners = [Partner("Trust A", 4, pick=always(2)), Partner("Council B", 3, "council", pick=always(2))]
    summary = summarise(
        survey_data(framework, partners, seed=1, title="R", survey_id=2), SummaryRules(), now=FIXED_NOW
    )

    card = summary_card(summary)

    shown = texts(card)
    assert not [line for line in shown if "<at>" in line or "**bold**" in line or "{{" in line]
    assert cell_texts(table(card)["rows"][1])[:2] == [
        [
            r"Domain \*\*bold\*\* &lt;at&gt;Admin&lt;/at&gt; \[x\](http://evil) \_under\_ "
            r"{\{DATE(2017-02-14T06:08…"
        ],
        ["**Maturing &lt;at&gt;x&lt;/at&gt;**", "mean 3"],
    ]
    assert any(r"Element \*\*bold\*\*" in line for line in shown)  # in every question's figures


def test_a_small_partner_is_never_named_and_a_note_says_one_is_left_out() -> None:
    partners = [*PARTNERS, Partner("Tiny Carers Group", 2, "VCSE")]
    summary = summary_of("place-partnership-maturity", partners, before=partners)

    card = summary_card(summary)
    text = summary_text(summary)

    assert "Tiny Carers Group" not in json.dumps(card)
    assert "Tiny Carers Group" not in text
    assert "Leeds City Council" in json.dumps(card)
    notes = all_text(card)
    assert "1 organisation not shown separately: fewer than 3 people who started each." in notes


def test_nothing_but_the_invitations_is_shown_until_k_people_respond(card_schema: Draft6Validator) -> None:
    summary = summary_of("place-partnership-maturity", [Partner("Trust A", 2)])

    card = summary_card(summary)

    assert schema_errors(card_schema, card) == []
    assert not [node for node in walk(card) if node.get("type") == "Table"]
    assert facts(card) == {"Responses": "3 people invited"}
    assert "Results are shown once at least 3 people have responded." in all_text(card)


def test_a_week_without_new_answers_gets_a_brief_post(card_schema: Draft6Validator) -> None:
    summary = summary_of("place-partnership-maturity", PARTNERS)
    since = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)

    card = unchanged_card(summary, since)

    assert schema_errors(card_schema, card) == []
    assert card_size(card) < 1500
    assert [node["text"] for node in walk(card) if node.get("type") == "TextBlock"] == [
        "Autumn round",
        "No new answers since 16 Nov 2026.",
        "Responses: 27 of 32 invited responded (84%) · 22 submitted.",
        "Type **results** to see the summary again.",
    ]
    assert unchanged_text(summary, since).splitlines() == [
        "Autumn round: no new answers since 16 Nov 2026.",
        "Responses: 27 of 32 invited responded (84%) · 22 submitted.",
        "Type “results” to see the summary again.",
    ]


async def test_comment_texts_never_reach_the_channel_only_their_count(
    database: Database, now: datetime
) -> None:
    people = crowd("Leeds Teaching Hospitals", "lth", {"vision": [1, 2, 2], "plans": [2, 2, 3]}) + crowd(
        "Leeds City Council", "lcc", {"vision": [3, 3, 4], "plans": [4, 4, 3]}
    )
    for someone, note in zip(
        people, ("Board minutes say otherwise", "The CEO disagrees", "No plan yet"), strict=False
    ):
        someone.comments["vision"] = note
    survey_id = await run_round(database, MATRIX, people, now=now)
    async with transaction(database.sessions) as session:
        summary = await survey_summary(session, survey_id, rules=SummaryRules(), now=now)

    card = json.dumps(summary_card(summary), ensure_ascii=False)
    text = summary_text(summary)

    for note in ("Board minutes", "The CEO disagrees", "No plan yet"):
        assert note not in card
        assert note not in text
    assert "💬 3 comments: a lead reads them by saying **comments** in a private chat with me" in card
    assert "Shared vision" in card


# Plain text ----------------------------------------------------------------------------------------------


def test_plain_text_says_what_the_card_says_with_names_as_typed() -> None:
    partners = [
        Partner("Trust <A> & Co", 4, pick=always(2)),
        Partner("Council B", 3, "council", pick=always(0)),
    ]
    before = [
        Partner("Trust <A> & Co", 4, pick=always(1)),
        Partner("Council B", 3, "council", pick=always(1)),
    ]
    summary = summary_of("place-partnership-maturity", partners, before=before)

    text = summary_text(summary)
    lines = text.splitlines()

    assert lines[:3] == [
        "Results: Autumn round",
        "Place partnership maturity matrix · Anytown place partnership · 23 Nov 2026",
        "Responses: 7 of 9 invited responded (78%) · 5 submitted",
    ]
    assert "Trend since Spring round (1 Jun 2026): ▲ better · ▼ worse · = about the same" in lines
    domain_rows = lines[lines.index("Domains") + 1 :][:4]
    assert domain_rows[0].split() == ["Domain", "Median", "Split", "Trend"]
    assert [cell.strip() for cell in domain_rows[1].strip().split("  ") if cell] == [
        "Ambition and vision",
        "Developing (mean 2)",  # the median of the organisations' medians, Maturing and Emerging
        "9 of 9",
        "=",  # Developing in the spring too
    ]
    assert "    Trust <A> & Co — Maturing · mean 3 · n 36" in lines
    assert "Where partners differ" in lines
    assert "Every question" in lines
    assert "    Vision — Developing · mean 2 · n 7 · split · = · [3 · 0 · 4 · 0]" in lines


# Charts --------------------------------------------------------------------------------------------------


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


@pytest.mark.parametrize("framework_id", SEEDS)
def test_charts_are_pngs_teams_can_show(framework_id: str) -> None:
    summary = summary_of(framework_id, many_partners(14))
    profile = domain_profile(summary)
    assert profile is not None
    charts = [profile, *distributions(summary)]
    assert len(charts) > 1

    for chart in charts:
        png = render(chart)
        assert png_size(png) == (chart.width, chart.height)
        assert chart.width <= 1024
        assert chart.height <= 1024
        with Image.open(io.BytesIO(png)) as image:
            image.load()
            assert image.size == (chart.width, chart.height)


def test_the_profile_draws_the_partnership_beside_the_largest_organisations() -> None:
    summary = summary_of("place-partnership-maturity", many_partners(14))

    profile = domain_profile(summary)

    assert profile is not None
    (panel,) = profile.panels
    assert panel.categories == [d.title for d in summary.domains]
    assert panel.series[0].label == "Partnership"
    assert len(panel.series) == 1 + 10
    assert panel.series[0].values == [d.headline.median for d in summary.domains]
    assert "the 10 organisations with most answers of 14 shown" in profile.subtitle


def test_a_long_roadmap_domain_is_split_over_several_images() -> None:
    summary = summary_of("ics-development-roadmap", PARTNERS)

    charts = distributions(summary, rows_per_chart=28)

    shown = {d.domain_id: sum(1 for e in d.elements if e.overall is not None) for d in summary.domains}
    assert [c.name for c in charts] == [
        f"distribution-{domain_id}-{page}.png"
        for domain_id, count in shown.items()
        for page in range(1, -(-count // 28) + 1)
    ]
    first = charts[0].panels[0]
    assert [s.label for s in first.series] == [
        "Delivered",
        "On track",
        "At risk",
        "Not started",
        "Out of scope",
    ]
    assert all(
        sum(v or 0 for v in values) == pytest.approx(100)
        for values in zip(*(s.values for s in first.series), strict=True)
    )


def test_domains_on_different_scales_get_a_panel_each_with_the_scale_s_own_words() -> None:
    data = survey_data(MATRIX, PARTNERS, seed=5, title="Mixed", survey_id=2)
    summary = summarise(data, SummaryRules(), now=FIXED_NOW)

    profile = domain_profile(summary)
    charts = distributions(summary)

    assert profile is not None
    assert [(p.title, p.categories) for p in profile.panels] == [
        ("Maturity", ["Ambition and vision"]),
        ("Score (Not at all to Fully)", ["Check-in"]),
    ]
    assert profile.panels[0].tick_labels == ["Emerging", "Developing", "Maturing", "Thriving"]
    score = charts[1].panels[0]
    assert [s.label for s in score.series][:2] == ["-5 Not at all", "-4"]
    assert score.series[-1].label == "+5 Fully"
    assert png_size(render(profile)) == (profile.width, profile.height)


def svg_text(chart: Chart) -> str:
    return render(chart, fmt="svg").decode()


def test_a_hidden_organisation_never_appears_in_a_chart() -> None:
    partners = [*PARTNERS, Partner("Tiny Carers Group", 2, "VCSE")]
    summary = summary_of("integration-self-assessment", partners)
    profile = domain_profile(summary)
    assert profile is not None

    for chart in [profile, *distributions(summary)]:
        assert not [label for label in chart.labels() if "Tiny Carers" in label]
        assert "Tiny Carers" not in svg_text(chart)
    assert "Leeds City Council" in svg_text(profile)


def test_names_with_dollar_signs_are_drawn_as_typed_not_as_maths() -> None:
    partners = [Partner("Money $ave$ Trust", 4), Partner("Costs $", 3)]
    summary = summary_of("integrated-care-self-test", partners)
    profile = domain_profile(summary)
    assert profile is not None

    svg = svg_text(profile)

    assert "Money $ave$ Trust" in svg
    assert "Costs $" in svg


async def test_charts_are_drawn_off_the_event_loop_as_named_pngs() -> None:
    summary = summary_of("place-partnership-maturity", PARTNERS)

    charts = await summary_charts(summary)

    assert [name for name, _ in charts] == [
        "domain-profile.png",
        "distribution-ambition-and-vision-1.png",
        "distribution-system-leadership-1.png",
        "distribution-design-and-delivery-1.png",
    ]
    assert all(png_size(png)[0] <= 1024 and png_size(png)[1] <= 1024 for _, png in charts)


def test_no_chart_before_k_people_respond() -> None:
    summary = summary_of("place-partnership-maturity", [Partner("Trust A", 2)])
    assert domain_profile(summary) is None
    assert distributions(summary) == []


@pytest.mark.parametrize("framework_id", SEEDS)
def test_chart_links_fit_in_the_card_or_are_left_out_in_order(
    card_schema: Draft6Validator, framework_id: str
) -> None:
    summary = summary_of(framework_id, many_partners(60), before=many_partners(60))
    links = ChartLinks("https://bot.example.nhs.uk", b"key").for_summary(summary, now=FIXED_NOW)
    assert links is not None
    card = summary_card(summary, charts=links)
    assert card_size(card) < MAX_CARD_BYTES
    assert schema_errors(card_schema, card) == []
    text = all_text(card)
    images = [node for node in walk(card) if node.get("type") == "Image"]
    assert [image["url"] for image in images] == [links.profile]
    shown = [url for _, url in links.distributions if url in text]
    left_out = next((line for line in texts(card) if line.startswith("Left out")), "")
    if Detail.CHART_LINKS.value in left_out:
        assert shown == []
    else:
        assert shown == [url for _, url in links.distributions]  # every domain's chart, none dropped


def test_a_weekly_post_names_what_moved_since_the_channel_last_saw_the_survey(
    card_schema: Draft6Validator,
) -> None:
    framework = CATALOGUE.frameworks["place-partnership-maturity"]
    rules = SummaryRules()
    last_week = summarise(
        survey_data(framework, PARTNERS, seed=3, title="Autumn round", survey_id=2), rules, now=EARLIER
    )
    this_week = summarise(
        survey_data(framework, PARTNERS, seed=11, title="Autumn round", survey_id=2), rules, now=FIXED_NOW
    )
    posted = since_last_post(this_week, last_week)
    changes = posted.since_last
    assert changes is not None
    moved = [c for c in changes.elements if c.moved]
    assert moved  # different answers: some questions moved

    heading, lines = since_last_section(posted) or ("", [])
    assert heading == f"Since the last summary ({EARLIER.day} {EARLIER:%b %Y})"
    counted = f"{len(moved)} question{'s' if len(moved) != 1 else ''} moved"
    assert any(line.startswith(counted) for line in lines)
    named = [line for line in lines if line[:1] in "▲▼" and any(c.title in line for c in moved)]
    assert 0 < len(named) <= SINCE_LAST_ELEMENTS
    biggest = max(abs(c.shift) for c in moved)
    assert any(c.title in line for line in named for c in moved if abs(c.shift) == biggest)

    card = summary_card(posted)
    assert schema_errors(card_schema, card) == []
    assert heading in all_text(card)
    assert heading in summary_text(posted)
    # another survey's post is not "the last summary" of this one
    other = summarise(
        survey_data(framework, PARTNERS, seed=3, title="Spring", survey_id=1), rules, now=EARLIER
    )
    assert since_last_post(this_week, other).since_last is None
