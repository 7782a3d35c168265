"""Slack's message object, read once: its kind, its author, its thread and its text.

Slack hands out one message object everywhere: a workspace export's day files, an Events
API log, live Events API deliveries and ``conversations.history`` / ``.replies``. The
knowledge base (through the export and events loaders) and digests and answers (through
the Slack adapter) all read it here, so a message is classified and rendered the same way
however it arrived. Parsing Slack's JSON is core's business; talking to Slack is not: no
SDK here, just dicts in and core types out.

The rules, and why:

- Kind depends on the message alone, never on what a source happens to know about names,
  so every path agrees. Subtypes in ``SUBTYPE_KINDS`` are events around the conversation
  (joins, topic changes, edits, ...). A person's subtypes (``_SPOKEN_SUBTYPES``) are
  ``"message"``, or ``"bot"`` when a bot sent them. Anything else, including subtypes Slack
  adds later, is ``"system"``; so is a ``hidden`` message, which Slack says was never part
  of the channel's history.
- A bot sent the message when it is a ``bot_message``, or carries a ``bot_id`` or a
  ``bot_profile`` (apps posting with a bot token, workflows, integrations), or comes from
  Slackbot. ``bot_id`` alone is enough even beside a ``user``: a bot that answers a bot
  loops, and digests should not retell integration posts as people's words.
- Threads: a message with ``thread_ts`` is part of that thread; its root is the message
  whose ``thread_ts`` equals its own ``ts``. A reply (broadcast or not) replies to the root.
- Text: Slack's markup as a person reads it (``<@U1>`` -> ``@ann``, ``<#C1|x>`` -> ``#x``,
  ``<url|label>`` -> ``label (url)``, ``<!here>`` -> ``@here``), then the three entities
  Slack escapes (``&amp; &lt; &gt;``) decoded in one pass. A message said with no text
  (an integration's attachments, an upload) reads as its attachments and files.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from core.knowledge.loaders.shapes import as_dict, as_str, dicts
from core.types import Author, ChannelMessage, ChannelRef

Message = Mapping[str, Any]
"""One Slack message object as parsed JSON (an export's, an event's, the Web API's)."""

# Subtypes that are something a person said (``file_comment`` is legacy: a comment on a file).
# Every other subtype is an event around the conversation that digests and the knowledge
# base drop.
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
    # ``message_replied`` (the root updated because a reply arrived), renames, archiving,
    # reminders, huddles, ... fall through to "system".
}

SPOKEN_KINDS = frozenset({"message", "bot"})
"""Kinds whose text is something said (by a person or by a bot)."""

SLACKBOT = "USLACKBOT"

_ANGLE = re.compile(r"<([^<>\n]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_BROADCASTS = frozenset({"here", "channel", "everyone", "group"})
_FILE_PERMALINK = re.compile(r"^(https://[a-z0-9][a-z0-9-]*\.slack\.com)/files/")


@dataclass(frozen=True)
class SlackDirectory:
    """What a source knows about its workspace: names for user and channel ids, and the
    workspace's URL (``https://acme.slack.com``) when it is known, for permalinks."""

    users: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    workspace_url: str = ""


def user_name(user: Mapping[str, Any]) -> str:
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


# -- text -----------------------------------------------------------------------------------


def slack_text(text: str, directory: SlackDirectory | None = None) -> str:
    """Slack's markup as a person reads it: mentions and channel links by name, links with
    their label, broadcasts as plain ``@here`` (so quoting the text back pings no one)."""
    directory = directory or SlackDirectory()

    def replace(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            return "@" + (label.removeprefix("@") or directory.users.get(target[1:]) or target[1:])
        if target.startswith("#"):
            return "#" + (label.removeprefix("#") or directory.channels.get(target[1:]) or target[1:])
        if target.startswith("!"):
            return _special(target[1:], label)
        address = target.removeprefix("mailto:")
        if label and label != address and label != target:
            return f"{label} ({address})"
        return address

    rendered = _ANGLE.sub(replace, text)
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], rendered)


def _special(command: str, label: str) -> str:
    """``<!here>``, ``<!subteam^S1|@devs>``, ``<!date^1392734382^{date}|Feb 18>``, ..."""
    name, _, argument = command.partition("^")
    if name in _BROADCASTS:
        return "@" + name
    if name == "subteam":
        return "@" + (label.removeprefix("@") or argument)
    if name == "date":
        if label:
            return label
        moment = slack_time(argument.partition("^")[0])
        return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else ""
    return label or "@" + name


def attachment_text(message: Message, directory: SlackDirectory | None = None) -> str:
    """What integrations put in attachments and uploads instead of ``text``: each
    attachment's pretext, title and text (its fallback when it has none of them), then each
    file's comment and title."""
    parts: list[str] = []
    for attachment in dicts(message.get("attachments")):
        said = [as_str(attachment.get(key)).strip() for key in ("pretext", "title", "text")]
        said = [value for value in said if value] or [as_str(attachment.get("fallback")).strip()]
        parts.extend(value for value in said if value)
    for file in [as_dict(message.get("file")), *dicts(message.get("files"))]:
        comment = as_str(as_dict(file.get("initial_comment")).get("comment")).strip()
        title = as_str(file.get("title")).strip() or as_str(file.get("name")).strip()
        if comment:
            parts.append(comment)
        if title:
            parts.append(f"[file: {title}]")
    return slack_text("\n".join(parts), directory)


# Slack's uploads until 2018 wrote their own sentence around the uploader's words: "<@U1|ann>
# uploaded a file: <url|title> and commented: ...". The comment and the file say it plainly.
# Without a comment the sentence stays: it is what the upload says ("@ann uploaded a file: ...").
_LEGACY_UPLOAD = re.compile(r"<@[^>]+> (?:uploaded|shared) a file: <[^>]+> and commented: .*", re.DOTALL)


def message_text(message: Message, directory: SlackDirectory | None = None) -> str:
    """The message's text as a person reads it; for something said with no text, or an old
    upload's comment, its attachments and files."""
    raw = as_str(message.get("text"))
    if _LEGACY_UPLOAD.fullmatch(raw.strip()) and (message.get("file") or message.get("files")):
        raw = ""
    text = slack_text(raw, directory).strip()
    if not text and message_kind(message) in SPOKEN_KINDS:
        text = attachment_text(message, directory).strip()
    return text


# -- kind, author, thread ---------------------------------------------------------------------


def is_from_bot(message: Message) -> bool:
    """Sent by a bot, an app or an integration, or by Slackbot."""
    return (
        as_str(message.get("subtype")) == "bot_message"
        or bool(as_str(message.get("bot_id")))
        or bool(as_dict(message.get("bot_profile")))
        or as_str(message.get("user")) == SLACKBOT
    )


def message_kind(message: Message) -> str:
    """``"message"`` for something a person said, ``"bot"`` for something a bot said;
    otherwise what kind of event it is (``join``, ``edit``, ``system``, ...)."""
    subtype = as_str(message.get("subtype"))
    if subtype in SUBTYPE_KINDS:
        return SUBTYPE_KINDS[subtype]
    if subtype not in _SPOKEN_SUBTYPES or message.get("hidden") is True:
        return "system"
    return "bot" if is_from_bot(message) else "message"


def is_from_person(message: Message) -> bool:
    """Something a person said, in the channel's history, with the person's id on it."""
    return message_kind(message) == "message" and bool(as_str(message.get("user")))


def author_of(message: Message, directory: SlackDirectory | None = None) -> Author:
    """Who sent it: the name the directory knows, else the profile inside the message, else
    the name a bot posted under."""
    directory = directory or SlackDirectory()
    author_id = as_str(message.get("user")) or as_str(message.get("bot_id"))
    name = (
        directory.users.get(author_id)
        or user_name(as_dict(message.get("user_profile")))
        or as_str(message.get("username")).strip()
        or as_str(as_dict(message.get("bot_profile")).get("name")).strip()
        or author_id
        or "unknown"
    )
    return Author(id=author_id, name=name, is_bot=is_from_bot(message))


def message_ts(message: Message) -> str:
    return as_str(message.get("ts")) or as_str(message.get("event_ts"))


def thread_of(message: Message) -> tuple[str | None, str | None]:
    """(thread id, the message it replies to): the root's ``ts`` for a root and its replies
    (thread broadcasts included), (None, None) outside threads."""
    thread_ts = as_str(message.get("thread_ts")) or None
    if thread_ts is None:
        return None, None
    return thread_ts, (thread_ts if thread_ts != message_ts(message) else None)


# -- links ----------------------------------------------------------------------------------


def find_workspace_url(raws: Iterable[Message]) -> str:
    """The workspace URL, read from the permalinks of files shared in its messages.

    Exports and event logs do not name the workspace, but a shared file's permalink
    (``https://<domain>.slack.com/files/...``) does; the most common one wins ("" if none).
    """
    seen: Counter[str] = Counter()
    for raw in raws:
        for file in [as_dict(raw.get("file")), *dicts(raw.get("files"))]:
            match = _FILE_PERMALINK.match(as_str(file.get("permalink")))
            if match:
                seen[match.group(1)] += 1
    return seen.most_common(1)[0][0] if seen else ""


def permalink(workspace_url: str, channel: str, ts: str, *, thread_ts: str | None = None) -> str:
    """The link Slack's "Copy link" gives, built without an API call. Replies carry
    ``thread_ts`` and ``cid`` so Slack opens them inside their thread."""
    link = f"{workspace_url.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel}"
    return link


# -- the whole message ------------------------------------------------------------------------


def slack_message(raw: Message, channel: ChannelRef, directory: SlackDirectory | None = None) -> ChannelMessage | None:
    """One Slack message object as a ChannelMessage; None when it has no usable timestamp."""
    directory = directory or SlackDirectory()
    ts = message_ts(raw)
    when = slack_time(ts)
    if when is None:
        return None
    thread_id, reply_to = thread_of(raw)
    link = None
    if directory.workspace_url and channel.channel:
        link = permalink(directory.workspace_url, channel.channel, ts, thread_ts=thread_id)
    return ChannelMessage(
        id=ts,
        # The message's channel is the channel; its thread is said by thread_id.
        # One shared reference for every message of a channel (an export holds millions).
        channel=channel if channel.thread is None else replace(channel, thread=None),
        author=author_of(raw, directory),
        text=message_text(raw, directory),
        timestamp=when,
        thread_id=thread_id,
        reply_to=reply_to,
        permalink=link,
        kind=message_kind(raw),
    )
