"""Tidings' bundled docs are the console demo's knowledge base, in their own scope: a real
team's Slack or Discord channels are never answered from them unless the config says so, and
a knowledge base an earlier version built with them as ``public`` is moved over once, on
start, without embedding anything again. The docs' measurement reports stay out of it. Real
LanceDB, real embedder, real state file."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.console.chat import ConsoleChat
from bots import wiring
from bots.wiring import ensure_default_knowledge_base, scope_bundled_docs
from core.knowledge.ingesting import bundled_docs, ingest
from core.services import Services
from core.types import DOCS_SCOPE, PUBLIC_SCOPE, ChannelRef, Chunk, Document

pytestmark = pytest.mark.slow


@pytest.fixture
def bundled(tmp_path: Path) -> Path:
    docs = tmp_path / "install" / "docs"
    docs.mkdir(parents=True)
    (docs / "slack.md").write_text("# Connecting Slack\n\nCreate a Slack app from the manifest and set SLACK_BOT_TOKEN.\n")
    (docs / "digests.md").write_text("# Digests\n\nA digest summarises a channel every evening at five.\n")
    (docs.parent / "README.md").write_text("# Tidings\n\nTidings answers your team's questions from its own documents.\n")
    # A measurement report that quotes the questions it measured, as docs/quality.md does.
    (docs / "quality.md").write_text("# Quality\n\nAsked how to connect Slack, 0.45 of answers held the fact.\n")
    return docs


def test_the_default_knowledge_base_is_the_readme_and_the_guide_without_reports(bundled: Path) -> None:
    assert bundled_docs(bundled) == [bundled.parent / "README.md", bundled / "digests.md", bundled / "slack.md"]
    (bundled.parent / "README.md").unlink()
    assert bundled_docs(bundled) == [bundled / "digests.md", bundled / "slack.md"]
    assert bundled_docs(bundled / "missing") == []


def ids_of(services: Services, path: Path) -> set[str]:
    return services.knowledge_base.ids_of(str(path.resolve()))  # type: ignore[attr-defined,no-any-return]


def vectors(services: Services) -> dict[str, tuple[str, list[float]]]:
    table = services.knowledge_base._open()  # type: ignore[attr-defined]
    rows = table.search().select(["id", "scope", "vector"]).limit(None).to_arrow().to_pylist()
    return {row["id"]: (row["scope"], list(row["vector"])) for row in rows}


def test_a_new_default_knowledge_base_is_in_the_docs_scope(make_services: Callable[..., Services], bundled: Path) -> None:
    services = make_services()
    added = ensure_default_knowledge_base(services, docs=bundled)
    assert added > 0
    assert {scope for scope, _ in vectors(services).values()} == {DOCS_SCOPE}
    slack_channel = ChannelRef(platform="slack", workspace="T1", channel="C1")
    assert services.knowledge_base.search("connect Slack", scopes=services.gatekeeper.scopes(slack_channel)) == []
    console = ConsoleChat(services=services, stdin=io.StringIO(""), stdout=io.StringIO())
    hits = services.knowledge_base.search("connect Slack", scopes=console.scopes)
    assert hits and hits[0].chunk.source.endswith("slack.md")
    # The README beside the docs folder is the overview a newcomer asks about first.
    hits = services.knowledge_base.search("What can Tidings do?", scopes=console.scopes)
    assert hits and hits[0].chunk.source == str((bundled.parent / "README.md").resolve())
    assert not [s for s in services.knowledge_base.sources() if s.source.endswith("quality.md")]


def test_reports_an_earlier_version_indexed_are_left_out_once(
    make_services: Callable[..., Services], bundled: Path, tmp_path: Path
) -> None:
    services = make_services()
    assert services.embedder is not None
    # As an earlier version built it: the whole docs folder in the docs scope, beside the team's own file.
    ingest([bundled.parent / "README.md", bundled], knowledge_base=services.knowledge_base, embedder=services.embedder,
           scope=DOCS_SCOPE)
    own = tmp_path / "quality.md"
    own.write_text("# Quality\n\nOur own quality handbook: every order is checked twice.\n")
    ingest([own], knowledge_base=services.knowledge_base, embedder=services.embedder)
    report = str((bundled / "quality.md").resolve())
    before = vectors(services)

    assert ensure_default_knowledge_base(services, docs=bundled) == 0  # nothing built: it was not empty
    after = vectors(services)
    sources = {s.source for s in services.knowledge_base.sources()}
    assert report not in sources
    assert sources == {str((bundled.parent / "README.md").resolve()), str((bundled / "slack.md").resolve()),
                       str((bundled / "digests.md").resolve()), str(own.resolve())}
    assert set(after) < set(before)
    for chunk_id, (_scope, vector) in after.items():
        assert np.allclose(before[chunk_id][1], vector)  # the guide and the team's file untouched

    # Once: a report the team indexes again on purpose stays.
    ingest([bundled / "quality.md"], knowledge_base=services.knowledge_base, embedder=services.embedder, scope=DOCS_SCOPE)
    ensure_default_knowledge_base(services, docs=bundled)
    assert report in {s.source for s in services.knowledge_base.sources()}


def test_an_earlier_public_build_is_rescoped_once_without_embedding_again(
    make_services: Callable[..., Services], bundled: Path, tmp_path: Path
) -> None:
    services = make_services()
    assert services.embedder is not None
    (bundled / "quality.md").unlink()  # reports leaving have a test of their own
    # As an earlier version built it: the bundled docs as public, next to the team's own file.
    ingest([bundled], knowledge_base=services.knowledge_base, embedder=services.embedder)
    own = tmp_path / "handbook.md"
    own.write_text("# Holidays\n\nEveryone has 27 days of paid holiday.\n")
    ingest([own], knowledge_base=services.knowledge_base, embedder=services.embedder)
    before = vectors(services)
    assert {scope for scope, _ in before.values()} == {PUBLIC_SCOPE}

    assert scope_bundled_docs(services, docs=bundled) > 0
    after = vectors(services)
    assert after.keys() == before.keys()
    for chunk_id, (_scope, vector) in before.items():
        assert np.allclose(after[chunk_id][1], vector)  # the same vectors: nothing embedded again
    by_source = {s.source: s.scopes for s in services.knowledge_base.sources()}
    assert by_source[str(own.resolve())] == (PUBLIC_SCOPE,)
    assert {scopes for source, scopes in by_source.items() if source != str(own.resolve())} == {(DOCS_SCOPE,)}
    assert scope_bundled_docs(services, docs=bundled) == 0  # once

    # The start then brings the docs up to date: the README, which builds of that time left
    # out, is added; the team's own file is not touched.
    assert ensure_default_knowledge_base(services, docs=bundled) > 0
    by_source = {s.source: s.scopes for s in services.knowledge_base.sources()}
    assert by_source[str((bundled.parent / "README.md").resolve())] == (DOCS_SCOPE,)
    assert by_source[str(own.resolve())] == (PUBLIC_SCOPE,)
    assert {cid: v for cid, v in vectors(services).items() if v[0] == PUBLIC_SCOPE}.keys() == {
        cid for cid, v in before.items() if cid in ids_of(services, own)
    }

    # Once: a team that later ingests the docs as public on purpose keeps them public.
    ingest([bundled / "slack.md"], knowledge_base=services.knowledge_base, embedder=services.embedder, scope=PUBLIC_SCOPE)
    services.knowledge_base.forget(str((bundled / "slack.md").resolve()))
    ingest([bundled / "slack.md"], knowledge_base=services.knowledge_base, embedder=services.embedder, scope=PUBLIC_SCOPE)
    ensure_default_knowledge_base(services, docs=bundled)
    assert {s.source: s.scopes for s in services.knowledge_base.sources()}[str((bundled / "slack.md").resolve())] == (PUBLIC_SCOPE,)


def texts(services: Services) -> dict[str, str]:
    """Each chunk's text by source and scope."""
    table = services.knowledge_base._open()  # type: ignore[attr-defined]
    rows = table.search().select(["source", "scope", "text"]).limit(None).to_arrow().to_pylist()
    joined: dict[str, str] = {}
    for row in rows:
        key = f"{Path(row['source']).name}:{row['scope']}"
        joined[key] = joined.get(key, "") + " " + row["text"]
    return joined


def test_an_update_of_the_bundled_docs_reaches_a_knowledge_base_built_before(
    make_services: Callable[..., Services], bundled: Path, tmp_path: Path
) -> None:
    services = make_services()
    assert services.embedder is not None
    ensure_default_knowledge_base(services, docs=bundled)
    own = tmp_path / "handbook.md"
    own.write_text("# Holidays\n\nEveryone has 27 days of paid holiday.\n")
    ingest([own], knowledge_base=services.knowledge_base, embedder=services.embedder)
    unchanged = {cid: v for cid, v in vectors(services).items()}

    # An update: a page reworded, a page added.
    (bundled / "slack.md").write_text("# Connecting Slack\n\nCreate the app from the manifest, then set SLACK_APP_TOKEN too.\n")
    (bundled / "faq.md").write_text("# Common questions\n\n## How do I back up Tidings?\n\nTo back up Tidings, copy its data folder.\n")
    assert ensure_default_knowledge_base(services, docs=bundled) > 0
    held = texts(services)
    assert "SLACK_APP_TOKEN" in held[f"slack.md:{DOCS_SCOPE}"] and "SLACK_BOT_TOKEN" not in held[f"slack.md:{DOCS_SCOPE}"]
    assert "back up Tidings" in held[f"faq.md:{DOCS_SCOPE}"]
    assert held[f"handbook.md:{PUBLIC_SCOPE}"].strip().endswith("27 days of paid holiday.")
    after = vectors(services)
    for chunk_id, value in unchanged.items():
        if chunk_id in after:
            assert np.allclose(after[chunk_id][1], value[1])  # what did not change is not embedded again

    # Once per version of the docs: a second start indexes nothing.
    assert ensure_default_knowledge_base(services, docs=bundled) == 0
    assert vectors(services).keys() == after.keys()

    # A knowledge base the demo was removed from stays without it, whatever the docs do next.
    for source in services.knowledge_base.sources([DOCS_SCOPE]):
        services.knowledge_base.forget(source.source)
    (bundled / "digests.md").write_text("# Digests\n\nA digest summarises a channel every evening at six.\n")
    assert ensure_default_knowledge_base(services, docs=bundled) == 0
    assert services.knowledge_base.sources([DOCS_SCOPE]) == []


def test_an_update_of_the_chunking_code_reaches_a_knowledge_base_built_before(
    make_services: Callable[..., Services], bundled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages unchanged, the code that cuts them into chunks changed (a code block no longer
    cut in two): the next start chunks the docs again, once."""
    services = make_services()
    ensure_default_knowledge_base(services, docs=bundled)
    from core.knowledge import ingesting
    from core.knowledge.chunking import chunk_document

    def chunked_anew(document: Document, **options: Any) -> list[Chunk]:
        return chunk_document(replace(document, text=f"{document.text}\n\nChunked anew."), **options)

    monkeypatch.setattr(ingesting, "chunk_document", chunked_anew)
    assert ensure_default_knowledge_base(services, docs=bundled) == 0, "the same code: nothing to do"
    monkeypatch.setattr(wiring, "chunking_code_version", lambda: "a later release")
    assert ensure_default_knowledge_base(services, docs=bundled) > 0
    assert "Chunked anew." in texts(services)[f"slack.md:{DOCS_SCOPE}"]
    assert ensure_default_knowledge_base(services, docs=bundled) == 0, "once"


def test_a_channel_sees_the_docs_only_when_granted(make_services: Callable[..., Services], bundled: Path) -> None:
    services = make_services(config_text=f'[access.grants]\n"slack:T1:C1" = ["{DOCS_SCOPE}"]\n')
    ensure_default_knowledge_base(services, docs=bundled)
    granted = ChannelRef(platform="slack", workspace="T1", channel="C1")
    other = ChannelRef(platform="slack", workspace="T1", channel="C2")
    assert services.knowledge_base.search("connect Slack", scopes=services.gatekeeper.scopes(granted))
    assert services.knowledge_base.search("connect Slack", scopes=services.gatekeeper.scopes(other)) == []
