"""What a person is told about the commands: help (all they can use here, or one in detail), why a
command is refused here, and the Teams app manifest's command menus, all read from the catalogue."""

from __future__ import annotations

from typing import Any

from bot.commands.catalogue import COMMANDS, PARTNER_COMMANDS, CommandSpec, spec_named
from bot.commands.dates import DATE_HELP
from bot.commands.models import PERSONAL_SCOPE, SHARED_SCOPES, Scope

MENU_LIMIT, MENU_TITLE_LIMIT, MENU_DESCRIPTION_LIMIT = 12, 32, 128
"""Teams' command menu: at most 12 commands per scope; its documented title and description lengths."""


def available(scope: Scope, is_lead: bool) -> list[CommandSpec]:
    return [spec for spec in COMMANDS if scope in _usable(spec, is_lead) and (is_lead or not spec.lead_only)]


def _usable(spec: CommandSpec, is_lead: bool) -> frozenset[Scope]:
    """Where this person can use it."""
    return spec.scopes if is_lead else spec.scopes - spec.leads_only_in


def refusal(kind: str | None, scope: Scope, is_lead: bool) -> str | None:
    """Why this person can't use command `kind` here, or None when they can.

    Pass a command's `kind`, a Clarification's `about` or a CommandError's `kind`, before replying.
    """
    spec = spec_named(kind)
    if spec is None:
        return None
    if spec.lead_only and not is_lead:
        return (
            f"Only partnership leads can use “{spec.name}”. A lead can make you one with “grant lead @you”."
        )
    if scope not in _usable(spec, is_lead):
        return spec.elsewhere or f"“{spec.name}” works {_where(_usable(spec, is_lead))}."
    return None


def help_text(scope: Scope, is_lead: bool, topic: str | None = None) -> str:
    """Plain text: the commands this person can use here, or the details of one."""
    if topic is not None:
        return _topic_help(topic, scope, is_lead)
    if scope is Scope.PERSONAL:
        lines = ["Here's what I can do:"]
        lines += [f"• {name} — {description}." for name, description in PARTNER_COMMANDS]
    else:
        lines = ["Here's what I can do (mention me first):"]
    lines += [
        f"• {spec.syntax} — {spec.description}. e.g. {spec.example}" for spec in available(scope, is_lead)
    ]
    if not is_lead:
        lead_names = [spec.name for spec in COMMANDS if spec.lead_only and scope in spec.scopes]
        lines.append(f"Partnership leads can also: {', '.join(lead_names)}.")
    lines.append("Say “help <command>” for more about one, or “help dates” for the dates I understand.")
    return "\n".join(lines)


def _topic_help(topic: str, scope: Scope, is_lead: bool) -> str:
    if topic == "dates":
        return DATE_HELP
    spec = next((spec for spec in COMMANDS if spec.name == topic), None)
    if spec is None:
        return help_text(scope, is_lead)
    lines = [spec.syntax, f"{spec.description}.", f"Example: {spec.example}"]
    if spec.details:
        lines.append(spec.details)
    if spec.lead_only and not is_lead:
        lines.append("Only partnership leads can use it.")
    if scope not in _usable(spec, is_lead):
        lines.append(f"It works {_where(_usable(spec, is_lead))}.")
    return "\n".join(lines)


def _where(scopes: frozenset[Scope]) -> str:
    if scopes == PERSONAL_SCOPE:
        return "in a 1:1 chat with me"
    if scopes == SHARED_SCOPES:
        return "in channels and group chats"
    return "everywhere"


def manifest_command_lists() -> list[dict[str, Any]]:
    """`bots[].commandLists` for the Teams app manifest: one list per scope, as the schema advises."""
    lists = []
    for scope in Scope:
        commands = [{"title": name, "description": description} for name, description in PARTNER_COMMANDS]
        commands = commands if scope is Scope.PERSONAL else []
        commands += [
            {"title": spec.name, "description": _menu_line(spec)} for spec in COMMANDS if scope in spec.menu
        ]
        lists.append({"scopes": [str(scope)], "commands": commands})
    return lists


def _menu_line(spec: CommandSpec) -> str:
    """The description with its example when both fit in the menu, else the description alone."""
    suffix = " (leads only)" if spec.lead_only else ""
    line = f"{spec.description}, e.g. {spec.example}{suffix}"
    return line if len(line) <= MENU_DESCRIPTION_LIMIT else spec.description + suffix
