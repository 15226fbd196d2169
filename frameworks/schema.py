"""Pydantic model of an assessment framework: domains of elements answered on a response scale.

A framework file is the encoded form of a partnership's own Word/Excel document, so the model keeps
the source's words (descriptors, questions, milestones) and records every repair made to them.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
"""Any human-readable text: blank strings are refused so a card never shows an empty cell."""

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]
"""Stable identifier used in answers, commands and card payloads; never shown as prose."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScaleKind(StrEnum):
    LEVELS = "levels"
    SCORE = "score"
    STATUS = "status"


class Level(_Model):
    """One column of a maturity matrix, e.g. 'emerging' with the column's general description."""

    id: Slug
    value: int
    label: Text
    description: Text | None = None


class LevelsScale(_Model):
    kind: Literal["levels"] = "levels"
    levels: list[Level] = Field(min_length=2)

    @model_validator(mode="after")
    def _ordered_and_unique(self) -> LevelsScale:
        values = [level.value for level in self.levels]
        if any(b <= a for a, b in pairwise(values)):
            raise ValueError(f"level values must be strictly increasing, got {values}")
        _require_unique("level id", [level.id for level in self.levels])
        _require_unique("level label", [level.label.casefold() for level in self.levels])
        return self

    def level(self, level_id: str) -> Level | None:
        return next((level for level in self.levels if level.id == level_id), None)

    def level_by_value(self, value: int) -> Level | None:
        return next((level for level in self.levels if level.value == value), None)


class ScoreScale(_Model):
    """An integer range such as -5..+5; only the ends carry labels in the source documents."""

    kind: Literal["score"] = "score"
    min: int
    max: int
    min_label: Text
    max_label: Text

    @model_validator(mode="after")
    def _ordered(self) -> ScoreScale:
        if self.min >= self.max:
            raise ValueError(f"score scale min ({self.min}) must be below max ({self.max})")
        return self

    @property
    def values(self) -> list[int]:
        return list(range(self.min, self.max + 1))


class Rag(StrEnum):
    """Delivery colour conventions used in NHS programme reporting (BRAG: blue means done)."""

    BLUE = "blue"
    GREEN = "green"
    AMBER = "amber"
    RED = "red"
    GREY = "grey"


class StatusOption(_Model):
    id: Slug
    label: Text
    rag: Rag
    description: Text | None = None


class StatusScale(_Model):
    kind: Literal["status"] = "status"
    statuses: list[StatusOption] = Field(min_length=2)

    @model_validator(mode="after")
    def _unique(self) -> StatusScale:
        _require_unique("status id", [status.id for status in self.statuses])
        _require_unique("status label", [status.label.casefold() for status in self.statuses])
        return self

    def status(self, status_id: str) -> StatusOption | None:
        return next((status for status in self.statuses if status.id == status_id), None)


Scale = Annotated[LevelsScale | ScoreScale | StatusScale, Field(discriminator="kind")]


class Milestone(_Model):
    """When an outcome is due, as the source words it ('By 1 July 2022') and as a date."""

    label: Text
    due: date | None = None


class Element(_Model):
    """One question: a matrix row, a self-assessment question or a roadmap outcome statement."""

    id: Slug
    title: Text
    text: Text | None = None
    """The question or outcome statement, verbatim from the source (levels rows use descriptors)."""
    descriptors: dict[Slug, Text] = Field(default_factory=dict)
    """Levels scales only: the matrix cell for each level id."""
    guidance: Text | None = None
    group: Text | None = None
    """A sub-heading inside the domain, e.g. the workstream of a roadmap outcome."""
    milestone: Milestone | None = None
    in_development: bool = False
    """The source says this part is still being written: shown to partners, never scored."""
    development_note: Text | None = None


class Domain(_Model):
    id: Slug
    title: Text
    description: Text | None = None
    lead_in: Text | None = None
    """Words the source puts before every question of the domain ('Are you integrating resources for:')."""
    scale: Scale | None = None
    """Overrides the framework's scale where one document mixes scales."""
    elements: list[Element] = Field(default_factory=list)
    empty_note: Text | None = None
    """Why a domain has no elements (the source gives a heading and no questions)."""

    @model_validator(mode="after")
    def _empty_is_explained(self) -> Domain:
        if not self.elements and self.empty_note is None:
            raise ValueError("a domain without elements needs an empty_note saying why")
        return self


class Repair(_Model):
    """One correction of conversion damage: the fidelity test replays these against the seed."""

    where: Text
    original: Text
    corrected: Text
    reason: Text


class Framework(_Model):
    id: Slug
    title: Text
    version: Text
    source: Text
    """File name of the seed document the framework was encoded from."""
    description: Text
    notes: list[Text] = Field(default_factory=list)
    repairs: list[Repair] = Field(default_factory=list)
    scale: Scale | None = None
    domains: list[Domain] = Field(min_length=1)
    target_months: int | None = Field(default=None, ge=1, le=120)
    """Surveys of this framework also ask where partners want to be in this many months, unless the lead
    starts one otherwise (None: current only, unless the lead asks for a target)."""

    @model_validator(mode="after")
    def _consistent(self) -> Framework:
        parts = [
            _DomainParts(
                index, domain.id, domain.scale, domain.scale is not None, list(enumerate(domain.elements))
            )
            for index, domain in enumerate(self.domains)
        ]
        problems = _whole_framework_problems(
            self.scale,
            scale_given=self.scale is not None,
            domains=parts,
            domain_ids=[domain.id for domain in self.domains],
            element_ids=[element.id for _, element in self.iter_elements()],
        )
        if problems:
            raise ValueError("\n".join(problems))  # one line per problem: the loader reports each
        return self

    def scale_for(self, domain: Domain) -> LevelsScale | ScoreScale | StatusScale:
        scale = domain.scale or self.scale
        assert scale is not None  # guaranteed by validation
        return scale

    def iter_elements(self) -> list[tuple[Domain, Element]]:
        return list(self._elements)

    def element(self, element_id: str) -> tuple[Domain, Element] | None:
        return self._elements_by_id.get(element_id)

    @functools.cached_property
    def element_ids(self) -> tuple[str, ...]:
        """Every element's id in the order partners meet them, unscored ones included."""
        return tuple(element.id for _, element in self._elements)

    @functools.cached_property
    def _elements(self) -> tuple[tuple[Domain, Element], ...]:
        """Worked out once: a framework never changes (frozen), and a turn looks elements up often."""
        return tuple((domain, element) for domain in self.domains for element in domain.elements)

    @functools.cached_property
    def _elements_by_id(self) -> dict[str, tuple[Domain, Element]]:
        return {element.id: (domain, element) for domain, element in self._elements}

    @property
    def scored_elements(self) -> list[tuple[Domain, Element]]:
        return [(d, e) for d, e in self.iter_elements() if not e.in_development]


AnyScale = LevelsScale | ScoreScale | StatusScale


@dataclass(frozen=True)
class _DomainParts:
    """What the whole-framework checks need of a domain: its position, id, own scale and elements."""

    index: int
    id: str
    scale: AnyScale | None
    scale_given: bool
    """A scale is written on the domain (None above then means it is invalid, and reported already)."""
    elements: list[tuple[int, Element]]


def _whole_framework_problems(
    scale: AnyScale | None,
    *,
    scale_given: bool,
    domains: list[_DomainParts],
    domain_ids: list[str],
    element_ids: list[str],
) -> list[str]:
    problems = _duplicates("domain id", domain_ids) + _duplicates("element id", element_ids)
    for domain in domains:
        if domain.scale_given and domain.scale is None:
            continue
        effective = domain.scale or scale
        if effective is None:
            if not scale_given:
                problems.append(
                    f"domains[{domain.index}]({domain.id}): no scale; set one on the framework or the domain"
                )
            continue
        for e_index, element in domain.elements:
            where = f"domains[{domain.index}]({domain.id}).elements[{e_index}]({element.id})"
            problems += _element_problems(element, effective, where)
    return problems


def problems_beyond_fields(raw: dict[str, Any]) -> list[str]:
    """The whole-framework checks, run on whichever parts of a file are valid by themselves. Pydantic runs
    them only once every field is valid, so without this a duplicate id or a missing descriptor would
    show only after the title and scale had been fixed."""
    scale = _scale_as_written(raw.get("scale"))
    raw_domains = (
        [d for d in raw.get("domains") or [] if isinstance(d, dict)]
        if isinstance(raw.get("domains"), list)
        else []
    )
    parts = []
    element_ids: list[str] = []
    for index, domain in enumerate(raw_domains):
        written = domain.get("elements")
        raw_elements: list[Any] = written if isinstance(written, list) else []
        element_ids += [str(e["id"]) for e in raw_elements if isinstance(e, dict) and "id" in e]
        elements = [
            (i, element) for i, e in enumerate(raw_elements) if (element := _valid(_ELEMENT, e)) is not None
        ]
        parts.append(
            _DomainParts(
                index,
                str(domain.get("id")),
                _scale_as_written(domain.get("scale")),
                "scale" in domain,
                elements,
            )
        )
    return _whole_framework_problems(
        scale,
        scale_given="scale" in raw,
        domains=parts,
        domain_ids=[str(d["id"]) for d in raw_domains if "id" in d],
        element_ids=element_ids,
    )


_T = TypeVar("_T")
_SCALE: TypeAdapter[AnyScale] = TypeAdapter(Scale)
_LEVEL: TypeAdapter[Level] = TypeAdapter(Level)
_ELEMENT: TypeAdapter[Element] = TypeAdapter(Element)


def _scale_as_written(value: object) -> AnyScale | None:
    """The scale, or, when only its own checks fail (levels out of order…), enough of it to check the
    elements against: its kind and level ids. None when not even that can be read."""
    valid = _valid(_SCALE, value)
    if valid is not None or not isinstance(value, dict):
        return valid
    kind, written = value.get("kind"), value.get("levels")
    if kind == ScaleKind.LEVELS and isinstance(written, list):
        levels = [level for item in written if (level := _valid(_LEVEL, item)) is not None]
        return LevelsScale.model_construct(levels=levels) if len(levels) == len(written) else None
    # Deliberately partial scales, only their kind is read: pydantic's plugin asks for every field.
    if kind == ScaleKind.SCORE:
        return ScoreScale.model_construct()  # type: ignore[call-arg]
    if kind == ScaleKind.STATUS:
        return StatusScale.model_construct()  # type: ignore[call-arg]
    return None


def _valid(adapter: TypeAdapter[_T], value: object) -> _T | None:
    if value is None:
        return None
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


def _element_problems(element: Element, scale: AnyScale, where: str) -> list[str]:
    problems = []
    if isinstance(scale, LevelsScale):
        known = {level.id for level in scale.levels}
        unknown = sorted(set(element.descriptors) - known)
        if unknown:
            problems.append(f"{where}: descriptors for unknown levels {unknown}; levels are {sorted(known)}")
        missing = [level.id for level in scale.levels if level.id not in element.descriptors]
        if missing and not element.in_development:
            problems.append(f"{where}: no descriptor for levels {missing} (mark in_development if unwritten)")
    else:
        if element.descriptors:
            problems.append(f"{where}: descriptors only belong to elements on a levels scale")
        if element.text is None and not element.in_development:
            problems.append(f"{where}: needs the question or outcome text")
    return problems


def _duplicates(what: str, values: list[str]) -> list[str]:
    duplicates = sorted(value for value, count in Counter(values).items() if count > 1)
    return [f"duplicate {what}: {', '.join(duplicates)}"] if duplicates else []


def _require_unique(what: str, values: list[str]) -> None:
    for problem in _duplicates(what, values):
        raise ValueError(problem)


_WS = re.compile(r"\s+")


def normalise_whitespace(text: str) -> str:
    return _WS.sub(" ", text).strip()
