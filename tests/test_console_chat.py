"""The terminal chat that `make run` opens without a platform token: a word ends it, as the
guide says (docs/install.md, "Stop and restart"); so does the end of its input."""

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
