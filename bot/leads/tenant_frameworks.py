"""The frameworks a tenant can use: the built-in ones (YAML) plus the latest published version of each
framework the tenant published (storage.framework_versions). `frameworks`, `start` and the start form all
ask here, so they never disagree.

A published framework whose id is a built-in's replaces the built-in for that tenant only: a partnership
that adapts a seed and keeps its id keeps its trends (rounds are compared by framework id).
"""

from __future__ import annotations

from dataclasses import dataclass

from frameworks.loader import Catalogue
from frameworks.schema import Framework
from storage.db import Session
from storage.framework_versions import latest, latest_versions, listing


@dataclass(frozen=True)
class FrameworkChoice:
    """A framework as a list of choices names it, without its document."""

    framework_id: str
    title: str
    published_version: int | None = None
    """The tenant's latest version; None for a built-in framework."""
    replaces_built_in: bool = False


@dataclass(frozen=True)
class UsableFramework:
    """A framework a survey can start from, and whether the tenant published it."""

    framework: Framework
    published_version: int | None = None
    replaces_built_in: bool = False


async def framework_choices(
    session: Session, *, built_in: Catalogue, tenant_id: str | None
) -> list[FrameworkChoice]:
    """Every framework this tenant can start, by title (one indexed read; no documents loaded)."""
    choices = {
        framework_id: FrameworkChoice(framework_id, framework.title)
        for framework_id, framework in built_in.frameworks.items()
    }
    if tenant_id is not None:
        for item in await listing(session, tenant_id=tenant_id):
            replaces = item.framework_id in built_in.frameworks
            choices[item.framework_id] = FrameworkChoice(
                item.framework_id, item.title, item.version, replaces
            )
    return sorted(choices.values(), key=lambda choice: _listing_order(choice.title, choice.framework_id))


async def find_framework(
    session: Session, *, built_in: Catalogue, tenant_id: str | None, framework_id: str
) -> UsableFramework | None:
    """The framework `start <id>` uses in this tenant: its latest published version, else the built-in."""
    if tenant_id is not None:
        published = await latest(session, tenant_id=tenant_id, framework_id=framework_id)
        if published is not None:
            replaces = framework_id in built_in.frameworks
            return UsableFramework(published.framework, published.version, replaces)
    framework = built_in.get(framework_id)
    return UsableFramework(framework) if framework is not None else None


async def usable_frameworks(
    session: Session, *, built_in: Catalogue, tenant_id: str | None
) -> list[UsableFramework]:
    """Every framework this tenant can start, with its document (for listings that count questions), in
    the order `framework_choices` gives: by title."""
    usable = {key: UsableFramework(framework) for key, framework in built_in.frameworks.items()}
    if tenant_id is not None:
        for published in await latest_versions(session, tenant_id=tenant_id):
            framework = published.framework
            replaces = framework.id in built_in.frameworks
            usable[framework.id] = UsableFramework(framework, published.version, replaces)
    return sorted(usable.values(), key=lambda each: _listing_order(each.framework.title, each.framework.id))


def _listing_order(title: str, framework_id: str) -> tuple[str, str]:
    """Frameworks are listed by title, whatever its case, then id: choices and usable ones alike."""
    return title.casefold(), framework_id
