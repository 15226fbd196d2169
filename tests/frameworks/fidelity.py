"""Shared rules for proving a framework YAML is faithful to its seed document.

Two directions: nothing the YAML shows partners was invented (every verbatim text is in the seed,
once the recorded repairs are replayed), and nothing in the seed was dropped (every descriptor or
question extracted from the seed is in the YAML). Titles, descriptions and milestone labels are
ours and are not checked; descriptors, questions, lead-ins and level descriptions are.
"""

from __future__ import annotations

import re
from pathlib import Path

from frameworks.loader import BUILTIN_DIR, load_framework
from frameworks.schema import Framework, LevelsScale, normalise_whitespace
from tests.conftest import shared_file

_TAG = re.compile(r"<[^>]+>")
_MARKS = re.compile(r"[•➤✓▼→]")
_EMPHASIS = re.compile(r"\*+")


def seeds_dir() -> Path:
    """The seed documents in the shared folder (SURVEYBOT_SHARED_DIR); tests skip without it, except in CI."""
    return shared_file("seeds")


def normalise(text: str) -> str:
    """Drop the conversion's markup (HTML lists, bullets, markdown emphasis) and fold whitespace."""
    return normalise_whitespace(_EMPHASIS.sub("", _MARKS.sub(" ", _TAG.sub(" ", text))))


def load_builtin(framework_id: str) -> Framework:
    return load_framework(BUILTIN_DIR / f"{framework_id}.yaml")


def verbatim_texts(framework: Framework) -> list[tuple[str, str]]:
    """(where, text) for every text that must come from the seed word for word."""
    texts: list[tuple[str, str]] = []
    scales = [framework.scale] + [domain.scale for domain in framework.domains]
    for scale in scales:
        if isinstance(scale, LevelsScale):
            texts += [(f"level {lv.id}", lv.description) for lv in scale.levels if lv.description]
    for domain in framework.domains:
        if domain.lead_in:
            texts.append((f"{domain.id} lead_in", domain.lead_in))
        for element in domain.elements:
            if element.text:
                texts.append((f"{element.id} text", element.text))
            texts += [(f"{element.id} {lv}", d) for lv, d in element.descriptors.items()]
    return texts


def apply_repairs(framework: Framework, text: str, *, strict: bool) -> str:
    """Replay the recorded repairs on normalised seed text; with strict, a repair must match."""
    for repair in framework.repairs:
        original, corrected = normalise(repair.original), normalise(repair.corrected)
        if strict and original == corrected:
            raise AssertionError(f"repair at {repair.where!r} changes only markup: not a repair")
        if strict and original not in text:
            raise AssertionError(f"repair at {repair.where!r} does not match the seed: {original!r}")
        text = text.replace(original, corrected)
    return text


def assert_nothing_invented(framework: Framework, seed_text: str) -> None:
    source = apply_repairs(framework, normalise(seed_text), strict=True)
    missing = [
        f"{where}: {normalise(text)[:120]!r}"
        for where, text in verbatim_texts(framework)
        if normalise(text) not in source
    ]
    assert not missing, "texts not found in the seed:\n" + "\n".join(missing)


def assert_nothing_missed(framework: Framework, fragments: list[str]) -> None:
    """Every fragment extracted from the seed is a whole text (or a whole line of one) in the YAML.

    A fragment that only exists inside a repaired passage counts when that repair's corrected text
    is itself in the YAML, so dropping a repaired element is still noticed.
    """
    assert fragments, "the extractor found nothing in the seed: it is broken"
    units: set[str] = set()
    for _, text in verbatim_texts(framework):
        units.add(normalise(text))
        units.update(normalise(line) for line in text.splitlines())
    corpus = " | ".join(sorted(units))
    missing = []
    for fragment in fragments:
        norm = normalise(fragment)
        if not norm:
            continue
        if apply_repairs(framework, norm, strict=False) in units:
            continue
        covering = [r for r in framework.repairs if norm in normalise(r.original)]
        if covering and all(normalise(r.corrected) in corpus for r in covering):
            continue
        missing.append(norm[:160])
    assert not missing, "seed texts missing from the YAML:\n" + "\n".join(missing)
