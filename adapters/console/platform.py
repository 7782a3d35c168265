"""The console as a chat platform: digests of the console session are printed, and its
history is what was asked and answered in it since start."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import TextIO

from core.digests.format import digest_to_markdown
from core.types import Author, ChannelMessage, ChannelRef, Digest

CONSOLE_CHANNEL = ChannelRef(platform="console", workspace="local", channel="console", name="console")


class ConsolePlatform:
    platform = "console"

    def __init__(self, *, stdout: TextIO) -> None:
        self.stdout = stdout
        self.messages: list[ChannelMessage] = []
        self._ids = itertools.count(1)

    def record(self, author: str, text: str, *, is_bot: bool = False) -> ChannelMessage:
        message = ChannelMessage(
            id=str(next(self._ids)),
            channel=CONSOLE_CHANNEL,
            author=Author(id=author, name=author, is_bot=is_bot),
            text=text,
            timestamp=datetime.now(UTC),
        )
        self.messages.append(message)
        return message

    async def fetch_history(self, channel: ChannelRef, since: datetime, until: datetime) -> list[ChannelMessage]:
        return [m for m in self.messages if since <= m.timestamp < until and m.channel.channel == channel.channel]

    async def post(self, channel: ChannelRef, text: str, *, digest: Digest | None = None) -> str:
        body = digest_to_markdown(digest) if digest is not None else text
        self.stdout.write(f"\n{body}\n")
        self.stdout.flush()
        return self.record("Tidings", body, is_bot=True).id
