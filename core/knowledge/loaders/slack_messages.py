"""Slack message objects (as an export or the Events API writes them) -> ChannelMessage.

Shared by the workspace-export loader and the Events-API JSONL reader: both carry the same
message objects; only where channel and user names come from differs.
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.knowledge.loaders.shapes import as_dict, as_str, dicts
from core.types import Author, ChannelMessage, ChannelRef

# Subtypes that are something a person said; every other subtype is an event around the
# conversation (joins, topic changes, edits, ...) that digests and the knowledge base drop.
_SPOKEN_SUBTYPES = frozenset({"", "thread_broadcast", "file_share", "me_message", "file_comment"})

SUBTYPE_KINDS: Mapping[str, str] = {
    "channel_join": "join",
    "group_join": "join",
    "channel_leave": "leave",
    "group_leave": "leave",
    "channel_topic": "topic",
    "group_topic": "topic",
    "channel_purpose": "purpose",
    "group_purpose": "purpose",
    "pinned_item": "pin",
    "unpinned_item": "pin",
    "bot_message": "bot",
    "message_changed": "edit",
    "message_deleted": "delete",
}

_ANGLE = re.compile(r"<([^<>\n]*)>")
_FILE_PERMALINK = re.compile(r"^https://([a-z0-9][a-z0-9-]*)\.slack\.com/files/")


@dataclass(frozen=True)
class SlackDirectory:
    """What a source knows about its workspace: names for user and channel ids, and the
    workspace's domain when some message revealed it (exports do not carry it)."""

    users: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    domain: str | None = None


def user_name(user: dict[str, Any]) -> str:
    """The name people see: display name, else real name, else the account name."""
    profile = as_dict(user.get("profile"))
    for candidate in (
        profile.get("display_name"),
        user.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        name = as_str(candidate).strip()
        if name:
            return name
    return as_str(user.get("id"))


def slack_time(ts: Any) -> datetime | None:
    """A Slack ``ts`` ("1607543236.082500") as an aware UTC datetime, or None if it is not one."""
    try:
        seconds = float(as_str(ts))
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def slack_text(text: str, directory: SlackDirectory) -> str:
    """Slack's markup as a person reads it: mentions and channel links by name, links with their label."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + (label or directory.users.get(target[1:], target[1:]))
        if target.startswith("#"):
            return "#" + (label or directory.channels.get(target[1:], target[1:]))
        if target.startswith("!"):
            command = target[1:]
            if label:
                return label
            if command.startswith("subteam^"):
                return "@" + command.removeprefix("subteam^")
            return "@" + command.split("^")[0]
        if label:
            return f"{label} ({target.removeprefix('mailto:')})" if label != target.removeprefix("mailto:") else label
        return target.removeprefix("mailto:")

    return html.unescape(_ANGLE.sub(replace, text))


def find_domain(raws: Iterable[dict[str, Any]]) -> str | None:
    """The workspace domain, read from the permalinks of files shared in its messages.

    Exports and event logs do not name the workspace URL, but a shared file's permalink
    (``https://<domain>.slack.com/files/...``) does; the most common one wins.
    """
    seen: Counter[str] = Counter()
    for raw in raws:
        for file in [as_dict(raw.get("file")), *dicts(raw.get("files"))]:
            match = _FILE_PERMALINK.match(as_str(file.get("permalink")))
            if match:
                seen[match.group(1)] += 1
    return seen.most_common(1)[0][0] if seen else None


def permalink(domain: str | None, channel_id: str, ts: str, thread_ts: str | None) -> str | None:
    if not domain or not channel_id:
        return None
    link = f"https://{domain}.slack.com/archives/{channel_id}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel_id}"
    return link


def message_kind(raw: dict[str, Any]) -> str:
    subtype = as_str(raw.get("subtype"))
    if subtype in SUBTYPE_KINDS:
        return SUBTYPE_KINDS[subtype]
    if raw.get("bot_profile") or (raw.get("bot_id") and not raw.get("user")):
        return "bot"
    return "message" if subtype in _SPOKEN_SUBTYPES else "system"


def _author(raw: dict[str, Any], directory: SlackDirectory, kind: str) -> Author:
    user_id = as_str(raw.get("user")) or as_str(raw.get("bot_id"))
    profile = as_dict(raw.get("user_profile"))
    bot = as_dict(raw.get("bot_profile"))
    name = (
        directory.users.get(user_id)
        or user_name(profile)
        or as_str(raw.get("username")).strip()
        or as_str(bot.get("name")).strip()
        or user_id
        or "unknown"
    )
    return Author(id=user_id, name=name, is_bot=kind == "bot")


def _fallback_text(raw: dict[str, Any], directory: SlackDirectory) -> str:
    """Text for messages whose content lives in attachments or files (bot posts, uploads)."""
    parts: list[str] = []
    for attachment in dicts(raw.get("attachments")):
        for key in ("pretext", "title", "text"):
            value = as_str(attachment.get(key)).strip()
            if value:
                parts.append(value)
        if not parts:
            fallback = as_str(attachment.get("fallback")).strip()
            if fallback:
                parts.append(fallback)
    for file in [as_dict(raw.get("file")), *dicts(raw.get("files"))]:
        comment = as_str(as_dict(file.get("initial_comment")).get("comment")).strip()
        title = as_str(file.get("title")).strip() or as_str(file.get("name")).strip()
        if comment:
            parts.append(comment)
        if title:
            parts.append(f"[file: {title}]")
    return slack_text("\n".join(parts), directory)


def slack_message(raw: dict[str, Any], channel: ChannelRef, directory: SlackDirectory) -> ChannelMessage | None:
    """One Slack message object as a ChannelMessage; None when it has no usable timestamp."""
    ts = as_str(raw.get("ts"))
    when = slack_time(ts)
    if when is None:
        return None
    kind = message_kind(raw)
    text = slack_text(as_str(raw.get("text")), directory).strip()
    if not text and kind in ("message", "bot"):
        text = _fallback_text(raw, directory).strip()
    thread_ts = as_str(raw.get("thread_ts")) or None
    return ChannelMessage(
        id=ts,
        channel=channel,
        author=_author(raw, directory, kind),
        text=text,
        timestamp=when,
        thread_id=thread_ts,
        reply_to=thread_ts if thread_ts and thread_ts != ts else None,
        permalink=permalink(directory.domain, channel.channel, ts, thread_ts),
        kind=kind,
    )
