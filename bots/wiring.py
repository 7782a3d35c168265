"""The one place objects are built: settings in, services out.

Everything is constructed here and passed in explicitly (keyword-only arguments); nothing
else in Tidings builds a model, a knowledge base or a state store. Models load lazily, on the
first question or ingest, so building services is cheap.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core.answers.access import Gatekeeper
from core.answers.answering import Answerer
from core.config import Settings
from core.knowledge.embedding import SentenceTransformerEmbedder, every_core
from core.knowledge.knowledge_base import LanceKnowledgeBase
from core.model.local import LlamaModel
from core.model.worker import ModelWorker
from core.ports import ChatPlatform, Embedder, LanguageModel
from core.runtime.observability import InstrumentedAnswerer, Metrics
from core.runtime.state import StateStore
from core.services import Services
from core.types import DOCS_SCOPE, PUBLIC_SCOPE

log = logging.getLogger(__name__)

PROJECT_DOCS = Path(__file__).resolve().parent.parent / "docs"


def build_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    """One thread while serving questions, beside the language model; building a knowledge
    base (``every_core``) may use every core. ``[embedding] threads``, when set, holds for both."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return SentenceTransformerEmbedder(
        model_path=settings.embedding.model_path,
        batch_size=settings.embedding.batch_size,
        threads=settings.embedding.threads or 1,
        bulk_threads=settings.embedding.threads,
    )


def build_model(settings: Settings) -> LanguageModel:
    llm = settings.llm
    if llm.server_url:
        from core.model.server import OpenAICompatibleModel

        return OpenAICompatibleModel(
            base_url=llm.server_url,
            model=llm.server_model,
            n_ctx=llm.n_ctx,
            temperature=llm.temperature,
            api_key=os.environ.get("TIDINGS_LLM_API_KEY", ""),
        )
    return LlamaModel(
        model_path=llm.model_path,
        cache_dir=settings.model_cache,
        n_ctx=llm.n_ctx,
        n_threads=llm.n_threads,
        n_batch=llm.n_batch,
        temperature=llm.temperature,
        repeat_penalty=llm.repeat_penalty,
    )


def build_knowledge_base(settings: Settings, embedder: SentenceTransformerEmbedder) -> LanceKnowledgeBase:
    kb = settings.knowledge_base
    retrieval = settings.retrieval
    return LanceKnowledgeBase(
        uri=settings.kb_uri,
        embedder=embedder,
        table=kb.table,
        rrf_k=retrieval.rrf_k,
        vector_weight=retrieval.vector_weight,
        text_weight=retrieval.text_weight,
        weigh_by_confidence=retrieval.weigh_by_confidence,
        candidates=retrieval.candidates,
        ann_min_rows=kb.ann_min_rows,
    )


def build_services(
    settings: Settings,
    *,
    embedder: SentenceTransformerEmbedder | None = None,
    model: LanguageModel | None = None,
    worker: ModelWorker | None = None,
) -> Services:
    """Build every core service from settings. ``embedder``, ``model`` and ``worker`` may be
    passed in to share already loaded models (tests load each model once per session; a model
    shared by several services must share their one worker too)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    embedder = embedder or build_embedder(settings)
    model = model or build_model(settings)
    worker = worker or ModelWorker(concurrency=settings.llm.server_concurrency if settings.llm.server_url else 1)
    knowledge_base = build_knowledge_base(settings, embedder)
    state = StateStore(settings.state_url, claim_lease_s=settings.state.claim_lease_s)
    answerer = InstrumentedAnswerer(
        Answerer.from_settings(settings, knowledge_base=knowledge_base, model=model, worker=worker, embedder=embedder),
        Metrics(),
    )
    summarizer = build_summarizer(settings, model=model, worker=worker, state=state, embedder=embedder)
    services = Services(
        settings=settings,
        answerer=answerer,
        knowledge_base=knowledge_base,
        state=state,
        gatekeeper=Gatekeeper(settings=settings.access, state=state),
        worker=worker,
        summarizer=summarizer,
        embedder=embedder,
        model=model,
    )
    from core.commands.tidings import TidingsCommands

    services.commands = TidingsCommands(
        settings=settings,
        state=state,
        knowledge_base=knowledge_base,
        gatekeeper=services.gatekeeper,
        digests_available=settings.digests.enabled and summarizer is not None,
        on_digests_changed=services.digest_listeners,
    )
    return services


def build_summarizer(
    settings: Settings, *, model: LanguageModel, worker: ModelWorker, state: StateStore, embedder: Embedder | None = None
) -> Any:
    from core.digests.summarizing import Summarizer

    return Summarizer(model=model, worker=worker, state=state, settings=settings.digests, embedder=embedder)


BUNDLED_DOCS_SCOPED = "knowledge-base:bundled-docs-in-tidings-docs-scope"
"""The state's milestone once the bundled docs are in their own scope (``DOCS_SCOPE``)."""

REPORTS_LEFT_OUT = "knowledge-base:bundled-measurement-reports-left-out"
"""The state's milestone once the docs' measurement reports are out of the default knowledge base."""


def bundled_doc_sources(services: Services, docs: Path = PROJECT_DOCS, *, scope: str = PUBLIC_SCOPE) -> list[str]:
    """The sources in ``scope`` that are Tidings' bundled docs: this install's docs folder, or
    the same files under a ``docs/`` folder where an earlier install lived."""
    from core.knowledge.loaders import discover

    # Earlier versions built the default knowledge base from the docs folder alone.
    files, _skipped = discover([docs]) if docs.is_dir() else ([], [])
    here = {str(path.resolve()) for path in files}
    tails = {"/docs/" + path.resolve().relative_to(docs.resolve()).as_posix() for path in files}
    known = services.knowledge_base.sources([scope])
    return [s.source for s in known if s.source in here or any(s.source.endswith(tail) for tail in tails)]


def scope_bundled_docs(services: Services, *, docs: Path = PROJECT_DOCS) -> int:
    """A knowledge base built by an earlier version holds the bundled docs as ``public``, so
    real users on Slack or Discord would be answered from them: move them to ``DOCS_SCOPE``,
    once per deployment, without embedding anything again. Returns the chunks moved."""
    state = services.state
    if state.milestone_reached(BUNDLED_DOCS_SCOPED):
        return 0
    moved = 0
    rescope = getattr(services.knowledge_base, "rescope", None)
    if rescope is not None and services.knowledge_base.count() > 0:
        moved = int(rescope(bundled_doc_sources(services, docs), from_scope=PUBLIC_SCOPE, to_scope=DOCS_SCOPE))
    if moved:
        log.info("moved %d chunks of the bundled docs from scope %s to %s", moved, PUBLIC_SCOPE, DOCS_SCOPE)
    state.reach_milestone(BUNDLED_DOCS_SCOPED)
    return moved


def leave_out_measurement_reports(services: Services, *, docs: Path = PROJECT_DOCS) -> int:
    """A default knowledge base built by an earlier version holds the docs' measurement reports
    (``MEASUREMENT_REPORTS``), which outrank the guide: forget them, once per deployment.
    Returns the chunks forgotten."""
    from core.knowledge.ingesting import MEASUREMENT_REPORTS

    state = services.state
    if state.milestone_reached(REPORTS_LEFT_OUT):
        return 0
    reports = [s for s in bundled_doc_sources(services, docs, scope=DOCS_SCOPE) if Path(s).name in MEASUREMENT_REPORTS]
    forgotten = sum(services.knowledge_base.forget(source) for source in reports)
    if forgotten:
        log.info("left %d chunks of the docs' measurement reports out of the default knowledge base", forgotten)
    state.reach_milestone(REPORTS_LEFT_OUT)
    return forgotten


def ensure_default_knowledge_base(
    services: Services, *, docs: Path = PROJECT_DOCS, cancelled: Callable[[], bool] | None = None
) -> int:
    """On first start, index Tidings' own documentation, the README and the guide in ``docs/``
    (scope ``DOCS_SCOPE``: the console chat sees it, Slack and Discord channels only when
    granted) so the first question a newcomer asks in the terminal ("how do I connect Slack?")
    gets a grounded, cited answer. After an update the docs that changed are indexed again and
    new pages added (``docs_to_refresh``).
    A knowledge base an earlier version built is re-scoped and its measurement reports left out
    first. Returns chunks added."""
    scope_bundled_docs(services, docs=docs)
    leave_out_measurement_reports(services, docs=docs)
    embedder = services.embedder
    if not services.settings.knowledge_base.build_default or not docs.is_dir() or embedder is None:
        return 0
    from core.knowledge.ingesting import bundled_docs, ingest

    files = bundled_docs(docs)
    version = BUNDLED_DOCS_INDEXED + _docs_version(files)
    if services.knowledge_base.count() > 0:
        files = docs_to_refresh(services, files, version)
        if not files:
            return 0
    with every_core(embedder):  # before the bot serves anything: the build is all it does
        report = ingest(
            files,
            knowledge_base=services.knowledge_base,  # type: ignore[arg-type]
            embedder=embedder,
            scope=DOCS_SCOPE,
            chunk_tokens=services.settings.knowledge_base.chunk_tokens,
            overlap_sentences=services.settings.knowledge_base.overlap_sentences,
            cancelled=cancelled,
        )
    if not (cancelled is not None and cancelled()):
        services.state.reach_milestone(version)
    log.info("indexed the bundled docs from %s: %d chunks added, %d unchanged", docs, report.added, report.unchanged)
    return report.added


BUNDLED_DOCS_INDEXED = "knowledge-base:bundled-docs-indexed:"
"""The state's milestone, with a hash of their contents, once a version of the bundled docs is indexed."""


def _docs_version(files: list[Path]) -> str:
    digest = hashlib.sha256(chunking_code_version().encode())
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def chunking_code_version() -> str:
    """A hash of the code that turns a page of the docs into chunks: a change to it (a code
    block no longer cut in two) reaches a knowledge base built before, as a reworded page does."""
    from core.knowledge import chunking
    from core.knowledge.loaders import markdown

    digest = hashlib.sha256()
    for module in (chunking, markdown):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:16]


def docs_to_refresh(services: Services, files: list[Path], version: str) -> list[Path]:
    """The bundled docs to index again in a knowledge base that is not empty: none when this
    version of them was indexed already (the ``version`` milestone), or when none of them is
    in ``DOCS_SCOPE`` (a team's own knowledge base, or one the demo was removed from: left
    alone). Otherwise every file not held in another scope (a team that indexed a page as
    ``public`` on purpose keeps it so): unchanged ones write nothing, changed ones are
    replaced, new pages are added."""
    if services.state.milestone_reached(version):
        return []
    held = {source.source: source.scopes for source in services.knowledge_base.sources()}
    paths = {str(path.resolve()): path for path in files}
    if not any(held.get(name) == (DOCS_SCOPE,) for name in paths):
        return []
    return [path for name, path in paths.items() if held.get(name, (DOCS_SCOPE,)) == (DOCS_SCOPE,)]


def build_platforms(settings: Settings, services: Services) -> Mapping[str, ChatPlatform]:
    """History-and-posting ports of the platforms whose tokens are configured (for
    ``tidings digest`` outside the running bots)."""
    platforms: dict[str, ChatPlatform] = {}
    from adapters.slack.settings import SlackSettings

    slack = SlackSettings.from_settings(settings)
    if slack is not None:
        from adapters.slack.bot import make_client
        from adapters.slack.platform import SlackPlatform

        if slack.oauth:
            # Each channel through its own installed workspace's token (the state database).
            from adapters.slack.installations import StateInstallationStore
            from adapters.slack.workspaces import SlackWorkspaces, WorkspacesPlatform

            platforms["slack"] = WorkspacesPlatform(
                SlackWorkspaces(
                    services=services, settings=slack, default=None, store=StateInstallationStore(services.state), make_client=make_client
                )
            )
        else:
            platforms["slack"] = SlackPlatform(make_client(slack))
    return platforms
