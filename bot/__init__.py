"""The application: the Teams survey bot. Rooms, each imported by name (nothing here is eager):

app        the composition root (`create_app`); app_keys, routes, jobs: its keys, HTTP handlers, jobs
teams      the Teams edge: adapter, middleware, handler, roster, uploads, app package
commands   the leads' chat language: one catalogue row per command
leads      the lead use cases
outbox     delivery of invitations, reminders, summaries and lead files
cards      Adaptive Cards
reports    text, charts, chart links and exports
ops        logs, metrics, health
cli        the command line (`python -m bot`); terminal: a survey in the terminal
settings   the settings, from the environment or .env
"""

__all__ = [
    "app",
    "app_keys",
    "cards",
    "cli",
    "commands",
    "jobs",
    "leads",
    "ops",
    "outbox",
    "reports",
    "routes",
    "settings",
    "teams",
    "terminal",
]
