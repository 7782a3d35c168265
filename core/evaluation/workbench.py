"""Temporary knowledge bases and services for one evaluation run, built from real parts.

Every evaluation runs on what a user runs: LanceDB tables written by ``core.knowledge.ingesting`` /
``core.knowledge.knowledge_base`` with the real chunker and embedder, and services built by the one wiring
function (passed in as ``build_services``, since ``core`` never imports ``bots``). Each
knowledge base lives in its own folder under a temporary work folder and is built once per
run; variants of retrieval settings (fusion weights, ``k``) open the same table again.
Writes are idempotent, so a kept work folder (``tidings eval --workdir``) makes a later run
skip the embedding of everything already indexed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from core.config import AnswerSettings, RetrievalSettings, Settings
from core.evaluation.datasets import Article
from core.knowledge.chunking import assign_ids, chunk_document
from core.knowledge.embedding import every_core
from core.knowledge.ingesting import ingest
from core.services import Services
from core.types import Chunk, Document

log = logging.getLogger(__name__)

BuildServices = Callable[[Settings], Services]


class Workbench:
    def __init__(self, *, settings: Settings, build_services: BuildServices, workdir: Path) -> None:
        self.settings = settings
        self.build_services = build_services
        self.workdir = workdir
        self._built: set[str] = set()
        self._opened: list[Services] = []
        # The chunks written to each articles knowledge base, to judge hits by their text.
        self.chunks: dict[str, list[Chunk]] = {}

    def settings_for(
        self,
        name: str,
        *,
        chunk_tokens: int | None = None,
        retrieval: RetrievalSettings | None = None,
        answers: AnswerSettings | None = None,
    ) -> Settings:
        """The user's settings with the knowledge base and state moved into ``workdir/name``."""
        knowledge_base = replace(
            self.settings.knowledge_base,
            uri="",
            build_default=False,
            chunk_tokens=chunk_tokens or self.settings.knowledge_base.chunk_tokens,
        )
        return replace(
            self.settings,
            home=self.workdir / name,
            knowledge_base=knowledge_base,
            retrieval=retrieval or self.settings.retrieval,
            answers=answers or self.settings.answers,
        )

    def services(
        self,
        name: str,
        *,
        chunk_tokens: int | None = None,
        retrieval: RetrievalSettings | None = None,
        answers: AnswerSettings | None = None,
    ) -> Services:
        built = self.build_services(
            self.settings_for(name, chunk_tokens=chunk_tokens, retrieval=retrieval, answers=answers)
        )
        self._opened.append(built)
        return built

    def faq_knowledge_base(self, faq: Path, chunk_tokens: int) -> str:
        """Ingest the FAQ spreadsheet exactly as ``tidings ingest`` does; returns the KB's name."""
        return self._ingested(f"faq-{faq.stem}-{chunk_tokens}", [faq], chunk_tokens)

    def documents_knowledge_base(self, label: str, paths: Sequence[Path], chunk_tokens: int) -> str:
        """Ingest files and folders exactly as ``tidings ingest`` does; returns the KB's name."""
        # Named by what it holds: a knowledge base kept in --workdir from another file list is not reused.
        listed = hashlib.sha256("\n".join(sorted(str(Path(p).resolve()) for p in paths)).encode()).hexdigest()[:8]
        return self._ingested(f"documents-{label}-{chunk_tokens}-{listed}", paths, chunk_tokens)

    def _ingested(self, name: str, paths: Sequence[Path], chunk_tokens: int) -> str:
        if name not in self._built:
            services = self.services(name, chunk_tokens=chunk_tokens)
            assert services.embedder is not None, "build_services always builds an embedder"
            with every_core(services.embedder):  # as `tidings ingest` does
                ingest(
                    list(paths),
                    knowledge_base=services.knowledge_base,  # type: ignore[arg-type]
                    embedder=services.embedder,
                    chunk_tokens=chunk_tokens,
                    overlap_sentences=self.settings.knowledge_base.overlap_sentences,
                )
            self._built.add(name)
        return name

    def articles_knowledge_base(self, label: str, articles: Sequence[Article], chunk_tokens: int) -> str:
        """Chunk and write articles with the ingest pipeline's own chunker; returns the KB's name."""
        name = f"articles-{label}-{len(articles)}-{chunk_tokens}"
        if name in self._built:
            return name
        services = self.services(name, chunk_tokens=chunk_tokens)
        embedder = services.embedder
        assert embedder is not None, "build_services always builds an embedder"
        kb = services.knowledge_base
        written: list[Chunk] = []
        changed = False
        with every_core(embedder):
            for article in articles:
                document = Document(source=f"{label}/{article.id}", title=article.title, text=article.text)
                chunks = chunk_document(
                    document,
                    count_tokens=embedder.count_tokens,
                    max_tokens=chunk_tokens,
                    overlap_sentences=self.settings.knowledge_base.overlap_sentences,
                )
                identified = assign_ids(chunks)
                change = kb.replace_source(document.source, identified)
                changed = changed or bool(change.added or change.removed)
                written.extend(identified)
        refresh = getattr(kb, "refresh_indexes", None)
        if changed and refresh is not None:
            refresh()
        log.info("indexed %d articles into %s: %d chunks", len(articles), name, kb.count())
        self._built.add(name)
        self.chunks[name] = written
        return name

    def close(self) -> None:
        for services in self._opened:
            services.state.close()
        self._opened.clear()
