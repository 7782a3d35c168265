"""Time to the first visible text in Slack and in Discord, quote answers against generated ones.

The bots are the ones ``tidings run`` runs: the Slack bot in HTTP mode against the local mock
Slack Web API (signed events over real HTTP), the Discord bot under simcord's in-memory
Discord; the knowledge base is Tidings' own documentation (README and docs/, as on a first
start), the models the packaged ones. The development questions about Tidings
(bench/data/docs_questions_dev.csv) are asked one at a time, so nothing queues, in each style.

- Slack: from the signed ``app_mention`` leaving the client to the first reply in the thread
  that carries text (a streamed piece or the whole quote answer), and to the finished answer
  (the reply with its feedback buttons).
- Discord: from ``/ask`` reaching the bot to the first edit of the deferred response that
  carries text, and to the finished answer (the last edit, without the streaming cursor).

Network time to Slack or Discord is not included: the figures are the bot's own share.

    .venv/bin/python bench/bench_first_text.py [--questions 10] [--json]
"""

from __future__ import annotations

import asyncio
import csv
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from common import REPO, base_parser, emit, machine

sys.path.insert(0, str(REPO))

QUESTIONS = REPO / "bench" / "data" / "docs_questions_dev.csv"
STYLES = ("quote", "generate")
CURSOR = "▌"


def read_questions(count: int) -> list[str]:
    with QUESTIONS.open(encoding="utf-8") as handle:
        return [row["question"] for row in csv.DictReader(handle)][:count]


def build_knowledge_base(home: Path) -> None:
    """Tidings' own docs, ingested once into ``home`` as a first start would."""
    from bots.wiring import PROJECT_DOCS, build_services
    from core.config import load_settings
    from core.knowledge.ingesting import bundled_docs, ingest

    services = build_services(load_settings(None, home=home, environ={}))
    assert services.embedder is not None
    ingest(bundled_docs(PROJECT_DOCS), knowledge_base=services.knowledge_base, embedder=services.embedder)
    services.worker.shutdown()
    services.state.close()


def styled_home(base: Path, kb_home: Path, style: str) -> Path:
    home = base / style
    shutil.copytree(kb_home / "kb", home / "kb")
    (home / "tidings.toml").write_text(f'[answers]\nstyle = "{style}"\n', encoding="utf-8")
    return home


async def slack_times(home: Path, questions: list[str]) -> list[tuple[float, float]]:
    import aiohttp
    from bench_slack_ack import answered

    from adapters.slack.bot import SlackBot
    from adapters.slack.settings import SlackSettings
    from bots.wiring import build_services
    from core.config import load_settings
    from tests.slack_mock_server import MockSlack
    from tests.slack_requests import SIGNING_SECRET, event_callback, mention, send_event

    services = build_services(load_settings(home / "tidings.toml", home=home, environ={}))
    slack = await MockSlack().start()
    bot = SlackBot(
        settings=SlackSettings(
            bot_token="xoxb-bench", signing_secret=SIGNING_SECRET, mode="http", host="127.0.0.1", port=0, api_url=slack.api_url
        ),
        services=services,
        shutdown_grace_s=1.0,
    )
    await bot.start()
    url = f"http://127.0.0.1:{bot.port}{bot.settings.path}"
    times: list[tuple[float, float]] = []

    def replies(ts: str) -> list[Any]:
        """The bot's posts and edits of its replies in the thread of ``ts``."""
        shown = {m["ts"] for m in slack.posts_in_thread("C0BENCH", ts)}
        return [
            call for call in slack.calls
            if call.method in {"chat.postMessage", "chat.update"} and call.params.get("channel") == "C0BENCH"
            and (call.params.get("thread_ts") == ts or call.params.get("ts") in shown)
        ]

    try:
        async with aiohttp.ClientSession() as http:
            for number, question in enumerate(["What is Tidings?", *questions]):  # the first warms the models
                event = mention(question, channel="C0BENCH", user=f"U0BENCH{number}")
                sent = time.monotonic()
                await send_event(http, url, event_callback(event))
                await slack.wait_until(lambda ts=event["ts"]: answered(slack, "C0BENCH", ts), timeout=300)
                calls = replies(event["ts"])
                first = min(c.at for c in calls if str(c.params.get("text") or "").strip())
                done = max(c.at for c in calls)
                if number:
                    times.append((first - sent, done - sent))
    finally:
        await bot.stop()
        await slack.stop()
        services.worker.shutdown()
        services.state.close()
    return times


async def discord_times(home: Path, questions: list[str]) -> list[tuple[float, float]]:
    import simcord
    from bench_discord_defer import emit_slash

    from bots.discord_bot import build_bot

    bot = build_bot(str(home / "tidings.toml"), environ={**os.environ, "TIDINGS_HOME": str(home)})
    times: list[tuple[float, float]] = []
    async with simcord.run(bot, settle_timeout=600.0) as env:
        guild = env.create_guild(name="Bench")
        support = guild.create_text_channel("support")
        people = [guild.add_member(env.create_user(f"user{i}")) for i in range(len(questions) + 1)]
        for number, question in enumerate(["What is Tidings?", *questions]):
            seen = len(env.http_requests)
            sent = time.perf_counter()
            emit_slash(env, people[number], support, "ask", question=question)
            first: float | None = None
            deadline = sent + 300
            while time.perf_counter() < deadline:
                edits = [
                    (entry.json or {}).get("content") or ""
                    for entry in env.http_requests[seen:]
                    if entry.method == "PATCH" and entry.path.endswith("/messages/@original")
                ]
                texts = [e for e in edits if e.strip() and not e.startswith("Queued")]
                if texts and first is None:
                    first = time.perf_counter()
                if texts and not texts[-1].endswith(CURSOR):
                    break
                await asyncio.sleep(0.005)
            done = time.perf_counter()
            if number and first is not None:
                times.append((first - sent, done - sent))
    return times


def summary(times: list[tuple[float, float]]) -> dict[str, Any]:
    return {
        "answers": len(times),
        "first_text_median_s": round(statistics.median(t[0] for t in times), 2) if times else None,
        "finished_median_s": round(statistics.median(t[1] for t in times), 2) if times else None,
    }


async def measure(count: int) -> dict[str, Any]:
    questions = read_questions(count)
    base = Path(tempfile.mkdtemp(prefix="tidings-bench-first-text-"))
    try:
        kb_home = base / "built"
        build_knowledge_base(kb_home)
        rows: dict[str, dict[str, Any]] = {}
        for style in STYLES:
            home = styled_home(base, kb_home, style)
            rows[f"slack, {style}"] = summary(await slack_times(home, questions))
            rows[f"discord, {style}"] = summary(await discord_times(home, questions))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return {"benchmark": "first_text", "questions": len(questions), "rows": rows, "machine": machine()}


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--questions", type=int, default=10)
    args = parser.parse_args()
    result = asyncio.run(measure(args.questions))
    lines = [f"time to the first visible text, {result['questions']} docs questions asked one at a time"]
    for label, row in result["rows"].items():
        lines.append(f"  {label:<20} first text {row['first_text_median_s']} s, finished {row['finished_median_s']} s ({row['answers']} answers)")
    emit(result, lines, as_json=args.json)


if __name__ == "__main__":
    main()
