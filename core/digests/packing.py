"""Pack conversations into chunks the model can read in one call.

Whole conversations are packed together while the rendered prompt fits; a conversation
longer than a chunk is split between its messages; a message longer than a chunk is split
between its sentences (then lines, then words). Nothing is ever cut off: every piece of
every message lands in exactly one chunk.

``fits`` is the only judge: it renders the real prompt and counts it with the model's own
tokenizer, so no prompt can exceed the context, whatever the tokenizer does at joins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.digests.conversations import Conversation
from core.errors import TidingsError
from core.text import SENTENCE_BREAK
from core.types import ChannelMessage


@dataclass(frozen=True)
class Piece:
    """A message, or one part of a message too long for a chunk, as the model reads it."""

    message: ChannelMessage
    text: str
    conversation: int  # index of the conversation in the window


@dataclass(frozen=True)
class Batch:
    """The pieces read in one model call, in order."""

    pieces: tuple[Piece, ...]

    @property
    def conversations(self) -> list[list[Piece]]:
        groups: list[list[Piece]] = []
        for piece in self.pieces:
            if groups and groups[-1][0].conversation == piece.conversation:
                groups[-1].append(piece)
            else:
                groups.append([piece])
        return groups

    @property
    def messages(self) -> list[ChannelMessage]:
        return list({p.message.id: p.message for p in self.pieces}.values())


Fits = Callable[[Sequence[Piece]], bool]


class PromptTooSmall(TidingsError):
    """Not even a single word fits the model's context beside the prompt."""


def _split_text(text: str, pattern: re.Pattern[str] | None) -> list[str]:
    if pattern is None:
        return text.split()
    return [part for part in pattern.split(text) if part.strip()]


def _split_piece(piece: Piece, fits: Fits) -> list[Piece]:
    """Parts of one message, each fitting a chunk alone: sentences grouped while they fit;
    a sentence too long for a chunk is split by words, a word by characters."""
    for pattern in (SENTENCE_BREAK, None):
        units = _split_text(piece.text, pattern)
        if len(units) < 2:
            continue
        joiner = " "
        parts: list[str] = []
        current = ""
        for unit in units:
            candidate = f"{current}{joiner}{unit}" if current else unit
            if fits([Piece(piece.message, candidate, piece.conversation)]):
                current = candidate
                continue
            if current:
                parts.append(current)
            current = unit
        if current:
            parts.append(current)
        result: list[Piece] = []
        for part in parts:
            small = Piece(piece.message, part, piece.conversation)
            result.extend([small] if fits([small]) else _split_piece(small, fits))
        return result
    # One unbroken token run (a hash, a base64 blob): halve it until the halves fit.
    if len(piece.text) < 2:
        raise PromptTooSmall("The model's context is too small for the digest prompt.")
    middle = len(piece.text) // 2
    halves = [Piece(piece.message, piece.text[:middle], piece.conversation), Piece(piece.message, piece.text[middle:], piece.conversation)]
    return [part for half in halves for part in ([half] if fits([half]) else _split_piece(half, fits))]


def pack(conversations: Sequence[Conversation], *, fits: Fits, text_of: Callable[[ChannelMessage], str]) -> list[Batch]:
    """Greedy packing in time order, so a chunk holds neighbouring conversations."""
    batches: list[Batch] = []
    current: list[Piece] = []

    def close() -> None:
        nonlocal current
        if current:
            batches.append(Batch(tuple(current)))
            current = []

    for index, conversation in enumerate(conversations):
        pieces = [Piece(m, text_of(m), index) for m in conversation.messages]
        if fits(current + pieces):
            current.extend(pieces)
            continue
        close()
        if fits(pieces):
            current = pieces
            continue
        for piece in pieces:
            if fits([*current, piece]):
                current.append(piece)
                continue
            close()
            if fits([piece]):
                current = [piece]
                continue
            for part in _split_piece(piece, fits):
                if fits([*current, part]):
                    current.append(part)
                else:
                    close()
                    current = [part]
    close()
    return batches
