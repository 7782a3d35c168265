"""Digest benchmarks: model cost, wall time, quality, and what a digest does to questions.

    .venv/bin/python bench/bench_digest.py [--meetings N] [--n-ctx 512 2048] [--skip-quality]

1. The busiest channel-day in ../shared/data (Discord support days and Clojurians Slack
   channel-days): tokens the model processes (prompt + completion) per input token (the
   day's messages rendered one per line; target at most 1.3) and wall time, per n_ctx.
2. Quality: ROUGE-L F1 of digests of QMSum validation meetings against their reference
   summary ("Summarize the whole meeting"), beside a baseline measured in the same run: the
   first sentences of the meeting, as many words as the reference.
3. Question wait: while the busiest day is being digested, a question-sized model call is
   submitted; its wait is compared with the longest single digest call (target: at most one
   call).

Prints one JSON object per measurement and a summary table (Markdown) at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core.config import DigestSettings  # noqa: E402
from core.digests.conversations import meaningful, render_message  # noqa: E402
from core.digests.format import digest_to_markdown  # noqa: E402
from core.digests.summarizing import Summarizer  # noqa: E402
from core.knowledge.loaders import read_messages  # noqa: E402
from core.model.local import LlamaModel  # noqa: E402
from core.model.worker import ModelWorker  # noqa: E402
from core.ports import Prompt  # noqa: E402
from core.types import Author, ChannelMessage, ChannelRef, Digest  # noqa: E402

DATA = REPO.parent / "shared" / "data"


def channel_days() -> dict[str, list[ChannelMessage]]:
    days: dict[str, list[ChannelMessage]] = defaultdict(list)
    sources = sorted((DATA / "discord").glob("*.csv")) + sorted((DATA / "slack").glob("clojurians-events-*.jsonl"))
    for path in sources:
        for message in meaningful(read_messages(path)):
            days[f"{message.channel.name or message.channel.channel} {message.timestamp:%Y-%m-%d}"].append(message)
    return days


def meeting(path: Path) -> tuple[list[ChannelMessage], str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    ref = ChannelRef("export", "qmsum", path.stem, name=path.stem)
    start = datetime(2024, 1, 1, 10, tzinfo=UTC)
    messages = [
        ChannelMessage(f"{path.stem}-{i}", ref, Author(t["speaker"], t["speaker"]), t["content"], start + timedelta(seconds=20 * i))
        for i, t in enumerate(data["meeting_transcripts"])
    ]
    reference = next(q["answer"] for q in data["general_query_list"] if "whole meeting" in q["query"].lower())
    return messages, reference


def digest_text(digest: Digest) -> str:
    """What ROUGE reads: headline and bullet texts, no links or markup."""
    return "\n".join([digest.headline, *(b.text for s in digest.sections for b in s.bullets)])


def lead_baseline(messages: list[ChannelMessage], words: int) -> str:
    out: list[str] = []
    for message in messages:
        out.extend(message.text.split())
        if len(out) >= words:
            break
    return " ".join(out[:words])


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
    summarizer = Summarizer(model=model, worker=worker, state=None, settings=DigestSettings(time_budget_s=3600))
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
    digest = await task
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
        "digest": digest_to_markdown(digest),
    }


async def quality(model: LlamaModel, paths: list[Path]) -> dict[str, Any]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    worker = ModelWorker()
    summarizer = Summarizer(model=model, worker=worker, state=None, settings=DigestSettings(time_budget_s=3600))
    ours: list[float] = []
    baseline: list[float] = []
    seconds: list[float] = []
    for path in paths:
        messages, reference = meeting(path)
        started = time.perf_counter()
        digest = await summarizer.summarize(messages)
        seconds.append(time.perf_counter() - started)
        ours.append(scorer.score(reference, digest_text(digest))["rougeL"].fmeasure)
        baseline.append(scorer.score(reference, lead_baseline(messages, len(reference.split())))["rougeL"].fmeasure)
        print(json.dumps({"measure": "meeting", "meeting": path.stem, "n_ctx": model.n_ctx, "rougeL": round(ours[-1], 4), "baseline_rougeL": round(baseline[-1], 4), "seconds": round(seconds[-1], 1)}), flush=True)
    worker.shutdown()
    return {
        "measure": "quality",
        "n_ctx": model.n_ctx,
        "meetings": len(paths),
        "rougeL_f1": round(sum(ours) / len(ours), 4),
        "baseline_rougeL_f1": round(sum(baseline) / len(baseline), 4),
        "mean_seconds_per_meeting": round(sum(seconds) / len(seconds), 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-ctx", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--meetings", type=int, default=5, help="QMSum validation meetings to score")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    days = channel_days()
    busiest = max(days, key=lambda key: len(days[key]))
    results: list[dict[str, Any]] = []
    for n_ctx in args.n_ctx:
        model = model_for(n_ctx)
        result = await cost_and_wait(model, busiest, days[busiest])
        print(json.dumps({k: v for k, v in result.items() if k != "digest"}), flush=True)
        print(result["digest"], file=sys.stderr)
        results.append(result)
        if not args.skip_quality:
            paths = sorted((DATA / "summaries" / "qmsum-val").glob("*.json"))[: args.meetings]
            quality_result = await quality(model, paths)
            print(json.dumps(quality_result), flush=True)
            results.append(quality_result)
    print("\n| measure | n_ctx | figure |\n| --- | --- | --- |")
    for r in results:
        if r["measure"] == "cost":
            print(f"| busiest day ({r['day']}, {r['messages']} msgs) model tokens / input token | {r['n_ctx']} | {r['model_tokens_per_input_token']} |")
            print(f"| busiest day wall time | {r['n_ctx']} | {r['wall_s']} s ({r['model_calls']} calls) |")
            print(f"| question wait during digest / longest digest call | {r['n_ctx']} | {r['question_wait_s']} s / {r['longest_digest_call_s']} s |")
        else:
            print(f"| QMSum ROUGE-L F1 ({r['meetings']} meetings), digest vs lead baseline | {r['n_ctx']} | {r['rougeL_f1']} vs {r['baseline_rougeL_f1']} |")


if __name__ == "__main__":
    asyncio.run(main())
