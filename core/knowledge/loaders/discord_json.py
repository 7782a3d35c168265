"""A channel exported by DiscordChatExporter as JSON.

``{"guild": {id, name}, "channel": {id, type, categoryId, category, name},
"messages": [{id, type, timestamp, content, author: {id, name, nickname, isBot},
attachments: [{url}], reference: {messageId}}]}``.

A thread is exported as its own "channel" whose ``categoryId`` is the parent channel; its
messages are scoped to the parent (a thread is part of its channel) with ``thread`` set.
Direct messages have guild id ``0``; their jump links use ``@me``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import LoaderError
from core.knowledge.loaders.discord_csv import parse_date
from core.knowledge.loaders.discord_messages import message_kind
from core.knowledge.loaders.shapes import as_dict, as_str, dicts
from core.types import Author, ChannelMessage, ChannelRef


def is_discord_export(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("channel"), dict) and isinstance(data.get("messages"), list)


def read_discord_json(path: Path, data: Any) -> list[ChannelMessage]:
    if not is_discord_export(data):
        raise LoaderError(
            f"{path.name} is not a DiscordChatExporter JSON export: it lacks the channel and messages fields."
        )
    guild = as_dict(data.get("guild"))
    guild_id = as_str(guild.get("id")) or "0"
    raw_channel = as_dict(data.get("channel"))
    channel = _channel(guild_id, raw_channel)
    link_guild = "@me" if guild_id == "0" else guild_id
    link_channel = as_str(raw_channel.get("id"))

    messages: list[ChannelMessage] = []
    for raw in dicts(data.get("messages")):
        message_id = as_str(raw.get("id"))
        when = parse_date(as_str(raw.get("timestamp")))
        if not message_id or when is None:
            continue
        author = as_dict(raw.get("author"))
        is_bot = author.get("isBot") is True
        kind = message_kind(as_str(raw.get("type")), is_bot=is_bot)
        attachments = [as_str(a.get("url")) for a in dicts(raw.get("attachments")) if as_str(a.get("url"))]
        text = "\n".join([as_str(raw.get("content")).strip(), *(f"(attachment: {url})" for url in attachments)])
        messages.append(
            ChannelMessage(
                id=message_id,
                channel=channel,
                author=Author(
                    id=as_str(author.get("id")),
                    name=as_str(author.get("nickname")).strip() or as_str(author.get("name")).strip() or "unknown",
                    is_bot=is_bot,
                ),
                text=text.strip(),
                timestamp=when,
                thread_id=channel.thread,
                reply_to=as_str(as_dict(raw.get("reference")).get("messageId")) or None,
                permalink=(
                    f"https://discord.com/channels/{link_guild}/{link_channel}/{message_id}" if link_channel else None
                ),
                kind=kind,
            )
        )
    messages.sort(key=lambda m: (m.timestamp, m.id))
    return messages


def _channel(guild_id: str, raw: dict[str, Any]) -> ChannelRef:
    channel_id = as_str(raw.get("id")) or "unknown"
    name = as_str(raw.get("name"))
    if "Thread" in as_str(raw.get("type")) and as_str(raw.get("categoryId")):
        return ChannelRef(
            platform="discord",
            workspace=guild_id,
            channel=as_str(raw.get("categoryId")),
            name=as_str(raw.get("category")) or name,
            thread=channel_id,
        )
    return ChannelRef(platform="discord", workspace=guild_id, channel=channel_id, name=name)
