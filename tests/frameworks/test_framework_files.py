"""A lead edits a framework file: mistakes are named by file and YAML path, and never crash the bot."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from frameworks.loader import BUILTIN_DIR, FrameworkFileError, load_directory, load_framework
from frameworks.schema import Framework
from frameworks.scoring import InvalidAnswer, interpret

SEED_IDS = {
    "place-partnership-maturity",
    "integration-self-assessment",
    "audit-committee-maturity",
    "integrated-care-self-test",
    "ics-development-roadmap",
}

GOOD: dict[str, Any] = {
    "id": "tiny",
    "title": "Tiny matrix",
    "version": "1.0",
    "source": "tiny.txt",
    "description": "Two levels, one row",
    "scale": {
        "kind": "levels",
        "levels": [
            {"id": "emerging", "value": 1, "label": "Emerging"},
            {"id": "thriving", "value": 2, "label": "Thriving"},
        ],
    },
    "domains": [
        {
            "id": "vision",
            "title": "Vision",
            "elements": [
                {
                    "id": "shared-vision",
                    "title": "Shared vision",
                    "descriptors": {"emerging": "a", "thriving": "b"},
                }
            ],
        }
    ],
}


def _write(tmp_path: Path, data: Any, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data, "utf-8")
    return path


def _broken(change) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    change(data)
    return data


def test_every_seed_framework_ships_and_validates() -> None:
    catalogue = load_directory(BUILTIN_DIR)
    assert catalogue.errors == []
    assert set(catalogue.frameworks) == SEED_IDS


def test_a_valid_file_loads(tmp_path: Path) -> None:
    framework = load_framework(_write(tmp_path, GOOD))
    assert framework.id == "tiny"
    assert [e.id for _, e in framework.iter_elements()] == ["shared-vision"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["domains"][0]["elements"][0]["descriptors"].pop("thriving"),
            "domains[0](vision).elements[0](shared-vision): no descriptor for levels ['thriving']",
        ),
        (
            lambda d: d["domains"][0]["elements"][0].update(title="   "),
            "domains[0](vision).elements[0](shared-vision).title: String should have at least 1 character",
        ),
        (
            lambda d: d["scale"]["levels"][1].update(value=1),
            "scale: level values must be strictly increasing, got [1, 1]",
        ),
        (
            lambda d: d["domains"][0]["elements"].append(copy.deepcopy(d["domains"][0]["elements"][0])),
            "duplicate element id: shared-vision",
        ),
        (
            lambda d: d["domains"].append({**copy.deepcopy(d["domains"][0]), "elements": []}),
            "domains[1](vision): a domain without elements needs an empty_note",
        ),
        (
            lambda d: d["domains"][0]["elements"][0]["descriptors"].update(excellent="c"),
            "descriptors for unknown levels ['excellent']",
        ),
        (lambda d: d.pop("scale"), "domains[0](vision): no scale; set one on the framework or the domain"),
        (lambda d: d.update(colour="blue"), "colour: Extra inputs are not permitted"),
        (
            lambda d: d["domains"][0].update(
                scale={"kind": "score", "min": 5, "max": -5, "min_label": "a", "max_label": "b"}
            ),
            "domains[0](vision).scale: score scale min (5) must be below max (-5)",
        ),
        (
            lambda d: d["domains"][0].update(
                scale={"kind": "score", "min": -5, "max": 5, "min_label": "a", "max_label": "b"}
            ),
            "descriptors only belong to elements on a levels scale",
        ),
    ],
)
def test_mistakes_are_named_by_file_and_yaml_path(tmp_path: Path, change, expected: str) -> None:
    path = _write(tmp_path, _broken(change))
    with pytest.raises(FrameworkFileError) as caught:
        load_framework(path)
    assert str(path) in str(caught.value)
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_an_unwritten_element_needs_no_descriptors(tmp_path: Path) -> None:
    def unwritten(d: dict[str, Any]) -> None:
        d["domains"][0]["elements"].append({"id": "quality", "title": "Quality", "in_development": True})

    framework = load_framework(_write(tmp_path, _broken(unwritten)))
    assert [e.id for _, e in framework.scored_elements] == ["shared-vision"]


@pytest.mark.parametrize(
    ("text", "problem"), [("id: [", "not valid YAML"), ("- a list", "top level must be a mapping")]
)
def test_files_that_are_not_frameworks_at_all_are_reported(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(FrameworkFileError, match=problem):
        load_framework(_write(tmp_path, text))


def test_a_broken_file_is_skipped_and_the_others_still_load(tmp_path: Path) -> None:
    _write(tmp_path, GOOD, "a-good.yaml")
    _write(tmp_path, _broken(lambda d: d.pop("domains")), "b-broken.yaml")
    _write(tmp_path, GOOD, "c-same-id.yaml")
    catalogue = load_directory(tmp_path)
    assert list(catalogue.frameworks) == ["tiny"]
    assert [error.path.name for error in catalogue.errors] == ["b-broken.yaml", "c-same-id.yaml"]
    assert "already used" in str(catalogue.errors[1])


def test_a_snapshot_round_trips_to_the_same_framework() -> None:
    for framework in load_directory(BUILTIN_DIR).frameworks.values():
        assert Framework.model_validate(framework.model_dump(mode="json")) == framework


@pytest.mark.parametrize(
    ("raw", "value", "score"),
    [(2, "thriving", 2), ("1", "emerging", 1), ("Thriving", "thriving", 2), (" emerging ", "emerging", 1)],
)
def test_levels_are_accepted_by_value_id_or_label(tmp_path: Path, raw, value: str, score: int) -> None:
    framework = load_framework(_write(tmp_path, GOOD))
    answer = interpret(framework, "shared-vision", raw)
    assert (answer.value, answer.score) == (value, score)


@pytest.mark.parametrize(
    ("raw", "value", "score"), [("+2", "+2", 2), (-5, "-5", -5), ("0", "0", 0), ("−3", "-3", -3)]
)
def test_scores_accept_signs_and_a_pasted_minus(raw, value: str, score: int) -> None:
    framework = load_directory(BUILTIN_DIR).frameworks["integrated-care-self-test"]
    element = framework.scored_elements[0][1].id
    answer = interpret(framework, element, raw)
    assert (answer.value, answer.score) == (value, score)


@pytest.mark.parametrize("raw", [True, "2.5", "", "+", 6, "-6"])
def test_scores_outside_the_scale_get_a_specific_refusal(raw) -> None:
    framework = load_directory(BUILTIN_DIR).frameworks["integrated-care-self-test"]
    element = framework.scored_elements[0][1].id
    with pytest.raises(InvalidAnswer) as caught:
        interpret(framework, element, raw)
    assert caught.value.element_id == element
    assert caught.value.message


def test_statuses_are_categories_without_a_score() -> None:
    framework = load_directory(BUILTIN_DIR).frameworks["ics-development-roadmap"]
    element = framework.scored_elements[0][1].id
    answer = interpret(framework, element, "At risk")
    assert (answer.value, answer.score) == ("at-risk", None)
    with pytest.raises(InvalidAnswer, match="Choose one of: Delivered, On track, At risk"):
        interpret(framework, element, "green")
