"""`start … without personal views`, `close … with|without personal views`: whether each partner who
answered gets their own view when the round closes. Taken out of the command's words before the rest
is read, so a title or partnership never has to avoid these words."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.commands.parsing import Token

_SAY = {"with": True, "without": False, "no": False}
_PERSONAL = {"personal", "own"}
_VIEWS = {"views", "view"}


def take_personal_views(args: Sequence[Token]) -> tuple[list[Token], bool | None]:
    """The words without the option, and the lead's choice (None: not said)."""
    words = [token.word for token in args]
    for at in range(len(args) - 1):
        if words[at] not in _SAY:
            continue
        if words[at + 1] in _VIEWS:  # `no views`, `without views`
            return [*args[:at], *args[at + 2 :]], _SAY[words[at] or ""]
        if at + 2 < len(args) and words[at + 1] in _PERSONAL and words[at + 2] in _VIEWS:
            return [*args[:at], *args[at + 3 :]], _SAY[words[at] or ""]
    return list(args), None
