"""The digest's prompts, and the parsing of what the model writes back.

Written for the weakest model Tidings ships with (a 270M base model with no chat template,
which loops on open-ended prompts): messages are numbered ``[M3]`` so the model can cite
them, the model writes short lines that start with a kind and end with message numbers, a
call gets a few dozen tokens and stops at a blank line, and every line is checked before it
is used: its kind is known, its numbers exist in the chunk, its words come from the cited
messages, and it is not a repeat. Lines that fail are dropped; the extractive candidates
stand in for them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.ports import Prompt
from core.text import keywords, words

PROMPT_VERSION = "digest-notes-v3"

NOTE_KINDS = {"topic": "topic", "decision": "decision", "action": "action", "question": "question"}

# The answer prefix makes even a base model write one plain sentence about the chat (tried:
# "Notes:\n- Topic:" makes Gemma 270M copy messages verbatim; "In one sentence, the chat
# says that" makes it summarise). A model that follows instructions adds the kind lines.
NOTES_INSTRUCTIONS = (
    "Read the chat. Summarize it in one sentence, then add any Decision:, Action: (owner: task) "
    "or Question: (still open) lines, each ending with its message numbers like [M2]."
)
NOTES_PREFIX = "Summary: in one sentence, the chat says that"
# A blank line or a made-up next message ("[M9] bob: ...") means the notes are over.
NOTES_STOP = ("\n\n", "\n[M", "\nChat", "\nSummary")

_NOTE = re.compile(r"^\W*(topic|decision|action(?:\s*item)?|question)s?\s*[:\-–]\s*(.+)$", re.IGNORECASE)
_CITATION = re.compile(r"\[\s*(M\s*\d+(?:\s*[,;/ ]\s*M?\s*\d+)*)\s*\]|\(\s*(M\s*\d+(?:\s*[,;/ ]\s*M?\s*\d+)*)\s*\)")
_BARE_CITATION = re.compile(r"\bM\s*(\d+)\b")
_NUMBER = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")


def numbered_line(number: int, author: str, text: str) -> str:
    """How the model reads one message: ``[M3] alice: text`` on one line."""
    return f"[M{number}] {author}: {_SPACES.sub(' ', text).strip()}"


def notes_prompt(conversations: Sequence[Sequence[str]]) -> Prompt:
    """The map step: numbered message lines, conversations separated by a blank line."""
    body = "Chat:\n" + "\n\n".join("\n".join(lines) for lines in conversations if lines)
    return Prompt(instructions=NOTES_INSTRUCTIONS, body=body, answer_prefix=NOTES_PREFIX)


@dataclass(frozen=True)
class ModelNote:
    """One valid line of the model's notes: a kind, its text, the message numbers cited."""

    kind: str
    text: str
    numbers: tuple[int, ...]


def normalized(text: str) -> str:
    """What makes two lines the same line: their words, ignoring case and punctuation."""
    return " ".join(words(text))


def _clean_note_text(text: str) -> str:
    text = _CITATION.sub(" ", text)
    text = _BARE_CITATION.sub(" ", text)
    text = text.replace("[", " ").replace("]", " ")
    return _SPACES.sub(" ", text).strip(" -–:;,.\"'") .strip()


def _cited(text: str) -> list[int]:
    numbers: list[int] = []
    for match in _CITATION.finditer(text):
        group = match.group(1) or match.group(2) or ""
        numbers.extend(int(n) for n in _NUMBER.findall(group))
    if not numbers:
        numbers.extend(int(n) for n in _BARE_CITATION.findall(text))
    return list(dict.fromkeys(numbers))


def grounded(text: str, sources: Sequence[str], *, share: float = 0.5) -> bool:
    """At least ``share`` of the note's content words occur in the cited messages: the
    model may reword, not invent."""
    words = keywords(text)
    if not words:
        return False
    seen: set[str] = set()
    for source in sources:
        seen |= keywords(source)
    return len(words & seen) / len(words) >= share


def parse_notes(
    completion: str,
    *,
    texts: Sequence[str],
    truncated: bool = False,
    max_words: int = 30,
) -> list[ModelNote]:
    """The valid notes in ``completion`` (which continues ``NOTES_PREFIX``).

    ``texts[i]`` is the text of message ``[M{i+1}]``. A note without numbers is attributed
    to the message it overlaps most, if it is grounded there. ``truncated`` (the call hit
    its token limit) drops an unfinished last line.
    """
    raw_lines = completion.splitlines()
    if raw_lines and not _NOTE.match(raw_lines[0].strip()):
        # The first line continues "the chat says that ...": the chunk's topic sentence.
        raw_lines[0] = "Topic: " + raw_lines[0]
    if truncated and raw_lines and not _cited(raw_lines[-1]):
        raw_lines = raw_lines[:-1]
    notes: list[ModelNote] = []
    seen: set[str] = set()
    for raw in raw_lines:
        match = _NOTE.match(raw.strip())
        if not match:
            continue
        kind = NOTE_KINDS[match.group(1).lower().split()[0]]
        body = match.group(2)
        text = _clean_note_text(body)
        words = text.split()
        if len(words) < 2 or len(words) > max_words:
            continue
        cited = _cited(body)
        numbers = tuple(n for n in cited if 1 <= n <= len(texts))
        if cited and len(numbers) < len(cited):
            continue  # cites a message that does not exist: made up
        if not numbers:
            best = max(range(len(texts)), key=lambda i: len(keywords(text) & keywords(texts[i])), default=None)
            if best is None:
                continue
            numbers = (best + 1,)
        if not grounded(text, [texts[n - 1] for n in numbers]):
            continue
        key = kind + ":" + normalized(text)
        if key in seen:
            continue
        seen.add(key)
        notes.append(ModelNote(kind, text[0].upper() + text[1:], numbers))
    return notes
