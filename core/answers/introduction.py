"""Questions about the bot itself ("what can you do?", "help", "hello") get an introduction.

A team's knowledge base describes the team's work, not the bot that reads it, so a search for
"what can you do?" could only refuse, and a refusal is a newcomer's worst first answer.
"""

from __future__ import annotations

import re

INTRODUCTION = (
    "I'm Tidings. I answer questions from this team's knowledge base, quoting the sources I used, "
    "and I say so when they don't hold the answer. I also sum up conversations.\n"
    "• To ask: mention me with your question, or use /ask.\n"
    "• For a summary: mention me with \"summarize\" in a Slack thread, or use /summarize in Discord.\n"
    "• For a daily digest of a channel, and what I may read there: /tidings help."
)
STYLE = "introduction"
"""The ``Answer.style`` of an introduction."""

_GREETING = r"(?:hi|hello|hey|hiya)(?: there)?"
_ABOUT_ME = re.compile(
    rf"^(?:{_GREETING} ?)?"
    r"(?:help|help me|"
    r"what (?:can|do|could) you do|what are you(?: for)?|who are you|what is this bot|"
    r"how (?:do|can|should) i use you|what can i ask(?: you)?|what do you know(?: about)?"
    rf")?(?: tidings)?$"
)


def is_about_the_bot(question: str) -> bool:
    """True for a greeting, a call for help, or a question about what the bot is or does."""
    words = re.sub(r"[^\w\s]", " ", question.lower().replace("’", "'")).split()
    normalized = " ".join(words)
    return bool(normalized) and bool(_ABOUT_ME.match(normalized))
