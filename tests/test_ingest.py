"""Ingest on real files, real LanceDB and the real embedder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.knowledge.ingesting import ingest
from core.knowledge.knowledge_base import LanceKnowledgeBase

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def kb(tmp_path: Path, embedder) -> LanceKnowledgeBase:  # type: ignore[no-untyped-def]
    return LanceKnowledgeBase(uri=str(tmp_path / "kb"), embedder=embedder)


def contents(kb: LanceKnowledgeBase) -> set[tuple[str, str]]:
    table = kb._open()
    if table is None:
        return set()
    rows = table.search().select(["source", "content_hash"]).limit(None).to_arrow().to_pylist()
    return {(r["source"], r["content_hash"]) for r in rows}


def test_bad_files_are_reported_and_skipped_while_the_rest_ingests(tmp_path: Path, kb, embedder, handbook_dir) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.md").write_text("# Parking\nVisitors park in bay 4.", encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7 this is not really a pdf")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02garbage\x00")
    (folder / "picture.png").write_bytes(b"\x89PNG\r\n")
    (folder / "export.zip").write_bytes(b"PK\x03\x04 truncated")
    report = ingest([folder, tmp_path / "does-not-exist"], knowledge_base=kb, embedder=embedder)
    assert report.files == 1 and report.added >= 1
    skipped = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(skipped) == {"broken.pdf", "binary.txt", "picture.png", "export.zip", "does-not-exist"}
    assert all(reason.strip() for reason in skipped.values())
    assert kb.search("where do visitors park?", scopes={"public"}, k=1)[0].chunk.text.endswith("bay 4.")


def test_reingest_is_a_no_op_and_a_changed_file_replaces_exactly_its_chunks(tmp_path: Path, kb, embedder, handbook_dir) -> None:  # type: ignore[no-untyped-def]
    first = ingest([handbook_dir], knowledge_base=kb, embedder=embedder)
    assert first.files == 3 and first.added > 0 and first.removed == 0
    version = kb._open().version
    second = ingest([handbook_dir], knowledge_base=kb, embedder=embedder)
    assert (second.added, second.removed, second.unchanged) == (0, 0, first.added)
    assert kb._open().version == version

    copy = tmp_path / "copy"
    copy.mkdir()
    for f in handbook_dir.iterdir():
        (copy / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    other = LanceKnowledgeBase(uri=str(tmp_path / "kb2"), embedder=embedder)
    ingest([copy], knowledge_base=other, embedder=embedder)
    edited = (copy / "expenses.md").read_text(encoding="utf-8").replace("after 10 pm", "after 11 pm")
    (copy / "expenses.md").write_text(edited, encoding="utf-8")
    change = ingest([copy], knowledge_base=other, embedder=embedder)
    assert change.added == change.removed >= 1
    assert all(c.source.endswith("expenses.md") for c in change.changes if c.added or c.removed)
    texts = " ".join(h.chunk.text for h in other.search("taxi reimbursed", scopes={"public"}, k=3))
    assert "11 pm" in texts and "10 pm" not in texts


def test_an_ingest_killed_midway_then_rerun_leaves_exactly_the_right_chunks(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(16):
        body = "\n\n".join(f"Section {j} of manual {i}: step {j} configures subsystem {i}-{j} safely." for j in range(4))
        (corpus / f"manual-{i:02d}.md").write_text(f"# Manual {i}\n\n{body}", encoding="utf-8")
    home = tmp_path / "home"
    env = {**os.environ, "TIDINGS_HOME": str(home), "HF_HUB_OFFLINE": "1", "TIDINGS_CONFIG": str(tmp_path / "none.toml")}
    (tmp_path / "none.toml").write_text("", encoding="utf-8")
    command = [sys.executable, "-m", "bots.cli", "ingest", str(corpus), "--json"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    versions = home / "kb" / "chunks.lance" / "_versions"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if versions.is_dir() and len(list(versions.iterdir())) >= 3:
            break
        time.sleep(0.05)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the ingest finished before it could be interrupted"

    interrupted = LanceKnowledgeBase(uri=str(home / "kb"), embedder=embedder)
    partial = contents(interrupted)
    assert len(partial) > 0

    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    assert report["files"] == 16 and not report["skipped"]

    clean = LanceKnowledgeBase(uri=str(tmp_path / "clean-kb"), embedder=embedder)
    ingest([corpus], knowledge_base=clean, embedder=embedder)
    resumed = LanceKnowledgeBase(uri=str(home / "kb"), embedder=embedder)
    assert contents(resumed) == contents(clean)
    assert resumed.count() == clean.count()


def test_chat_exports_ingest_with_their_channel_scopes(shared_data: Path, kb, embedder) -> None:  # type: ignore[no-untyped-def]
    report = ingest(
        [shared_data / "slack" / "export-2020-12-07-to-2021-03-14.zip", shared_data / "discord" / "komodo-support-2019-Dec-06.csv"],
        knowledge_base=kb,
        embedder=embedder,
    )
    assert report.files == 2 and not report.skipped
    scopes = {scope for source in kb.sources() for scope in source.scopes}
    assert "public" not in scopes
    assert any(s.startswith("slack:T06V8J4SU:") for s in scopes)
    assert "discord:komodo-support:komodo-support" in scopes
    # A question asked elsewhere sees none of it.
    assert kb.search("wallet", scopes={"public", "slack:T0:COTHER"}, k=5) == []
