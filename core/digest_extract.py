"""Extractive digest candidates: picked from what people wrote, with no model at all.

A 270M-parameter base model cannot be trusted to find the decisions in a day of chat, but
plain patterns can: a question nobody answered ends with "?", a decision says "we'll" or
"agreed", an action item says "I'll" or "can you". These candidates are always available;
the model's notes replace their wording when they are valid (see ``core/summarizing.py``),
so a better model simply makes better digests.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.conversations import Conversation
from core.types import ChannelMessage

_STOPWORD_TEXT = (
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers him his how i if in into is it its itself just let me more most my no nor
    not now of off on once only or other our ours out over own same she should so some such than that the
    their theirs them then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yes yeah ok okay thanks thank please
    hi hello hey get got one like know think want need use using used still really well there's it's i'm
    i'll don't can't that's what's you're we're they're didn't doesn't isn't"""
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_WORD = re.compile(r"[a-z0-9][a-z0-9_+#./-]*[a-z0-9+#]|[a-z0-9]", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9@\"'(\[])|\n+")
_SLACK_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_SLACK_BARE = re.compile(r"<(https?://[^>]+)>")
_SLACK_MENTION = re.compile(r"<[@#!]([A-Z0-9]+)(?:\|([^>]+))?>")
_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
_URL = re.compile(r"https?://\S+")
_SPACES = re.compile(r"\s+")

DECISION = re.compile(
    r"\b(we(?:'ll| will| are going to|'re going to| decided| agreed)|decided|decision|agreed|let'?s|"
    r"going (?:to go )?with|settled on|we should go with|conclusion)\b",
    re.IGNORECASE,
)
SELF_ACTION = re.compile(
    r"\b(i'?ll|i will|i'?m going to|i am going to|i can take|i'?ll take|will do|on it|i'?ll handle)\b",
    re.IGNORECASE,
)
# "Can you stake KMD in this wallet?" is a question about the world, not a request: an asked
# action counts only when someone is named (or replied to), or when it is not a question.
ASKED_ACTION = re.compile(r"\b(can you|could you|would you|please|pls|todo|to-do|action item)\b", re.IGNORECASE)



def clean_text(text: str) -> str:
    """Chat markup made readable: link labels, mention names, code blocks shown as [code]."""
    text = _SLACK_LINK.sub(r"\2", text)
    text = _SLACK_BARE.sub(r"\1", text)
    text = _SLACK_MENTION.sub(lambda m: "@" + (m.group(2) or m.group(1)), text)
    text = _CODE_BLOCK.sub(" [code] ", text)
    return _SPACES.sub(" ", text).strip()


def keywords(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(_URL.sub(" ", text)) if w.lower() not in STOPWORDS and len(w) > 2}


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def shorten(text: str, *, words: int = 24, chars: int = 180) -> str:
    """At most ``words`` words and about ``chars`` characters, with an ellipsis when cut
    (display only: what the model reads is never cut). A pasted error line has few spaces,
    so the character limit is what keeps it a bullet and not a wall."""
    parts = text.split()
    short = " ".join(parts[:words])
    if len(short) > chars:
        cut = short.rfind(" ", 0, chars)
        short = short[: cut if cut > chars // 2 else chars]
    if short == " ".join(parts):
        return text
    return short.rstrip(",;: ") + "…"


@dataclass(frozen=True)
class Candidate:
    """A bullet picked from the messages: its kind, its text and the messages behind it."""

    kind: str  # "topic" | "decision" | "action" | "question"
    text: str
    messages: tuple[ChannelMessage, ...]


def central_message(messages: Sequence[ChannelMessage]) -> ChannelMessage:
    """The message sharing the most keywords with the rest of the conversation: the one a
    reader would quote to say what it was about. Ties go to the earlier message."""
    bags = [keywords(clean_text(m.text)) for m in messages]
    if len(messages) == 1:
        return messages[0]
    totals: Counter[str] = Counter(word for bag in bags for word in bag)

    def score(index: int) -> float:
        bag = bags[index]
        if len(bag) < 2:
            return -1.0
        shared = sum(totals[word] - 1 for word in bag)
        # Questions that open a conversation are usually what it is about.
        bonus = 1.5 if index == 0 and "?" in messages[0].text else 1.0
        return float(bonus * shared / (len(bag) ** 0.5))

    best = max(range(len(messages)), key=lambda i: (score(i), -i))
    return messages[best]


def _first_sentence_with(text: str, pattern: re.Pattern[str]) -> str | None:
    for sentence in sentences(text):
        if pattern.search(sentence):
            return sentence
    return None


def topic(messages: Sequence[ChannelMessage]) -> Candidate:
    """What a run of messages was about: the central message's first sentence."""
    center = central_message(messages)
    text = clean_text(center.text)
    first = sentences(text)[0] if sentences(text) else text
    sources = tuple(dict.fromkeys((messages[0], center)))
    return Candidate("topic", shorten(first), sources)


def _is_question(sentence: str) -> bool:
    return sentence.endswith("?") and len(keywords(sentence)) >= 2


def open_questions(conversation: Conversation) -> list[Candidate]:
    """Questions nobody else spoke after: the last word in the conversation was the asker's."""
    found: list[Candidate] = []
    messages = conversation.messages
    for index, message in enumerate(messages):
        answered = any(later.author.id != message.author.id for later in messages[index + 1 :])
        if answered:
            continue
        asked = [s for s in sentences(clean_text(message.text)) if _is_question(s)]
        if asked:
            found.append(Candidate("question", f"{message.author.name}: {shorten(asked[-1])}", (message,)))
    return found


def decisions(conversation: Conversation) -> list[Candidate]:
    found: list[Candidate] = []
    for message in conversation.messages:
        sentence = _first_sentence_with(clean_text(message.text), DECISION)
        if sentence and not sentence.endswith("?") and len(keywords(sentence)) >= 2:
            found.append(Candidate("decision", shorten(sentence), (message,)))
    return found


def _named_participant(text: str, participants: Iterable[str], speaker: str) -> str | None:
    lowered = text.lower()
    for name in participants:
        if name and name != speaker and re.search(rf"(?<![\w]){re.escape(name.lower())}(?![\w])", lowered):
            return name
    return None


def action_items(conversation: Conversation) -> list[Candidate]:
    """"I'll ..." is owned by the speaker; "can you ..." by whoever is named or replied to;
    with nobody named the item has no owner rather than a guessed one."""
    found: list[Candidate] = []
    by_id = {m.id: m for m in conversation.messages}
    participants = sorted({m.author.name for m in conversation.messages}, key=len, reverse=True)
    for message in conversation.messages:
        text = clean_text(message.text)
        owner: str | None = None
        sentence = _first_sentence_with(text, SELF_ACTION)
        if sentence and not sentence.endswith("?"):
            owner = message.author.name
        else:
            sentence = _first_sentence_with(text, ASKED_ACTION)
            if sentence is None:
                continue
            owner = _named_participant(sentence, participants, message.author.name)
            if owner is None and message.reply_to in by_id:
                replied = by_id[message.reply_to].author.name
                owner = replied if replied != message.author.name else None
            if owner is None and sentence.endswith("?"):
                continue
        if len(keywords(sentence)) < 2:
            continue
        text_out = f"{owner}: {shorten(sentence)}" if owner else shorten(sentence)
        found.append(Candidate("action", text_out, (message,)))
    return found


def candidates(conversation: Conversation) -> list[Candidate]:
    """Every extractive candidate of a conversation except its topic."""
    return [*decisions(conversation), *action_items(conversation), *open_questions(conversation)]
