"""The ports of the core: what it needs from the outside world, as Protocols.

Implementations never inherit from these; they only have to fit. Fakes used in tests are
real implementations of these protocols.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from core.types import ChannelMessage, ChannelRef, Chunk, Digest, Hit

Vectors = npt.NDArray[np.float32]
SearchMode = Literal["hybrid", "vector", "text"]

Clock = Callable[[], float]
"""Seconds from some fixed point (``time.monotonic``); tests pass their own."""

OnText = Callable[[str], Awaitable[None]]
"""Called with the answer text written so far, as the model writes it."""

OnQueued = Callable[[int], Awaitable[None]]
"""Called with the position of a model call in the queue when it has to wait (1: next)."""


@runtime_checkable
class Embedder(Protocol):
    """Turns text into unit-length vectors; knows its own token limit."""

    @property
    def dimension(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads; text beyond this is ignored by the model."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


@dataclass(frozen=True)
class SourceChange:
    """What writing one source did to the knowledge base."""

    source: str
    added: int
    unchanged: int
    removed: int


@dataclass(frozen=True)
class SourceInfo:
    source: str
    chunks: int
    scopes: tuple[str, ...]
    title: str = ""


@runtime_checkable
class KnowledgeBase(Protocol):
    def search(
        self,
        query: str,
        *,
        scopes: Iterable[str],
        k: int = 5,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]: ...

    def next_in_section(self, chunk: Chunk) -> Chunk | None:
        """The chunk after ``chunk`` in its document when it goes on with the same section."""
        ...

    def replace_source(self, source: str, chunks: Sequence[Chunk]) -> SourceChange: ...

    def forget(self, source: str) -> int: ...

    def sources(self, scopes: Iterable[str] | None = None) -> list[SourceInfo]: ...

    def count(self, scopes: Iterable[str] | None = None) -> int:
        """The chunks held; with ``scopes``, those a reader of these scopes may read."""
        ...


@dataclass(frozen=True)
class Prompt:
    """A prompt before rendering: instructions (system), the body (user) and the text the
    answer starts with. Models with a chat template render it with their template, models
    without one as plain completion text."""

    instructions: str
    body: str
    answer_prefix: str = ""


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    finish_reason: Literal["stop", "length", "timeout"] = "stop"


@runtime_checkable
class LanguageModel(Protocol):
    """A blocking text generator. Callers run it through the model worker, never on the
    event loop."""

    @property
    def n_ctx(self) -> int: ...

    @property
    def name(self) -> str: ...

    def render(self, prompt: Prompt) -> str:
        """The exact text the model will read for ``prompt``."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def generate(
        self,
        prompt: Prompt,
        *,
        max_tokens: int,
        stop: Sequence[str] = (),
        on_text: Callable[[str], None] | None = None,
        timeout_s: float | None = None,
        grammar: str | None = None,
    ) -> Generation:
        """Complete ``prompt``. With ``grammar`` (GBNF, llama.cpp's grammar format) the model
        can only write text the grammar accepts: it chooses, it does not write freely."""
        ...


@runtime_checkable
class ChatPlatform(Protocol):
    """A chat platform as the digest use case needs it: history in, digests out."""

    @property
    def platform(self) -> str: ...

    async def fetch_history(
        self, channel: ChannelRef, since: datetime, until: datetime
    ) -> list[ChannelMessage]:
        """Messages of ``channel`` (thread replies included) with since <= timestamp < until,
        oldest first."""
        ...

    async def post(self, channel: ChannelRef, text: str, *, digest: Digest | None = None) -> str:
        """Post ``text`` (or the rich form of ``digest``) and return the posted message's id."""
        ...
