"""Pydantic model of an assessment framework: domains of elements answered on a response scale.

A framework file is the encoded form of a partnership's own Word/Excel document, so the model keeps
the source's words (descriptors, questions, milestones) and records every repair made to them.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

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

    @model_validator(mode="after")
    def _consistent(self) -> Framework:
        _require_unique("domain id", [domain.id for domain in self.domains])
        _require_unique("element id", [element.id for _, element in self.iter_elements()])
        for d_index, domain in enumerate(self.domains):
            scale = domain.scale or self.scale
            if scale is None:
                raise ValueError(
                    f"domains[{d_index}]({domain.id}): no scale; set one on the framework or the domain"
                )
            for e_index, element in enumerate(domain.elements):
                where = f"domains[{d_index}]({domain.id}).elements[{e_index}]({element.id})"
                _check_element(element, scale, where)
        return self

    def scale_for(self, domain: Domain) -> LevelsScale | ScoreScale | StatusScale:
        scale = domain.scale or self.scale
        assert scale is not None  # guaranteed by validation
        return scale

    def iter_elements(self) -> list[tuple[Domain, Element]]:
        return [(domain, element) for domain in self.domains for element in domain.elements]

    def element(self, element_id: str) -> tuple[Domain, Element] | None:
        return next(
            ((d, e) for d, e in self.iter_elements() if e.id == element_id),
            None,
        )

    @property
    def scored_elements(self) -> list[tuple[Domain, Element]]:
        return [(d, e) for d, e in self.iter_elements() if not e.in_development]


def _check_element(element: Element, scale: LevelsScale | ScoreScale | StatusScale, where: str) -> None:
    if isinstance(scale, LevelsScale):
        known = {level.id for level in scale.levels}
        unknown = sorted(set(element.descriptors) - known)
        if unknown:
            raise ValueError(f"{where}: descriptors for unknown levels {unknown}; levels are {sorted(known)}")
        missing = [level.id for level in scale.levels if level.id not in element.descriptors]
        if missing and not element.in_development:
            raise ValueError(
                f"{where}: no descriptor for levels {missing} (mark in_development if unwritten)"
            )
    else:
        if element.descriptors:
            raise ValueError(f"{where}: descriptors only belong to elements on a levels scale")
        if element.text is None and not element.in_development:
            raise ValueError(f"{where}: needs the question or outcome text")


def _require_unique(what: str, values: list[str]) -> None:
    duplicates = sorted(value for value, count in Counter(values).items() if count > 1)
    if duplicates:
        raise ValueError(f"duplicate {what}: {', '.join(duplicates)}")


_WS = re.compile(r"\s+")


def normalise_whitespace(text: str) -> str:
    return _WS.sub(" ", text).strip()
