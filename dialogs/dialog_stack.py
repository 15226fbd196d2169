"""The conversation's dialog stack: which dialog a partner is in and its place, kept between turns.

The few parts of botbuilder.dialogs the survey used, with the same names: importing that package loads
its prompts and the Recognizers-Text suites (18 MB of the server's idle memory, issue 14). The stack is
plain JSON in a `ConversationState` property, a list of `{"id": dialog id, "state": {…}}` with the
active dialog first, as botbuilder's `DialogState` kept it; storage.bot_state stores it in that shape.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, TypedDict

from botbuilder.core import StatePropertyAccessor, TurnContext

__all__ = ["Dialog", "DialogContext", "DialogInstance", "DialogSet"]


class _Frame(TypedDict):
    id: str
    state: dict[str, Any]


@dataclass(frozen=True)
class DialogInstance:
    """The active dialog: its id and its state, the stack's own dict (what a turn changes in it is kept)."""

    id: str
    state: dict[str, Any]


class Dialog(ABC):
    """A conversation over several turns; what it needs between them lives in its instance's state."""

    def __init__(self, dialog_id: str) -> None:
        self.id = dialog_id

    @abstractmethod
    async def begin_dialog(self, dialog_context: DialogContext, options: object = None) -> None:
        """Started with an empty state, on the turn that started it."""

    @abstractmethod
    async def continue_dialog(self, dialog_context: DialogContext) -> None:
        """A turn while it is the active dialog."""

    @abstractmethod
    async def reprompt_dialog(self, context: TurnContext, instance: DialogInstance) -> None:
        """Show again what it is waiting for."""


class DialogSet:
    """The dialogs a conversation can run, and the state property that holds its stack."""

    def __init__(self, stack_property: StatePropertyAccessor) -> None:
        self._property = stack_property
        self._dialogs: dict[str, Dialog] = {}

    def add(self, dialog: Dialog) -> None:
        self._dialogs[dialog.id] = dialog

    async def create_context(self, turn_context: TurnContext) -> DialogContext:
        """The turn's view of the stack; a new conversation gets an empty one, saved with the turn."""
        stack: list[_Frame] = await self._property.get(turn_context, list)
        return DialogContext(self._dialogs, turn_context, stack)


class DialogContext:
    """One turn of a conversation: its activity (`context`) and the stack the dialogs change."""

    def __init__(self, dialogs: dict[str, Dialog], context: TurnContext, stack: list[_Frame]) -> None:
        self._dialogs = dialogs
        self.context = context
        self._stack = stack

    @property
    def active_dialog(self) -> DialogInstance | None:
        if not self._stack:
            return None
        frame = self._stack[0]
        return DialogInstance(id=frame["id"], state=frame["state"])

    @property
    def active_state(self) -> dict[str, Any]:
        """The active dialog's state, for the dialog itself: while it runs, it is the active one."""
        active = self.active_dialog
        if active is None:
            raise LookupError("no dialog is active in this conversation")
        return active.state

    async def begin_dialog(self, dialog_id: str, options: object = None) -> None:
        dialog = self._dialog(dialog_id)
        self._stack.insert(0, {"id": dialog_id, "state": {}})
        await dialog.begin_dialog(self, options)

    async def continue_dialog(self) -> None:
        active = self.active_dialog
        if active is not None:
            await self._dialog(active.id).continue_dialog(self)

    async def reprompt_dialog(self) -> None:
        active = self.active_dialog
        if active is not None:
            await self._dialog(active.id).reprompt_dialog(self.context, active)

    def end_dialog(self) -> None:
        """The active dialog is done. No dialog here starts another, so there is none to resume."""
        del self._stack[:1]

    def cancel_all_dialogs(self) -> None:
        self._stack.clear()

    def _dialog(self, dialog_id: str) -> Dialog:
        try:
            return self._dialogs[dialog_id]
        except KeyError:
            raise LookupError(f"no dialog {dialog_id!r} in this conversation's dialog set") from None
