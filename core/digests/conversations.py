"""Group chat messages into conversations: a thread, a reply chain, or a run of messages
close together in time.

Both the knowledge base (a chat export is indexed one conversation per chunk group) and the
digest (conversations are the unit packed into model calls) use the same grouping.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.types import Author, ChannelMessage, ChannelRef

NOISE_KINDS = frozenset({"join", "leave", "topic", "purpose", "pin", "system", "bot", "edit", "delete"})
# A reply after a lull names whom it answers ("@Crabby Paddy compare the hash of the last block",
# an hour on in a support channel): within this long it joins that person's conversation
# rather than starting a topic of its own.
LATE_REPLY_WINDOW = timedelta(hours=12)


@dataclass(frozen=True)
class Conversation:
    messages: tuple[ChannelMessage, ...]

    @property
    def channel(self) -> ChannelRef:
        return self.messages[0].channel

    @property
    def id(self) -> str:
        first = self.messages[0]
        return first.thread_id or first.id

    @property
    def start(self) -> datetime:
        return self.messages[0].timestamp

    @property
    def end(self) -> datetime:
        return self.messages[-1].timestamp


def is_noise(message: ChannelMessage) -> bool:
    """Joins, bot posts, system events and empty messages carry nothing worth keeping."""
    return message.kind != "message" or message.author.is_bot or not message.text.strip()


def meaningful(messages: Iterable[ChannelMessage]) -> list[ChannelMessage]:
    return [m for m in messages if not is_noise(m)]


def addresses(message: ChannelMessage, person: Author) -> bool:
    """``message`` mentions ``person``: their id as the platform writes it (``<@U0123>``), or
    their @name as an export shows it."""
    if re.search(rf"<@!?{re.escape(person.id)}\b", message.text):
        return True
    name = person.name.strip().lower()
    return bool(name) and re.search(rf"@{re.escape(name)}(?![\w-])", message.text.lower()) is not None


def group_conversations(
    messages: Sequence[ChannelMessage],
    *,
    gap: timedelta = timedelta(minutes=30),
    max_messages: int = 12,
) -> list[Conversation]:
    """Threads stay whole (split only past ``max_messages``); other messages join the
    conversation of the message they reply to, or the running conversation of their channel
    when they follow it within ``gap``, or, after a longer lull, the latest conversation
    within ``LATE_REPLY_WINDOW`` of someone they @-name. Conversations come back ordered by
    start time."""
    ordered = sorted(meaningful(messages), key=lambda m: (m.timestamp, m.id))
    by_key: dict[str, list[ChannelMessage]] = {}
    message_key: dict[str, str] = {}
    # Each channel's messages outside threads with their keys; the last is the running conversation.
    said: dict[str, list[tuple[ChannelMessage, str]]] = {}
    order: list[str] = []

    for message in ordered:
        channel = message.channel.scope
        key: str | None = None
        if message.thread_id:
            key = f"thread:{channel}:{message.thread_id}"
        elif message.reply_to and message.reply_to in message_key:
            key = message_key[message.reply_to]
        else:
            earlier = said.get(channel, [])
            last, last_key = earlier[-1] if earlier else (None, "")
            if last is not None and message.timestamp - last.timestamp <= gap and not last_key.startswith("thread:"):
                key = last_key
            else:
                key = _conversation_addressed(message, earlier)
        if key is None or key not in by_key:
            key = key or f"run:{channel}:{message.id}"
            by_key[key] = []
            order.append(key)
        by_key[key].append(message)
        message_key[message.id] = key
        if not message.thread_id:
            said.setdefault(channel, []).append((message, key))

    conversations: list[Conversation] = []
    for key in order:
        group = by_key[key]
        for start in range(0, len(group), max(1, max_messages)):
            conversations.append(Conversation(tuple(group[start : start + max_messages])))
    conversations.sort(key=lambda c: (c.start, c.id))
    return conversations


def _conversation_addressed(message: ChannelMessage, earlier: Sequence[tuple[ChannelMessage, str]]) -> str | None:
    """The conversation key of the last of ``earlier`` (its channel's messages with their keys,
    in time order) said by someone ``message`` @-names, within ``LATE_REPLY_WINDOW``."""
    if "@" not in message.text:
        return None
    for before, key in reversed(earlier):
        if message.timestamp - before.timestamp > LATE_REPLY_WINDOW:
            return None
        if before.author.id != message.author.id and addresses(message, before.author):
            return key
    return None


# A message as ``render_message`` writes it, read back: "[2019-12-23 16:04] pbca26: you can use
# this link ...", the author in group 1. A message's further lines are its own.
RENDERED_MESSAGE = re.compile(r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}\] ([^\n:]{1,80}): ")


def render_message(message: ChannelMessage) -> str:
    """One line per message, as the model and the knowledge base read it (``RENDERED_MESSAGE``)."""
    when = message.timestamp.strftime("%Y-%m-%d %H:%M")
    return f"[{when}] {message.author.name}: {message.text.strip()}"
