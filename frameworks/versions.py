"""What changed between two versions of a framework, element by element, so a lead sees it before
publishing and a trend knows which answers are still comparable. Pure: no I/O.

Elements are matched by id; those left over on both sides are then matched by title (case and spacing
aside), for workbooks whose rows carry no ids of their own. A matched element is reworded when its title,
question or any descriptor text changed, and moved when it sits in another domain.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

from pydantic import BaseModel, ConfigDict, Field

from frameworks.schema import Domain, Element, Framework, normalise_whitespace


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ElementRef(_Out):
    element_id: str
    title: str
    domain_id: str


class Reworded(_Out):
    """An element present in both versions whose words changed."""

    before: ElementRef
    after: ElementRef
    title_changed: bool = False
    text_changed: bool = False
    """The question or outcome statement (score and status scales)."""
    descriptors_changed: list[str] = Field(default_factory=list)
    """Level ids whose descriptor was reworded, added or dropped, in the newer version's level order."""


class Moved(_Out):
    before: ElementRef
    after: ElementRef


class FrameworkDiff(_Out):
    added: list[ElementRef] = Field(default_factory=list)
    removed: list[ElementRef] = Field(default_factory=list)
    reworded: list[Reworded] = Field(default_factory=list)
    moved: list[Moved] = Field(default_factory=list)
    matched_by_title: list[ElementRef] = Field(default_factory=list)
    """Elements (as the newer version has them) matched by title because their ids differ."""

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.removed or self.reworded or self.moved)


def diff(before: Framework, after: Framework) -> FrameworkDiff:
    """Elements added, removed, reworded and moved from `before` to `after`, each list in framework order."""
    old = before.iter_elements()
    new = after.iter_elements()
    old_ids = {element.id for _, element in old}
    new_ids = {element.id for _, element in new}
    pairs: dict[str, tuple[Domain, Element]] = {}
    """Newer element id -> the older element it continues."""
    by_id = {element.id: (domain, element) for domain, element in old}
    for _, element in new:
        if element.id in old_ids:
            pairs[element.id] = by_id[element.id]
    spare_old = [(d, e) for d, e in old if e.id not in new_ids]
    spare_new = [(d, e) for d, e in new if e.id not in old_ids]
    by_title = _unique_by_title(spare_old)
    new_titles = Counter(_title_key(e) for _, e in spare_new)
    titled: list[ElementRef] = []
    for domain, element in spare_new:
        key = _title_key(element)
        if new_titles[key] == 1 and key in by_title:
            pairs[element.id] = by_title.pop(key)
            titled.append(_ref(domain, element))
    continued = {element.id for _, element in pairs.values()}
    reworded: list[Reworded] = []
    moved: list[Moved] = []
    for domain, element in new:
        if element.id not in pairs:
            continue
        old_domain, old_element = pairs[element.id]
        change = _rewording(old_domain, old_element, domain, element)
        if change is not None:
            reworded.append(change)
        if old_domain.id != domain.id:
            moved.append(Moved(before=_ref(old_domain, old_element), after=_ref(domain, element)))
    return FrameworkDiff(
        added=[_ref(d, e) for d, e in new if e.id not in pairs],
        removed=[_ref(d, e) for d, e in old if e.id not in continued],
        reworded=reworded,
        moved=moved,
        matched_by_title=titled,
    )


def descriptor_fingerprint(element: Element) -> str:
    """A short digest of the words an answer is given against (the descriptors, or the question): equal
    in two rounds exactly when neither was reworded, so a stored summary can tell without the framework."""
    words = {"text": element.text, "descriptors": dict(sorted(element.descriptors.items()))}
    encoded = json.dumps(words, ensure_ascii=False, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def _rewording(old_domain: Domain, old: Element, domain: Domain, new: Element) -> Reworded | None:
    levels = list(new.descriptors) + [level for level in old.descriptors if level not in new.descriptors]
    descriptors = [level for level in levels if old.descriptors.get(level) != new.descriptors.get(level)]
    title_changed = old.title != new.title
    text_changed = old.text != new.text
    if not (title_changed or text_changed or descriptors):
        return None
    return Reworded(
        before=_ref(old_domain, old),
        after=_ref(domain, new),
        title_changed=title_changed,
        text_changed=text_changed,
        descriptors_changed=descriptors,
    )


def _unique_by_title(elements: list[tuple[Domain, Element]]) -> dict[str, tuple[Domain, Element]]:
    """Elements by title, leaving out titles shared by several (they cannot be told apart by title)."""
    counts = Counter(_title_key(element) for _, element in elements)
    return {_title_key(e): (d, e) for d, e in elements if counts[_title_key(e)] == 1}


def _title_key(element: Element) -> str:
    return normalise_whitespace(element.title).casefold()


def _ref(domain: Domain, element: Element) -> ElementRef:
    return ElementRef(element_id=element.id, title=element.title, domain_id=domain.id)
