"""Questions about the bot itself ("what can you do?", "help", "hello") get an introduction,
and a thanks gets a short reply.

A team's knowledge base describes the team's work, not the bot that reads it, so a search for
"what can you do?" could only refuse, and a refusal is a newcomer's worst first answer; a search
for "thanks!" quoted whatever sentence mentions thanking.
"""

from __future__ import annotations

import re

from core.text import THANKS_WORDS

INTRODUCTION = (
    "I'm Tidings. I answer questions from this team's knowledge base, quoting the sources I used, "
    "and I say so when they don't hold the answer. I also sum up conversations.\n"
    "• To ask: mention me with your question, or use /ask.\n"
    "• For a summary: mention me with \"summarize\" in a Slack thread, or use /summarize in Discord.\n"
    "• For a daily digest of a channel, and what I may read there: /tidings help."
)
THANKS_REPLY = "You're welcome. Ask me anything else, or type /tidings help to see what I can do."
STYLE = "introduction"
"""The ``Answer.style`` of an introduction, and of the reply to a thanks."""

_GREETING = r"(?:hi|hello|hey|hiya)(?: there)?"
_ABOUT_ME = re.compile(
    rf"^(?:{_GREETING} ?)?"
    r"(?:help|help me|"
    r"what (?:can|do|could) you do|what are you(?: for)?|who are you|what is this bot|"
    r"how (?:do|can|should) i use you|what can i ask(?: you)?|what do you know(?: about)?"
    rf")?(?: tidings)?$"
)


def _plain(message: str) -> str:
    """The message's words, lower case, punctuation gone: "Hi, what can you do?" -> "hi what can you do"."""
    return " ".join(re.sub(r"[^\w\s]", " ", message.lower().replace("’", "'")).split())


def is_about_the_bot(question: str) -> bool:
    """True for a greeting, a call for help, or a question about what the bot is or does."""
    normalized = _plain(question)
    return bool(normalized) and bool(_ABOUT_ME.match(normalized))


_THANKS = re.compile(
    r"^(?:(?:ok|okay|great|perfect|awesome|nice|cool|got it|that helps|that helped|that works)\s+)*"
    rf"(?:{THANKS_WORDS})"
    r"(?:\s+(?:a lot|so much|very much|again|tidings|for the help|for your help))*$"
)


def is_thanks(message: str) -> bool:
    """True for a message that only thanks the bot ("thanks!", "great, thank you so much")."""
    normalized = _plain(message)
    return bool(normalized) and bool(_THANKS.match(normalized))


def reply_to(message: str) -> str | None:
    """The introduction, the reply to a thanks, or None for a question to search for."""
    if is_about_the_bot(message):
        return INTRODUCTION
    if is_thanks(message):
        return THANKS_REPLY
    return None
