"""Two `tidings run` replicas sharing PostgreSQL, S3 (moto_server) and one model server
(`python -m llama_cpp.server` with the packaged model), in Slack HTTP mode against the mock
Slack Web API of the tests: the same cluster as tests/test_replicas.py, measured.

- ack p99 of 40 mentions sent at once, spread over the two replicas (Slack's limit is 3 s;
  the target is 0.5 s);
- answers per minute with one replica and with two sharing the model server: the same
  handbook questions sent at once to replica A only, or spread over A and B, in ABBA order
  over `--rounds` after a warm-up, so the machine's noise hits both; the ratio is two over one.

    .venv/bin/python bench/bench_replicas.py [--questions 6] [--rounds 2] [--json]
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from bench.common import HANDBOOK, MODEL_CACHE, base_parser, machine
from core.knowledge.ingesting import ingest
from core.knowledge.knowledge_base import LanceKnowledgeBase
from core.model.local import packaged_model_path
from tests.conftest import MODEL_CACHE as TEST_MODEL_CACHE
from tests.servers import create_database, make_bucket, s3_environment, start_model_server, start_postgres, start_s3
from tests.slack_mock_server import MockSlack
from tests.slack_requests import event_callback, mention, send_event
from tests.test_process_kill import is_final_answer, last_post
from tests.test_replicas import start_replica

QUESTIONS = [question for question, _answer in HANDBOOK]


async def wait_answered(slack: MockSlack, events: list[dict[str, object]], timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not all(is_final_answer(last_post(slack, e)) for e in events):  # type: ignore[arg-type]
        if time.monotonic() > deadline:
            raise TimeoutError("answers did not arrive")
        await asyncio.sleep(0.05)


async def answer_rate(
    http: aiohttp.ClientSession, slack: MockSlack, urls: list[str], count: int, tag: str, *, offset: int = 0
) -> float:
    """Answers per minute for ``count`` handbook questions sent at once, round-robin over ``urls``."""
    events = [mention(QUESTIONS[(offset + n) % len(QUESTIONS)], channel=f"C0{tag}", user=f"U{tag}{n}") for n in range(count)]
    started = time.perf_counter()
    await asyncio.gather(*(send_event(http, urls[n % len(urls)], event_callback(e)) for n, e in enumerate(events)))
    await wait_answered(slack, events)  # type: ignore[arg-type]
    return count / ((time.perf_counter() - started) / 60)


async def run(args: object) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="tidings-bench-replicas-"))
    postgres = start_postgres()
    s3 = start_s3()
    processes = []
    slack = await MockSlack().start()
    try:
        from bots.wiring import build_embedder
        from core.config import load_settings

        bucket = f"tidings-{uuid.uuid4().hex[:10]}"
        make_bucket(s3.url, bucket)
        aws = s3_environment(s3.url)
        os.environ.update(aws)
        docs = folder / "handbook"
        docs.mkdir()
        for n, (question, answer) in enumerate(HANDBOOK):
            (docs / f"{n:02d}.md").write_text(f"# {question}\n\n{answer}\n", encoding="utf-8")
        embedder = build_embedder(load_settings(home=folder / "ingest"))
        kb_uri = f"s3://{bucket}/kb"
        ingest([docs], knowledge_base=LanceKnowledgeBase(uri=kb_uri, embedder=embedder), embedder=embedder)
        # The test suite's assembled copy of the packaged model when there is one, else the default cache.
        cache = TEST_MODEL_CACHE if any(TEST_MODEL_CACHE.glob("*.gguf")) else MODEL_CACHE
        model_process, model_url = start_model_server(packaged_model_path(cache))
        processes.append(model_process)
        shared = {"state_url": create_database(postgres.url, "bench"), "kb_uri": kb_uri, "model_url": model_url, "aws": aws}
        replicas = [start_replica(folder, name, api_url=slack.api_url, shared_env=shared) for name in ("a", "b")]
        processes += [bot.process for bot in replicas]
        await asyncio.gather(*(bot.listening(timeout=300) for bot in replicas))
        urls = [f"http://127.0.0.1:{bot.port}/slack/events" for bot in replicas]
        async with aiohttp.ClientSession() as http:
            # Warm up both replicas and the model server (first searches open the table and its
            # indexes; first model calls load caches): not measured.
            await answer_rate(http, slack, urls, 4, "WARM")
            # ack p99: 40 mentions at once over both replicas (off-topic: the ack is what is timed).
            events = [mention(f"What is the weather on moon {n}?", channel="C0ACK", user=f"UACK{n}") for n in range(40)]
            replies = await asyncio.gather(*(send_event(http, urls[n % 2], event_callback(e)) for n, e in enumerate(events)))
            acks = sorted(reply.seconds for reply in replies)
            await wait_answered(slack, events)  # type: ignore[arg-type]
            one: list[float] = []
            two: list[float] = []
            count = args.questions  # type: ignore[attr-defined]
            for round_number in range(args.rounds):  # type: ignore[attr-defined]
                # ABBA order, and each phase its own slice of the questions, so drift and the
                # server's prompt cache favour neither side.
                order = ("one", "two") if round_number % 2 == 0 else ("two", "one")
                for position, side in enumerate(order):
                    offset = (2 * round_number + position) * count
                    tag = f"{side.upper()}{round_number}"
                    rate = await answer_rate(http, slack, urls[:1] if side == "one" else urls, count, tag, offset=offset)
                    (one if side == "one" else two).append(rate)
    finally:
        await slack.stop()
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        postgres.stop()
        s3.stop()
    return {
        "ack_p99_s": round(acks[int(0.99 * (len(acks) - 1))], 3),
        "ack_p50_s": round(statistics.median(acks), 3),
        "answers_per_min_one_replica": [round(x, 2) for x in one],
        "answers_per_min_two_replicas": [round(x, 2) for x in two],
        "ratio_two_over_one": round(statistics.mean(two) / statistics.mean(one), 2),
        "questions_per_phase": args.questions,  # type: ignore[attr-defined]
        "machine": machine(),
    }


def main() -> int:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--questions", type=int, default=6, help="handbook questions per phase")
    parser.add_argument("--rounds", type=int, default=2, help="one-replica/two-replica phase pairs")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"ack of 40 simultaneous mentions over two replicas: p50 {result['ack_p50_s']} s, p99 {result['ack_p99_s']} s")
        print(f"answers/min, one replica: {result['answers_per_min_one_replica']}; two replicas: {result['answers_per_min_two_replicas']}")
        print(f"two over one: {result['ratio_two_over_one']}x ({args.questions} questions a phase, {result['machine']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
