"""The ``ingest`` use case: files and folders in, chunks in the knowledge base out.

Each file is loaded, chunked and written as one source; a file that cannot be read is
reported with the reason and skipped while the rest ingests. Writes are per source and
idempotent (see :mod:`core.knowledge.knowledge_base`), so an interrupted ingest is completed by running it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from core.errors import LoaderError
from core.knowledge.chunking import assign_ids, chunk_document
from core.knowledge.loaders import SkippedFile, discover, load_file
from core.ports import SourceChange
from core.types import Chunk

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called as (current file, files done, files in all)."""


class CountsTokens(Protocol):
    def count_tokens(self, text: str) -> int: ...


class WritesSources(Protocol):
    def replace_source(self, source: str, chunks: Sequence[Chunk]) -> SourceChange: ...

    def refresh_indexes(self) -> None: ...


@dataclass
class IngestReport:
    files: int = 0
    added: int = 0
    unchanged: int = 0
    removed: int = 0
    changes: list[SourceChange] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    interrupted: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "chunks": {"added": self.added, "unchanged": self.unchanged, "removed": self.removed},
            "sources": [
                {"source": c.source, "added": c.added, "unchanged": c.unchanged, "removed": c.removed}
                for c in self.changes
            ],
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "interrupted": self.interrupted,
        }


def chunks_of_file(
    path: Path,
    *,
    embedder: CountsTokens,
    scope: str | None,
    chunk_tokens: int,
    overlap_sentences: int,
    conversation_window: int,
) -> tuple[str, list[Chunk]]:
    loaded = load_file(path, scope=scope, conversation_window=conversation_window)
    chunks = [
        chunk
        for document in loaded.documents
        for chunk in chunk_document(
            document,
            count_tokens=embedder.count_tokens,
            max_tokens=chunk_tokens,
            overlap_sentences=overlap_sentences,
        )
    ]
    return loaded.source, assign_ids(chunks)


def ingest(
    paths: Sequence[str | Path],
    *,
    knowledge_base: WritesSources,
    embedder: CountsTokens,
    scope: str | None = None,
    chunk_tokens: int = 200,
    overlap_sentences: int = 1,
    conversation_window: int = 12,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> IngestReport:
    """Ingest ``paths``. ``cancelled`` is checked between files: a shutdown stops after the
    file in hand, leaving the knowledge base consistent and the rest for the next run."""
    files, skipped = discover(paths)
    report = IngestReport(skipped=list(skipped))
    for done, path in enumerate(files):
        if cancelled is not None and cancelled():
            report.interrupted = True
            break
        if progress is not None:
            progress(str(path), done, len(files))
        try:
            source, chunks = chunks_of_file(
                path,
                embedder=embedder,
                scope=scope,
                chunk_tokens=chunk_tokens,
                overlap_sentences=overlap_sentences,
                conversation_window=conversation_window,
            )
        except LoaderError as error:
            report.skipped.append(SkippedFile(str(path), str(error)))
            log.warning("skipped %s: %s", path, error)
            continue
        if not chunks:
            report.skipped.append(SkippedFile(str(path), "The file holds no text to index."))
            continue
        change = knowledge_base.replace_source(source, chunks)
        report.files += 1
        report.added += change.added
        report.unchanged += change.unchanged
        report.removed += change.removed
        report.changes.append(change)
    if progress is not None:
        progress("", len(files), len(files))
    if report.added or report.removed:
        knowledge_base.refresh_indexes()
    return report
