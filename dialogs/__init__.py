"""The partner's conversation: one question at a time, every answer stored on the turn it is given.

router (PartnerConversation) is the way in; survey_dialog runs a survey, with survey_answering,
survey_navigation, survey_submission and survey_screens doing its parts (survey_turn holds what they
share); dialog_stack keeps a conversation's place between turns; intents and payloads read what was
typed or pressed; survey_views, progress and views build what is shown; renderers return messages
(plain values) that outgoing sends as activities.
dialogs/ reads plain values from storage/ (never an ORM row) and never imports bot/.
"""

__all__ = [
    "dialog_stack",
    "intents",
    "messages",
    "outgoing",
    "payloads",
    "progress",
    "router",
    "survey_answering",
    "survey_dialog",
    "survey_navigation",
    "survey_screens",
    "survey_submission",
    "survey_turn",
    "survey_views",
    "views",
    "wording",
]
