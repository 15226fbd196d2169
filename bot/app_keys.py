"""The objects one app shares, each under a typed `web.AppKey`: set by `bot.app`, read by the routes
and by tests."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from botbuilder.integration.aiohttp import CloudAdapter

from bot.outbox.sender import OutboxSender
from bot.settings import Settings
from bot.teams.app_tokens import AppTokens
from bot.teams.connector import BotConnector
from bot.teams.handler import SurveyBot
from frameworks.clock import Clock
from frameworks.loader import Catalogue
from storage.db import Engine, Sessions

__all__ = [
    "ADAPTER",
    "APP_TOKENS",
    "BOT",
    "CATALOGUE",
    "CLOCK",
    "CONNECTOR",
    "ENGINE",
    "ENGINE_OPTIONS",
    "SENDER",
    "SESSIONS",
    "SETTINGS",
]

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", Engine)
SESSIONS = web.AppKey("sessions", Sessions)
CATALOGUE = web.AppKey("catalogue", Catalogue)
ADAPTER = web.AppKey("adapter", CloudAdapter)
BOT = web.AppKey("bot", SurveyBot)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
ENGINE_OPTIONS = web.AppKey("engine_options", dict[str, Any])
SENDER = web.AppKey("sender", OutboxSender)
APP_TOKENS = web.AppKey("app_tokens", AppTokens)
CONNECTOR = web.AppKey("connector", BotConnector)
