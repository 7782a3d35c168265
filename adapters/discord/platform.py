"""Discord as the digest use case sees it: a channel's history in, a digest out.

``DiscordPlatform`` implements ``core.ports.ChatPlatform`` on top of a logged-in
``discord.Client``. History includes the channel's threads (active and archived) that had
activity in the window; every message carries its jump URL and its author's display name.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any

import discord

from adapters.discord.convert import (
    MESSAGE_LIMIT,
    OutgoingMessage,
    digest_messages,
    snowflake_time,
    split_message,
    to_channel_message,
)
from core.errors import UserFacingError
from core.types import ChannelMessage, ChannelRef, Digest

log = logging.getLogger("tidings.discord")

NO_MENTIONS = discord.AllowedMentions.none()
_DISCORD_EPOCH_MS = 1420070400000


def digest_nonce(channel: ChannelRef, digest: Digest, part: int, *, form: str = "embeds") -> str | None:
    """A nonce that is the same every time this digest part is posted to ``channel``: the
    digest's key (its channel and window), the target and the part's number, hashed to
    Discord's 25 characters. Sent with ``enforce_nonce``, Discord returns the message it
    already created for that nonce (within a few minutes) instead of creating a second one,
    so a post retried after a 5xx that Discord had in fact applied is not doubled. None
    for a digest without a window (nothing identifies it)."""
    if digest.window_start is None or digest.window_end is None:
        return None
    source = digest.channel.scope if digest.channel is not None else ""
    key = "|".join(
        (
            "tidings-digest",
            source,
            channel.scope,
            channel.thread or "",
            digest.window_start.isoformat(),
            digest.window_end.isoformat(),
            form,
            str(part),
        )
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:25]


def _first_id_at(moment: datetime) -> int:
    """The smallest snowflake created at ``moment`` (ids encode their creation time)."""
    return max(0, int(moment.timestamp() * 1000) - _DISCORD_EPOCH_MS) << 22


class DiscordPlatform:
    """The ``ChatPlatform`` port for Discord. Collaborators come in through the constructor:
    the client that is (or will be) logged in."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    @property
    def platform(self) -> str:
        return "discord"

    async def _resolve(self, channel_id: str) -> Any:
        try:
            found = self.client.get_channel(int(channel_id))
        except ValueError:
            raise UserFacingError(f"{channel_id!r} is not a Discord channel id.") from None
        if found is not None:
            return found
        try:
            return await self.client.fetch_channel(int(channel_id))
        except discord.NotFound:
            raise UserFacingError(f"I can't find the Discord channel {channel_id}; is the bot in that server?") from None
        except discord.Forbidden:
            raise UserFacingError(f"I'm not allowed to see the Discord channel {channel_id}.") from None

    async def fetch_history(self, channel: ChannelRef, since: datetime, until: datetime) -> list[ChannelMessage]:
        """Messages with ``since <= timestamp < until``, thread replies included, oldest first."""
        if until <= since:
            return []
        target = await self._resolve(channel.thread or channel.channel)
        collected = await self._read(target, since, until)
        if channel.thread is None:
            for thread in await self._threads_active_in(target, since, until):
                collected.extend(await self._read(thread, since, until))
        unique = {message.id: message for message in collected}
        return sorted(unique.values(), key=lambda m: (m.timestamp, int(m.id)))

    async def _read(self, channel: Any, since: datetime, until: datetime) -> list[ChannelMessage]:
        # Newest first with ``before``: that paging is exact on Discord (``after`` pages
        # depend on the order Discord returns a page in); the ``after`` bound only filters.
        after = discord.Object(id=_first_id_at(since) - 1)
        before = discord.Object(id=_first_id_at(until))
        try:
            messages = [
                to_channel_message(message)
                async for message in channel.history(limit=None, before=before, after=after, oldest_first=False)
            ]
        except discord.Forbidden:
            log.warning("no permission to read the history of channel %s; skipped", getattr(channel, "id", "?"))
            return []
        messages.reverse()
        return messages

    async def _threads_active_in(self, channel: Any, since: datetime, until: datetime) -> list[discord.Thread]:
        """Threads of ``channel`` that may hold messages in the window: created before its end
        and, for archived ones, archived after its start."""
        if not hasattr(channel, "threads"):
            return []
        threads: dict[int, discord.Thread] = {t.id: t for t in channel.threads}
        if not self.client.is_ready() and getattr(channel, "guild", None) is not None:
            # Logged in over REST only (``tidings digest run``): no gateway filled the
            # cache, so the active threads come from the API.
            try:
                threads.update((t.id, t) for t in await channel.guild.active_threads() if t.parent_id == channel.id)
            except discord.HTTPException:
                log.info("cannot list active threads of channel %s; reading archived threads only", channel.id)
        try:
            async for thread in channel.archived_threads(limit=None):
                archived_at = thread.archive_timestamp
                if archived_at is not None and archived_at < since:
                    break  # listed newest archive first: every later one is older still
                threads[thread.id] = thread
        except (discord.Forbidden, AttributeError):
            log.info("cannot list archived threads of channel %s; reading active threads only", channel.id)
        relevant = []
        for thread in threads.values():
            if snowflake_time(thread.id) >= until:
                continue
            last = thread.last_message_id
            if last is not None and snowflake_time(last) < since:
                continue
            relevant.append(thread)
        return sorted(relevant, key=lambda t: t.id)

    async def post(self, channel: ChannelRef, text: str, *, digest: Digest | None = None) -> str:
        """Post the digest's embeds (or ``text`` split under 2,000 characters); returns the
        first posted message's id. If the bot may not embed links there, the text goes out
        instead, so the digest is not lost to a missing permission."""
        target = await self._resolve(channel.thread or channel.channel)
        texts = [OutgoingMessage(content=part) for part in split_message(text, MESSAGE_LIMIT)]
        if digest is not None:
            embeds = digest_messages(digest)
            try:
                return await self._send_all(target, embeds, [digest_nonce(channel, digest, n) for n in range(len(embeds))])
            except discord.Forbidden:
                log.warning("cannot post embeds in channel %s; posting the digest as text", channel.channel)
            return await self._send_all(target, texts, [digest_nonce(channel, digest, n, form="text") for n in range(len(texts))])
        return await self._send_all(target, texts, [None] * len(texts))

    async def _send_all(self, target: Any, messages: list[OutgoingMessage], nonces: list[str | None]) -> str:
        """Send each message; a message with a nonce is sent with ``enforce_nonce`` (discord.py
        sets it whenever a nonce is given), one without gets discord.py's random nonce, which
        still dedupes discord.py's own retries of that one send."""
        first: str | None = None
        for message, nonce in zip(messages, nonces, strict=True):
            sent = await target.send(
                content=message.content or None, embeds=list(message.embeds), allowed_mentions=NO_MENTIONS, nonce=nonce
            )
            first = first or str(sent.id)
        if first is None:
            raise ValueError("nothing to post")
        return first
