"""What a chat message must be to be answered, and how much of its thread comes with it.

Every platform reads a question the same way: the text left once the bot's mention is
removed must not be empty, and must not be longer than ``[access] max_question_chars``; a
question asked in a thread brings its most recent earlier turns, within a number of
messages read, of turns kept and of characters. The sentences a refused asker sees are the
same on every platform.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.config import AnswerSettings
from core.errors import EmptyQuestion, QuestionTooLong
from core.types import Turn

EMPTY_MENTION = "Ask me a question after the mention, for example: @Tidings how do I reset my password?"
EMPTY_COMMAND = "Type your question after the command, for example: /ask how do I reset my password?"

THREAD_MESSAGES = 20
"""Earlier thread messages read by default (the platforms' settings may change it)."""
THREAD_CHARS = 1500
"""Character budget of the thread's turns by default, before the answerer's token budget."""

_ELLIPSIS = "…"
# A follow-up leans on the turn before it: it opens with a connective ("and on Windows?", "what
# about taxis?") or points back with a pronoun ("how do I renew it?", "are those private?").
_FOLLOW_UP = re.compile(
    r"^\W*(?:and|or|but|also|so|then|what about|how about|what if|same)\b"
    r"|\b(?:it|its|they|them|their|these|those|ones)\b",
    re.IGNORECASE,
)


# A question that a yes or a no answers: one of its clauses opens with an auxiliary verb ("Can
# pets spread it?", "If I'm quarantined, do I still get paid?").
_YES_OR_NO = re.compile(
    r"(?:^|[,;:]\s*)(?:can|could|do|does|did|is|are|was|were|will|would|should|shall|may|might|must"
    r"|has|have|had|am)\b",
    re.IGNORECASE,
)


# People call the bot "the bot"; its guide calls it by name, a word the embedder reads as
# nothing like "bot" ("Why did the bot not answer my question?" did not find the guide's "Why
# did Tidings not answer my question?").
BOT_NAME = "Tidings"
# A word of any script: a message without one ("?", "...", "🤔") asks nothing to search for.
_A_WORD = re.compile(r"\w")
_THE_BOT = re.compile(r"\b(?:the|this|your) bot\b", re.IGNORECASE)


def naming_the_bot(text: str) -> str:
    """``text`` with "the bot" (or "this bot", "your bot") called by its name, as it is
    searched and ranked: "how do i add our handbook to the bot" -> "... to Tidings"."""
    return _THE_BOT.sub(BOT_NAME, text)


def asks_yes_or_no(text: str) -> bool:
    """True when ``text`` reads as a question a yes or a no answers."""
    return _YES_OR_NO.search(text.strip()) is not None


def reads_as_follow_up(text: str) -> bool:
    """True when a question reads as a follow-up of the turn before it rather than as a new
    question: only such a question is searched with its thread's words."""
    return _FOLLOW_UP.search(text) is not None


def too_long(length: int, limit: int) -> str:
    """The sentence an asker sees when the question is longer than ``limit`` characters."""
    return f"That question is {length:,} characters long; I read questions of up to {limit:,}. Please shorten it and ask again."


def asks_nothing(text: str) -> bool:
    """True for a message without a single word: blank, or punctuation and emoji alone ("?")."""
    return _A_WORD.search(text) is None


def read_question(text: str, *, max_chars: int, empty: str = EMPTY_MENTION) -> str:
    """``text`` (the message without the bot's mention) as a question, or the reason it is
    not one: ``EmptyQuestion`` with ``empty`` (which says how to ask where it was asked) for a
    message without a word, or ``QuestionTooLong``."""
    question = text.strip()
    if asks_nothing(question):
        raise EmptyQuestion(empty)
    if max_chars > 0 and len(question) > max_chars:
        raise QuestionTooLong(too_long(len(question), max_chars))
    return question


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, at a word boundary when one is close, with an ellipsis."""
    if len(text) <= limit:
        return text
    if limit <= len(_ELLIPSIS):
        return text[:limit]
    head = text[: limit - len(_ELLIPSIS)]
    space = head.rfind(" ")
    if space >= len(head) * 0.8:
        head = head[:space]
    return head.rstrip() + _ELLIPSIS


def fit_turns(turns: Sequence[Turn], *, max_turns: int, max_chars: int) -> tuple[Turn, ...]:
    """The most recent turns that fit both budgets, oldest first. Each kept turn is cut to
    the remaining character budget rather than dropped whole, so a long question in the
    thread still leaves a trace."""
    kept: list[Turn] = []
    room = max_chars
    for turn in reversed(turns[-max_turns:] if max_turns > 0 else []):
        if room <= 0:
            break
        text = truncate(turn.text, room)
        kept.append(Turn(author=turn.author, text=text, by_bot=turn.by_bot))
        room -= len(text) + len(turn.author) + 2
    return tuple(reversed(kept))


@dataclass(frozen=True)
class ThreadContext:
    """How much of a thread a question brings as conversation: the adapter reads the last
    ``messages`` earlier messages and turns them into ``Turn``s; ``fit`` keeps the most
    recent ``turns`` of them within ``chars`` characters."""

    messages: int = THREAD_MESSAGES
    turns: int = AnswerSettings.max_conversation_turns
    chars: int = THREAD_CHARS

    @classmethod
    def limits(cls, answers: AnswerSettings, *, messages: int = THREAD_MESSAGES, chars: int = THREAD_CHARS) -> ThreadContext:
        """The limits for a platform: the messages and characters its settings read, the
        turns ``[answers] max_conversation_turns`` keeps."""
        return cls(messages=messages, turns=answers.max_conversation_turns, chars=chars)

    def fit(self, turns: Sequence[Turn]) -> tuple[Turn, ...]:
        return fit_turns(turns, max_turns=self.turns, max_chars=self.chars)
