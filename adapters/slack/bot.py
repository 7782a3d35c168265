"""The running Slack connection: one bolt app, served over Socket Mode or HTTP.

``await bot.start()`` returns once connected (Socket Mode) or listening (HTTP mode); the
caller's event loop keeps it running. ``await bot.stop()`` disconnects, lets answers in
progress finish for a few seconds, then closes the Web API session.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.app import build_app
from adapters.slack.doctor import REQUIRED_SCOPES
from adapters.slack.endpoint import SlackEndpoint
from adapters.slack.installations import StateInstallationStore, StateOAuthStateStore
from adapters.slack.platform import SlackPlatform
from adapters.slack.replies import SlackResponder
from adapters.slack.settings import SlackSettings
from adapters.slack.workspaces import SlackWorkspaces, WorkspacesPlatform
from core.errors import ConfigError
from core.ports import ChatPlatform
from core.runtime.observability import HttpServerLog
from core.services import Services

log = logging.getLogger(__name__)

NOT_REPEATABLE = ("chat.postMessage", "chat.postEphemeral", "chat.scheduleMessage")
"""Methods that may have taken effect even though Slack answered 5xx: retrying them could
post a message twice, so a server error on these is reported instead of retried."""


class RepeatableServerErrorRetryHandler(AsyncServerErrorRetryHandler):
    """Retry Slack's 500/503 answers, except for calls whose repetition would be visible."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.rstrip("/").rsplit("/", 1)[-1] in NOT_REPEATABLE:
            return False
        return await super()._can_retry_async(state=state, request=request, response=response, error=error)


def retry_handlers() -> list[AsyncRetryHandler]:
    """Rate limits (HTTP 429, waiting ``Retry-After``), dropped connections and 5xx answers.

    A 429 means Slack did nothing, so every method may repeat it; see ``NOT_REPEATABLE`` for 5xx.
    """
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        RepeatableServerErrorRetryHandler(max_retry_count=2),
    ]


def make_client(settings: SlackSettings) -> AsyncWebClient:
    return AsyncWebClient(
        token=settings.bot_token,
        base_url=settings.api_url,
        retry_handlers=retry_handlers(),
        logger=logging.getLogger("adapters.slack.web"),
    )


class SlackBot:
    """Tidings on one Slack workspace."""

    def __init__(
        self,
        *,
        settings: SlackSettings,
        services: Services,
        client: AsyncWebClient | None = None,
        shutdown_grace_s: float = 10.0,
    ) -> None:
        self.settings = settings
        self.services = services
        self.client = client or make_client(settings)
        self.platform = SlackPlatform(self.client)
        self.responder = SlackResponder(services=services, platform=self.platform, settings=settings)
        self.installations: StateInstallationStore | None = None
        oauth_flow: AsyncOAuthFlow | None = None
        if settings.oauth:
            # Several workspaces: bolt's OAuth flow stores each installation in the state
            # database and authorises every request with its workspace's bot token.
            self.installations = StateInstallationStore(services.state)
            oauth_flow = AsyncOAuthFlow(
                client=make_client(replace(settings, bot_token="")),
                settings=AsyncOAuthSettings(
                    client_id=settings.client_id,
                    client_secret=settings.client_secret,
                    scopes=list(REQUIRED_SCOPES),
                    redirect_uri=settings.redirect_uri or None,
                    install_path=settings.install_path,
                    install_page_rendering_enabled=False,
                    redirect_uri_path=settings.redirect_path,
                    installation_store=self.installations,
                    state_store=StateOAuthStateStore(services.state),
                ),
            )
        self.workspaces = SlackWorkspaces(
            services=services,
            settings=settings,
            default=self.responder if settings.bot_token else None,
            store=self.installations,
            make_client=make_client,
        )
        app_client = self.client
        if settings.oauth:
            app_client = make_client(replace(settings, bot_token=""))
            app_client.token = None  # each request gets its workspace's token from the installation
        self.app: AsyncApp = build_app(settings=settings, client=app_client, workspaces=self.workspaces, oauth_flow=oauth_flow)
        self.shutdown_grace_s = shutdown_grace_s
        self.socket_handler: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        """The port HTTP mode listens on (the one picked when ``[slack] port = 0``)."""

    @property
    def mode(self) -> str:
        return self.settings.mode

    @property
    def chat_platform(self) -> ChatPlatform:
        """History and posting for digests: the bot token's workspace, or with OAuth every
        installed workspace, each channel through its own workspace's token."""
        return WorkspacesPlatform(self.workspaces) if self.settings.oauth else self.platform

    async def start(self) -> None:
        """Check the token, then connect (Socket Mode) or start listening (HTTP mode)."""
        if self.settings.bot_token:
            try:
                await self.platform.identify()
            except Exception as error:
                raise ConfigError(
                    f"Slack rejected the bot token ({describe(error)}); check SLACK_BOT_TOKEN "
                    "(run `tidings doctor` for details)."
                ) from None
            if self.installations is not None:
                # The token's own workspace is served too: bolt authorises it like an installed one.
                await self.installations.async_save(
                    Installation(
                        team_id=self.platform.team_id,
                        bot_token=self.settings.bot_token,
                        bot_id=self.platform.bot_id,
                        bot_user_id=self.platform.bot_user_id,
                        user_id="",
                    )
                )
        if self.settings.mode == "socket":
            self.socket_handler = AsyncSocketModeHandler(self.app, self.settings.app_token)
            await self.socket_handler.connect_async()  # type: ignore[no-untyped-call]
            log.info("Slack connected over Socket Mode as %s", self.platform.bot_user_id)
        else:
            # Our endpoint, not bolt's web_app: it verifies each request before bolt sees it.
            endpoint = SlackEndpoint(self.app, signing_secret=self.settings.signing_secret)
            application = endpoint.web_app(self.settings.path)
            if self.settings.oauth:
                endpoint.add_oauth_routes(application, install_path=self.settings.install_path, redirect_path=self.settings.redirect_path)
            self._runner = web.AppRunner(application, logger=HttpServerLog())
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
            await site.start()
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1] if sockets else self.settings.port
            log.info("Slack listening on %s:%s%s", self.settings.host, self.port, self.settings.path)

    async def stop(self) -> None:
        """Stop taking requests, give answers in progress a moment, close connections."""
        if self.socket_handler is not None:
            await self.socket_handler.close_async()  # type: ignore[no-untyped-call]
            self.socket_handler = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        pending = [
            task for responder in self.workspaces.all() for task in responder.active if task is not asyncio.current_task()
        ]
        if pending:
            _done, still = await asyncio.wait(pending, timeout=self.shutdown_grace_s)
            for task in still:
                task.cancel()
        self.responder.close()
        await self.workspaces.close()
        session: Any = getattr(self.client, "session", None)
        if session is not None and not session.closed:
            await session.close()

    async def tell_unfinished(self, entries: list[dict[str, Any]]) -> int:
        """Post a short note where questions from before a restart went unanswered, each
        through its own workspace's responder."""
        told = 0
        by_workspace: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            by_workspace.setdefault(str(entry.get("workspace") or ""), []).append(entry)
        for team_id, group in by_workspace.items():
            try:
                responder = await self.workspaces.responder_for(team_id or None)
            except Exception:
                log.warning("cannot tell %d unfinished questions in Slack workspace %s", len(group), team_id or "?")
                continue
            told += await responder.tell_unfinished(group)
        return told


def describe(error: BaseException) -> str:
    """An error as one line that never contains a token."""
    response = getattr(error, "response", None)
    if response is not None:
        try:
            return str(response.get("error") or type(error).__name__)
        except Exception:
            pass
    return type(error).__name__
