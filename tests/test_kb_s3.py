"""The knowledge base on object storage: a real S3-compatible server (moto_server, started by
the session fixture in conftest.py) reached through the standard AWS environment
(``AWS_ENDPOINT_URL``, ``AWS_ALLOW_HTTP``), the way replicas on several machines share it.

- ingest in one process while two other processes search: both see the new chunks within
  the read-consistency interval (5 s) plus one poll;
- two ingests at once from two processes lose no chunk (LanceDB commit conflicts retried);
- the scope filter and the ANN index work there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.knowledge.knowledge_base import LanceKnowledgeBase
from core.types import Chunk
from tests.servers import make_bucket, s3_environment

REPO = Path(__file__).resolve().parent.parent
READ_CONSISTENCY_S = 5.0  # LanceKnowledgeBase._connect
POLL_S = 0.5

pytestmark = pytest.mark.slow


@pytest.fixture
def bucket_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A fresh bucket, and the AWS environment pointing at it (set in this process too)."""
    name = f"tidings-{uuid.uuid4().hex[:12]}"
    make_bucket(s3_server, name)
    env = {**s3_environment(s3_server), "TIDINGS_KNOWLEDGE_BASE__URI": f"s3://{name}/kb"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env


def child_env(env: dict[str, str], home: Path) -> dict[str, str]:
    merged = {**os.environ, **env, "TIDINGS_HOME": str(home), "PYTHONPATH": str(REPO)}
    merged.pop("TIDINGS_CONFIG", None)
    return merged


def write_docs(folder: Path, prefix: str, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    topics = ["deploys", "backups", "holidays", "expenses", "laptops", "on-call", "security", "hiring"]
    for n in range(count):
        topic = topics[n % len(topics)]
        (folder / f"{prefix}-{n:02d}.md").write_text(
            f"# {prefix} note {n} on {topic}\n\n"
            f"The {prefix} team's rule number {n} about {topic}: write it down, ask in the channel, "
            f"and keep the record {prefix}-{n} for a year. Reference code {prefix.upper()}{n:03d}.\n",
            encoding="utf-8",
        )


def ingest(env: dict[str, str], home: Path, folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bots.cli", "ingest", str(folder), "--json"],
        env=child_env(env, home),
        cwd=home.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_ingests_at_once_from_two_processes_lose_no_chunk(bucket_env: dict[str, str], tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    write_docs(tmp_path / "a", "alpha", 12)
    write_docs(tmp_path / "b", "bravo", 12)
    runs = [ingest(bucket_env, tmp_path / f"home-{side}", tmp_path / side) for side in ("a", "b")]
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (_out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err[-3000:]
    kb = LanceKnowledgeBase(uri=bucket_env["TIDINGS_KNOWLEDGE_BASE__URI"], embedder=embedder)
    sources = kb.sources()
    assert len([s for s in sources if "alpha-" in s.source]) == 12
    assert len([s for s in sources if "bravo-" in s.source]) == 12
    assert kb.count() == sum(s.chunks for s in sources) and kb.count() >= 24


SEARCHER = """
import json, sys, time
from core.config import load_settings
from bots.wiring import build_embedder, build_knowledge_base
settings = load_settings()
kb = build_knowledge_base(settings, build_embedder(settings))
query, marker, deadline = sys.argv[1], sys.argv[2], time.time() + float(sys.argv[3])
print(json.dumps({"ready": time.time()}), flush=True)
while time.time() < deadline:
    try:
        hits = kb.search(query, scopes=frozenset({"public"}), k=5, mode="vector")
    except Exception as error:  # the table does not exist yet
        hits = []
    if any(marker in hit.chunk.source for hit in hits):
        print(json.dumps({"seen": time.time()}), flush=True)
        break
    time.sleep(%s)
"""


def test_two_searching_processes_see_what_a_third_ingests_within_the_consistency_interval(
    bucket_env: dict[str, str], tmp_path: Path
) -> None:
    write_docs(tmp_path / "first", "charlie", 3)
    first = ingest(bucket_env, tmp_path / "home-ingest", tmp_path / "first")
    assert first.wait(300) == 0, first.stderr.read() if first.stderr else ""
    searchers = [
        subprocess.Popen(
            [sys.executable, "-c", SEARCHER % POLL_S, "the delta team's rule about laptops", "delta-", "240"],
            env=child_env(bucket_env, tmp_path / f"home-search-{n}"),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    for searcher in searchers:  # both have the table open (an old version) before the ingest
        line = searcher.stdout.readline() if searcher.stdout else ""
        assert "ready" in line, searcher.stderr.read() if searcher.stderr else ""
    time.sleep(1)
    write_docs(tmp_path / "second", "delta", 4)
    second = ingest(bucket_env, tmp_path / "home-ingest", tmp_path / "second")
    out, err = second.communicate(timeout=300)
    committed = time.time()
    assert second.returncode == 0, err[-3000:]
    delays = []
    for searcher in searchers:
        out, err = searcher.communicate(timeout=300)
        seen = [json.loads(line) for line in out.splitlines() if "seen" in line]
        assert seen, f"a searcher never saw the new chunks: {err[-3000:]}"
        delays.append(seen[0]["seen"] - committed)
    # Each searcher sees the new chunks at most one consistency interval (plus one poll and
    # one search) after the ingest process finished.
    assert max(delays) <= READ_CONSISTENCY_S + POLL_S + 3.0, delays


def test_the_scope_filter_and_the_ann_index_work_on_s3(bucket_env: dict[str, str], embedder) -> None:  # type: ignore[no-untyped-def]
    kb = LanceKnowledgeBase(uri=bucket_env["TIDINGS_KNOWLEDGE_BASE__URI"], embedder=embedder, ann_min_rows=64)
    topics = ["deploys", "backups", "holidays", "expenses", "laptops", "on-call", "security", "hiring"]
    public = [
        Chunk(id=f"p{n}", source="handbook.md", title=f"Handbook {n}", text=f"Public rule {n} about {topics[n % 8]}: ask first, then write it down ({n}).")
        for n in range(72)
    ]
    secret = Chunk(
        id="s1", source="slack-export", title="#finance", text="The finance payroll password rotates every Friday at noon.",
        scope="slack:T1:CFIN",
    )
    kb.replace_source("handbook.md", public)
    kb.replace_source(secret.source, [secret])
    kb.refresh_indexes()
    table = kb._open()
    assert kb._has_vector_index(table), "the ANN index was built on S3"
    assert kb._has_index_on(table, "scope") and kb._has_index_on(table, "search_text")
    query = "when does the finance payroll password rotate?"
    outside = kb.search(query, scopes=frozenset({"public"}), k=10)
    inside = kb.search(query, scopes=frozenset({"public", "slack:T1:CFIN"}), k=10)
    assert outside and all(hit.chunk.scope == "public" for hit in outside)
    assert inside[0].chunk.id == "s1"
