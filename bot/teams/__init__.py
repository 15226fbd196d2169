"""The Teams edge: everything that speaks the Bot Framework. Each module is imported by name (the
handler imports the lead use cases, which use the roster and uploads here, so this package imports
nothing eagerly):

    adapter             the Bot Framework adapter: inbound authentication, outbound calls by the connector
    connector           the bot's own Bot Connector client: one aiohttp session, plain JSON bodies
    edge                the turn middleware: parse, check and authenticate an activity, bind its log
    inbound             what an activity must look like before the SDK sees it
    channel_auth        the Bot Connector's token on inbound requests
    signing_keys        the Bot Framework's token signing keys, kept fresh
    app_tokens          the bot's own outbound tokens, kept fresh
    proxies             the web proxy the environment names, read once per client session
    addresses           which service URLs are this machine's
    handler             `SurveyBot`: routes a turn to the partner's conversation or a lead's command
    leased              leased turns: commands and file consent under a renewed claim
    delivery            replies kept with the claim, sent after the commit
    invokes             invoke answers (Universal Actions bodies, errors)
    references          who is talking and where to reach them
    proactive           the outbox's sends: conversations continued, 1:1 chats created, errors read
    unfinished          turns Teams should deliver again (5xx)
    turns               per-conversation turn locks
    lead_turns          the lead use cases' port over a Teams turn
    roster              the members of a chat or channel
    uploads             export files put in a lead's OneDrive
    package             the Teams app package (manifest and icons)
    background_refresh  a value refreshed in the background while the app runs
"""

__all__ = [
    "adapter",
    "addresses",
    "app_tokens",
    "background_refresh",
    "channel_auth",
    "connector",
    "delivery",
    "edge",
    "handler",
    "inbound",
    "invokes",
    "lead_turns",
    "leased",
    "package",
    "proactive",
    "proxies",
    "references",
    "roster",
    "signing_keys",
    "turns",
    "unfinished",
    "uploads",
]
