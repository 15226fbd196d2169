"""The command line (`python -m bot`, `surveybot`): one module per command group."""

from bot.cli.main import main

__all__ = ["main"]
