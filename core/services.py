"""The use cases the adapters call, bundled so they can be passed in as one argument.

This is a plain container built once in ``bots/wiring.py`` and handed to each adapter's
constructor; nothing looks services up globally. The Protocols say exactly what an adapter
may ask of the core.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from core.answers.access import Gatekeeper
from core.config import Settings
from core.model.worker import ModelWorker
from core.ports import Embedder, KnowledgeBase, LanguageModel
from core.ports import OnQueued as OnQueued
from core.ports import OnText as OnText
from core.runtime.state import StateStore
from core.types import Answer, ChannelMessage, ChannelRef, Digest, Question

if TYPE_CHECKING:
    from core.commands.tidings import TidingsCommands


class AnswersQuestions(Protocol):
    async def answer(
        self,
        question: Question,
        *,
        on_text: OnText | None = None,
        on_queued: OnQueued | None = None,
    ) -> Answer: ...


class SummarizesChannels(Protocol):
    async def summarize(
        self,
        messages: Sequence[ChannelMessage],
        *,
        channel: ChannelRef | None = None,
        window: tuple[datetime, datetime] | None = None,
        on_queued: OnQueued | None = None,
    ) -> Digest: ...


@dataclass
class Services:
    settings: Settings
    answerer: AnswersQuestions
    knowledge_base: KnowledgeBase
    state: StateStore
    gatekeeper: Gatekeeper
    worker: ModelWorker
    summarizer: SummarizesChannels | None = None
    embedder: Embedder | None = None
    model: LanguageModel | None = None
    commands: TidingsCommands | None = None
    """``/tidings`` (built with the services; None only in tests that do not need it)."""
    digest_listeners: list[Callable[[], None]] = field(default_factory=list)
    """Called when a digest is switched on or off from the chat: the running scheduler's
    ``reload`` is added here when it starts."""
