"""Chat messages -> knowledge-base Documents, one per conversation.

A conversation (a thread, or a run of messages close in time, at most ``window`` messages)
is the unit a question is answered from: a single chat line rarely makes sense alone.
Each document keeps its channel's scope, so a private channel's talk is only found from
that channel, unless the caller names another scope explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.digests.conversations import group_conversations, render_message
from core.types import ChannelMessage, Document


def conversation_documents(
    messages: Sequence[ChannelMessage],
    *,
    source: str,
    scope: str | None = None,
    window: int = 12,
) -> tuple[Document, ...]:
    documents: list[Document] = []
    used_keys: set[str] = set()
    # The next suffix worth trying per base key: every smaller one is taken already, and
    # keys are never given back, so a thread split into n windows costs n tries, not n²/2.
    next_suffix: dict[str, int] = {}
    for conversation in group_conversations(messages, max_messages=max(1, window)):
        channel = conversation.channel
        # A long thread is split into several conversations sharing the thread's id, and two
        # channels of one export may share a timestamp id: keys must stay unique per source.
        key = conversation.id
        if key in used_keys:
            key = f"{channel.channel}:{conversation.id}"
        if key in used_keys:
            base = key
            suffix = next_suffix.get(base, 2)
            while f"{base}-{suffix}" in used_keys:
                suffix += 1
            key = f"{base}-{suffix}"
            next_suffix[base] = suffix + 1
        used_keys.add(key)
        first = conversation.messages[0]
        documents.append(
            Document(
                source=source,
                title=f"{channel.label}, {conversation.start:%Y-%m-%d %H:%M}",
                text="\n".join(render_message(message) for message in conversation.messages),
                scope=scope or channel.scope,
                key=key,
                url=first.permalink,
                kind="conversation",
            )
        )
    return tuple(documents)
