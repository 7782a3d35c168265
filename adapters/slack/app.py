"""The slack-bolt app: listeners that acknowledge, then hand over to ``SlackResponder``.

Bolt acknowledges Events API requests before a listener runs; commands and buttons call
``ack()`` first thing. All work happens after the ack, so Slack always hears back within its
3 seconds whatever the model or the database is doing. Each event listener first claims its
event (kept in the state store, so across restarts and replicas) and drops a retry of one
already claimed or handled; one error hook logs the
traceback and tells the user one polite sentence, for verified requests only (see
``adapters.slack.endpoint``: an unverified body names no one to tell).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.convert import FEEDBACK_DOWN, FEEDBACK_UP, SHARE_ANSWER
from adapters.slack.endpoint import is_verified
from adapters.slack.replies import SlackResponder
from adapters.slack.settings import SlackSettings
from adapters.slack.workspaces import SlackWorkspaces

log = logging.getLogger(__name__)


def event_key(body: dict[str, Any]) -> str:
    """The claim key of an Events API delivery ("" for anything else)."""
    event_id = body.get("event_id")
    return f"slack:event:{event_id}" if body.get("type") == "event_callback" and event_id else ""


def build_app(
    *,
    settings: SlackSettings,
    client: AsyncWebClient,
    workspaces: SlackWorkspaces,
    oauth_flow: AsyncOAuthFlow | None = None,
) -> AsyncApp:
    """The bolt app. With ``oauth_flow`` (``SLACK_CLIENT_ID`` / ``SLACK_CLIENT_SECRET``) bolt
    authorises each request with its workspace's installation; every listener then works
    through that workspace's responder (``workspaces``)."""
    app = AsyncApp(
        client=client,
        # Socket Mode requests are authenticated by the app token; HTTP requests by this secret.
        signing_secret=settings.signing_secret or None,
        request_verification_enabled=settings.mode == "http",
        logger=logging.getLogger("adapters.slack.bolt"),
        name="tidings",
        oauth_flow=oauth_flow,
    )

    async def responder_for(context: Any) -> SlackResponder:
        return await workspaces.responder_for(context.get("team_id"), bot_token=context.get("bot_token"))

    # Slack resends an event (X-Slack-Retry-Num) when it did not see the ack in time, to
    # whichever replica its load balancer picks: each event listener first claims the event
    # with a lease (``workspaces.handling``), and a delivery finding it claimed by a live
    # replica, or completed, is dropped.
    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        async with workspaces.handling(event_key(body)) as mine:
            if mine:
                await (await responder_for(context)).mention(event)

    @app.event("message")
    async def on_message(event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        async with workspaces.handling(event_key(body)) as mine:
            if mine:
                await (await responder_for(context)).direct_message(event)

    @app.command("/ask")
    async def on_ask(ack: Any, command: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        await (await responder_for(context)).ask_command(command, respond)

    if workspaces.services.summarizer is not None:

        @app.command("/summarize")
        async def on_summarize(ack: Any, command: dict[str, Any], respond: Any, context: Any) -> None:
            await ack(text="Summarizing… I'll post it here when it's ready.", response_type="ephemeral")
            await (await responder_for(context)).summarize_command(command, respond)

    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        async with workspaces.handling(event_key(body)) as mine:
            if mine:
                await (await responder_for(context)).publish_home(event)

    if oauth_flow is not None:

        @app.event("app_uninstalled")
        async def on_uninstalled(body: dict[str, Any], context: Any) -> None:
            async with workspaces.handling(event_key(body)) as mine:
                if mine:
                    await workspaces.uninstalled(str(context.get("team_id") or ""))

        @app.event("tokens_revoked")
        async def on_tokens_revoked(event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
            async with workspaces.handling(event_key(body)) as mine:
                if mine and (event.get("tokens") or {}).get("bot"):
                    await workspaces.uninstalled(str(context.get("team_id") or ""))

    @app.command("/tidings")
    async def on_tidings(ack: Any, command: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        await (await responder_for(context)).tidings_command(command, respond)

    @app.action(FEEDBACK_UP)
    async def on_thumbs_up(ack: Any, body: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        await (await responder_for(context)).feedback(body, +1, respond)

    @app.action(FEEDBACK_DOWN)
    async def on_thumbs_down(ack: Any, body: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        await (await responder_for(context)).feedback(body, -1, respond)

    @app.action(SHARE_ANSWER)
    async def on_share(ack: Any, body: dict[str, Any], respond: Any, context: Any) -> None:
        await ack()
        await (await responder_for(context)).share(body, respond)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any], respond: Any, request: Any, context: Any) -> None:
        if not is_verified(request):
            # Defence in depth: the endpoint never dispatches an unverified request, but if one
            # ever got here, its body says nothing trustworthy: no channel, no response_url.
            log.warning("Ignored a failure of an unverified Slack request: %s", type(error).__name__)
            return
        log.error("Slack request failed: %s", type(error).__name__, exc_info=error)
        try:
            responder = await responder_for(context)
            await responder.apologise(body, error, respond)
        except Exception:
            log.exception("Could not tell the user about the error")

    return app
