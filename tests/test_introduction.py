"""A greeting, "help", or a question about the bot gets an introduction, not a search that
could only refuse, and a thanks gets a short reply; every other question is searched as before."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.answers.introduction import INTRODUCTION, STYLE, THANKS_REPLY, is_about_the_bot, is_thanks
from core.runtime.observability import InstrumentedAnswerer, Metrics
from core.services import Services
from core.types import Chunk, Question


@pytest.mark.parametrize(
    "question",
    ["What can you do?", "what can you do", "help", "Help!", "hello", "Hi there", "hey Tidings", "Who are you?",
     "what are you for?", "How do I use you?", "hi, what can you do?", "What can I ask?", "What is this bot?"],
)
def test_questions_about_the_bot_are_recognised(question: str) -> None:
    assert is_about_the_bot(question)


@pytest.mark.parametrize(
    "question",
    ["", "   ", "What can you do about expenses?", "help me book travel", "Who are you meeting today?",
     "hello, where do I get a laptop?", "what is Tidings' license?", "tidings", "How do I use the VPN?"],
)
def test_other_questions_are_not(question: str) -> None:
    assert not is_about_the_bot(question)


@pytest.mark.parametrize(
    "message",
    ["thanks", "Thanks!", "thank you", "Thank you so much!", "thx", "ty", "cheers", "great, thanks",
     "ok thanks a lot", "Perfect, thank you very much", "thanks tidings", "that helps, thanks for the help", "thnx", "Many thanks!"],
)
def test_a_thanks_is_recognised(message: str) -> None:
    assert is_thanks(message) and not is_about_the_bot(message)


@pytest.mark.parametrize(
    "message",
    ["", "thanks, but how do I connect Slack?", "Thanks to whom is the digest posted?", "How do I thank a colleague?",
     "thank-you notes policy", "Do we send thank you cards to customers?"],
)
def test_a_question_that_mentions_thanks_is_not_a_thanks(message: str) -> None:
    assert not is_thanks(message)


@pytest.mark.slow
async def test_the_bot_introduces_itself_even_with_an_empty_knowledge_base(make_services: Callable[..., Services]) -> None:
    services = make_services()
    metrics = Metrics()
    answerer = InstrumentedAnswerer(services.answerer, metrics)

    introduced = await answerer.answer(Question(text="What can you do?"))
    assert introduced.text == INTRODUCTION and introduced.style == STYLE
    assert not introduced.grounded and not introduced.citations
    assert "/ask" in introduced.text and "summarize" in introduced.text and "/tidings help" in introduced.text
    assert metrics.total("answered") == 1 and metrics.total("not_covered") == 0

    thanked = await answerer.answer(Question(text="Great, thanks!"))
    assert thanked.text == THANKS_REPLY and thanked.style == STYLE and not thanked.citations

    # Anything else is a question for the knowledge base: here, an empty one says so.
    empty = await answerer.answer(Question(text="What can you do about expenses?"))
    assert empty.style != STYLE and "empty" in empty.text.lower()

    services.knowledge_base.replace_source(
        "expenses.md", [Chunk(id="e1", source="expenses.md", title="Expenses", text="Expenses above 50 euros need a receipt.")]
    )
    answered = await answerer.answer(Question(text="Do expenses above 50 euros need a receipt?"))
    assert answered.grounded and answered.citations[0].source == "expenses.md"
