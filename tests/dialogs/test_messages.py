"""A Message becomes exactly the activity the renderers used to build, so the wire does not change."""

from __future__ import annotations

import copy

from botbuilder.core import CardFactory, MessageFactory
from botbuilder.schema import Activity, ActivityTypes, AttachmentLayoutTypes, TextFormatTypes

from dialogs.messages import (
    ADAPTIVE_CARD,
    Attachment,
    Message,
    TextFormat,
    card_message,
    from_json,
    text_message,
    to_activity,
    to_json,
)

CARD = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Hi"}]}


def test_a_card_message_is_the_activity_card_factory_built() -> None:
    before = Activity(
        type=ActivityTypes.message,
        attachment_layout=AttachmentLayoutTypes.list,
        attachments=[CardFactory.adaptive_card(dict(CARD))],
        input_hint="acceptingInput",
    )
    assert to_json(card_message(CARD)) == before.serialize()
    assert CardFactory.content_types.adaptive_card == ADAPTIVE_CARD


def test_a_sent_card_is_shared_not_deep_copied() -> None:
    activity = to_activity(card_message(CARD))
    assert copy.deepcopy(activity).attachments[0].content is activity.attachments[0].content


def test_text_messages_are_what_message_factory_and_the_text_renderer_built() -> None:
    assert to_json(text_message("Saved.")) == MessageFactory.text("Saved.").serialize()
    plain = Activity(
        type=ActivityTypes.message, text="a", text_format=TextFormatTypes.plain, input_hint="acceptingInput"
    )
    assert to_json(text_message("a", text_format=TextFormat.PLAIN)) == plain.serialize()
    assert to_json(Message(text="done")) == Activity(type=ActivityTypes.message, text="done").serialize()


def test_a_message_read_back_from_its_json_is_the_same_message() -> None:
    file_card = Message(attachments=(Attachment("application/x", {"a": 1}, name="f.xlsx"),))
    for message in (card_message(CARD), text_message("x", text_format=TextFormat.PLAIN), file_card):
        assert from_json(to_json(message)) == message
