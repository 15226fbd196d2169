"""What goes only to a lead's 1:1 chat, whichever chat asked: `export` (a survey's answers as a file),
`comments` (their texts, unattributed) and `frameworks export` (a framework's workbook). The delivery
itself (consent cards, the outbox) is bot.leads.lead_files's."""

from __future__ import annotations

from bot.commands import CommentsCommand, ExportCommand, FrameworkExportCommand
from bot.leads.targets import missing, survey_keywords
from bot.leads.turn import LeadTurn
from storage.db import transaction
from storage.surveys import find_survey
from storage.tables import stored_id


async def export(turn: LeadTurn, command: ExportCommand) -> None:
    survey_id = await _survey_id(turn, command)
    if survey_id is not None:
        await turn.files.export(
            turn.chat,
            survey_id,
            file_format=command.format,
            anonymise=command.anonymise,
            personal=turn.personal,
        )


async def comments(turn: LeadTurn, command: CommentsCommand) -> None:
    survey_id = await _survey_id(turn, command)
    if survey_id is not None:
        await turn.files.comments(turn.chat, survey_id, personal=turn.personal)


async def framework_export(turn: LeadTurn, command: FrameworkExportCommand) -> None:
    await turn.files.framework(turn.chat, command.framework_id, personal=turn.personal)


async def _survey_id(turn: LeadTurn, command: ExportCommand | CommentsCommand) -> int | None:
    """The survey asked for, within reach; None (and the reason said) when there is none."""
    async with transaction(turn.services.sessions) as session:
        survey = await find_survey(session, reach=turn.reach, **survey_keywords(command.survey))
    if survey is None:
        await turn.say(missing(command.survey, reach=turn.reach))
        return None
    return stored_id(survey.id)
