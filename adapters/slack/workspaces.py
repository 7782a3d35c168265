"""The Slack workspaces one deployment serves: the one of ``SLACK_BOT_TOKEN``, and every
workspace installed through the OAuth flow (``SLACK_CLIENT_ID`` / ``SLACK_CLIENT_SECRET``).

Each workspace gets its own Web API client (its bot token), its own ``SlackPlatform`` (its
team id, so its channels' scopes are ``slack:<its team>:<channel>``) and its own responder;
they are built the first time the workspace is heard from (a request bolt authorised with
the installation, or a digest of one of its channels) and kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.installations import StateInstallationStore
from adapters.slack.platform import SlackPlatform
from adapters.slack.replies import SlackResponder
from adapters.slack.settings import SlackSettings
from core.answers.records import AnswerRecords
from core.errors import UserFacingError
from core.services import Services
from core.types import ChannelMessage, ChannelRef, Digest

log = logging.getLogger(__name__)


class SlackWorkspaces:
    def __init__(
        self,
        *,
        services: Services,
        settings: SlackSettings,
        default: SlackResponder | None,
        store: StateInstallationStore | None,
        make_client: Callable[[SlackSettings], AsyncWebClient],
    ) -> None:
        self.services = services
        self.settings = settings
        self.default = default
        self.store = store
        self.make_client = make_client
        self.responders: dict[str, SlackResponder] = {}
        self._lock = asyncio.Lock()
        self._own_records: AnswerRecords | None = None

    async def first_time(self, key: str) -> bool:
        """True once per key, across restarts and workspaces (the state store keeps them a day)."""
        if self.default is not None:
            return await self.default.first_time(key)
        return await asyncio.to_thread(self.services.state.first_time, key)

    @contextlib.asynccontextmanager
    async def handling(self, key: str) -> AsyncIterator[bool]:
        """Claim an event for its listener (True: this replica handles it; False: a live replica
        holds it or it was handled, so drop it), renew the claim while the listener works and
        complete it after ("": nothing to claim, always handled). Listeners run after bolt's
        ack, so the claim's database round trip is never on the path to Slack's 3 seconds."""
        if not key:
            yield True
            return
        async with self._records().handling(key) as mine:
            if not mine:
                log.info("Ignoring a repeated delivery of %s", key)
            yield mine

    def _records(self) -> AnswerRecords:
        if self.default is not None:
            return self.default.records
        if self._own_records is None:
            self._own_records = AnswerRecords(state=self.services.state)
        return self._own_records

    def all(self) -> list[SlackResponder]:
        return [*([self.default] if self.default is not None else []), *self.responders.values()]

    async def responder_for(self, team_id: str | None, *, bot_token: str | None = None) -> SlackResponder:
        """The responder of workspace ``team_id`` (the bot token's own workspace, or an
        installed one)."""
        default = self.default
        if default is not None and (self.store is None or not team_id or team_id == default.platform.team_id):
            return default
        if not team_id:
            raise UserFacingError("I can't tell which Slack workspace this came from.")
        async with self._lock:
            if team_id in self.responders:
                return self.responders[team_id]
            token = bot_token
            if not token and self.store is not None:
                bot = await self.store.async_find_bot(enterprise_id=None, team_id=team_id)
                token = bot.bot_token if bot is not None else None
            if not token:
                raise UserFacingError(f"Tidings is not installed in the Slack workspace {team_id}; install it first.")
            client = self.make_client(replace(self.settings, bot_token=token))
            platform = SlackPlatform(client, team_id=team_id)
            await platform.identify()
            responder = SlackResponder(services=self.services, platform=platform, settings=self.settings)
            self.responders[team_id] = responder
            log.info("serving Slack workspace %s", team_id)
            return responder

    async def uninstalled(self, team_id: str) -> None:
        """The workspace removed Tidings (``app_uninstalled``, ``tokens_revoked``): its
        installation and its client go; its requests are no longer answered."""
        async with self._lock:
            responder = self.responders.pop(team_id, None)
        if self.store is not None and team_id:
            await self.store.async_delete_installation(enterprise_id=None, team_id=team_id)
        if responder is not None:
            # Answers it already started finish (and record that they did) before its client goes.
            in_flight = [task for task in responder.active if task is not asyncio.current_task()]
            if in_flight:
                await asyncio.wait(in_flight, timeout=self.settings.stream_interval_s * 30)
            responder.close()
            session: Any = getattr(responder.platform.client, "session", None)
            if session is not None and not session.closed:
                await session.close()
        log.info("Slack workspace %s removed Tidings", team_id)

    async def close(self) -> None:
        for responder in self.responders.values():
            responder.close()
            session: Any = getattr(responder.platform.client, "session", None)
            if session is not None and not session.closed:
                await session.close()


class WorkspacesPlatform:
    """The ``ChatPlatform`` port over every workspace: each channel's history and posts go
    through its own workspace's client (``ChannelRef.workspace`` is the team id)."""

    def __init__(self, workspaces: SlackWorkspaces) -> None:
        self.workspaces = workspaces

    @property
    def platform(self) -> str:
        return "slack"

    async def _platform(self, channel: ChannelRef) -> SlackPlatform:
        return (await self.workspaces.responder_for(channel.workspace)).platform

    async def fetch_history(self, channel: ChannelRef, since: datetime, until: datetime) -> list[ChannelMessage]:
        return await (await self._platform(channel)).fetch_history(channel, since, until)

    async def post(self, channel: ChannelRef, text: str, *, digest: Digest | None = None) -> str:
        return await (await self._platform(channel)).post(channel, text, digest=digest)
