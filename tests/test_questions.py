"""Reading a question and its thread the same way on every platform (core.answers.questions)."""

from __future__ import annotations

import pytest

from core.answers.questions import (
    EMPTY_COMMAND,
    EMPTY_MENTION,
    THREAD_CHARS,
    ThreadContext,
    asks_yes_or_no,
    fit_turns,
    naming_the_bot,
    read_question,
    too_long,
    truncate,
)
from core.config import AnswerSettings
from core.errors import EmptyQuestion, QuestionTooLong, UserFacingError
from core.types import Turn


def test_a_question_is_its_text_without_surrounding_space() -> None:
    assert read_question("  how do I deploy?\n", max_chars=100) == "how do I deploy?"
    assert read_question("x" * 100, max_chars=100) == "x" * 100  # the limit itself is fine
    assert read_question("x" * 5000, max_chars=0) == "x" * 5000  # 0: no limit


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "?", " ... ", "🤔❓", "?!"])
def test_an_empty_question_says_how_to_ask_where_it_was_asked(text: str) -> None:
    with pytest.raises(EmptyQuestion) as mention:
        read_question(text, max_chars=100)
    assert mention.value.user_message == EMPTY_MENTION
    with pytest.raises(EmptyQuestion) as command:
        read_question(text, max_chars=100, empty=EMPTY_COMMAND)
    assert command.value.user_message == EMPTY_COMMAND


@pytest.mark.parametrize("text", ["如何安装?", "k8s?", "2+2?", "👍 works?"])
def test_a_question_of_one_word_in_any_script_is_a_question(text: str) -> None:
    assert read_question(text, max_chars=100) == text


def test_a_question_over_the_limit_is_refused_with_its_length_and_the_limit() -> None:
    with pytest.raises(QuestionTooLong) as refused:
        read_question("  " + "y" * 2345 + "  ", max_chars=2000)
    assert isinstance(refused.value, UserFacingError)
    assert refused.value.user_message == too_long(2345, 2000)
    assert refused.value.user_message == (
        "That question is 2,345 characters long; I read questions of up to 2,000. Please shorten it and ask again."
    )


def test_truncate_cuts_at_a_word_with_an_ellipsis() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("one two three four five", 15) == "one two three…"
    assert len(truncate("x" * 50, 10)) == 10


def test_fit_turns_keeps_the_latest_within_budget() -> None:
    turns = [Turn(author=f"u{i}", text="x" * 100) for i in range(10)]
    kept = fit_turns(turns, max_turns=6, max_chars=250)
    assert [t.author for t in kept] == ["u7", "u8", "u9"]
    assert sum(len(t.text) for t in kept) <= 250
    assert fit_turns(turns, max_turns=0, max_chars=1000) == ()


def test_thread_context_takes_its_turns_from_the_answer_settings() -> None:
    limits = ThreadContext.limits(AnswerSettings(max_conversation_turns=2), messages=7)
    assert (limits.messages, limits.turns, limits.chars) == (7, 2, THREAD_CHARS)
    turns = [Turn(author="a", text="first"), Turn(author="b", text="second"), Turn(author="c", text="third")]
    assert limits.fit(turns) == (Turn(author="b", text="second"), Turn(author="c", text="third"))
    assert ThreadContext(chars=8).fit(turns) == (Turn(author="c", text="third"),)


@pytest.mark.parametrize(
    ("question", "yes_or_no"),
    [
        ("Can my dog give me covid?", True),
        ("If I'm quarantined, do I still get paid?", True),
        ("is there a web UI", True),
        ("What is in a daily digest?", False),
        ("Why does the digest fail?", False),
        ("Who can turn digests on?", False),
    ],
)
def test_a_question_a_yes_or_a_no_answers(question: str, yes_or_no: bool) -> None:
    assert asks_yes_or_no(question) is yes_or_no


@pytest.mark.parametrize(
    ("asked", "searched"),
    [
        ("how do i add our handbook to the bot", "how do i add our handbook to Tidings"),
        ("Why did The Bot not answer?", "Why did Tidings not answer?"),
        ("Can this bot read private channels?", "Can Tidings read private channels?"),
        ("How do I create a bot application on Discord?", "How do I create a bot application on Discord?"),
        ("Is the robot arm calibrated?", "Is the robot arm calibrated?"),
    ],
)
def test_the_bot_is_searched_by_its_name(asked: str, searched: str) -> None:
    assert naming_the_bot(asked) == searched
