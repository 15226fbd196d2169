"""A bare botbuilder echo bot behind the survey bot's own adapter: the baseline of benchmarks/turns.py.

    .venv/bin/python benchmarks/echo_bot.py --port 3979          # POST /api/messages, GET /readyz

A typed message gets one reply with its text, sent to the activity's serviceUrl by the survey bot's
own Bot Connector client (`bot.teams.connector`), as its replies are; a press (an
`adaptiveCard/action` invoke) is answered in the invoke response with a one-line card that replaces
the pressed one, in the survey bot's own Universal Actions body (the survey bot answers a press with
the answered card). Nothing is stored. The adapter is `bot.teams.adapter.create_adapter` in local mode
(no app id, so no inbound authentication), as `python -m bot serve` runs without MICROSOFT_APP_ID: the
difference between the two is what the survey bot's turn costs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from aiohttp import web
from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
from botbuilder.schema import InvokeResponse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import MAX_ACTIVITY_BYTES
from bot.settings import Settings
from bot.teams.adapter import create_adapter
from bot.teams.connector import BotConnector
from bot.teams.invokes import CARD_RESPONSE, invoke_reply

__all__ = ["EchoBot", "echo_app"]


class EchoBot(ActivityHandler):  # type: ignore[misc]  # botbuilder is untyped
    """Replies with what it was told: one reply per turn, typed or pressed."""

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(MessageFactory.text(f"You said: {turn_context.activity.text}"))

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        """A press; the SDK's own `on_adaptive_card_invoke` answer (AdaptiveCardInvokeResponse) cannot
        be serialised with a card or a message in it, so the body is the survey bot's."""
        activity = turn_context.activity
        if activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        pressed = json.dumps((activity.value or {}).get("action", {}).get("data"), sort_keys=True)
        card = {
            "type": "AdaptiveCard",
            "version": "1.5",
            "body": [{"type": "TextBlock", "text": f"You pressed: {pressed}", "wrap": True}],
        }
        return invoke_reply(CARD_RESPONSE, card)


def echo_app() -> web.Application:
    """`/api/messages` as the survey bot routes it (JSON only, the same size limit), around the echo bot;
    replies go out through the survey bot's own Bot Connector client, open for the app's lifetime."""
    connector = BotConnector()
    adapter = create_adapter(Settings(_env_file=None), connector)
    echo = EchoBot()

    async def messages(request: web.Request) -> web.StreamResponse:
        if request.content_type != "application/json":
            raise web.HTTPUnsupportedMediaType(text="activities must be sent as application/json")
        response = await adapter.process(request, echo)
        return response or web.Response(status=201)

    async def ready(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    app = web.Application(client_max_size=MAX_ACTIVITY_BYTES)
    app.cleanup_ctx.append(connector.running)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/readyz", ready)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3979, help="port (default 3979)")
    args = parser.parse_args()
    web.run_app(echo_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
