"""The four evaluations, each on real components and each beside a baseline measured in
the same run.

- retrieval: hit@1, hit@5 and MRR@10 of vector-only, full-text-only and hybrid search, per
  chunk size, on the FAQ set (its own questions and our reworded development variants) and the
  QA set (a hit is a chunk holding the gold answer), with the latency of each search.
- answers: QA questions through the real Answerer (token F1, gold containment, citation
  precision, grounded rate, seconds per answer) beside an extractive baseline (the best
  sentences of the top chunk, no model).
- refusals: answerable questions (each set against its own knowledge base) and unanswerable
  ones (each set against the other's, and off-topic questions): refusal precision and recall
  when refusing below a similarity threshold, the curve, the best and the configured point.
- digests: QMSum meetings through the real Summarizer against the reference summary of the
  whole meeting, beside the lead baseline (the meeting's first words, as many as the digest).

Every evaluation names its split (``split``: which data, and whether anything was tuned on it)
and compares itself with its baseline item by item (``comparisons``: the paired difference
with its 95% bootstrap interval, ``core.evaluation.stats``). Only a held-out split can say a
difference "beats the baseline"; the digests run on the checking half of the QMSum meetings
unless told otherwise.

Results are plain JSON-ready dictionaries; ``core.evaluation.report`` prints and plots them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from core.answers.answering import Answerer, best_sentences
from core.config import RetrievalSettings
from core.digests.summarizing import Summarizer
from core.evaluation import answer_sets, metrics
from core.evaluation.datasets import (
    Article,
    EvaluationDataError,
    FaqQuery,
    MeetingSplit,
    QaQuestion,
    faq_queries,
    find_faq_files,
    find_meeting_files,
    find_squad_files,
    held_out_set,
    meeting_messages,
    read_faq,
    read_lines,
    read_meeting,
    read_squad,
    read_variants,
    split_meetings,
)
from core.evaluation.digest_labels import bad_lines, evaluate_labelled_days
from core.evaluation.stats import bootstrap_mean, compare_paired
from core.evaluation.workbench import Workbench
from core.knowledge.ingesting import bundled_docs
from core.ports import KnowledgeBase, SearchMode
from core.types import PUBLIC_SCOPE, Digest, Hit, Question

MODES: tuple[SearchMode, ...] = ("vector", "text", "hybrid")
RANK_DEPTH = 10
DEFAULT_ANSWER_SAMPLE = 60
# Refusal thresholds swept, in steps fine enough to reproduce the configured 0.345.
THRESHOLDS = tuple(round(0.10 + 0.005 * i, 3) for i in range(161))
# Fusion settings tried by ``--sweep``: (rrf_k, vector_weight, text_weight).
FUSION_VARIANTS = ((60, 1.0, 1.0), (20, 1.0, 1.0), (5, 1.0, 1.0), (60, 1.0, 0.5), (60, 0.5, 1.0), (60, 1.0, 2.0))
PUBLIC = frozenset({PUBLIC_SCOPE})

Progress = Callable[[str], None]


@dataclass(frozen=True)
class EvalData:
    folder: Path
    faq: Path | None
    squad: Path | None
    meetings: tuple[Path, ...]
    variants: Path | None
    off_topic: Path | None
    docs_questions: Path | None = None  # questions about Tidings itself (CSV question,fact,source)
    polarity: Path | None = None  # questions whose sources say no (CSV question,polarity,source,evidence)
    docs: Path | None = None  # the folder of documents the docs questions are asked against
    docs_questions_check: Path | None = None  # more such questions, never tuned on (held out)
    chat_questions: Path | None = None  # questions a chat history answers (CSV question,fact,source: the export's file name)
    chat_questions_check: Path | None = None  # more such questions, of other days, never tuned on (held out)
    follow_ups: Path | None = None  # a question and a follow-up naming only what changes (CSV first,follow_up,fact,source)


@dataclass(frozen=True)
class EvalOptions:
    limit: int | None = None  # at most N questions per set (and only the articles they need), N turns per meeting
    # answers: questions through the model (default 30); digests: meetings, the shortest of the
    # split first (default all of the split); retrieval and refusals: QA questions spread over the set (default all)
    sample: int | None = None
    chunk_sizes: tuple[int, ...] = (128, 200, 254)
    sweep: bool = False  # also try fusion settings and numbers of packed chunks
    meeting_split: MeetingSplit = "check"  # digests: which half of the meetings
    meetings: bool = True  # digests: the QMSum meetings too, not only the labelled chat days
    digest_labels: Path | None = None  # digests: the hand-labelled chat days (bench/data/digest_labels_dev.jsonl)
    styles: tuple[str, ...] = ()  # answers: the styles to run (answer_sets.STYLE_KEYS); empty means all


@dataclass(frozen=True)
class Split:
    """Which data a figure was measured on, and whether anything was tuned on it."""

    name: str
    held_out: bool
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "held_out": self.held_out, "note": self.note}


RETRIEVAL_SPLIT = Split(
    "dev (tuned on)",
    False,
    "the fusion settings (rrf_k, the confidence weights) and the chunk size were chosen on these FAQ and QA "
    "questions, and the reworded FAQ questions are the development set bench/data/faq_variants_dev.csv: "
    "in-sample figures",
)
REFUSALS_SPLIT = Split(
    "dev (tuned on)",
    False,
    "the refusal threshold (retrieval.min_relevance) was chosen on these questions, and the off-topic questions "
    "are the development set bench/data/off_topic_dev.txt: in-sample figures",
)


def refusals_split(data: EvalData) -> Split:
    """The development split, or, with held-out off-topic questions (a ``*_check`` file),
    a split whose unanswerable side nothing was tuned on."""
    if data.off_topic is None or not held_out_set(data.off_topic):
        return REFUSALS_SPLIT
    reworded = data.variants.name if data.variants else "none"
    held = "also held out" if held_out_set(data.variants) else "a development set"
    return Split(
        "off-topic held out",
        False,
        f"the off-topic questions ({data.off_topic.name}) were written blind to the development list after the "
        f"refusal threshold was chosen, and never tuned on; the reworded FAQ questions ({reworded}) are {held}; the "
        "FAQ's own and the QA questions are those the threshold (retrieval.min_relevance) was chosen on",
    )


def retrieval_split(data: EvalData) -> Split:
    """The development split, or, with held-out reworded FAQ questions (a ``*_check`` file),
    one whose reworded questions nothing was tuned on."""
    if data.variants is None or not held_out_set(data.variants):
        return RETRIEVAL_SPLIT
    return Split(
        "reworded FAQ questions held out",
        False,
        f"the reworded FAQ questions ({data.variants.name}) were written blind to the development list and never "
        "tuned on; the FAQ's own and the QA questions are those the fusion settings and the chunk size were chosen on",
    )


ANSWERS_SPLIT = Split(
    "QA sample",
    False,
    "COVID-QA questions spread over the set; the prompt wording and answers.max_chunks were chosen on a "
    "10-question spread of the same set (part of the default 30): not held out",
)
MEETING_SPLIT_LABELS: dict[str, Split] = {
    "check": Split(
        "checking half (held out)",
        True,
        "QMSum validation meetings whose file name's SHA-256 starts with an odd byte; digest changes are tuned on "
        "the other half only (changes before the split, up to Change 6 in docs/quality-log.md, looked at all 35)",
    ),
    "tune": Split(
        "tuning half (tuned on)",
        False,
        "QMSum validation meetings whose file name's SHA-256 starts with an even byte: the half digest changes are "
        "tuned on, so in-sample figures",
    ),
    "all": Split(
        "all meetings (in-sample)",
        False,
        "every QMSum validation meeting, the tuning half included: in-sample figures",
    ),
}


def comparison_rows(
    split: Split, versus: str, subset: str, pairs: Sequence[tuple[str, Sequence[float], Sequence[float]]]
) -> list[dict[str, Any]]:
    """Ours against a baseline item by item, per metric: (metric, ours, baseline) per entry."""
    return [
        {
            "comparison": versus,
            "set": subset,
            "split": split.name,
            **compare_paired(metric, ours, baseline).as_dict(held_out=split.held_out),
        }
        for metric, ours, baseline in pairs
        if ours
    ]


def _reciprocal(ranks: Sequence[int | None]) -> list[float]:
    return [1.0 / r if r is not None else 0.0 for r in ranks]


def _hits(ranks: Sequence[int | None], k: int) -> list[float]:
    return [1.0 if r is not None and r <= k else 0.0 for r in ranks]


def locate(
    folder: Path,
    *,
    variants: Path | None = None,
    off_topic: Path | None = None,
    docs_questions: Path | None = None,
    polarity: Path | None = None,
    docs: Path | None = None,
    docs_questions_check: Path | None = None,
    chat_questions: Path | None = None,
    chat_questions_check: Path | None = None,
    follow_ups: Path | None = None,
) -> EvalData:
    """Find the sets under ``folder``; reworded variants and off-topic questions may also
    come from the folder (``*variants*.csv``, ``*off_topic*.txt``)."""
    if not folder.is_dir():
        raise EvaluationDataError(
            f"The evaluation data folder {folder} does not exist; pass --data DIR "
            "(a folder laid out like ../shared/data: an FAQ CSV, a SQuAD JSON, QMSum meetings)."
        )
    faqs = find_faq_files(folder)
    squads = find_squad_files(folder)
    found_variants = sorted(folder.rglob("*variants*.csv"))
    found_off_topic = sorted(folder.rglob("*off_topic*.txt"))
    return EvalData(
        folder=folder,
        faq=faqs[0] if faqs else None,
        squad=squads[0] if squads else None,
        meetings=tuple(find_meeting_files(folder)),
        variants=found_variants[0] if found_variants else variants if variants and variants.is_file() else None,
        off_topic=found_off_topic[0] if found_off_topic else off_topic if off_topic and off_topic.is_file() else None,
        docs_questions=docs_questions if docs_questions and docs_questions.is_file() else None,
        polarity=polarity if polarity and polarity.is_file() else None,
        docs=docs if docs and docs.is_dir() else None,
        docs_questions_check=docs_questions_check if docs_questions_check and docs_questions_check.is_file() else None,
        chat_questions=chat_questions if chat_questions and chat_questions.is_file() else None,
        chat_questions_check=chat_questions_check if chat_questions_check and chat_questions_check.is_file() else None,
        follow_ups=follow_ups if follow_ups and follow_ups.is_file() else None,
    )


def _need(path: Path | None, what: str, data: EvalData) -> Path:
    if path is None:
        raise EvaluationDataError(f"No {what} found under {data.folder}.")
    return path


def _first(items: Sequence[Any], limit: int | None) -> list[Any]:
    return list(items if limit is None else items[:limit])


def _sampled(items: Sequence[Any], options: EvalOptions) -> list[Any]:
    """A development set cut as ``--limit`` and ``--sample`` cut the QA questions."""
    chosen = _first(items, options.limit)
    return spread(chosen, options.sample) if options.sample else chosen


def spread(items: Sequence[Any], count: int) -> list[Any]:
    """``count`` items spread evenly over the sequence (so a sample sees many articles)."""
    if count >= len(items):
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


# -- the sets --------------------------------------------------------------------------------


def faq_set(data: EvalData, limit: int | None) -> tuple[Path, list[FaqQuery]]:
    faq = _need(data.faq, "FAQ CSV (question and answer columns)", data)
    variants = read_variants(data.variants) if data.variants else []
    queries = faq_queries(read_faq(faq), variants)
    own = [q for q in queries if not q.reworded]
    reworded = [q for q in queries if q.reworded]
    return faq, _first(own, limit) + _first(reworded, limit)


def qa_set(data: EvalData, limit: int | None) -> tuple[list[Article], list[QaQuestion]]:
    """Articles and questions; with a limit, the first questions and only their articles."""
    squad = _need(data.squad, "SQuAD JSON question-answering set", data)
    articles, questions = read_squad(squad)
    if limit is None:
        return articles, questions
    chosen = questions[:limit]
    wanted = {q.article_id for q in chosen}
    return [a for a in articles if a.id in wanted], chosen


# -- retrieval -------------------------------------------------------------------------------


def _rank_queries(
    kb: KnowledgeBase,
    queries: Sequence[str],
    relevant: Callable[[int, Hit], bool],
    mode: SearchMode,
) -> tuple[list[int | None], list[float]]:
    ranks: list[int | None] = []
    latencies: list[float] = []
    for index, query in enumerate(queries):
        started = time.perf_counter()
        hits = kb.search(query, scopes=PUBLIC, k=RANK_DEPTH, mode=mode)
        latencies.append((time.perf_counter() - started) * 1000)
        ranks.append(metrics.first_relevant_rank([relevant(index, hit) for hit in hits]))
    return ranks, latencies


def _row(ranks: Sequence[int | None], latencies: Sequence[float], **labels: Any) -> dict[str, Any]:
    return {
        **labels,
        "queries": len(ranks),
        "hit@1": round(metrics.hit_at_k(ranks, 1), 4),
        "hit@5": round(metrics.hit_at_k(ranks, 5), 4),
        "mrr": round(metrics.mean_reciprocal_rank(ranks), 4),
        "p50_ms": round(metrics.percentile(latencies, 50), 2),
        "p95_ms": round(metrics.percentile(latencies, 95), 2),
    }


def _faq_rows(
    kb: KnowledgeBase, queries: Sequence[FaqQuery], search_mode: SearchMode, **labels: Any
) -> tuple[list[dict[str, Any]], list[int | None]]:
    """The rows for all, own and reworded questions, and each query's rank."""
    ranks, latencies = _rank_queries(
        kb, [q.text for q in queries], lambda i, h: h.chunk.doc_key in queries[i].keys, search_mode
    )
    rows = [_row(ranks, latencies, split="all", **labels)]
    for split, reworded in (("own", False), ("reworded", True)):
        picked = [i for i, q in enumerate(queries) if q.reworded == reworded]
        if picked:
            rows.append(_row([ranks[i] for i in picked], [latencies[i] for i in picked], split=split, **labels))
    return rows, ranks


def _mode_comparisons(
    configured: str, ranks: dict[SearchMode, list[int | None]], subset: str, split: Split = RETRIEVAL_SPLIT
) -> list[dict[str, Any]]:
    """The configured search against each single search on the same queries: MRR@10 and hit@5."""
    rows: list[dict[str, Any]] = []
    ours = next((found for mode, found in ranks.items() if mode == configured), None)
    if ours is None:
        return rows
    for mode, theirs in ranks.items():
        if mode == configured:
            continue
        rows += comparison_rows(
            split,
            f"{configured} vs {_MODE_NAMES[mode]} baseline",
            subset,
            [("MRR@10", _reciprocal(ours), _reciprocal(theirs)), ("hit@5", _hits(ours, 5), _hits(theirs, 5))],
        )
    return rows


_MODE_NAMES = {"vector": "vector-only", "text": "full-text-only (BM25)", "hybrid": "hybrid"}


class _AnswerChunks:
    """Which chunks hold a question's gold answer (normalised text containment)."""

    def __init__(self, bench: Workbench, name: str) -> None:
        self.normalized = {c.id: metrics.normalize_answer(c.text) for c in bench.chunks.get(name, [])}
        self.by_source: dict[str, list[str]] = {}
        for chunk in bench.chunks.get(name, []):
            self.by_source.setdefault(chunk.source.rsplit("/", 1)[-1], []).append(chunk.id)

    def holds(self, chunk_id: str, golds: Sequence[str]) -> bool:
        text = self.normalized.get(chunk_id)
        if text is None:
            return False
        return any(g and g in text for g in (metrics.normalize_answer(a) for a in golds))

    def answerable(self, question: QaQuestion) -> bool:
        return any(self.holds(cid, question.answers) for cid in self.by_source.get(question.article_id, []))

    def relevance(self, questions: Sequence[QaQuestion]) -> Callable[[int, Hit], bool]:
        """Is a hit for the i-th question a chunk holding its gold answer?"""
        return lambda i, hit: self.holds(hit.chunk.id, questions[i].answers)


def evaluate_retrieval(bench: Workbench, data: EvalData, options: EvalOptions, progress: Progress) -> dict[str, Any]:
    configured = bench.settings.knowledge_base.chunk_tokens
    configured_mode = bench.settings.retrieval.mode
    sizes = sorted({*options.chunk_sizes, configured})
    split = retrieval_split(data)
    result: dict[str, Any] = {
        "configured": {"chunk_tokens": configured, "mode": configured_mode},
        "split": split.as_dict(),
    }
    comparisons: list[dict[str, Any]] = []

    if data.faq is not None:
        faq, queries = faq_set(data, options.limit)
        rows: list[dict[str, Any]] = []
        faq_ranks: dict[SearchMode, list[int | None]] = {}
        for size in sizes:
            progress(f"retrieval: FAQ knowledge base at {size} tokens")
            name = bench.faq_knowledge_base(faq, size)
            kb = bench.services(name, chunk_tokens=size).knowledge_base
            for mode in MODES:
                mode_rows, ranks = _faq_rows(kb, queries, mode, chunk_tokens=size, mode=mode)
                rows.extend(mode_rows)
                if size == configured:
                    faq_ranks[mode] = ranks
        result["faq"] = rows
        comparisons += _mode_comparisons(configured_mode, faq_ranks, f"FAQ, all {len(queries)} questions")
        reworded = [i for i, q in enumerate(queries) if q.reworded]
        if reworded:
            picked = {mode: [ranks[i] for i in reworded] for mode, ranks in faq_ranks.items()}
            named = data.variants.name if data.variants else "reworded"
            comparisons += _mode_comparisons(
                configured_mode, picked, f"FAQ, {len(reworded)} reworded ({named})", split
            )

    if data.squad is not None:
        articles, questions = qa_set(data, options.limit)
        names = {}
        for size in sizes:
            progress(f"retrieval: QA knowledge base at {size} tokens ({len(articles)} articles)")
            names[size] = bench.articles_knowledge_base("qa", articles, size)
        judges = {size: _AnswerChunks(bench, names[size]) for size in sizes}
        # Judge every chunk size on the same questions: those whose answer lies inside one
        # chunk at every size (a span cut by a chunk boundary cannot be hit whole).
        kept = [q for q in questions if all(judges[s].answerable(q) for s in sizes)]
        result["qa_questions"] = {"all": len(questions), "inside_one_chunk": len(kept)}
        if options.sample:
            kept = spread(kept, options.sample)
            result["qa_questions"]["evaluated"] = len(kept)
        rows = []
        qa_ranks: dict[SearchMode, list[int | None]] = {}
        for size in sizes:
            kb = bench.services(names[size], chunk_tokens=size).knowledge_base
            relevant = judges[size].relevance(kept)
            for mode in MODES:
                progress(f"retrieval: QA {mode} at {size} tokens")
                ranks, latencies = _rank_queries(kb, [q.question for q in kept], relevant, mode)
                rows.append(_row(ranks, latencies, chunk_tokens=size, mode=mode, split="all"))
                if size == configured:
                    qa_ranks[mode] = ranks
        result["qa"] = rows
        comparisons += _mode_comparisons(configured_mode, qa_ranks, f"QA, {len(kept)} questions")

        if options.sweep:
            result["fusion"] = _fusion_sweep(bench, data, options, names[configured], kept, judges[configured], progress)
    result["comparisons"] = comparisons
    return result


def _fusion_sweep(
    bench: Workbench,
    data: EvalData,
    options: EvalOptions,
    qa_name: str,
    questions: Sequence[QaQuestion],
    judge: _AnswerChunks,
    progress: Progress,
) -> list[dict[str, Any]]:
    configured = bench.settings.knowledge_base.chunk_tokens
    rows: list[dict[str, Any]] = []
    faq_name: str | None = None
    faq_queries_: list[FaqQuery] = []
    if data.faq is not None:
        faq, faq_queries_ = faq_set(data, options.limit)
        faq_name = bench.faq_knowledge_base(faq, configured)
    for rrf_k, vector_weight, text_weight in FUSION_VARIANTS:
        progress(f"retrieval: fusion rrf_k={rrf_k} vector={vector_weight} text={text_weight}")
        retrieval = replace(bench.settings.retrieval, rrf_k=rrf_k, vector_weight=vector_weight, text_weight=text_weight)
        labels = {"rrf_k": rrf_k, "vector_weight": vector_weight, "text_weight": text_weight}
        if faq_name is not None:
            kb = bench.services(faq_name, retrieval=retrieval).knowledge_base
            rows.extend(_faq_rows(kb, faq_queries_, "hybrid", set="faq", **labels)[0])
        kb = bench.services(qa_name, retrieval=retrieval).knowledge_base
        ranks, latencies = _rank_queries(kb, [q.question for q in questions], judge.relevance(questions), "hybrid")
        rows.append(_row(ranks, latencies, set="qa", split="all", **labels))
    return rows


# -- answers ---------------------------------------------------------------------------------


def answerer_for(bench: Workbench, name: str, **variant: Any) -> tuple[Answerer, Any]:
    services = bench.services(name, **variant)
    # Services wrap the Answerer to count and time answers; the evaluation reads its parts.
    answerer = getattr(services.answerer, "inner", services.answerer)
    if not isinstance(answerer, Answerer):
        raise EvaluationDataError("The evaluation needs Tidings' own Answerer.")
    return answerer, services


async def answer_sample(
    answerer: Answerer, questions: Sequence[QaQuestion], progress: Progress, label: str
) -> dict[str, Any]:
    f1s: list[float] = []
    contained: list[bool] = []
    grounded: list[bool] = []
    precisions: list[float] = []
    seconds: list[float] = []
    prompt_tokens: list[int] = []
    completion_tokens: list[int] = []
    baseline_f1: list[float] = []
    baseline_contained: list[bool] = []
    examples: list[dict[str, Any]] = []
    for number, item in enumerate(questions, start=1):
        progress(f"answers ({label}): {number}/{len(questions)}")
        question = Question(text=item.question, scopes=PUBLIC)
        hits = answerer.retrieve(question)
        started = time.perf_counter()
        answer = await answerer.answer(question)
        seconds.append(time.perf_counter() - started)
        f1s.append(metrics.best_f1(answer.text, item.answers))
        contained.append(metrics.contains_answer(answer.text, item.answers))
        grounded.append(answer.grounded)
        prompt_tokens.append(answer.timings.prompt_tokens)
        completion_tokens.append(answer.timings.completion_tokens)
        if answer.grounded:
            chunks = {h.chunk.id: h.chunk.text for h in hits}
            # Per chunk, as before sources of one section were merged: the figures stay comparable.
            cited = [chunks[i] for c in answer.citations for i in c.chunk_ids if i in chunks]
            precision = metrics.citation_precision(cited, item.answers)
            if precision is not None:
                precisions.append(precision)
        extractive = best_sentences(hits[0].chunk.text, item.question) if hits else ""
        baseline_f1.append(metrics.best_f1(extractive, item.answers))
        baseline_contained.append(metrics.contains_answer(extractive, item.answers))
        if len(examples) < 5:
            examples.append({"question": item.question, "gold": item.answers[0], "answer": answer.text})
    comparisons = comparison_rows(
        ANSWERS_SPLIT,
        "answers vs extractive baseline",
        f"QA, {len(questions)} questions",
        [("token F1", f1s, baseline_f1), ("contains gold", [float(c) for c in contained],
                                           [float(c) for c in baseline_contained])],
    )
    return {
        "questions": len(questions),
        "f1": round(metrics.mean(f1s), 4),
        "containment": round(metrics.mean(float(c) for c in contained), 4),
        "citation_precision": round(metrics.mean(precisions), 4),
        "grounded_rate": round(metrics.mean(float(g) for g in grounded), 4),
        "seconds_per_answer": round(metrics.mean(seconds), 2),
        "median_seconds": round(metrics.percentile(seconds, 50), 3),
        "p95_seconds": round(metrics.percentile(seconds, 95), 2),
        "prompt_tokens": round(metrics.mean(prompt_tokens), 1),
        "completion_tokens": round(metrics.mean(completion_tokens), 1),
        "baseline": {
            "name": "extractive: best sentences of the top chunk, no model",
            "f1": round(metrics.mean(baseline_f1), 4),
            "containment": round(metrics.mean(float(c) for c in baseline_contained), 4),
        },
        "comparisons": comparisons,
        "examples": examples,
    }


def chat_exports(data: EvalData, questions: Sequence[answer_sets.DocsQuestion]) -> list[Path]:
    """The chat exports the chat history questions name, found under the data folder; none
    unless every one is there (a small test folder holds none)."""
    names = {q.source for q in questions if q.source}
    found = {path.name: path for path in data.folder.rglob("*") if path.name in names and path.is_file()}
    return sorted(found.values()) if names and set(found) == names else []


def styled_answerers(
    bench: Workbench, name: str, styles: Sequence[tuple[str, str, str]]
) -> list[tuple[str, Answerer]]:
    """One Answerer per (label, style, selector), all on the knowledge base ``name``."""
    return [
        (label, answerer_for(bench, name, answers=answer_sets.styled(bench.settings.answers, style, selector))[0])
        for label, style, selector in styles
    ]


async def evaluate_answers(bench: Workbench, data: EvalData, options: EvalOptions, progress: Progress) -> dict[str, Any]:
    """Every answer style on the QA sample, the docs questions and the polarity set, in one run."""
    articles, questions = qa_set(data, options.limit)
    size = bench.settings.knowledge_base.chunk_tokens
    progress(f"answers: QA knowledge base at {size} tokens ({len(articles)} articles)")
    name = bench.articles_knowledge_base("qa", articles, size)
    sample = spread(questions, options.sample or DEFAULT_ANSWER_SAMPLE)
    configured, services = answerer_for(bench, name)
    model = getattr(services.model, "name", "model")
    measured = [
        entry for entry in answer_sets.ANSWER_STYLES
        if not options.styles or answer_sets.style_key(entry[1], entry[2]) in options.styles
    ]
    styles: dict[str, Any] = {}
    for label, answerer in styled_answerers(bench, name, measured):
        styles[label] = await answer_sample(answerer, sample, progress, label)
    # The configured style's row is the headline; its quote style is the one timed against generate.
    by_key = {answer_sets.style_key(style, selector): label for label, style, selector in measured}
    selector = configured.settings.quote_selector
    chosen = by_key.get(answer_sets.style_key(configured.style, selector), measured[0][0])
    result: dict[str, Any] = {
        "model": model,
        "n_ctx": bench.settings.llm.n_ctx,
        "max_chunks": bench.settings.answers.max_chunks,
        "style": configured.style,
        "split": ANSWERS_SPLIT.as_dict(),
        **styles[chosen],
        "styles": {label: {k: v for k, v in row.items() if k != "examples"} for label, row in styles.items()},
    }
    quoted = by_key.get(answer_sets.style_key("quote", selector))
    if quoted is not None and "generate" in styles:
        quote_s = styles[quoted]["median_seconds"]
        generate_s = styles["generate"]["median_seconds"]
        result["speed"] = {
            "quote_median_s": quote_s,
            "generate_median_s": generate_s,
            "ratio": round(quote_s / generate_s, 3) if generate_s else None,
        }
    if data.docs_questions and data.docs:
        docs_name = bench.documents_knowledge_base("docs", bundled_docs(data.docs), size)
        runs = styled_answerers(bench, docs_name, measured)
        for key, path, split in (
            ("docs_questions", data.docs_questions, "dev (tuned on)"),
            ("docs_questions_check", data.docs_questions_check, "held out (never tuned on)"),
        ):
            if path is not None:
                result[key] = {
                    "set": str(path),
                    "split": split,
                    **await answer_sets.docs_questions_run(
                        runs, _sampled(answer_sets.read_docs_questions(path), options), progress
                    ),
                }
        if data.follow_ups is not None:
            result["follow_ups"] = {
                "set": str(data.follow_ups),
                "split": "dev (tuned on)",
                **await answer_sets.follow_ups_run(
                    runs, _sampled(answer_sets.read_follow_ups(data.follow_ups), options), progress
                ),
            }
        if data.polarity and data.faq:
            polarity = _sampled(answer_sets.read_polarity(data.polarity), options)
            faq_name = bench.faq_knowledge_base(data.faq, size)
            by_set = []
            for kb_name, items in ((faq_name, [q for q in polarity if q.from_faq]), (docs_name, [q for q in polarity if not q.from_faq])):
                runs = styled_answerers(bench, kb_name, measured)
                by_set.append(await answer_sets.polarity_run(runs, items, progress))
            result["polarity"] = {
                "set": str(data.polarity),
                "split": "dev (tuned on)",
                "questions": sum(r["questions"] for r in by_set),
                "styles": {
                    label: {
                        "asserts_opposite": sum(r["styles"][label]["asserts_opposite"] for r in by_set),
                        "asserts_opposite_any_negation": sum(
                            r["styles"][label]["asserts_opposite_any_negation"] for r in by_set
                        ),
                        "contains_evidence": round(
                            sum(r["styles"][label]["contains_evidence"] * r["questions"] for r in by_set)
                            / max(1, sum(r["questions"] for r in by_set)),
                            4,
                        ),
                        "opposite_examples": [e for r in by_set for e in r["styles"][label]["opposite_examples"]][:5],
                    }
                    for label, _, _ in measured
                },
            }
    for key, path, split in (
        ("chat_questions", data.chat_questions, "dev (tuned on)"),
        ("chat_questions_check", data.chat_questions_check, "held out (never tuned on)"),
    ):
        chat = answer_sets.read_docs_questions(path) if path else []
        exports = chat_exports(data, chat)
        if path is None or not exports:
            continue
        # Each set on the history of its own days: the held-out days' exports are read by no other run.
        chat_name = bench.documents_knowledge_base(key, exports, size)
        runs = styled_answerers(bench, chat_name, measured)
        # Asked as from the channels whose history it is.
        scopes = frozenset(scope for source in runs[0][1].knowledge_base.sources() for scope in source.scopes)
        result[key] = {
            "set": str(path),
            "split": split,
            "exports": len(exports),
            **await answer_sets.docs_questions_run(
                runs,
                _sampled(chat, options),
                progress,
                scopes=scopes,
                label="chat history questions" + (" (held out)" if key.endswith("check") else ""),
            ),
        }
    if options.sweep:
        variants = []
        for max_chunks in sorted({2, 3, 6} - {bench.settings.answers.max_chunks}):
            answers = replace(bench.settings.answers, max_chunks=max_chunks)
            variant, _ = answerer_for(bench, name, answers=answers)
            row = await answer_sample(variant, sample, progress, f"max_chunks={max_chunks}")
            row.pop("examples")
            row.pop("comparisons")
            variants.append({"max_chunks": max_chunks, **row})
        result["max_chunks_sweep"] = variants
    return result


# -- refusals --------------------------------------------------------------------------------


def _refusal_signals(answerer: Answerer, text: str) -> tuple[float, float]:
    """The relevance the Answerer refuses on, and the best hit's similarity alone (the
    earlier signal, kept for comparison)."""
    hits = answerer.retrieve(Question(text=text, scopes=PUBLIC))
    similarity = max((h.similarity for h in hits if h.similarity is not None), default=0.0)
    return answerer.relevance(text, hits).score, similarity


@dataclass(frozen=True)
class _RefusalGroup:
    """Questions asked of one knowledge base, all of which should be answered or all refused."""

    knowledge_base: str
    label: str
    questions: list[str]
    should_refuse: bool


@dataclass
class _RefusalScores:
    """Each group's questions scored by both signals: the relevance the answerer decides on, and
    the best chunk's similarity alone (the signal before relevance)."""

    relevance: list[tuple[str, list[float], bool]] = field(default_factory=list)
    similarity: list[tuple[str, list[float], bool]] = field(default_factory=list)

    def cases(self, *, clean: bool = False, signal: str = "relevance") -> list[metrics.RefusalCase]:
        # The cross-set questions are all about COVID-19 and some are in fact covered by the
        # other knowledge base; answerable questions against off-topic ones have no such noise.
        groups = self.relevance if signal == "relevance" else self.similarity
        return [
            metrics.RefusalCase(should_refuse, score)
            for label, scores, should_refuse in groups
            if not clean or not should_refuse or label.startswith("off-topic")
            for score in scores
        ]


def evaluate_refusals(bench: Workbench, data: EvalData, options: EvalOptions, progress: Progress) -> dict[str, Any]:
    groups = _refusal_groups(bench, data, options, progress)
    scores = _score_refusals(bench, groups, progress)
    return _refusal_report(scores, bench.settings.retrieval.min_relevance, refusals_split(data))


def _refusal_groups(bench: Workbench, data: EvalData, options: EvalOptions, progress: Progress) -> list[_RefusalGroup]:
    """Answerable questions against their own knowledge base; the other set's and off-topic
    questions against a knowledge base that does not hold them."""
    size = bench.settings.knowledge_base.chunk_tokens
    groups: list[_RefusalGroup] = []
    off_topic = _first(read_lines(data.off_topic), options.limit) if data.off_topic else []
    faq_name = qa_name = None
    faq_questions: list[str] = []
    qa_questions: list[str] = []
    if data.faq is not None:
        faq, queries = faq_set(data, options.limit)
        faq_name = bench.faq_knowledge_base(faq, size)
        faq_questions = [q.text for q in queries if not q.reworded]
        groups.append(_RefusalGroup(faq_name, "FAQ questions -> FAQ", faq_questions, False))
        reworded = [q.text for q in queries if q.reworded]
        if reworded:
            groups.append(_RefusalGroup(faq_name, "reworded FAQ questions -> FAQ", reworded, False))
    if data.squad is not None:
        articles, questions = qa_set(data, options.limit)
        progress(f"refusals: QA knowledge base at {size} tokens ({len(articles)} articles)")
        qa_name = bench.articles_knowledge_base("qa", articles, size)
        qa_questions = [q.question for q in (spread(questions, options.sample) if options.sample else questions)]
        groups.append(_RefusalGroup(qa_name, "QA questions -> articles", qa_questions, False))
    if faq_name is not None and qa_questions:
        groups.append(_RefusalGroup(faq_name, "QA questions -> FAQ", qa_questions, True))
    if qa_name is not None and faq_questions:
        groups.append(_RefusalGroup(qa_name, "FAQ questions -> articles", faq_questions, True))
    for name in (faq_name, qa_name):
        if name is not None and off_topic:
            where = "FAQ" if name == faq_name else "articles"
            groups.append(_RefusalGroup(name, f"off-topic -> {where}", off_topic, True))
    if not groups:
        raise EvaluationDataError(f"No FAQ CSV or SQuAD JSON found under {data.folder}.")
    return groups


def _score_refusals(bench: Workbench, groups: list[_RefusalGroup], progress: Progress) -> _RefusalScores:
    scores = _RefusalScores()
    answerers: dict[str, Answerer] = {}
    for group in groups:
        progress(f"refusals: {group.label} ({len(group.questions)})")
        answerer = answerers.get(group.knowledge_base) or answerer_for(bench, group.knowledge_base)[0]
        answerers[group.knowledge_base] = answerer
        signals = [_refusal_signals(answerer, text) for text in group.questions]
        scores.relevance.append((group.label, [relevance for relevance, _ in signals], group.should_refuse))
        scores.similarity.append((group.label, [similarity for _, similarity in signals], group.should_refuse))
    return scores


def _refusal_point(p: metrics.RefusalPoint) -> dict[str, Any]:
    return {
        "threshold": p.threshold,
        "precision": round(p.precision, 4),
        "recall": round(p.recall, 4),
        "f1": round(p.f1, 4),
        "refused": p.refused,
        "answered": p.answered,
    }


def _refusal_intervals(cases: Sequence[metrics.RefusalCase], threshold: float) -> dict[str, list[float] | None]:
    """95% bootstrap intervals of refusal precision (over the questions refused) and recall
    (over the unanswerable ones): how far they could move on another set of this size."""

    def interval(values: list[float]) -> list[float] | None:
        if not values:
            return None
        found = bootstrap_mean(values)
        return [round(found.low, 4), round(found.high, 4)]

    refused = [float(c.should_refuse) for c in cases if c.score < threshold]
    unanswerable = [float(c.score < threshold) for c in cases if c.should_refuse]
    return {"precision_ci95": interval(refused), "recall_ci95": interval(unanswerable)}


def _refusal_report(scores: _RefusalScores, min_relevance: float, split: Split = REFUSALS_SPLIT) -> dict[str, Any]:
    point = _refusal_point
    cases = scores.cases()
    clean = scores.cases(clean=True)
    combined = scores.cases(signal="similarity")
    combined_clean = scores.cases(clean=True, signal="similarity")
    curve = metrics.threshold_curve(cases, THRESHOLDS)
    best = metrics.choose_threshold(curve)
    configured = metrics.refusal_point(cases, min_relevance)
    clean_curve = metrics.threshold_curve(clean, THRESHOLDS)
    return {
        "split": split.as_dict(),
        "cases": len(cases),
        "unanswerable": sum(1 for c in cases if c.should_refuse),
        "configured": point(configured),
        "best": point(best),
        "curve": [point(p) for p in curve],
        "clean": {
            "cases": len(clean),
            "unanswerable": sum(1 for c in clean if c.should_refuse),
            "configured": {**point(metrics.refusal_point(clean, configured.threshold)), **_refusal_intervals(clean, configured.threshold)},
            "best": point(metrics.choose_threshold(clean_curve)) if clean_curve and clean else None,
            "curve": [point(p) for p in clean_curve],
        },
        "candidate_signal": {
            "name": "the best chunk's cosine similarity alone (the signal before relevance)",
            "best": point(metrics.choose_threshold(metrics.threshold_curve(combined, THRESHOLDS))),
            "clean_best": point(metrics.choose_threshold(metrics.threshold_curve(combined_clean, THRESHOLDS)))
            if combined_clean
            else None,
        },
        "groups": [
            {
                "group": label,
                "should_refuse": should_refuse,
                "questions": len(group_scores),
                "median_relevance": round(metrics.percentile(group_scores, 50), 4),
                "refused_at_configured": round(metrics.mean(float(s < configured.threshold) for s in group_scores), 4),
                "refused_at_best": round(metrics.mean(float(s < best.threshold) for s in group_scores), 4),
            }
            for label, group_scores, should_refuse in scores.relevance
        ],
        "baseline": {
            "name": "never refuse",
            **point(metrics.refusal_point(cases, 0.0)),
        },
    }


# -- digests ---------------------------------------------------------------------------------


def digest_text(digest: Digest) -> str:
    """The words of a digest a reader reads: its headline and its bullets."""
    lines = [digest.headline.strip()]
    lines += [b.text.strip() for section in digest.sections for b in section.bullets]
    return "\n".join(line for line in lines if line)


async def evaluate_digests(bench: Workbench, data: EvalData, options: EvalOptions, progress: Progress) -> dict[str, Any]:
    labelled: dict[str, Any] | None = None
    if options.digest_labels is not None:
        if not options.digest_labels.is_file():
            raise EvaluationDataError(f"The labelled chat days file {options.digest_labels} does not exist.")
        services = bench.services(f"digest-labels-{time.time_ns()}")
        if not isinstance(services.summarizer, Summarizer):
            raise EvaluationDataError("The digest evaluation needs the Summarizer and the language model.")
        labelled = await evaluate_labelled_days(
            services.summarizer, options.digest_labels, data.folder, progress, gap_minutes=bench.settings.digests.gap_minutes
        )
    if not options.meetings:
        if labelled is None:
            raise EvaluationDataError("Nothing to measure: no labelled chat days and no meetings.")
        return {"labelled_days": labelled}
    if not data.meetings:
        raise EvaluationDataError(f"No QMSum meetings found under {data.folder}.")
    split = MEETING_SPLIT_LABELS[options.meeting_split]
    in_split = split_meetings(data.meetings, options.meeting_split)
    if not in_split:
        raise EvaluationDataError(f"No QMSum meetings of the {split.name} under {data.folder}.")
    meetings = [read_meeting(path) for path in in_split]
    meetings = [m for m in meetings if m.reference and m.turns]
    # With --sample, the shortest meetings first: each costs minutes of model time on a CPU.
    meetings.sort(key=lambda m: (len(m.text.split()), m.name))
    meetings = meetings[: options.sample or len(meetings)]
    # A fresh state store each run: the Summarizer caches notes, and a reused cache would
    # hide the model's cost.
    services = bench.services(f"digests-{time.time_ns()}")
    summarizer = services.summarizer
    model = services.model
    if summarizer is None or model is None:
        raise EvaluationDataError("The digest evaluation needs the Summarizer and the language model.")
    rows: list[dict[str, Any]] = []
    # Unrounded per-meeting scores, for the paired comparison with the lead baseline.
    scores: dict[str, tuple[list[float], list[float]]] = {
        name: ([], []) for name in ("ROUGE-L", "ROUGE-1", "ROUGE-2", "key points covered")
    }
    for number, meeting in enumerate(meetings, start=1):
        turns = meeting.turns if options.limit is None else meeting.turns[: options.limit]
        meeting = replace(meeting, turns=tuple(turns))
        progress(f"digests: {meeting.name} ({number}/{len(meetings)}, {len(turns)} turns)")
        messages = meeting_messages(meeting)
        started = time.perf_counter()
        digest = await summarizer.summarize(messages)
        seconds = time.perf_counter() - started
        summary = digest_text(digest)
        words = len(summary.split())
        lead = metrics.lead_baseline(meeting.text, words)
        points = metrics.key_points(meeting.reference)
        ours = metrics.rouge(summary, meeting.reference)
        baseline = metrics.rouge(lead, meeting.reference)
        coverage = metrics.key_point_coverage(summary, points)
        lead_coverage = metrics.key_point_coverage(lead, points)
        for name, mine, theirs in (
            ("ROUGE-L", ours.rougeL, baseline.rougeL),
            ("ROUGE-1", ours.rouge1, baseline.rouge1),
            ("ROUGE-2", ours.rouge2, baseline.rouge2),
            ("key points covered", coverage, lead_coverage),
        ):
            scores[name][0].append(mine)
            scores[name][1].append(theirs)
        input_tokens = model.count_tokens("\n".join(f"{s}: {c}" for s, c in meeting.turns))
        spent = digest.stats.prompt_tokens + digest.stats.completion_tokens
        rows.append(
            {
                "meeting": meeting.name,
                "turns": len(meeting.turns),
                "input_tokens": input_tokens,
                "summary_words": words,
                "rouge1": round(ours.rouge1, 4),
                "rouge2": round(ours.rouge2, 4),
                "rougeL": round(ours.rougeL, 4),
                "key_points": len(points),
                "coverage": round(coverage, 4),
                "lead_rouge1": round(baseline.rouge1, 4),
                "lead_rouge2": round(baseline.rouge2, 4),
                "lead_rougeL": round(baseline.rougeL, 4),
                "lead_coverage": round(lead_coverage, 4),
                "model_calls": digest.stats.model_calls,
                "model_tokens": spent,
                "tokens_per_input_token": round(spent / input_tokens, 3) if input_tokens else 0.0,
                "covered_messages": digest.coverage.covered_messages,
                "messages": digest.coverage.messages,
                "seconds": round(seconds, 1),
                # Lines a reader should never see (a placeholder, small talk, a repeat), counted
                # on meetings as on the labelled chat days.
                "bad_lines": bad_lines(digest),
                "digest": summary,
            }
        )

    def average(key: str) -> float:
        return round(metrics.mean(float(r[key]) for r in rows), 4)

    keys = ("rouge1", "rouge2", "rougeL", "coverage", "lead_rouge1", "lead_rouge2", "lead_rougeL", "lead_coverage",
            "tokens_per_input_token", "seconds")
    sampled = len(rows) < len(in_split)
    return {
        **({"labelled_days": labelled} if labelled is not None else {}),
        "model": getattr(model, "name", "model"),
        "n_ctx": bench.settings.llm.n_ctx,
        "split": {
            **split.as_dict(),
            "meetings_in_split": len(in_split),
            "meetings_in_data": len(data.meetings),
            "sample": f"the {len(rows)} shortest of the split" if sampled else None,
            "turns_limit": options.limit,
        },
        "meetings": rows,
        "mean": {key: average(key) for key in keys},
        "baseline": {"name": "lead: the meeting's first words, as many as the digest has"},
        "comparisons": comparison_rows(
            split,
            "digests vs lead baseline",
            f"QMSum, {len(rows)} meetings",
            [(name, mine, theirs) for name, (mine, theirs) in scores.items()],
        ),
    }


EVALUATIONS = ("retrieval", "answers", "refusals", "digests")


async def run_evaluations(
    names: Sequence[str],
    *,
    bench: Workbench,
    data: EvalData,
    options: EvalOptions,
    progress: Progress,
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        started = time.perf_counter()
        if name == "retrieval":
            results[name] = evaluate_retrieval(bench, data, options, progress)
        elif name == "answers":
            results[name] = await evaluate_answers(bench, data, options, progress)
        elif name == "refusals":
            results[name] = evaluate_refusals(bench, data, options, progress)
        elif name == "digests":
            results[name] = await evaluate_digests(bench, data, options, progress)
        else:
            raise EvaluationDataError(f"Unknown evaluation {name!r}; choose from {', '.join(EVALUATIONS)}.")
        results[name]["seconds"] = round(time.perf_counter() - started, 1)
    return results


def retrieval_settings_summary(settings: RetrievalSettings) -> dict[str, Any]:
    return {
        "k": settings.k,
        "mode": settings.mode,
        "rrf_k": settings.rrf_k,
        "vector_weight": settings.vector_weight,
        "text_weight": settings.text_weight,
        "min_relevance": settings.min_relevance,
        "candidates": settings.candidates,
    }
