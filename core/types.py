"""The language spoken between layers: small frozen dataclasses, no platform payloads.

Adapters translate Slack and Discord payloads into these types and back; the core only
ever sees these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

PUBLIC_SCOPE = "public"
DOCS_SCOPE = "tidings:docs"
"""Tidings' own bundled documentation, the console demo's knowledge base: the console chat
sees it; a Slack or Discord channel only when ``[access.grants]`` grants it."""

Platform = Literal["slack", "discord", "console", "export"]


def channel_scope(platform: str, workspace: str, channel: str) -> str:
    """The scope of content that belongs to one channel: ``slack:<team>:<channel>``."""
    return f"{platform}:{workspace}:{channel}"


@dataclass(frozen=True)
class ChannelRef:
    """Where a message lives: a platform, a workspace (Slack team or Discord guild), a channel.

    ``thread`` is set when the reference points into a thread (Slack ``thread_ts``, Discord
    thread channel id); the scope is always the parent channel's.
    """

    platform: str
    workspace: str
    channel: str
    name: str = ""
    thread: str | None = None

    @property
    def scope(self) -> str:
        return channel_scope(self.platform, self.workspace, self.channel)

    @property
    def label(self) -> str:
        return f"#{self.name}" if self.name else self.channel


@dataclass(frozen=True)
class Author:
    id: str
    name: str
    is_bot: bool = False


@dataclass(frozen=True)
class ChannelMessage:
    """One chat message as the core sees it.

    ``id`` is the platform's own id (Slack ``ts``, Discord snowflake). ``thread_id`` names
    the thread root the message belongs to (itself for a root with replies). ``kind`` is
    ``"message"`` for something a person said; adapters mark joins, leaves and other system
    events so the core can drop them.
    """

    id: str
    channel: ChannelRef
    author: Author
    text: str
    timestamp: datetime
    thread_id: str | None = None
    reply_to: str | None = None
    permalink: str | None = None
    kind: str = "message"


@dataclass(frozen=True)
class Document:
    """A unit of knowledge a loader produced: one file, one FAQ entry, one conversation.

    ``source`` names the file (or export) it came from; every chunk of every document of a
    source is replaced together when the source changes. ``key`` tells documents of the same
    source apart (``""`` for a single-document file, ``"row-12"`` for an FAQ row).
    ``question`` is set for FAQ entries: the entry's own question, which retrieval matches
    as well as the answer.
    """

    source: str
    title: str
    text: str
    scope: str = PUBLIC_SCOPE
    key: str = ""
    url: str | None = None
    question: str | None = None
    kind: str = "document"


@dataclass(frozen=True)
class Chunk:
    """A retrievable piece of a document, small enough for the embedder to read whole."""

    id: str
    source: str
    title: str
    text: str
    scope: str = PUBLIC_SCOPE
    url: str | None = None
    position: int = 0
    doc_key: str = ""
    content_hash: str = ""
    kind: str = "document"


@dataclass(frozen=True)
class Hit:
    """A chunk found for a query.

    ``score`` is the fused rank score that orders hits; ``similarity`` is the cosine
    similarity between query and chunk embeddings (None for text-only hits), the calibrated
    number the refusal threshold is measured on.
    """

    chunk: Chunk
    score: float
    similarity: float | None = None
    vector_rank: int | None = None
    text_rank: int | None = None


@dataclass(frozen=True)
class Turn:
    """One earlier message of a conversation (a thread) handed to the model as context."""

    author: str
    text: str
    by_bot: bool = False  # the bot's own answer: context for the model, not words to search for


@dataclass(frozen=True)
class Question:
    """A question asked somewhere: its text, the scopes it may see, and its conversation."""

    text: str
    scopes: frozenset[str] = frozenset({PUBLIC_SCOPE})
    conversation: tuple[Turn, ...] = ()
    asker: str = ""
    request_id: str = ""


@dataclass(frozen=True)
class Citation:
    n: int
    source: str
    title: str
    snippet: str
    score: float
    url: str | None = None
    scope: str = PUBLIC_SCOPE
    chunk_ids: tuple[str, ...] = ()  # the chunks cited (two of one section are one source), for the evaluation; not shown, not stored


@dataclass(frozen=True)
class Timings:
    retrieve_ms: float = 0.0
    generate_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    queued_ms: float = 0.0


@dataclass(frozen=True)
class Answer:
    """What the bot says back. ``grounded`` is False when the knowledge base held no answer;
    then ``text`` says so and ``citations`` lists the nearest sources."""

    question: str
    text: str
    grounded: bool
    citations: tuple[Citation, ...] = ()
    timings: Timings = field(default_factory=Timings)
    style: str = ""  # "quote", "generate" or "introduction": how the text was made ("" for a refusal)
    quotes: tuple[Quote, ...] = ()  # a quote answer's passages, for platforms that show quotes


@dataclass(frozen=True)
class Quote:
    """One verbatim passage of a quote answer and the citation it came from."""

    text: str
    n: int


@dataclass(frozen=True)
class MessageLink:
    """A pointer from a digest bullet back to a message it came from."""

    message_id: str
    author: str
    timestamp: datetime
    link: str | None = None


@dataclass(frozen=True)
class DigestBullet:
    text: str
    sources: tuple[MessageLink, ...] = ()


@dataclass(frozen=True)
class DigestSection:
    title: str
    bullets: tuple[DigestBullet, ...] = ()


@dataclass(frozen=True)
class Coverage:
    messages: int = 0
    conversations: int = 0
    covered_messages: int = 0


@dataclass(frozen=True)
class DigestStats:
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Digest:
    """A summary of a channel's window: a headline and sections of bullets, each linked to
    the messages behind it."""

    headline: str
    sections: tuple[DigestSection, ...] = ()
    coverage: Coverage = field(default_factory=Coverage)
    stats: DigestStats = field(default_factory=DigestStats)
    window_start: datetime | None = None
    window_end: datetime | None = None
    channel: ChannelRef | None = None

    @property
    def is_empty(self) -> bool:
        return not any(section.bullets for section in self.sections)
