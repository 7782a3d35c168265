"""Chat messages -> knowledge-base Documents, one per conversation.

A conversation (a thread, or a run of messages close in time, at most ``window`` messages)
is the unit a question is answered from: a single chat line rarely makes sense alone. A
conversation left on a question ends with the answer that came after a lull (``answers_after``).
Each document keeps its channel's scope, so a private channel's talk is only found from
that channel, unless the caller names another scope explicitly.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import timedelta

from core.digests.conversations import Conversation, group_conversations, render_message
from core.text import asks
from core.types import ChannelMessage, Document

# An answer nobody @-names comes within this long of the question, or it answers something else.
ANSWER_WINDOW = timedelta(hours=2)


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
    conversations = group_conversations(messages, max_messages=max(1, window))
    answers = answers_after(conversations)
    for index, conversation in enumerate(conversations):
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
                text="\n".join(render_message(message) for message in (*conversation.messages, *answers.get(index, ()))),
                scope=scope or channel.scope,
                key=key,
                url=first.permalink,
                kind="conversation",
            )
        )
    return tuple(documents)


def answers_after(conversations: Sequence[Conversation]) -> dict[int, tuple[ChannelMessage]]:
    """Per conversation (by index) that ends on a question, the channel's next message when
    someone else wrote it within ``ANSWER_WINDOW`` and it asks nothing itself: a support
    channel's answer often comes after a lull, and so starts a conversation of its own ("is there
    a way to retrieve them?" at 06:18, "Extract wif and import to agama" at 06:58). The
    conversation's document ends with it too, as a chunk overlaps the next, so that a question
    and its answer are found and quoted together. Threads are whole already: a thread's reply
    is in the thread."""
    said: dict[str, list[tuple[ChannelMessage, int]]] = {}
    for index, conversation in enumerate(conversations):
        for message in conversation.messages:
            if not message.thread_id:
                said.setdefault(message.channel.scope, []).append((message, index))
    answers: dict[int, tuple[ChannelMessage]] = {}
    for channel in said.values():
        channel.sort(key=lambda item: (item[0].timestamp, item[0].id))
        for (last, index), (following, other) in itertools.pairwise(channel):
            if (
                other != index
                and conversations[index].messages[-1] is last
                and asks(last.text)
                and following.author.id != last.author.id
                and following.timestamp - last.timestamp <= ANSWER_WINDOW
                and not asks(following.text)
            ):
                answers[index] = (following,)
    return answers
