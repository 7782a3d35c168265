"""Fault: the real ``tidings run`` process SIGKILLed while it is answering on Slack.

The bot runs as its own process, in HTTP mode, against the mock Slack Web API of the tests
(the only fake: Slack's side of the network). Three questions arrive; once one of their
answer is visibly streaming into its thread (and the others wait in the queue), the process
gets SIGKILL. Started again on the same data directory, it picks up each question that died
with it: a question whose reply was already showing (streaming, or "queued") has that one
message edited to say so and then to the answer; one with nothing shown yet gets one restart
note in its thread; a question whose answer was already final is left alone. Started a third
time it tells nobody again, and answers a new question normally.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from core.knowledge.ingesting import ingest
from core.knowledge.knowledge_base import LanceKnowledgeBase
from tests.conftest import MODEL_CACHE
from tests.reliability import record
from tests.slack_mock_server import MockSlack
from tests.slack_requests import SIGNING_SECRET, event_callback, mention, send_event
from tests.trust_support import BOT_TOKEN

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
RESTART_NOTE = "restarted before I could answer"
RESUMING_NOTE = "restarted while answering this"
PATH = "/slack/events"
QUESTIONS = (
    "What do new starters receive on their first day, and how are the laptops encrypted?",
    "How many days of paid holiday does every employee have, and how are holidays requested?",
    "When do expenses need a receipt, and when are taxi rides reimbursed?",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config_for(home: Path, *, port: int, api_url: str) -> Path:
    config = home.parent / "tidings.toml"
    config.write_text(
        "[llm]\nmax_answer_tokens = 400\nn_threads = 1\n"
        "[knowledge_base]\nbuild_default = false\n"
        # Written answers: the kill must land while an answer streams into its reply.
        '[answers]\nstyle = "generate"\n'
        "[digests]\nenabled = false\n"
        "[access]\nquestions_per_minute = 0\n"
        f'[slack]\nmode = "http"\nhost = "127.0.0.1"\nport = {port}\npath = "{PATH}"\n'
        f'api_url = "{api_url}"\nstream_interval_s = 1.0\n',
        encoding="utf-8",
    )
    return config


def environment(home: Path, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "TIDINGS_"))}
    env.update(
        {
            "TIDINGS_HOME": str(home),
            "TIDINGS_CONFIG": str(config),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "PYTHONPATH": str(REPO),
        }
    )
    return env


class BotProcess:
    """``tidings run`` (the installed console script) in its own process."""

    def __init__(self, home: Path, config: Path, port: int, log: Path) -> None:
        script = Path(sys.executable).with_name("tidings")
        command = [str(script), "run"] if script.exists() else [sys.executable, "-m", "bots.cli", "run"]
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=home.parent, env=environment(home, config), stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )
        self.port = port

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]

    async def listening(self, *, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"tidings run exited with {self.process.returncode}:\n{self.output()}"
            assert time.monotonic() < deadline, f"tidings run never listened:\n{self.output()}"
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            await writer.wait_closed()
            return

    def kill(self) -> int:
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(30)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)


async def wait_until(condition: Callable[[], bool], what: str, bot: BotProcess, *, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert bot.process.poll() is None, f"tidings run died waiting for {what}:\n{bot.output()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{bot.output()}"
        await asyncio.sleep(0.02)


def last_post(slack: MockSlack, event: dict[str, Any]) -> dict[str, Any] | None:
    posts = slack.posts_in_thread(event["channel"], event["ts"])
    return posts[-1] if posts else None


def is_final_answer(post: dict[str, Any] | None) -> bool:
    return post is not None and any(b.get("type") == "actions" for b in post.get("blocks") or ())


def is_streaming(post: dict[str, Any] | None) -> bool:
    return post is not None and "▍" in json.dumps(post.get("blocks"), ensure_ascii=False)


def resuming_edits(slack: MockSlack, event: dict[str, Any], reply_ts: str) -> list[dict[str, Any]]:
    return [c.params for c in slack.calls_to("chat.update")
            if RESUMING_NOTE in str(c.params.get("text")) and c.params.get("ts") == reply_ts]


def restart_notes(slack: MockSlack, event: dict[str, Any]) -> list[dict[str, Any]]:
    return [c.params for c in slack.calls_to("chat.postMessage")
            if RESTART_NOTE in str(c.params.get("text")) and c.params.get("thread_ts") == event["ts"]]


async def test_sigkill_mid_answer_tells_each_asker_once_after_restart(
    tmp_path: Path, handbook_dir: Path, embedder, language_model  # type: ignore[no-untyped-def]
) -> None:
    started = time.perf_counter()
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    for model in MODEL_CACHE.glob("*.gguf"):  # the assembled GGUF the session already has
        (home / "models" / model.name).symlink_to(model)
    ingest([handbook_dir], knowledge_base=LanceKnowledgeBase(uri=str(home / "kb"), embedder=embedder), embedder=embedder)

    slack = await MockSlack().start()
    port = free_port()
    config = config_for(home, port=port, api_url=slack.api_url)
    url = f"http://127.0.0.1:{port}{PATH}"
    bots: list[BotProcess] = []
    try:
        async with aiohttp.ClientSession() as http:
            # 1. The first process takes three questions and is killed mid-answer.
            first = BotProcess(home, config, port, tmp_path / "run-1.log")
            bots.append(first)
            await first.listening()
            events = [mention(q, channel="C0KILL", user=f"U0ASKER{n}") for n, q in enumerate(QUESTIONS)]
            for event in events:
                reply = await send_event(http, url, event_callback(event))
                assert reply.status == 200 and reply.seconds < 3.0
            await wait_until(
                lambda: any(is_streaming(last_post(slack, e)) for e in events), "an answer to stream", first
            )
            assert first.kill() == -signal.SIGKILL
            at_kill = [last_post(slack, e) for e in events]
            unfinished = [e for e, post in zip(events, at_kill, strict=True) if not is_final_answer(post)]
            # Counted now: the mock's stored messages change as they are edited after the restart.
            streaming = sum(is_streaming(post) for post in at_kill)
            assert streaming, "the kill must land while an answer streams"
            assert unfinished, "the kill must leave questions unanswered"
            assert slack.calls_to("reactions.add"), "the questions were visibly taken (👀)"

            # 2. Restarted on the same data: a question with a reply showing is answered again in
            # that reply; one with nothing shown gets one note in its thread.
            shown = {e["ts"]: str(post["ts"]) for e, post in zip(events, at_kill, strict=True) if post is not None}
            second = BotProcess(home, config, port, tmp_path / "run-2.log")
            bots.append(second)
            await second.listening()
            await wait_until(
                lambda: all(
                    is_final_answer(last_post(slack, e)) if e["ts"] in shown else bool(restart_notes(slack, e))
                    for e in unfinished
                ),
                "the unfinished questions answered again (or told)",
                second,
                timeout=300,
            )
            await asyncio.sleep(1.0)  # room for a duplicate to show up
            assert second.stop() == 0, second.output()
            told = {e["ts"]: len(restart_notes(slack, e)) for e in events}
            resumed = {e["ts"]: len(resuming_edits(slack, e, shown[e["ts"]])) for e in events if e["ts"] in shown}

            # 3. Restarted again: nobody is told twice, and a new question is answered normally.
            third = BotProcess(home, config, port, tmp_path / "run-3.log")
            bots.append(third)
            await third.listening()
            later = mention("How many days of paid holiday does every employee have?", channel="C0KILL", user="U0LATER")
            reply = await send_event(http, url, event_callback(later))
            assert reply.status == 200
            await wait_until(lambda: is_final_answer(last_post(slack, later)), "the answer after the restarts", third)
            assert third.stop() == 0, third.output()
    finally:
        for bot in bots:
            if bot.process.poll() is None:
                bot.process.kill()
                bot.process.wait(10)
        await slack.stop()

    for event, post in zip(events, at_kill, strict=True):
        thread = slack.posts_in_thread(event["channel"], event["ts"])
        notes = restart_notes(slack, event)
        if is_final_answer(post):  # answered before the kill: no note, the answer stands alone
            assert notes == [] and len(thread) == 1
        elif post is not None:  # its reply was showing: that one message said so, then became the answer
            assert notes == [] and [m["ts"] for m in thread] == [post["ts"]], "one message per question"
            assert resumed[event["ts"]] == 1 and is_final_answer(thread[0])
        else:  # nothing shown yet: one note in the thread, exactly once
            assert len(notes) == 1, f"{len(notes)} restart notes for one question"
            assert sum(RESTART_NOTE in str(m.get("text")) for m in thread) == 1
    assert {e["ts"]: len(restart_notes(slack, e)) for e in events} == told, "the third start told someone again"
    assert {e: len(resuming_edits(slack, {}, shown[e])) for e in resumed} == resumed, "the third start resumed again"
    assert sum(told.values()) + sum(resumed.values()) == len(unfinished)
    assert "27" in json.dumps(last_post(slack, later)) or "holiday" in json.dumps(last_post(slack, later)).lower()
    record(
        "Faults",
        fault=(
            f"SIGKILL of the running `tidings run` (Slack, HTTP mode) while an answer streamed "
            f"({streaming} streaming, {len(unfinished) - streaming} queued, {len(events) - len(unfinished)} already answered)"
        ),
        outcome=(
            f"on restart {sum(resumed.values())} questions answered again in their half-shown reply and "
            f"{sum(told.values())} askers told once in the thread; a second restart told nobody "
            f"and answered a new question ({time.perf_counter() - started:.0f} s)"
        ),
    )
