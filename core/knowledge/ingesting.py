"""The ``ingest`` use case: files and folders in, chunks in the knowledge base out.

Each file is loaded, chunked and written as one source; a file that cannot be read is
reported with the reason and skipped while the rest ingests, and so is a part of a file (a
CSV row) that cannot be read while the rest of the file can. Writes are per source and
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
from core.knowledge.loaders import LoadedFile, SkippedFile, discover, load_file
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
    left_out: list[SkippedFile] = field(default_factory=list)
    """Parts of ingested files that could not be read (a CSV row), with the reason."""
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
            "left_out": [{"path": s.path, "reason": s.reason} for s in self.left_out],
            "interrupted": self.interrupted,
        }


MEASUREMENT_REPORTS = frozenset({"benchmarks.md", "quality.md", "quality-log.md", "reliability.md"})
"""Pages of ``docs/`` that report measurements to whoever develops or evaluates Tidings. They
are left out of the default knowledge base: twice the size of the guide and full of figure
tables and of the very questions they measured, they outranked the page that answers a user's
"how do I ..."."""


def bundled_docs(docs: Path) -> list[Path]:
    """What the default knowledge base is built from: the README beside the docs folder (the
    overview a newcomer reads first: what Tidings does, the two commands) and the guide in
    ``docs/``, without its measurement reports."""
    readme = docs.parent / "README.md"
    found, _unreadable = discover([docs]) if docs.is_dir() else ([], [])
    guide = [path for path in found if path.name not in MEASUREMENT_REPORTS]
    return [readme, *guide] if readme.is_file() else guide


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
    return loaded.source, chunks_of_loaded(
        loaded, embedder=embedder, chunk_tokens=chunk_tokens, overlap_sentences=overlap_sentences
    )


def chunks_of_loaded(
    loaded: LoadedFile,
    *,
    embedder: CountsTokens,
    chunk_tokens: int,
    overlap_sentences: int,
    left_out: list[str] | None = None,
) -> list[Chunk]:
    """The file's chunks; what chunking leaves out (encoded data, text past the document
    limit) is said in ``left_out``, one sentence per kind, or logged when it is None."""
    chunks = [
        chunk
        for document in loaded.documents
        for chunk in chunk_document(
            document,
            count_tokens=embedder.count_tokens,
            max_tokens=chunk_tokens,
            overlap_sentences=overlap_sentences,
            left_out=left_out,
        )
    ]
    return assign_ids(chunks)


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
            loaded = load_file(path, scope=scope, conversation_window=conversation_window)
            cut: list[str] = []
            chunks = chunks_of_loaded(
                loaded, embedder=embedder, chunk_tokens=chunk_tokens, overlap_sentences=overlap_sentences, left_out=cut
            )
        except LoaderError as error:
            report.skipped.append(SkippedFile(str(path), str(error)))
            log.warning("skipped %s: %s", path, error)
            continue
        except Exception as error:
            # Loaders promise LoaderError only, and the fuzz tests hold them to it; a file that
            # still finds a bug must not cost the user every file after it. The traceback goes
            # to the log for the bug report.
            log.exception("skipped %s after an unexpected error", path)
            detail = str(error)[:200]
            reason = f"{path.name} could not be read ({type(error).__name__}: {detail}); the log has the details."
            report.skipped.append(SkippedFile(str(path), reason))
            continue
        for part in (*loaded.left_out, *dict.fromkeys(cut)):
            report.left_out.append(SkippedFile(str(path), part))
            log.warning("left out of %s: %s", path, part)
        if not chunks:
            report.skipped.append(SkippedFile(str(path), "The file holds no text to index."))
            continue
        change = knowledge_base.replace_source(loaded.source, chunks)
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
