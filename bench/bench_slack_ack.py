"""Ack latency of the Slack bot while the model is busy.

Starts the real Slack bot in HTTP mode against the local mock Slack Web API, with the real
services (packaged models, a knowledge base in a temp folder). One question is put to the
model; while it is generating, N signed @mentions arrive at once. Prints how long each took
to be acknowledged (p50 / p99 / max; Slack's limit is 3 s, the target p99 < 0.5 s), then
waits until every question has been answered exactly once.

    .venv/bin/python bench/bench_slack_ack.py [--mentions 20] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.slack.bot import SlackBot
from adapters.slack.settings import SlackSettings
from bots.wiring import build_services
from core.config import load_settings
from core.types import Chunk
from tests.slack_mock_server import MockSlack
from tests.slack_requests import SIGNING_SECRET, event_callback, mention, send_event

HANDBOOK = (
    "How to deploy: deploys go out from the main branch. To deploy, run make deploy after two approvals. "
    "A deploy takes about ten minutes. Rollbacks use make rollback and need one approval."
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def answered(slack: MockSlack, channel: str, ts: str) -> bool:
    return any(
        any(b.get("type") == "actions" for b in m.get("blocks") or ()) or "couldn't find" in str(m.get("text"))
        for m in slack.posts_in_thread(channel, ts)
    )


async def run(mentions: int, *, as_json: bool = False) -> int:
    # With --json the one JSON object is the only thing on stdout; the narration goes to stderr.
    out = sys.stderr if as_json else sys.stdout
    home = Path(tempfile.mkdtemp(prefix="tidings-bench-"))
    settings = load_settings(None, home=home, environ={})
    services = build_services(settings)
    services.knowledge_base.replace_source(
        "handbook.md", [Chunk(id="h1", source="handbook.md", title="Deploy handbook", text=HANDBOOK)]
    )
    services.model.count_tokens("warm up")  # type: ignore[union-attr]
    slack = await MockSlack().start()
    bot = SlackBot(
        settings=SlackSettings(
            bot_token="xoxb-bench", signing_secret=SIGNING_SECRET, mode="http",
            host="127.0.0.1", port=0, api_url=slack.api_url,
        ),
        services=services,
        shutdown_grace_s=1.0,
    )
    await bot.start()
    url = f"http://127.0.0.1:{bot.port}{bot.settings.path}"
    try:
        async with aiohttp.ClientSession() as http:
            # Warm the HTTP path (auth.test is cached after the first request).
            await send_event(http, url, event_callback(mention("", channel="C0WARM")))
            first = mention("How long does a deploy take?", channel="C0BUSY")
            await send_event(http, url, event_callback(first))
            deadline = time.monotonic() + 120
            while services.worker.depth == 0 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)  # well into generation
            generating = services.worker.depth > 0
            # Twenty different people (one person would meet the per-user rate limit).
            events = [mention(f"How do I deploy service {i}?", channel="C0LOAD", user=f"U0USER{i}") for i in range(mentions)]
            replies = await asyncio.gather(*(send_event(http, url, event_callback(e)) for e in events))
        acks = [r.seconds for r in replies]
        statuses = {r.status for r in replies}
        print(f"model generating when the mentions arrived: {generating}", file=out)
        print(f"{mentions} concurrent signed mentions, HTTP status {sorted(statuses)}", file=out)
        print(
            f"ack latency: p50 {statistics.median(acks) * 1000:.0f} ms, p99 {percentile(acks, 0.99) * 1000:.0f} ms, "
            f"max {max(acks) * 1000:.0f} ms (target p99 < 500 ms, Slack's limit 3000 ms)",
            file=out,
        )
        started = time.monotonic()
        while not all(answered(slack, "C0LOAD", e["ts"]) for e in events):
            await asyncio.sleep(2)
            done = sum(answered(slack, "C0LOAD", e["ts"]) for e in events)
            print(f"  {time.monotonic() - started:.0f} s: {done}/{mentions} answered, model queue {services.worker.depth}",
                  file=out, flush=True)
        per_thread = [len(slack.posts_in_thread("C0LOAD", e["ts"])) for e in events]
        queued = sum(1 for c in slack.calls_to("chat.postMessage") if "Queued, position" in str(c.params.get("text")))
        answered_s = time.monotonic() - started
        print(
            f"all {mentions} answered in {answered_s:.1f} s after the burst; "
            f"bot messages per thread: {sorted(set(per_thread))}; queued notices: {queued}",
            file=out,
        )
        ok = statuses == {200} and percentile(acks, 0.99) < 0.5 and set(per_thread) == {1}
        if as_json:
            print(json.dumps({
                "benchmark": "slack_ack",
                "mentions": mentions,
                "model_generating": generating,
                "http_status": sorted(statuses),
                "p50_ms": round(statistics.median(acks) * 1000, 1),
                "p99_ms": round(percentile(acks, 0.99) * 1000, 1),
                "max_ms": round(max(acks) * 1000, 1),
                "target_p99_ms": 500,
                "answered_s": round(answered_s, 1),
                "bot_messages_per_thread": sorted(set(per_thread)),
                "queued_notices": queued,
                "passed": ok,
            }))
        return 0 if ok else 1
    finally:
        await bot.stop()
        await slack.stop()
        services.worker.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    args = parser.parse_args()
    raise SystemExit(asyncio.run(run(args.mentions, as_json=args.json)))


if __name__ == "__main__":
    main()
