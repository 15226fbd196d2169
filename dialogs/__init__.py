"""The partner's conversation: one question at a time, every answer stored on the turn it is given.

router (PartnerConversation) is the way in; survey_dialog runs a survey; intents and payloads read what
was typed or pressed; survey_views, progress and views build what is shown; outgoing sends it.
dialogs/ reads plain values from storage/ (never an ORM row) and never imports bot/.
"""

__all__ = [
    "intents",
    "outgoing",
    "payloads",
    "progress",
    "router",
    "survey_dialog",
    "survey_views",
    "views",
    "wording",
]
