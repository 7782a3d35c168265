"""Answer styles: seconds per answer and time to the first visible text, quote against generate.

Tidings' own documentation (the out-of-the-box knowledge base) is ingested once; the development
questions about it (bench/data/docs_questions_dev.csv) are asked through the real Answerer in
both styles, interleaved question by question (quote, generate, generate, quote, ...) so that
noise from other processes hits both. The time to the first visible text is when a platform
could first show words: the first streamed piece of a generated answer, the whole answer of a
quote answer (it appears at once). Only questions both styles answered from the knowledge base
count. Target: quote's median at most half of generate's.

    .venv/bin/python bench/bench_answer_styles.py [--questions 20] [--json]
"""

from __future__ import annotations

import asyncio
import csv
import shutil
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from common import REPO, base_parser, emit, load_embedder, machine, packaged_model_file, settings_for

QUESTIONS = REPO / "bench" / "data" / "docs_questions_dev.csv"


async def timed(answerer: Any, text: str) -> tuple[Any, float, float]:
    from core.types import Question

    started = time.perf_counter()
    first: list[float] = []

    async def on_text(_: str) -> None:
        if not first:
            first.append(time.perf_counter() - started)

    answer = await answerer.answer(Question(text=text), on_text=on_text)
    total = time.perf_counter() - started
    return answer, total, first[0] if first else total


async def measure(count: int) -> dict[str, Any]:
    from bots.wiring import PROJECT_DOCS, build_services
    from core.knowledge.ingesting import bundled_docs, ingest
    from core.model.local import LlamaModel
    from core.model.worker import ModelWorker

    with QUESTIONS.open(encoding="utf-8") as handle:
        questions = [row["question"] for row in csv.DictReader(handle)][:count]
    home = Path(tempfile.mkdtemp(prefix="tidings-bench-styles-"))
    try:
        settings = settings_for(home, llm={"model_path": str(packaged_model_file())}, knowledge_base={"build_default": False})
        embedder = load_embedder()
        llm = settings.llm
        model = LlamaModel(model_path=llm.model_path, n_ctx=llm.n_ctx, n_threads=llm.n_threads, n_batch=llm.n_batch)
        worker = ModelWorker()
        styled = {
            style: build_services(
                replace(settings, answers=replace(settings.answers, style=style)), embedder=embedder, model=model, worker=worker
            )
            for style in ("quote", "generate")
        }
        ingest(bundled_docs(PROJECT_DOCS), knowledge_base=styled["quote"].knowledge_base, embedder=embedder)
        for style in styled:  # loads the model and the indexes outside the timings
            await timed(styled[style].answerer, questions[0])
        rows: dict[str, list[tuple[float, float]]] = {"quote": [], "generate": []}
        skipped = 0
        for number, text in enumerate(questions):
            order = ("quote", "generate") if number % 2 == 0 else ("generate", "quote")
            results = {style: await timed(styled[style].answerer, text) for style in order}
            if not all(answer.grounded for answer, _, _ in results.values()):
                skipped += 1
                continue
            for style, (_, total, first) in results.items():
                rows[style].append((total, first))
        worker.shutdown()
    finally:
        shutil.rmtree(home, ignore_errors=True)

    def median(style: str, index: int) -> float:
        return round(statistics.median(r[index] for r in rows[style]), 3) if rows[style] else 0.0

    result = {
        "questions": len(questions),
        "counted": len(rows["quote"]),
        "skipped_not_answered_by_both": skipped,
        "quote_median_s": median("quote", 0),
        "generate_median_s": median("generate", 0),
        "quote_first_text_median_s": median("quote", 1),
        "generate_first_text_median_s": median("generate", 1),
        "machine": machine(),
    }
    result["ratio"] = round(result["quote_median_s"] / result["generate_median_s"], 3) if result["generate_median_s"] else None
    return result


def main() -> None:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--questions", type=int, default=20)
    args = parser.parse_args()
    result = asyncio.run(measure(args.questions))
    emit(
        result,
        [
            f"answer styles on {result['counted']} docs questions answered by both ({result['questions']} asked)",
            f"  quote     median {result['quote_median_s']:.2f} s, first text {result['quote_first_text_median_s']:.2f} s",
            f"  generate  median {result['generate_median_s']:.2f} s, first text {result['generate_first_text_median_s']:.2f} s",
            f"  quote / generate: {result['ratio']} (target at most 0.5)",
        ],
        as_json=args.json,
    )


if __name__ == "__main__":
    main()
