"""An embedder's thread count holds for its own work only: torch has one thread count per
process, and the bot's one-thread embedder must not leave every later embedding in the process
(an evaluation's knowledge bases, a test session's) on one core."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from core.knowledge.embedding import SentenceTransformerEmbedder, every_core

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")


class ThreadsSeen:
    """The loaded model, noting torch's thread count each time it encodes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seen: list[int] = []

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        self.seen.append(torch.get_num_threads())
        return self.inner.encode(*args, **kwargs)


@pytest.fixture
def process_threads() -> Iterator[int]:
    saved = torch.get_num_threads()
    torch.set_num_threads(3)  # any count other than the embedder's own
    yield 3
    torch.set_num_threads(saved)


def one_thread(embedder: SentenceTransformerEmbedder) -> tuple[SentenceTransformerEmbedder, ThreadsSeen]:
    """An embedder set to one thread, as the bot's is, over the session's loaded model (loaded once)."""
    bot = SentenceTransformerEmbedder(threads=1)
    spy = ThreadsSeen(embedder._load())
    bot._model = spy
    return bot, spy


def test_a_one_thread_embedder_embeds_on_one_and_puts_the_process_count_back(
    embedder: SentenceTransformerEmbedder, process_threads: int
) -> None:
    bot, spy = one_thread(embedder)
    vectors = bot.embed(["Everyone has 27 days of paid holiday."])
    assert vectors.shape == (1, embedder.dimension)
    assert spy.seen == [1]
    assert torch.get_num_threads() == process_threads


def test_building_a_knowledge_base_embeds_on_every_core_then_goes_back_to_one(
    embedder: SentenceTransformerEmbedder, process_threads: int
) -> None:
    bot, spy = one_thread(embedder)
    with every_core(bot):
        bot.embed(["Expenses are paid back within ten working days."])
    bot.embed(["Travel must be booked through the travel desk."])
    assert spy.seen == [os.cpu_count() or 1, 1]
    assert torch.get_num_threads() == process_threads


def test_an_embedder_without_a_thread_setting_leaves_the_count_alone(
    embedder: SentenceTransformerEmbedder, process_threads: int
) -> None:
    spy = ThreadsSeen(embedder._load())
    unset = SentenceTransformerEmbedder()
    unset._model = spy
    unset.embed(["Visitors use bays 1 to 4 at reception."])
    assert spy.seen == [process_threads]


def test_threads_set_in_the_configuration_hold_while_building_too(
    embedder: SentenceTransformerEmbedder, process_threads: int
) -> None:
    from bots.wiring import build_embedder
    from core.config import load_settings

    settings = load_settings(None, home=None, environ={"TIDINGS_EMBEDDING__THREADS": "1"})
    configured = build_embedder(settings)
    spy = ThreadsSeen(embedder._load())
    configured._model = spy
    with every_core(configured):
        configured.embed(["Staff park in the north garage."])
    assert spy.seen == [1]
