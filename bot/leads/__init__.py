"""What leads do from Teams chat: the use cases behind their commands, card buttons and files. They
answer through a port (`conversation.LeadConversation`) that bot.teams.lead_turns implements around a
Teams turn, so nothing here speaks the Bot Framework. Each module is imported by name (bot.teams imports
the way in, which uses the roster and uploads there, so this package imports nothing eagerly):

    chat               the way in: `LeadCommands` reads a command, checks the lead once, runs its use case
    conversation       the port: `Incoming` (what the turn says) and `LeadConversation` (how to answer)
    turn               `LeadServices` and `LeadTurn`: what every use case gets
    targets            which survey a command means, within the turn's reach
    starting           `start`, the start form, confirm and cancel
    tracking           `frameworks`, `surveys`, `status`, `results`
    closing            `remind`, `close`, `reopen`
    consensus          `consensus`: a second look at the elements partners split on (Delphi)
    roles              `grant lead`, `revoke lead`, `my organisation`, email domains
    subscriptions      `subscribe`, `unsubscribe`, `subscriptions`
    files              `export`, `comments`, `frameworks export`
    lead_files         the private deliveries: file consent, uploads, comments in the lead's 1:1 chat
    offers             what a consent card offers and what Teams hands back
    framework_uploads  a workbook a lead sends: preview, publish
    tenant_frameworks  the frameworks a tenant can use
"""

__all__ = [
    "chat",
    "closing",
    "consensus",
    "conversation",
    "files",
    "framework_uploads",
    "lead_files",
    "offers",
    "roles",
    "starting",
    "subscriptions",
    "targets",
    "tenant_frameworks",
    "tracking",
    "turn",
]
