"""Acceptance: two `tidings run` replicas, each a real process with its own TIDINGS_HOME,
sharing only PostgreSQL (state), S3 (moto_server: the knowledge base) and one model server
(`python -m llama_cpp.server` with the packaged GGUF), in Slack HTTP mode against the mock
Slack Web API (the only fake: Slack's side of the network).

One cluster per module, the cases in order (bounded: a lease of 3 s, short answers):
1. both replicas start together on an empty database: one migrates, both come up at head;
2. 40 mentions, each delivered to A and retried (same event_id, X-Slack-Retry-Num) to B,
   a third of them concurrently: every one answered exactly once, and a retry after the
   answer (past the lease) is answered by nobody;
3. one user's questions alternate between the replicas: the per-minute limit holds;
4. both replicas schedule the same per-minute digest: every window posted exactly once;
5. B is SIGKILLed mid-answer; Slack's retry reaches A: dropped within the lease, answered
   once after it.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from core.knowledge.ingesting import ingest
from core.knowledge.knowledge_base import LanceKnowledgeBase
from core.runtime.migrations import head_revision
from core.runtime.state import StateStore
from tests.conftest import MODEL_CACHE
from tests.reliability import record
from tests.servers import create_database, free_port, make_bucket, s3_environment, start_model_server
from tests.slack_mock_server import MockSlack
from tests.slack_requests import event_callback, mention, send_event
from tests.test_process_kill import PATH, BotProcess, environment, is_final_answer, last_post

pytestmark = [pytest.mark.slow, pytest.mark.reliability, pytest.mark.asyncio(loop_scope="session")]
pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] extras not installed")

LEASE_S = 3.0
PER_MINUTE = 2
RATE_LIMITED = "faster than I can keep up"


def replica_environment(*, state_url: str, kb_uri: str, model_url: str, port: int, aws: dict[str, str]) -> dict[str, str]:
    """What makes a replica one of many: exactly the example of docs/scaling.md."""
    return {
        "TIDINGS_STATE__URL": state_url,
        "TIDINGS_STATE__CLAIM_LEASE_S": str(LEASE_S),
        "TIDINGS_KNOWLEDGE_BASE__URI": kb_uri,
        **aws,
        "TIDINGS_LLM__SERVER_URL": model_url,
        "TIDINGS_SLACK__MODE": "http",
        "TIDINGS_SLACK__PORT": str(port),
    }


def replica_config(folder: Path, *, api_url: str) -> Path:
    """The test's own settings: the mock Slack, short answers, a per-minute digest."""
    config = folder / "tidings.toml"
    config.write_text(
        "[llm]\nmax_answer_tokens = 48\n"
        "[knowledge_base]\nbuild_default = false\n"
        f"[access]\nquestions_per_minute = {PER_MINUTE}\n"
        f'[slack]\nhost = "127.0.0.1"\npath = "{PATH}"\n'
        f'api_url = "{api_url}"\nstream_interval_s = 1.0\n'
        "[digests]\nenabled = true\n"
        '[[digests.channels]]\nplatform = "slack"\nchannel = "C0DIGEST"\ncron = "* * * * *"\n'
        "min_messages = 1000\nquiet_note = true\n",
        encoding="utf-8",
    )
    return config


@dataclass
class Cluster:
    slack: MockSlack
    a: BotProcess
    b: BotProcess
    state_url: str
    model_url: str
    started: float
    both_up: float  # time.monotonic() (the mock Slack's clock) once both replicas listen

    def url(self, bot: BotProcess) -> str:
        return f"http://127.0.0.1:{bot.port}{PATH}"


def start_replica(folder: Path, name: str, *, api_url: str, shared_env: dict[str, Any]) -> BotProcess:
    import subprocess

    home = folder / name / "home"
    (home / "models").mkdir(parents=True)
    for model in MODEL_CACHE.glob("*.gguf"):
        (home / "models" / model.name).symlink_to(model)
    port = free_port()
    config = replica_config(folder / name, api_url=api_url)
    env = {**environment(home, config), **replica_environment(port=port, **shared_env)}
    bot = BotProcess.__new__(BotProcess)
    script = Path(sys.executable).with_name("tidings")
    command = [str(script), "run"] if script.exists() else [sys.executable, "-m", "bots.cli", "run"]
    bot.log = folder / f"{name}.log"
    with bot.log.open("wb") as out:
        bot.process = subprocess.Popen(command, cwd=home.parent, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    bot.port = port
    return bot


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: str, s3_server: str, handbook_dir: Path, embedder, language_model  # type: ignore[no-untyped-def]
) -> AsyncIterator[Cluster]:
    folder = tmp_path_factory.mktemp("cluster")
    state_url = create_database(postgres_server, f"cluster_{uuid.uuid4().hex[:8]}")
    bucket = f"tidings-{uuid.uuid4().hex[:10]}"
    make_bucket(s3_server, bucket)
    aws = s3_environment(s3_server)
    kb_uri = f"s3://{bucket}/kb"
    import os

    saved = {k: os.environ.get(k) for k in aws}
    os.environ.update(aws)
    try:
        ingest([handbook_dir], knowledge_base=LanceKnowledgeBase(uri=kb_uri, embedder=embedder), embedder=embedder)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    model_process, model_url = start_model_server(language_model.model_path)
    slack = await MockSlack().start()
    shared = {"state_url": state_url, "kb_uri": kb_uri, "model_url": model_url, "aws": aws}
    started = time.time()
    # Both at once on an empty database: the migration race of case 1.
    a = start_replica(folder, "a", api_url=slack.api_url, shared_env=shared)
    b = start_replica(folder, "b", api_url=slack.api_url, shared_env=shared)
    try:
        await asyncio.gather(a.listening(timeout=240), b.listening(timeout=240))
        yield Cluster(slack, a, b, state_url, model_url, started, time.monotonic())
    finally:
        for bot in (a, b):
            if bot.process.poll() is None:
                bot.process.kill()
                bot.process.wait(10)
        await slack.stop()
        model_process.terminate()
        model_process.wait(30)


@pytest.fixture(autouse=True)
def replicas_that_died(cluster: Cluster) -> Any:
    """After each case, a replica that exited shows its exit code and log (only B is killed, in case 5)."""
    yield
    for name, bot in (("A", cluster.a), ("B", cluster.b)):
        if bot.process.poll() is not None and bot.process.returncode != -9:
            print(f"replica {name} exited with {bot.process.returncode}:\n{bot.output()}")


async def wait_for(condition: Any, what: str, cluster: Cluster, *, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\nA:\n{cluster.a.output()}\nB:\n{cluster.b.output()}"
        await asyncio.sleep(0.05)


async def test_1_replicas_started_together_both_come_up_at_head(cluster: Cluster) -> None:
    assert cluster.a.process.poll() is None and cluster.b.process.poll() is None
    store = StateStore(cluster.state_url, migrate=False)
    try:
        assert store.schema_revision() == head_revision()
    finally:
        store.close()
    for bot in (cluster.a, cluster.b):
        assert "Traceback" not in bot.output(), bot.output()


OFF_TOPIC = "What colour is the {n}th moon of the planet Zorblax-{n} on Tuesdays?"


async def test_2_forty_mentions_each_retried_on_the_other_replica_are_answered_exactly_once(cluster: Cluster) -> None:
    slack = cluster.slack
    started = time.perf_counter()
    events: list[tuple[dict[str, Any], dict[str, Any]]] = []
    acks: list[float] = []
    async with aiohttp.ClientSession() as http:

        async def deliver(n: int) -> None:
            event = mention(OFF_TOPIC.format(n=n), channel="C0MANY", user=f"U0MANY{n:02d}")
            payload = event_callback(event)
            events.append((event, payload))
            if n % 3 == 0:  # first delivery and retry at the same moment, on both replicas
                first, retry = await asyncio.gather(
                    send_event(http, cluster.url(cluster.a), payload),
                    send_event(http, cluster.url(cluster.b), payload, retry_num=1),
                )
            else:
                first = await send_event(http, cluster.url(cluster.a), payload)
                retry = await send_event(http, cluster.url(cluster.b), payload, retry_num=1)
            assert (first.status, retry.status) == (200, 200)
            acks.extend([first.seconds, retry.seconds])

        await asyncio.gather(*(deliver(n) for n in range(40)))
        await wait_for(
            lambda: all(is_final_answer(last_post(slack, e)) for e, _ in events), "40 answers", cluster, timeout=240
        )
        await asyncio.sleep(LEASE_S + 1)
        # Past the lease, a late retry of an answered event: completed claims are never answered again.
        for _event, payload in events[:5]:
            late = await send_event(http, cluster.url(cluster.b), payload, retry_num=2)
            assert late.status == 200
        await asyncio.sleep(2.0)
    counts = [len(slack.posts_in_thread(e["channel"], e["ts"])) for e, _ in events]
    assert counts == [1] * 40, counts
    acks.sort()
    p99 = acks[int(0.99 * (len(acks) - 1))]
    record(
        "Load",
        replicas=2,
        events=40,
        deliveries=80,
        answers=sum(counts),
        duplicates=sum(c - 1 for c in counts),
        p99_ack_s=round(p99, 3),
        seconds=round(time.perf_counter() - started, 1),
    )


async def test_3_the_rate_limit_holds_across_replicas(cluster: Cluster) -> None:
    slack = cluster.slack
    asked: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        for n in range(4):
            bot = cluster.a if n % 2 == 0 else cluster.b
            event = mention(OFF_TOPIC.format(n=100 + n), channel="C0RATE", user="U0RATE")
            reply = await send_event(http, cluster.url(bot), event_callback(event))
            assert reply.status == 200
            asked.append(event)
            await wait_for(lambda e=event: last_post(slack, e) is not None, "a reply", cluster)
            await wait_for(
                lambda e=event: RATE_LIMITED in json.dumps(last_post(slack, e)) or is_final_answer(last_post(slack, e)),
                "the reply to finish",
                cluster,
            )
    limited = [RATE_LIMITED in json.dumps(last_post(slack, e)) for e in asked]
    assert limited == [False, False, True, True], limited


async def test_4_a_digest_both_replicas_schedule_is_posted_once_per_window(cluster: Cluster) -> None:
    slack = cluster.slack

    def posts() -> list[Any]:
        return [c for c in slack.calls_to("chat.postMessage") if c.params.get("channel") == "C0DIGEST"]

    def notes() -> list[str]:
        return [str(c.params.get("text")) for c in posts()]

    # A window that fell while both replicas were up, so both raced to post it. Cases 1-3 take
    # about half a minute, so the wait is usually short; two windows used to cost a minute more.
    await wait_for(lambda: any(c.at >= cluster.both_up + 1.0 for c in posts()), "a window both replicas saw", cluster, timeout=90)
    await asyncio.sleep(3.0)  # room for a late duplicate of the last window
    windows = Counter(re.sub(r"\s+", " ", text) for text in notes())
    assert windows and all(count == 1 for count in windows.values()), windows
    record(
        "Faults",
        fault="two replicas schedule the same per-minute digest (shared PostgreSQL job store and claims)",
        outcome=f"{len(windows)} windows, each posted exactly once",
    )


async def test_5_a_replica_killed_mid_answer_its_retry_is_answered_once_by_the_other(cluster: Cluster) -> None:
    slack = cluster.slack
    event = mention("How many days of paid holiday does every employee have?", channel="C0KILL", user="U0KILL")
    payload = event_callback(event)
    async with aiohttp.ClientSession() as http:
        first = await send_event(http, cluster.url(cluster.b), payload)
        assert first.status == 200
        await wait_for(
            lambda: any(c.params.get("timestamp") == event["ts"] for c in slack.calls_to("reactions.add")), "B to take it", cluster
        )
        assert cluster.b.kill() < 0
        killed_at = time.monotonic()
        assert not is_final_answer(last_post(slack, event)), "B must die before its answer is final"
        early = await send_event(http, cluster.url(cluster.a), payload, retry_num=1)
        assert early.status == 200
        await asyncio.sleep(max(0.0, LEASE_S + 1 - (time.monotonic() - killed_at)))
        answered_before_retry = is_final_answer(last_post(slack, event))
        retry = await send_event(http, cluster.url(cluster.a), payload, retry_num=2)
        assert retry.status == 200
        await wait_for(lambda: is_final_answer(last_post(slack, event)), "A's answer", cluster)
        await asyncio.sleep(LEASE_S + 1)
    finals = [m for m in slack.posts_in_thread("C0KILL", event["ts"]) if is_final_answer(m)]
    assert not answered_before_retry, "the retry within the lease must be dropped"
    assert len(finals) == 1, finals
    record(
        "Faults",
        fault="replica B SIGKILLed mid-answer (two replicas, shared PostgreSQL); Slack's retries reach A",
        outcome=f"retry within the {LEASE_S:.0f} s lease dropped; retry after it answered by A, once",
    )
