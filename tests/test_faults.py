"""Faults: the process killed mid-ingest (a real SIGKILL) and mid-answer, the Slack API
answering 429 and 5xx. On restart nothing is lost or doubled: the knowledge base holds
exactly the right chunks, the asker of an unfinished question is told once, and a retried
call posts once.

Digest crashes (before and after the post reached the platform, double fires, a second
replica) are proven in ``tests/test_scheduling.py``; the report lists them beside these.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.slack.bot import SlackBot
from core.knowledge.ingesting import chunks_of_file
from core.knowledge.knowledge_base import LanceKnowledgeBase
from core.runtime.state import StateStore
from core.services import OnQueued, OnText, Services
from core.types import Answer, Question
from tests.reliability import record
from tests.trust_support import slack_world, with_handbook

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
FILES = 30


def write_corpus(folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for n in range(FILES):
        body = " ".join(
            f"Section {n}.{s}: the service number {n} restarts every {s + 1} hours and logs to disk {n % 7}."
            for s in range(40)
        )
        path = folder / f"runbook-{n:02d}.md"
        path.write_text(f"# Runbook {n}\n\n{body}\n", encoding="utf-8")
        paths.append(path)
    return paths


def tidings(home: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TIDINGS_HOME": str(home), "HF_HUB_OFFLINE": "1", "TIDINGS_CONFIG": str(home / "none.toml")}
    (home / "none.toml").write_text("", encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "bots.cli", *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def sources_written(home: Path, embedder) -> int:  # type: ignore[no-untyped-def]
    try:
        return len(LanceKnowledgeBase(uri=str(home / "kb"), embedder=embedder).sources())
    except Exception:  # the table is being created or written right now
        return 0


def test_ingest_killed_midway_then_rerun_holds_exactly_the_right_chunks(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    paths = write_corpus(tmp_path / "docs")
    home = tmp_path / "home"
    home.mkdir()
    expected: set[str] = set()
    for path in paths:
        _, chunks = chunks_of_file(path, embedder=embedder, scope=None, chunk_tokens=200, overlap_sentences=1, conversation_window=12)
        expected |= {c.id for c in chunks}

    process = tidings(home, "ingest", str(tmp_path / "docs"))
    deadline = time.monotonic() + 240
    while sources_written(home, embedder) < 3:
        assert process.poll() is None, process.stderr.read().decode()[-2000:] if process.stderr else ""
        assert time.monotonic() < deadline, "ingest never started writing"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    killed_at = sources_written(home, embedder)
    assert process.returncode == -signal.SIGKILL and killed_at < FILES, "the kill must land mid-ingest"

    rerun = tidings(home, "ingest", "--json", str(tmp_path / "docs"))
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()[-2000:]
    report = json.loads(out)
    assert report["files"] == FILES and report["chunks"]["added"] + report["chunks"]["unchanged"] == len(expected)

    kb = LanceKnowledgeBase(uri=str(home / "kb"), embedder=embedder)
    table = kb._open()
    ids = table.to_arrow().column("id").to_pylist()
    assert len(ids) == len(set(ids)), "no chunk twice"
    assert set(ids) == expected, "exactly the chunks of a clean ingest"
    assert len(kb.sources()) == FILES
    hits = kb.search("which disk does service 17 log to", scopes={"public"}, k=3)
    assert hits and hits[0].chunk.source.endswith("runbook-17.md")
    record(
        "Faults",
        fault=f"SIGKILL during `tidings ingest` of {FILES} files (after {killed_at} were written), then the same ingest again",
        outcome=f"{len(ids)} chunks = a clean ingest's, none doubled, search works",
    )


class HeldAnswerer:
    """An answerer that holds the model worker until released (a long answer in progress)."""

    def __init__(self, services: Services) -> None:
        self.worker = services.worker
        self.release = threading.Event()
        self.started = asyncio.Event()

    async def answer(self, question: Question, *, on_text: OnText | None = None, on_queued: OnQueued | None = None) -> Answer:
        self.started.set()
        await self.worker.run(lambda: self.release.wait(30), on_queued=on_queued)
        return Answer(question=question.text, text="Too late.", grounded=True)


def snapshot(state: StateStore, target: Path) -> Path:
    """The state file exactly as a SIGKILL at this instant leaves it on disk (WAL included):
    SQLite's online backup copies the committed state."""
    source = state.engine.raw_connection()
    try:
        with sqlite3.connect(target) as copy:
            source.driver_connection.backup(copy)  # type: ignore[union-attr]
    finally:
        source.close()
    return target


async def test_a_crash_during_an_answer_tells_the_asker_once_after_restart(
    make_services: Callable[..., Services], tmp_path: Path
) -> None:
    services = make_services()
    held = HeldAnswerer(services)
    services.answerer = held
    async with slack_world(services) as world:
        reply = await world.ask("How do I deploy?", channel="C0CRASH")
        assert reply.status == 200
        await asyncio.wait_for(held.started.wait(), 30)
        crashed = snapshot(services.state, tmp_path / "crashed-state.sqlite3")
        held.release.set()
        await world.idle()

        restarted_state = StateStore(crashed)
        try:
            restarted = with_handbook(make_services())
            restarted.state = restarted_state
            bot = SlackBot(settings=world.bot.settings, services=restarted)
            unfinished = [e for e in restarted_state.take_unfinished_questions() if e.get("platform") == "slack"]
            told = await bot.tell_unfinished(unfinished)
            again = await bot.tell_unfinished(
                [e for e in restarted_state.take_unfinished_questions() if e.get("platform") == "slack"]
            )
            await bot.stop()
        finally:
            restarted_state.close()
        event = world.asked[0]
        notes = [m for m in world.replies_to(event) if "restarted before I could answer" in str(m.get("text"))]
    assert (told, again, len(notes)) == (1, 0, 1)
    record("Faults", fault="process killed while answering (state as left on disk)", outcome="after restart the asker is told once, in the thread")


class HalfWrittenAnswerer(HeldAnswerer):
    """Shows part of its answer, then holds the worker (the process dies mid-answer)."""

    async def answer(self, question: Question, *, on_text: OnText | None = None, on_queued: OnQueued | None = None) -> Answer:
        assert on_text is not None
        await on_text("To deploy, run")
        return await super().answer(question, on_text=on_text, on_queued=on_queued)


class QuickAnswerer:
    """Answers at once (the process after the restart)."""

    def __init__(self) -> None:
        self.questions: list[str] = []

    async def answer(self, question: Question, *, on_text: OnText | None = None, on_queued: OnQueued | None = None) -> Answer:
        self.questions.append(question.text)
        return Answer(question=question.text, text="Run make deploy after two approvals.", grounded=True)


@pytest.mark.parametrize(("minutes_ago", "reply_recorded"), [(2, True), (90, True), (2, False)])
async def test_a_crash_mid_stream_answers_again_in_the_half_written_reply_or_leaves_the_note(
    make_services: Callable[..., Services], tmp_path: Path, minutes_ago: int, reply_recorded: bool
) -> None:
    """``reply_recorded=False``: killed after the reply was posted but before its ts was written
    to the question's record; the restart finds the reply in the thread rather than posting a second."""
    services = make_services()
    held = HalfWrittenAnswerer(services)
    services.answerer = held
    async with slack_world(services) as world:
        await world.ask("How do I deploy?", channel="C0CRASH")
        await asyncio.wait_for(held.started.wait(), 30)
        event = world.asked[0]
        await world.slack.wait_until(lambda: any("To deploy" in str(m.get("blocks")) for m in world.replies_to(event)))
        [half] = world.replies_to(event)
        for _ in range(100):  # the reply's ts is written to the question's record right after the post
            if any(e.get("reply") for e in services.state.unfinished_questions()):
                break
            await asyncio.sleep(0.05)
        crashed = snapshot(services.state, tmp_path / "crashed-state.sqlite3")
        held.release.set()
        await world.idle()
        # As the crash left it: the reply half-written.
        world.slack.workspace.find(event["channel"], half["ts"])["text"] = "To deploy, run"  # type: ignore[index]

        restarted_state = StateStore(crashed)
        try:
            [entry] = [e for e in restarted_state.take_unfinished_questions() if e.get("platform") == "slack"]
            assert entry["reply"] == half["ts"] and "How do I deploy?" in entry["question"]
            entry["asked_at"] = time.time() - minutes_ago * 60
            if not reply_recorded:
                entry["reply"] = None
            restarted = make_services()
            restarted.state = restarted_state
            again = QuickAnswerer()
            restarted.answerer = again
            bot = SlackBot(settings=world.bot.settings, services=restarted)
            await bot.start()
            told = await bot.tell_unfinished([entry])
            await asyncio.gather(*bot.responder.resumed)
            await bot.stop()
            left = restarted_state.take_unfinished_questions()
        finally:
            restarted_state.close()
        replies = world.replies_to(event)
    assert told == 1 and [m["ts"] for m in replies] == [half["ts"]]  # edited, no second reply
    updates = [c.params.get("text", "") for c in world.slack.calls_to("chat.update") if c.params.get("ts") == half["ts"]]
    if minutes_ago < 60:
        assert again.questions == ["How do I deploy?"] and left == []
        assert any("restarted while answering" in text for text in updates)  # the note came first...
        assert "Run make deploy after two approvals." in replies[0]["text"]  # ...then the answer
        outcome = "after restart the half-written reply says so, then is answered again in place"
    else:
        assert again.questions == []
        assert "restarted before I could answer" in replies[0]["text"]
        outcome = "after restart a stale half-written reply is edited into the restart note"
    when = "" if reply_recorded else ", after posting its reply and before recording it"
    record("Faults", fault=f"process killed while streaming an answer{when} (asked {minutes_ago} min before the restart)", outcome=outcome)


async def test_slack_rate_limits_and_server_errors_are_retried_without_duplicates(
    make_services: Callable[..., Services],
) -> None:
    # A written answer: it is streamed, so the message is posted and then edited (chat.update).
    services = with_handbook(make_services(config_text='[llm]\nmax_answer_tokens = 24\n[answers]\nstyle = "generate"\n'))
    async with slack_world(services) as world:
        world.slack.fail_next("chat.postMessage", status=429, retry_after=1)
        world.slack.fail_next("chat.update", status=500, times=1)
        world.slack.fail_next("reactions.add", status=503, times=1)
        reply = await world.ask("How do I deploy?")
        event = world.asked[0]
        await world.wait_all_finished([event], timeout=60)
        posts = world.replies_to(event)
        slack = world.slack
    # Each injected fault fired once, and its call was made again and went through.
    injected = {"chat.postMessage": 429, "chat.update": 500, "reactions.add": 503}
    assert {m: [c.status for c in slack.failed_calls_to(m)] for m in injected} == {m: [s] for m, s in injected.items()}
    assert slack.faults_pending() == {}
    retried = {m: slack.calls_to(m)[0].at > slack.failed_calls_to(m)[0].at for m in injected}
    assert retried == dict.fromkeys(injected, True)
    assert reply.status == 200 and len(posts) == 1
    assert "deploy" in str(posts[0].get("text")).lower()
    assert len(slack.calls_to("chat.postMessage")) == 1
    record(
        "Faults",
        fault="Slack answers 429 (Retry-After) to chat.postMessage, 500 to chat.update, 503 to reactions.add",
        outcome=f"each fault fired once ({len(slack.failed)} failed calls) and was retried; the answer posted once",
    )
