"""Digest benchmark: model cost, wall time, and what a digest does to questions.

    .venv/bin/python bench/bench_digest.py [--n-ctx 2048] [--day busiest|synthetic] [--json]

The busiest channel-day in ../shared/data (Discord support days and Clojurians Slack
channel-days), or, where that folder is absent (or with ``--day synthetic``), a synthetic
channel-day kept in this file (72 messages in six conversations):

1. Cost: tokens the model processes (prompt + completion) per input token (the day's
   messages rendered one per line; target at most 1.3), model calls and wall time, per n_ctx.
2. Question wait: while the day is being digested, a question-sized model call is submitted;
   its wait is compared with the longest single digest call (target: at most one call).
   Beside it, a question is asked through the real Answerer (Tidings' own docs ingested in a
   temporary folder, the default quote answer the embedder picks): its seconds to the answer,
   which needs no model call and so does not wait for the digest's.

The default (one n_ctx, 2048) fits in ``bench/run_all.py``'s time limit on a loaded 2-core
machine; ``--n-ctx 512 2048`` reproduces the table in docs/benchmarks.md. Digest *quality*
(ROUGE against QMSum references, beside the lead baseline, with intervals and a held-out
split) is measured by ``tidings eval digests`` (docs/quality.md), not here.

Prints a summary table (Markdown), or one JSON object with ``--json``.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common import SHARED_DATA, base_parser, emit, machine  # noqa: E402

from core.config import DigestSettings  # noqa: E402
from core.digests.conversations import meaningful, render_message  # noqa: E402
from core.digests.format import digest_to_markdown  # noqa: E402
from core.digests.summarizing import Summarizer  # noqa: E402
from core.knowledge.embedding import SentenceTransformerEmbedder  # noqa: E402
from core.knowledge.loaders import read_messages  # noqa: E402
from core.model.local import LlamaModel  # noqa: E402
from core.model.worker import ModelWorker  # noqa: E402
from core.ports import Prompt  # noqa: E402
from core.services import Services  # noqa: E402
from core.types import PUBLIC_SCOPE, Author, ChannelMessage, ChannelRef, Question  # noqa: E402

SYNTHETIC_DAY = "synthetic #release-team 2024-05-01"
# Six conversations of a release team's day: (opening question, replies, closing line).
_CONVERSATIONS = (
    ("When do we cut release 2.4? The changelog still misses the storage fixes.",
     ["The storage fixes landed yesterday, I can add them to the changelog this morning.",
      "QA signed off on the Linux builds, Windows is still running the upgrade tests.",
      "Let's cut 2.4 on Thursday if the Windows upgrade tests pass by Wednesday evening.",
      "Agreed, Thursday it is. I'll announce the date in the release channel."],
     "We decided to cut release 2.4 on Thursday after the Windows upgrade tests."),
    ("Does anyone know why the ARM nightly build fails with openssl errors?",
     ["The ARM runner image was updated on Monday and ships a newer libssl.",
      "Pinning the runner image to last week's version makes the nightly pass again.",
      "We should rebuild the image with the old libssl instead of pinning it forever.",
      "I can open a PR to pin the image today and file a ticket for the rebuild."],
     "I'll open a PR to pin the ARM runner image and file a ticket for the rebuild."),
    ("Customer Nordwind reports that exports over 2 GB stop at 99 percent.",
     ["The export worker holds the whole archive in memory before the upload.",
      "Streaming the archive to object storage would fix it and use less memory.",
      "That is a bigger change, can we raise the worker memory limit for now?",
      "Raising the limit to 4 GB works for Nordwind's export in staging."],
     "Can you raise the export worker memory limit in production today, Priya?"),
    ("Who reviews the new onboarding guide before it goes on the website?",
     ["I read the first half, the screenshots still show the old settings page.",
      "The section on single sign-on needs a note about the SAML certificate rotation.",
      "I'll update the screenshots tomorrow and ping you for a second review."],
     "The onboarding guide goes live once the screenshots and the SSO note are fixed."),
    ("The staging database ran out of disk space again last night.",
     ["Old audit logs take 60 percent of the volume, nobody reads logs older than 90 days.",
      "We could move audit logs older than 90 days to cold storage every week.",
      "Legal asked us to keep audit logs for a year, so cold storage is fine but deletion is not."],
     "We agreed to move audit logs older than 90 days to cold storage every Sunday."),
    ("Is the team lunch on Friday still happening?",
     ["Yes, at the Italian place near the station at half past twelve.",
      "Can someone book a table for ten people?"],
     "I booked a table for ten at 12:30."),
)
_PEOPLE = ("alice", "bob", "carol", "dave", "erin", "priya", "tomas", "yuki")
_FILLERS = ("thanks", "makes sense", "+1", "good point", "ok, I'll look at it after lunch",
            "sorry, was in a meeting", "can you share the link?", "that matches what I saw")


def synthetic_day() -> list[ChannelMessage]:
    """A channel-day that needs no data folder: six conversations an hour and a half apart,
    each an opening question, replies with short reactions between them, and a closing
    decision or request (72 messages)."""
    rng = random.Random(2024)
    channel = ChannelRef("slack", "T0BENCH", "C0RELEASE", name="release-team")
    start = datetime(2024, 5, 1, 8, tzinfo=UTC)
    messages: list[ChannelMessage] = []
    for number, (opening, replies, closing) in enumerate(_CONVERSATIONS):
        moment = start + timedelta(hours=1.5 * number)
        lines = [opening]
        for reply in replies:
            lines += [reply, *rng.sample(_FILLERS, 2)]
        for text in [*lines, closing]:
            moment += timedelta(seconds=rng.randint(20, 140))
            person = rng.choice(_PEOPLE)
            messages.append(ChannelMessage(f"s{len(messages)}", channel, Author(person, person), text, moment))
    return messages


def channel_days() -> dict[str, list[ChannelMessage]]:
    days: dict[str, list[ChannelMessage]] = defaultdict(list)
    sources = sorted((SHARED_DATA / "discord").glob("*.csv")) + sorted(
        (SHARED_DATA / "slack").glob("clojurians-events-*.jsonl")
    )
    for path in sources:
        for message in meaningful(read_messages(path)):
            days[f"{message.channel.name or message.channel.channel} {message.timestamp:%Y-%m-%d}"].append(message)
    return days


def pick_day(which: str) -> tuple[str, list[ChannelMessage]]:
    """The busiest real channel-day, or the synthetic one when asked or without the data folder."""
    days = channel_days() if which == "busiest" else {}
    if not days:
        return SYNTHETIC_DAY, synthetic_day()
    busiest = max(days, key=lambda key: len(days[key]))
    return busiest, days[busiest]


def model_for(n_ctx: int) -> LlamaModel:
    model = LlamaModel(cache_dir=REPO / ".tidings" / "bench-models", n_ctx=n_ctx, n_threads=int(os.environ.get("BENCH_THREADS", "0")))
    model.count_tokens("warm up")
    return model


async def cost_and_wait(model: LlamaModel, name: str, messages: list[ChannelMessage]) -> dict[str, Any]:
    worker = ModelWorker()
    call_seconds: list[float] = []
    original = model.generate

    def timed(prompt: Prompt, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(prompt, **kwargs)
        finally:
            call_seconds.append(time.perf_counter() - started)

    model.generate = timed  # type: ignore[method-assign]
    # As `tidings run` builds it: the embedder names the topics (and ranks the quoted passages).
    embedder = SentenceTransformerEmbedder()
    summarizer = Summarizer(model=model, worker=worker, state=None, settings=DigestSettings(time_budget_s=3600), embedder=embedder)
    answering_home = tempfile.TemporaryDirectory(prefix="tidings-bench-")
    answering = docs_answerer(model, worker, embedder, Path(answering_home.name))
    started = time.perf_counter()
    task = asyncio.create_task(summarizer.summarize(messages))
    await asyncio.sleep(2.0)
    submitted = time.perf_counter()
    probe = Prompt("Answer briefly.", "Question: what is a digest?", "Answer:")

    def question() -> float:
        began = time.perf_counter()
        original(probe, max_tokens=16)
        return began

    question_wait = await worker.run(question) - submitted
    quote_seconds = await quote_answer_seconds(answering, task) if not task.done() else None
    digest = await task
    answering.state.close()
    answering_home.cleanup()
    wall = time.perf_counter() - started
    model.generate = original  # type: ignore[method-assign]
    worker.shutdown()
    input_tokens = model.count_tokens("\n".join(render_message(m) for m in messages))
    processed = digest.stats.prompt_tokens + digest.stats.completion_tokens
    return {
        "measure": "cost",
        "day": name,
        "n_ctx": model.n_ctx,
        "messages": len(messages),
        "input_tokens": input_tokens,
        "model_tokens": processed,
        "model_tokens_per_input_token": round(processed / input_tokens, 3),
        "model_calls": digest.stats.model_calls,
        "wall_s": round(wall, 1),
        "question_wait_s": round(question_wait, 2),
        "longest_digest_call_s": round(max(call_seconds or [0.0]), 2),
        "quote_answer_during_digest_s": round(quote_seconds, 2) if quote_seconds is not None else None,
        "digest": digest_to_markdown(digest),
    }


def docs_answerer(model: LlamaModel, worker: ModelWorker, embedder: SentenceTransformerEmbedder, home: Path) -> Services:
    """Services answering from Tidings' own docs, ingested into ``home``, sharing the digest's
    model and worker (as `tidings run` shares them)."""
    from bots.wiring import PROJECT_DOCS, build_services
    from core.config import load_settings
    from core.knowledge.ingesting import bundled_docs, ingest

    services = build_services(load_settings(None, home=home, environ={}), embedder=embedder, model=model, worker=worker)
    ingest(bundled_docs(PROJECT_DOCS), knowledge_base=services.knowledge_base, embedder=services.embedder)
    return services


async def quote_answer_seconds(services: Services, digest: asyncio.Task[Any]) -> float | None:
    """Seconds to a quote answer asked while ``digest`` runs; None if the digest ended before
    the answer came (the answer then did not run beside it)."""
    started = time.perf_counter()
    answer = await services.answerer.answer(Question(text="How do I connect Slack?", scopes=frozenset({PUBLIC_SCOPE})))
    seconds = time.perf_counter() - started
    if answer.style != "quote" or not answer.grounded:
        raise SystemExit(f"expected a grounded quote answer, got {answer.style!r}: {answer.text[:200]!r}")
    return None if digest.done() else seconds


async def run(n_ctxs: list[int], which: str) -> dict[str, Any]:
    name, messages = pick_day(which)
    runs: list[dict[str, Any]] = []
    for n_ctx in n_ctxs:
        result = await cost_and_wait(model_for(n_ctx), name, messages)
        print(result.pop("digest"), file=sys.stderr)
        runs.append(result)
    return {"benchmark": "digest", "machine": machine(), "day": name, "runs": runs}


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--n-ctx", type=int, nargs="+", default=[2048], help="model context sizes to measure (default 2048)")
    parser.add_argument(
        "--day",
        choices=("busiest", "synthetic"),
        default="busiest",
        help="the busiest channel-day in ../shared/data (the synthetic day where it is absent), or the synthetic day",
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.n_ctx, args.day))
    summary = ["| n_ctx | messages | model calls | model tokens / input token (target <= 1.3) | wall time | question wait / longest call "
               "| quote answer during the digest |",
               "| --- | --- | --- | --- | --- | --- | --- |"]
    summary += [
        f"| {r['n_ctx']} | {r['messages']} | {r['model_calls']} | {r['model_tokens_per_input_token']} | {r['wall_s']} s "
        f"| {r['question_wait_s']} s / {r['longest_digest_call_s']} s "
        f"| {'digest ended first' if r['quote_answer_during_digest_s'] is None else str(r['quote_answer_during_digest_s']) + ' s'} |"
        for r in result["runs"]
    ]
    emit(result, [f"Digest of {result['day']}", *summary], as_json=args.json)


if __name__ == "__main__":
    main()
