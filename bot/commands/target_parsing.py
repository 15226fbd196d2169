"""`start … with target [in 18 months]` (or `without target`): whether a survey also asks where partners
want to be, and in how many months. Taken out of the start command's words before its clauses are read,
so a title or partnership never has to avoid the word “with”."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.commands.models import CommandError

if TYPE_CHECKING:
    from bot.commands.parsing import Token

DEFAULT_TARGET_MONTHS = 12
"""`with target` alone, for a framework that sets no horizon of its own: a year, as the seeds plan."""
MAX_TARGET_MONTHS = 120

_ASK = {"with": True, "without": False, "no": False}
_TARGET = {"target", "targets"}
_UNITS = {"month": 1, "months": 1, "mo": 1, "year": 12, "years": 12, "yr": 12, "yrs": 12}
_HOW = "For example: with target, or with target in 18 months."


def take_target(args: Sequence[Token]) -> tuple[list[Token], bool | None, int | None]:
    """The words without the target clause, whether a target is asked (None: not said, the framework
    decides) and its horizon in months (None: the default)."""
    words = [token.word for token in args]
    at = next(
        (i for i in range(len(args) - 1) if words[i] in _ASK and words[i + 1] in _TARGET),
        None,
    )
    if at is None:
        return list(args), None, None
    asked = _ASK[words[at] or ""]
    end = at + 2
    months = None
    rest = words[end:]
    if rest and rest[0] == "in":
        rest, end = rest[1:], end + 1
    horizon = re.fullmatch(r"(\d{1,4})([a-z]*)", rest[0] or "") if rest else None
    if horizon is not None:
        unit = horizon[2] or (rest[1] if len(rest) > 1 else None)
        if unit not in _UNITS:
            raise CommandError(f"In how many months? {_HOW}", kind="start")
        if not asked:
            raise CommandError("Without a target there is no horizon: say without target alone.", "start")
        months = int(horizon[1]) * _UNITS[unit]
        end += 1 if horizon[2] else 2
        if not 1 <= months <= MAX_TARGET_MONTHS:
            raise CommandError(
                f"A target can be 1 to {MAX_TARGET_MONTHS} months ahead; {months} is not. {_HOW}", "start"
            )
    elif words[end - 1] == "in":
        raise CommandError(f"In how many months? {_HOW}", kind="start")
    return [*args[:at], *args[end:]], asked, months
