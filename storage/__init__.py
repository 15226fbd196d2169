"""The database: the only place that builds a query (sqlalchemy and sqlmodel are imported here alone).

tables holds the rows, db the engine and transactions, migrations the schema's history; every other
module is a set of keyword functions taking a session, named for what they store. Layers above get
plain values (details, answer_sheets) or the rows of the module they call.
"""

__all__ = [
    "activities",
    "answer_sheets",
    "answers",
    "backup",
    "bot_state",
    "conversations",
    "db",
    "details",
    "errors",
    "exports",
    "framework_uploads",
    "framework_versions",
    "invitations",
    "leads",
    "lru",
    "migrate",
    "organisations",
    "outbox",
    "outbox_addresses",
    "outbox_fanouts",
    "outbox_summaries",
    "people",
    "privacy",
    "reachability",
    "reminders",
    "roster",
    "subscriptions",
    "summaries",
    "summary_posts",
    "surveys",
    "tables",
    "types",
    "upsert",
]
