"""``tidings doctor`` for Slack: are the tokens good, and may the bot do what it needs?

The scopes and events the bot needs are listed here once, with the reason for each; the
manifest (``config/slack-app-manifest.yml``) and ``docs/slack.md`` say the same, and a test
keeps the three in step.
"""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.settings import SlackSettings

REQUIRED_SCOPES: dict[str, str] = {
    "app_mentions:read": "receive @Tidings mentions in channels",
    "channels:history": "read a public channel's messages for thread context, /summarize and digests",
    "channels:read": "know a channel's name (allow-lists and digest titles)",
    "chat:write": "post answers, summaries and digests, and edit an answer as it streams",
    "commands": "the /ask and /summarize slash commands",
    "groups:history": "the same as channels:history in private channels the bot was invited to",
    "groups:read": "the same as channels:read for private channels",
    "im:history": "receive and read direct messages to the bot",
    "reactions:write": "the 👀 reaction that says a question was seen",
    "users:read": "show people's names (not ids) in context and digests, and their time zone for 'today'",
}

BOT_EVENTS: dict[str, str] = {
    "app_mention": "someone wrote @Tidings in a channel or thread",
    "message.im": "someone wrote to the bot in a direct message",
    "app_home_opened": "publish the Home tab when someone opens it",
    "app_uninstalled": "forget a workspace's installation when it removes Tidings (OAuth installs)",
    "tokens_revoked": "the same when a workspace revokes the bot's token (OAuth installs)",
}


async def check_slack(settings: SlackSettings, *, client: AsyncWebClient | None = None) -> list[str]:
    """Problems found with the Slack set-up, one sentence each; an empty list means all good."""
    client = client or AsyncWebClient(token=settings.bot_token, base_url=settings.api_url)
    problems: list[str] = []
    try:
        try:
            response = await client.auth_test()
        except SlackApiError as error:
            return [f"Slack rejected SLACK_BOT_TOKEN ({error.response.get('error')}); copy the Bot User OAuth Token again."]
        except Exception as error:  # DNS, TLS, proxy: say what failed, never the token
            return [f"Could not reach Slack at {settings.api_url} ({type(error).__name__})."]
        granted = {s.strip() for s in str(response.headers.get("x-oauth-scopes", "")).split(",") if s.strip()}
        missing = [scope for scope in REQUIRED_SCOPES if scope not in granted]
        if missing:
            problems.append(
                "The bot token lacks scopes: "
                + ", ".join(f"{s} ({REQUIRED_SCOPES[s]})" for s in missing)
                + ". Add them under OAuth & Permissions (or recreate the app from config/slack-app-manifest.yml) and reinstall the app."
            )
        if settings.mode == "socket":
            try:
                await client.apps_connections_open(app_token=settings.app_token)
            except SlackApiError as error:
                problems.append(
                    f"Slack rejected SLACK_APP_TOKEN ({error.response.get('error')}); create an app-level token "
                    "with the connections:write scope under Basic Information and enable Socket Mode."
                )
    finally:
        if client.session is not None and not client.session.closed:
            await client.session.close()
    return problems
