"""Answer overhead: ``Answerer.answer`` end to end against raw llama-cpp-python.

A small knowledge base (the real COVID FAQ when ``../shared/data`` is present, else a built-in
handbook) is ingested; then for each question, in turn:

  A. ``Answerer.answer`` end to end: retrieval (query embedding, hybrid search), prompt
     packing, generation on the model worker, the checks on what the model wrote;
  B. ``llama_cpp.Llama.create_completion`` on exactly the prompt A rendered, asked for exactly
     as many tokens as A generated, with the same sampling settings (temperature 0).

A and B run interleaved (A, B, B, A, A, B, ...: who goes first alternates by question and
round) so that noise from other processes hits both. Both drive the same ``Llama`` object
(same GGUF file, n_ctx, threads, batch), and its prompt cache is reset before every timed
call, so neither side gets the other's prompt evaluated for free.
Only questions that reach the model count (a question the knowledge base does not cover is
answered without it). Target: overhead at most 10%.

    .venv/bin/python bench/bench_answer_overhead.py [--questions 8] [--faq 60] [--rounds 2] [--json]
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    base_parser,
    emit,
    faq_entries,
    load_embedder,
    machine,
    packaged_model_file,
    settings_for,
    write_faq_csv,
)

TARGET_OVERHEAD_PCT = 10.0


def pick_questions(entries: list[tuple[str, str]], count: int) -> list[str]:
    """Questions spread evenly over the knowledge base."""
    if not entries:
        return []
    step = max(1, len(entries) // count)
    return [entries[i][0] for i in range(0, len(entries), step)][:count]


async def run(*, questions: int, faq: int, rounds: int) -> dict[str, Any]:
    from bots.wiring import build_services
    from core.answers.prompts import STOP_SEQUENCES, build_answer_prompt
    from core.knowledge.ingesting import ingest
    from core.types import Question

    home = Path(tempfile.mkdtemp(prefix="tidings-bench-answer-"))
    # The overhead of written answers around the model's own writing (quote answers: bench_answer_styles.py).
    settings = settings_for(home, llm={"model_path": str(packaged_model_file())}, answers={"style": "generate"})
    embedder = load_embedder(settings.embedding.batch_size)
    services = build_services(settings, embedder=embedder)
    answerer: Any = services.answerer  # what users get: the Answerer inside its metrics wrapper
    inner: Any = services.answerer.inner  # type: ignore[attr-defined]
    model: Any = services.model
    entries = faq_entries(faq)
    kb_file = write_faq_csv(home / "faq.csv", entries)
    ingest([kb_file], knowledge_base=services.knowledge_base, embedder=embedder)
    model.count_tokens("load the model")
    # B drives the very ``Llama`` object A uses: same file, settings and weights in memory.
    raw = model._load()
    stops = [*STOP_SEQUENCES, *model.stop_sequences()]
    llm = settings.llm

    def rebuild_prompt(text: str) -> tuple[str, float]:
        """The prompt A rendered for ``text`` (retrieval is deterministic), and the time packing took."""
        question = Question(text=text)
        hits = inner.focus(inner.retrieve(question))
        started = time.perf_counter()
        packed = build_answer_prompt(
            model, question=text, hits=hits, max_answer_tokens=llm.max_answer_tokens, max_sources=settings.answers.max_chunks
        )
        packing_s = time.perf_counter() - started
        return model.render(packed.prompt), packing_s

    def raw_completion(prompt: str, tokens: int) -> tuple[float, int]:
        raw.reset()
        started = time.perf_counter()
        result = raw.create_completion(
            prompt=prompt,
            max_tokens=tokens,
            stop=stops,
            temperature=llm.temperature,
            repeat_penalty=llm.repeat_penalty,
            top_k=40,
            top_p=0.95,
            seed=model._seed,
        )
        return time.perf_counter() - started, int(result["usage"]["completion_tokens"])

    # Planning pass (untimed): which questions reach the model, how many tokens each answer
    # takes, and the prompt it was written from. It also warms both sides.
    planned: dict[str, tuple[str, int]] = {}
    skipped: list[str] = []
    for text in pick_questions(entries, questions):
        answer = await answerer.answer(Question(text=text))
        if answer.timings.generate_ms <= 0:
            skipped.append(text)
            continue
        prompt = rebuild_prompt(text)[0]
        planned[text] = (prompt, answer.timings.completion_tokens)
        raw_completion(prompt, answer.timings.completion_tokens)

    samples: list[dict[str, Any]] = []
    for round_number in range(rounds):
        for position, (text, (prompt, tokens)) in enumerate(planned.items()):
            # Alternate who goes first, so a systematic order effect cancels out.
            raw_first = (position + round_number) % 2 == 1
            raw_s, raw_tokens = 0.0, -1
            if raw_first:
                raw_s, raw_tokens = raw_completion(prompt, tokens)
            raw.reset()
            started = time.perf_counter()
            answer = await answerer.answer(Question(text=text))
            total_s = time.perf_counter() - started
            if not raw_first or answer.timings.completion_tokens != raw_tokens:
                raw_first = False
                raw_s, raw_tokens = raw_completion(prompt, answer.timings.completion_tokens)
            packing_s = rebuild_prompt(text)[1]
            samples.append(
                {
                    "question": text,
                    "order": "BA" if raw_first else "AB",
                    "total_ms": total_s * 1000,
                    "retrieve_ms": answer.timings.retrieve_ms,
                    "prompt_ms": packing_s * 1000,
                    "generate_ms": answer.timings.generate_ms,
                    "raw_ms": raw_s * 1000,
                    "prompt_tokens": answer.timings.prompt_tokens,
                    "tokens": answer.timings.completion_tokens,
                    "raw_tokens": raw_tokens,
                }
            )
    services.worker.shutdown()
    shutil.rmtree(home, ignore_errors=True)
    return summarize(samples, skipped, kb_entries=len(entries))


def summarize(samples: list[dict[str, Any]], skipped: list[str], *, kb_entries: int) -> dict[str, Any]:
    if not samples:
        return {"benchmark": "answer_overhead", "error": "no question reached the model", "skipped": skipped}

    def total(key: str) -> float:
        return sum(s[key] for s in samples)

    ours, raw = total("total_ms"), total("raw_ms")
    other = ours - total("retrieve_ms") - total("prompt_ms") - total("generate_ms")
    per_question = [(s["total_ms"] - s["raw_ms"]) / s["raw_ms"] * 100 for s in samples]
    overhead = (ours - raw) / raw * 100
    n = len(samples)
    return {
        "benchmark": "answer_overhead",
        "questions": n,
        "kb_entries": kb_entries,
        "skipped_not_covered": len(skipped),
        "answer_ms_mean": round(ours / n, 1),
        "raw_llama_ms_mean": round(raw / n, 1),
        "overhead_pct": round(overhead, 1),
        "overhead_pct_median_per_question": round(statistics.median(per_question), 1),
        "breakdown_ms_mean": {
            "retrieval": round(total("retrieve_ms") / n, 1),
            "prompt_building": round(total("prompt_ms") / n, 1),
            "generation": round(total("generate_ms") / n, 1),
            "other": round(other / n, 1),
        },
        "generation_vs_raw_pct": round((total("generate_ms") - raw) / raw * 100, 1),
        "prompt_tokens_mean": round(total("prompt_tokens") / n),
        "tokens_mean": round(total("tokens") / n, 1),
        "raw_tokens_mean": round(total("raw_tokens") / n, 1),
        "target_pct": TARGET_OVERHEAD_PCT,
        "met": overhead <= TARGET_OVERHEAD_PCT,
        "machine": machine(),
        "samples": [{k: (round(v, 1) if isinstance(v, float) else v) for k, v in s.items()} for s in samples],
    }


def main() -> int:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--questions", type=int, default=8, help="questions asked per round")
    parser.add_argument("--faq", type=int, default=60, help="FAQ entries in the knowledge base")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds (each alternates who goes first)")
    args = parser.parse_args()
    result = asyncio.run(run(questions=args.questions, faq=args.faq, rounds=args.rounds))
    if "error" in result:
        emit(result, [f"answer overhead: {result['error']}"], as_json=args.json)
        return 1
    b = result["breakdown_ms_mean"]
    summary = [
        f"Answer overhead over {result['questions']} answered questions (KB of {result['kb_entries']} FAQ entries)",
        f"  Answerer.answer  {result['answer_ms_mean']:8.1f} ms mean   "
        f"(retrieval {b['retrieval']:.1f} + prompt building {b['prompt_building']:.1f} "
        f"+ generation {b['generation']:.1f} + other {b['other']:.1f})",
        f"  raw llama-cpp    {result['raw_llama_ms_mean']:8.1f} ms mean   "
        f"(same prompt, {result['tokens_mean']} tokens; raw wrote {result['raw_tokens_mean']})",
        f"  overhead {result['overhead_pct']:+.1f}% (median per question {result['overhead_pct_median_per_question']:+.1f}%; "
        f"generation alone {result['generation_vs_raw_pct']:+.1f}%); target <= {TARGET_OVERHEAD_PCT:.0f}%: "
        f"{'met' if result['met'] else 'NOT met'}",
        f"  machine: {result['machine']}",
    ]
    emit(result, summary, as_json=args.json)
    return 0 if result["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
