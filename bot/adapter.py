"""The Bot Framework adapter: inbound authentication when an app id is set, and turn error handling."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import ActivityTypes

from bot.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _AuthConfiguration:
    """The attribute names the SDK reads (APP_ID…), filled from our settings."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str


def create_adapter(settings: Settings) -> CloudAdapter:
    configuration = _AuthConfiguration(
        APP_ID=settings.microsoft_app_id,
        APP_PASSWORD=settings.microsoft_app_password.get_secret_value(),
        APP_TYPE=settings.microsoft_app_type,
        APP_TENANTID=settings.microsoft_app_tenant_id,
    )
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(configuration))
    adapter.on_turn_error = _on_turn_error
    return adapter


async def _on_turn_error(context: TurnContext, error: Exception) -> None:
    """Log the failure with the activity id (no user text) and tell the person, without details."""
    activity = context.activity
    log.error(
        "turn failed: activity %s type %s in %s",
        activity.id,
        activity.type,
        activity.conversation.conversation_type if activity.conversation else None,
        exc_info=error,
    )
    if activity.type == ActivityTypes.message:
        await context.send_activity(
            "Sorry, something went wrong on my side. Nothing you have already answered is lost: "
            "please try again in a moment."
        )
