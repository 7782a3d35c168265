"""Split documents into chunks the embedder reads whole.

Chunks follow the document's structure: Markdown headings start new sections (the heading
trail travels with every chunk of the section), paragraphs and sentences are never cut in
the middle unless a single sentence is itself longer than a chunk. Sizes are counted in the
embedding model's own word pieces, including the title line that is embedded with the chunk,
so no chunk is silently truncated by the embedder.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from core.text import DOCUMENT_SENTENCE_END
from core.types import Chunk, Document

TokenCounter = Callable[[str], int]
"""Counts the embedder's tokens of a text, special tokens included."""

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
SPECIAL_TOKENS = 2  # [CLS] and [SEP]


@dataclass(frozen=True)
class Section:
    heading: str
    text: str


def split_sections(text: str) -> list[Section]:
    """Markdown headings open sections; the heading trail ("Setup > Slack") names each."""
    sections: list[Section] = []
    trail: list[str] = []
    lines: list[str] = []
    in_code = False

    def flush() -> None:
        body = "\n".join(lines).strip()
        if body:
            sections.append(Section(" > ".join(trail), body))
        lines.clear()

    for line in text.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
        match = None if in_code else _HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            trail[:] = [*trail[: level - 1], match.group(2).strip()]
            continue
        lines.append(line)
    flush()
    return sections


def split_sentences(text: str) -> list[str]:
    """Paragraphs, then sentences; list items and code lines stay whole lines."""
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        for piece in DOCUMENT_SENTENCE_END.split(paragraph):
            piece = piece.strip()
            if piece:
                sentences.append(piece)
    return sentences


def _split_long(sentence: str, limit: int, count: TokenCounter) -> list[str]:
    """A sentence longer than a chunk is split at word boundaries into pieces that fit."""
    words = sentence.split()
    pieces: list[str] = []
    current: list[str] = []
    for word in words:
        candidate = " ".join([*current, word])
        if current and count(candidate) - SPECIAL_TOKENS > limit:
            pieces.append(" ".join(current))
            current = [word]
        else:
            current.append(word)
    if current:
        pieces.append(" ".join(current))
    # A single "word" (a URL, a hash) longer than the limit is cut by characters.
    out: list[str] = []
    for piece in pieces:
        while count(piece) - SPECIAL_TOKENS > limit and len(piece) > 1:
            cut = max(1, len(piece) * limit // max(1, count(piece)))
            out.append(piece[:cut])
            piece = piece[cut:]
        out.append(piece)
    return out


def embedding_text(title: str, text: str, question: str | None = None) -> str:
    """What the embedder reads for a chunk: its title line (or FAQ question) and its text."""
    head = question or title
    return f"{head}\n{text}" if head else text


def content_hash(*parts: str | None) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update((part or "").encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def chunk_document(
    document: Document,
    *,
    count_tokens: TokenCounter,
    max_tokens: int = 200,
    overlap_sentences: int = 1,
) -> list[Chunk]:
    """Chunks of one document; ids are stable for unchanged content (see ``chunk_id``)."""
    pieces: list[tuple[str, str]] = []  # (title, text)
    if document.kind in {"faq", "conversation"}:
        sections = [Section("", document.text.strip())]
    else:
        sections = split_sections(document.text) or [Section("", document.text.strip())]
    for section in sections:
        title = _section_title(document.title, section.heading)
        head = document.question or title
        budget = max_tokens - (count_tokens(head) - SPECIAL_TOKENS) - 1
        budget = max(16, budget)
        sentences: list[tuple[str, int]] = []
        for sentence in split_sentences(section.text):
            size = count_tokens(sentence) - SPECIAL_TOKENS
            if size > budget:
                sentences.extend((p, count_tokens(p) - SPECIAL_TOKENS) for p in _split_long(sentence, budget, count_tokens))
            else:
                sentences.append((sentence, size))
        pieces.extend((title, text) for text in _pack(sentences, budget, overlap_sentences))
    chunks: list[Chunk] = []
    for position, (title, text) in enumerate(pieces):
        if not text.strip():
            continue
        digest = content_hash(document.scope, title, text, document.url, document.question)
        chunks.append(
            Chunk(
                id="",
                source=document.source,
                title=title,
                text=text,
                scope=document.scope,
                url=document.url,
                position=position,
                doc_key=document.key,
                content_hash=digest,
                kind=document.kind,
            )
        )
    return chunks


def _section_title(document_title: str, heading: str) -> str:
    parts = [part for part in heading.split(" > ") if part]
    if parts and parts[0] == document_title:
        parts = parts[1:]
    return " > ".join([document_title, *parts]) if parts else document_title


def _pack(sentences: Sequence[tuple[str, int]], budget: int, overlap: int) -> list[str]:
    chunks: list[str] = []
    current: list[tuple[str, int]] = []
    size = 0
    for sentence, tokens in sentences:
        if current and size + tokens + 1 > budget:
            chunks.append("\n".join(s for s, _ in current) if _is_listy(current) else " ".join(s for s, _ in current))
            kept = list(current[-overlap:]) if overlap else []
            while kept and sum(t for _, t in kept) + tokens + len(kept) > budget // 2:
                kept.pop(0)
            current, size = kept, sum(t for _, t in kept) + len(kept)
        current.append((sentence, tokens))
        size += tokens + 1
    if current:
        chunks.append("\n".join(s for s, _ in current) if _is_listy(current) else " ".join(s for s, _ in current))
    return chunks


def _is_listy(sentences: Sequence[tuple[str, int]]) -> bool:
    """Keep line breaks for lists, tables and chat lines; join prose with spaces."""
    return any(s.lstrip().startswith(("-", "*", "|", "[", "1.", "`")) for s, _ in sentences)


def assign_ids(chunks: Iterable[Chunk]) -> list[Chunk]:
    """Stable ids: source + document key + content hash + occurrence, so an unchanged chunk
    keeps its id when chunks around it change."""
    seen: dict[tuple[str, str, str], int] = {}
    out: list[Chunk] = []
    for chunk in chunks:
        key = (chunk.source, chunk.doc_key, chunk.content_hash)
        occurrence = seen.get(key, 0)
        seen[key] = occurrence + 1
        identifier = content_hash(chunk.source, chunk.doc_key, chunk.content_hash, str(occurrence))[:32]
        out.append(
            Chunk(
                id=identifier,
                source=chunk.source,
                title=chunk.title,
                text=chunk.text,
                scope=chunk.scope,
                url=chunk.url,
                position=chunk.position,
                doc_key=chunk.doc_key,
                content_hash=chunk.content_hash,
                kind=chunk.kind,
            )
        )
    return out
