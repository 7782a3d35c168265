"""The knowledge base on object storage: a real S3-compatible server (moto_server, started by
the session fixture in conftest.py) reached through the standard AWS environment
(``AWS_ENDPOINT_URL``, ``AWS_ALLOW_HTTP``), the way replicas on several machines share it.

- two processes ingest at once while two other processes search: both searchers see every
  new chunk within the read-consistency interval (5 s) plus one poll, and no chunk is lost
  (LanceDB commit conflicts retried);
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
from tests.reliability import record
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


SEARCHER = """
import json, sys, time
from core.config import load_settings
from bots.wiring import build_embedder, build_knowledge_base
settings = load_settings()
kb = build_knowledge_base(settings, build_embedder(settings))
wanted = json.loads(sys.argv[1])  # {marker: query}
deadline = time.time() + float(sys.argv[2])
kb.search("warm up", scopes=frozenset({"public"}), k=1, mode="vector")
print(json.dumps({"ready": time.time()}), flush=True)
seen = {}
while time.time() < deadline and len(seen) < len(wanted):
    for marker, query in wanted.items():
        if marker not in seen:
            hits = kb.search(query, scopes=frozenset({"public"}), k=5, mode="vector")
            if any(marker in hit.chunk.source for hit in hits):
                seen[marker] = time.time()
    time.sleep(%s)
print(json.dumps({"seen": seen}), flush=True)
"""


def test_two_processes_search_while_two_others_ingest_at_once_and_see_every_chunk_in_time(
    bucket_env: dict[str, str], tmp_path: Path, embedder  # type: ignore[no-untyped-def]
) -> None:
    uri = bucket_env["TIDINGS_KNOWLEDGE_BASE__URI"]
    write_docs(tmp_path / "first", "charlie", 3)
    from core.knowledge.ingesting import ingest as ingest_here

    ingest_here([tmp_path / "first"], knowledge_base=LanceKnowledgeBase(uri=uri, embedder=embedder), embedder=embedder)
    wanted = {"alpha-": "the alpha team's rule about laptops", "bravo-": "the bravo team's rule about holidays"}
    searchers = [
        subprocess.Popen(
            [sys.executable, "-c", SEARCHER % POLL_S, json.dumps(wanted), "240"],
            env=child_env(bucket_env, tmp_path / f"home-search-{n}"),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(2)
    ]
    for searcher in searchers:  # both have the table open (an old version) before the ingests
        line = searcher.stdout.readline() if searcher.stdout else ""
        assert "ready" in line, searcher.stderr.read() if searcher.stderr else ""
    write_docs(tmp_path / "a", "alpha", 10)
    write_docs(tmp_path / "b", "bravo", 10)
    runs = [ingest(bucket_env, tmp_path / f"home-{side}", tmp_path / side) for side in ("a", "b")]
    finished: dict[str, float] = {}
    deadline = time.monotonic() + 300
    while len(finished) < len(runs):  # when each ingest process ended, to the poll
        for side, run in zip(("alpha-", "bravo-"), runs, strict=True):
            if side not in finished and run.poll() is not None:
                finished[side] = time.time()
        assert time.monotonic() < deadline, "the ingests did not finish in 300 s"
        time.sleep(0.05)
    for run in runs:
        _out, err = run.communicate(timeout=30)
        assert run.returncode == 0, err[-3000:]
    delays = []
    for searcher in searchers:
        out, err = searcher.communicate(timeout=300)
        seen = next((json.loads(line)["seen"] for line in out.splitlines() if '"seen"' in line), {})
        assert set(seen) == set(wanted), f"a searcher did not see every ingest: {seen} {err[-3000:]}"
        delays += [seen[marker] - finished[marker] for marker in wanted]
    # Each searcher sees each ingest's chunks at most one consistency interval (plus one poll
    # and a search or two) after that ingest process finished.
    assert max(delays) <= READ_CONSISTENCY_S + POLL_S + 3.0, delays
    # ...and the two concurrent ingests lost nothing.
    kb = LanceKnowledgeBase(uri=uri, embedder=embedder)
    sources = kb.sources()
    assert len([s for s in sources if "alpha-" in s.source]) == 10
    assert len([s for s in sources if "bravo-" in s.source]) == 10
    assert kb.count() == sum(s.chunks for s in sources)
    record(
        "Faults",
        fault="two `tidings ingest` processes at once on one s3:// knowledge base (moto_server) while two processes search",
        outcome=f"no chunk lost; new chunks seen by both searchers {max(delays):.1f} s at most after each ingest ended",
    )


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
    # A table cut by a chunk boundary is read on from the bucket, within its section and scope.
    cut = [
        Chunk(id=f"t{n}", source="guide.md", title="Guide > Scopes", text=f"| scope{n} | why {n} |", position=n)
        for n in range(2)
    ]
    kb.replace_source("guide.md", cut)
    following = kb.next_in_section(cut[0])
    assert following is not None and following.id == "t1" and following.text == cut[1].text
    assert kb.next_in_section(cut[1]) is None
