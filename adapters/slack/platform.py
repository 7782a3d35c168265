"""Slack as the core's ``ChatPlatform``: channel history in, digests out.

History comes from ``conversations.history`` (the channel's top-level messages) plus
``conversations.replies`` for every thread among them, both followed page by page. User names
come from ``users.info`` and are cached for the life of the process; permalinks are built
from the workspace URL ``auth.test`` reports (no API call per message), or asked of
``chat.getPermalink`` when the workspace URL is unknown.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.convert import (
    SlackMessage,
    datetime_to_ts,
    digest_messages,
    notice_message,
    to_channel_message,
)
from core.types import ChannelMessage, ChannelRef, Digest

log = logging.getLogger(__name__)

_MENTIONED = re.compile(r"<@([UW][A-Z0-9]+)")

PAGE_SIZE = 200
"""Messages asked for per page; Slack recommends no more than 200."""
THREAD_LOOKBACK = timedelta(days=7)
"""How far before a window to look for threads that got replies inside it: Slack lists a
thread only at its parent, in the history of the day the thread started."""


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


class SlackPlatform:
    """History and posting for one workspace, through one bot token's client."""

    def __init__(self, client: AsyncWebClient, *, team_id: str = "", workspace_url: str = "") -> None:
        self.client = client
        self.team_id = team_id
        self.workspace_url = workspace_url
        self.bot_user_id = ""
        self.bot_id = ""
        self._names: dict[str, str] = {}
        self._zones: dict[str, tzinfo] = {}
        self._channel_names: dict[str, str] = {}
        self._identity_lock = asyncio.Lock()
        self._identity_known = False

    @property
    def platform(self) -> str:
        return "slack"

    # -- who we are -------------------------------------------------------------------------

    async def identify(self) -> None:
        """Learn the bot's user id, team and workspace URL once (``auth.test``)."""
        async with self._identity_lock:
            if self._identity_known:
                return
            response = await self.client.auth_test()
            self.bot_user_id = str(response.get("user_id") or "")
            self.bot_id = str(response.get("bot_id") or "")
            self.team_id = self.team_id or str(response.get("team_id") or "")
            self.workspace_url = self.workspace_url or str(response.get("url") or "")
            self._identity_known = True

    # -- names ------------------------------------------------------------------------------

    @property
    def names(self) -> Mapping[str, str]:
        return self._names

    async def user_name(self, user: str) -> str:
        """The name people see for ``user`` (display name, else real name, else handle)."""
        if not user:
            return ""
        if user not in self._names:
            try:
                response = await self.client.users_info(user=user)
                info: Mapping[str, Any] = response.get("user") or {}
                profile: Mapping[str, Any] = info.get("profile") or {}
                self._zones[user] = _zone(str(info.get("tz") or ""))
                self._names[user] = (
                    str(profile.get("display_name") or "")
                    or str(profile.get("real_name") or "")
                    or str(info.get("real_name") or "")
                    or str(info.get("name") or "")
                    or user
                )
            except SlackApiError as error:
                # A deleted or foreign user: show the id rather than failing the digest.
                log.info("users.info failed for %s: %s", user, error.response.get("error"))
                self._names[user] = user
        return self._names[user]

    async def user_profile(self, user: str) -> Mapping[str, Any]:
        """``users.info``'s user (is_admin, is_owner, tz), fetched each time: who may change
        digests must not come from a stale cache."""
        response = await self.client.users_info(user=user)
        return dict(response.get("user") or {})

    async def probe_history(self, channel: str) -> None:
        """Read one message of ``channel``: raises ``SlackApiError`` (``not_in_channel``,
        ``channel_not_found``, ``missing_scope``) when a digest could not read it."""
        await self.client.conversations_history(channel=channel, limit=1)

    async def user_timezone(self, user: str) -> tzinfo:
        """The time zone set in the user's Slack profile (UTC when unknown), so "today" means
        the asker's today."""
        await self.user_name(user)
        return self._zones.get(user, UTC)

    async def resolve_names(self, users: set[str]) -> Mapping[str, str]:
        for user in sorted(users):
            await self.user_name(user)
        return self._names

    async def channel_name(self, channel: str) -> str:
        """The channel's name without ``#`` ("" for DMs or when the bot may not read it)."""
        if channel not in self._channel_names:
            name = ""
            if not channel.startswith("D"):
                try:
                    response = await self.client.conversations_info(channel=channel)
                    name = str((response.get("channel") or {}).get("name") or "")
                except SlackApiError as error:
                    log.info("conversations.info failed for %s: %s", channel, error.response.get("error"))
            self._channel_names[channel] = name
        return self._channel_names[channel]

    async def channel_ref(self, channel: str, *, thread: str | None = None) -> ChannelRef:
        await self.identify()
        return ChannelRef("slack", self.team_id, channel, await self.channel_name(channel), thread=thread)

    # -- history ----------------------------------------------------------------------------

    async def _pages(self, call: Callable[..., Any], **params: Any) -> AsyncIterator[dict[str, Any]]:
        cursor = ""
        while True:
            response = await call(**params, limit=PAGE_SIZE, **({"cursor": cursor} if cursor else {}))
            for message in response.get("messages") or ():
                yield message
            cursor = str((response.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return

    async def thread_messages(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Every message of a thread, the parent first, as Slack returns them."""
        seen: set[str] = set()
        messages: list[dict[str, Any]] = []
        async for message in self._pages(self.client.conversations_replies, channel=channel, ts=thread_ts):
            if message.get("ts") not in seen:  # Slack repeats the parent on every page
                seen.add(str(message.get("ts")))
                messages.append(message)
        return messages

    async def raw_history(self, channel: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
        """Raw messages with since <= ts < until, thread replies included, oldest first."""
        oldest, latest = datetime_to_ts(since), datetime_to_ts(until)
        collected: dict[str, dict[str, Any]] = {}
        threads: list[str] = []
        async for message in self._pages(
            self.client.conversations_history, channel=channel, oldest=oldest, latest=latest, inclusive=True
        ):
            collected[str(message["ts"])] = message
            if message.get("reply_count") and message.get("thread_ts") == message.get("ts"):
                threads.append(str(message["ts"]))
        low, high = float(oldest), float(latest)
        async for parent in self._pages(
            self.client.conversations_history, channel=channel, oldest=datetime_to_ts(since - THREAD_LOOKBACK), latest=oldest
        ):
            # An older thread with a reply since the window opened (``latest_reply``).
            if parent.get("reply_count") and parent.get("thread_ts") == parent.get("ts") and float(parent.get("latest_reply") or 0) >= low:
                threads.append(str(parent["ts"]))
        for thread_ts in threads:
            for reply in await self.thread_messages(channel, thread_ts):
                collected.setdefault(str(reply["ts"]), reply)
        return sorted(
            (m for m in collected.values() if low <= float(m["ts"]) < high),
            key=lambda m: float(m["ts"]),
        )

    async def to_messages(self, raw: list[dict[str, Any]], channel: ChannelRef) -> list[ChannelMessage]:
        await self.identify()
        users = {str(m["user"]) for m in raw if m.get("user")}
        users |= {found for m in raw for found in _MENTIONED.findall(str(m.get("text") or ""))}
        await self.resolve_names(users)
        messages = [
            to_channel_message(m, channel, names=self._names, workspace_url=self.workspace_url, channel_names=self._channel_names)
            for m in raw
        ]
        if self.workspace_url:
            return messages
        return [await self._with_api_permalink(m) for m in messages]

    async def _with_api_permalink(self, message: ChannelMessage) -> ChannelMessage:
        try:
            response = await self.client.chat_getPermalink(channel=message.channel.channel, message_ts=message.id)
        except SlackApiError:
            return message
        return replace(message, permalink=str(response.get("permalink") or "") or None)

    async def fetch_history(self, channel: ChannelRef, since: datetime, until: datetime) -> list[ChannelMessage]:
        await self.identify()
        if not channel.workspace:
            channel = ChannelRef("slack", self.team_id, channel.channel, channel.name)
        raw = await self.raw_history(channel.channel, since, until)
        return await self.to_messages(raw, channel)

    # -- posting ----------------------------------------------------------------------------

    async def post_message(self, channel: str, message: SlackMessage, *, thread_ts: str | None = None) -> str:
        response = await self.client.chat_postMessage(
            channel=channel,
            text=message.text,
            blocks=list(message.blocks),
            unfurl_links=False,
            unfurl_media=False,
            thread_ts=thread_ts,
        )
        return str(response["ts"])

    async def update_message(self, channel: str, ts: str, message: SlackMessage) -> None:
        await self.client.chat_update(channel=channel, ts=ts, text=message.text, blocks=list(message.blocks))

    async def post_all(self, channel: str, messages: list[SlackMessage], *, thread_ts: str | None = None) -> str:
        """Post messages in order; the id of the first is returned."""
        first = ""
        for message in messages:
            ts = await self.post_message(channel, message, thread_ts=thread_ts)
            first = first or ts
        return first

    async def post(self, channel: ChannelRef, text: str, *, digest: Digest | None = None) -> str:
        messages = digest_messages(digest) if digest is not None else [notice_message(text)]
        return await self.post_all(channel.channel, messages, thread_ts=channel.thread)

