"""The terminal chat that `make run` opens without a platform token: a word ends it, as the
guide says (docs/install.md, "Stop and restart"); so does the end of its input. Its questions
are counted as the console's (docs/operations.md, `tidings_questions_total`)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable

import pytest

from adapters.console.chat import ConsoleChat
from core.services import Services


@pytest.mark.parametrize("word", ["exit", "quit", "EXIT"])
def test_a_word_ends_the_chat_and_nothing_after_it_is_answered(make_services: Callable[..., Services], word: str) -> None:
    out = io.StringIO()
    chat = ConsoleChat(services=make_services(), stdin=io.StringIO(f"\n{word}\nHow do I connect Slack?\n"), stdout=out)
    asyncio.run(asyncio.wait_for(chat.run(), timeout=30))
    assert out.getvalue() == ""


def test_the_end_of_the_input_ends_the_chat(make_services: Callable[..., Services]) -> None:
    out = io.StringIO()
    chat = ConsoleChat(services=make_services(), stdin=io.StringIO(""), stdout=out)
    asyncio.run(asyncio.wait_for(chat.run(), timeout=30))
    assert out.getvalue() == ""


def test_the_chats_questions_are_counted_as_the_consoles(make_services: Callable[..., Services]) -> None:
    """The chat reads the bundled docs' scope besides `public`; that made its questions "other"."""
    services = make_services()
    chat = ConsoleChat(services=services, stdin=io.StringIO("How do I connect Slack?\n"), stdout=io.StringIO())
    asyncio.run(asyncio.wait_for(chat.run(), timeout=60))
    registry = services.answerer.metrics.registry  # type: ignore[attr-defined]
    asked = [
        sample.labels["platform"]
        for metric in registry.collect()
        if metric.name == "tidings_questions"
        for sample in metric.samples
        if sample.name == "tidings_questions_total" and sample.value == 1
    ]
    assert asked == ["console"]
