"""Answer styles side by side, on the QA sample and on the development sets of questions about
Tidings itself and questions whose sources say no.

- ``docs_questions_dev.csv`` (question, fact, source): a newcomer's questions, asked of
  Tidings' own documentation; an answer is right when it contains the fact.
- ``chat_questions_dev.csv`` (question, fact, source): a support channel's questions asked
  again in new words, of its ingested chat history (the ``source`` export); an answer is right
  when it contains the fact, from the reply that answered it there.
- ``follow_ups_dev.csv`` (first, follow_up, fact, source): a newcomer's question, then a
  follow-up in the same thread that names only what changes ("and slack?"), asked of Tidings'
  own documentation; an answer to the follow-up is right when it contains the fact.
- ``polarity_dev.csv`` (question, polarity, source, evidence): asked of the FAQ or the docs;
  an answer *asserts the opposite* when it is grounded and says yes where the source says no
  (or the reverse).
Every style runs on the same questions in one run, beside the extractive baseline.
"""

from __future__ import annotations

import csv
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from core.answers.answering import Answerer, best_sentences
from core.answers.checks import is_negative
from core.answers.quoting import opening_yes_or_no
from core.config import AnswerSettings
from core.evaluation import metrics
from core.evaluation.datasets import EvaluationDataError
from core.evaluation.stats import bootstrap_mean
from core.types import PUBLIC_SCOPE, Question, Turn

Progress = Callable[[str], None]

# (label, style, quote selector): every style the product offers, measured together.
ANSWER_STYLES: tuple[tuple[str, str, str], ...] = (
    ("quote, model selects", "quote", "model"),
    ("quote, embedding selects", "quote", "embedding"),
    ("generate", "generate", "model"),
)


def style_key(style: str, selector: str) -> str:
    """The name ``tidings eval answers --styles`` knows a style by."""
    return style if style == "generate" else f"{style}-{selector}"


STYLE_KEYS = tuple(style_key(style, selector) for _, style, selector in ANSWER_STYLES)


def styled(settings: AnswerSettings, style: str, selector: str) -> AnswerSettings:
    return replace(settings, style=style, quote_selector=selector)


@dataclass(frozen=True)
class DocsQuestion:
    question: str
    fact: str
    source: str


@dataclass(frozen=True)
class FollowUp:
    """A question, then a follow-up in the same thread that names only what changes ("and
    slack?"); ``fact`` answers the follow-up."""

    first: str
    follow_up: str
    fact: str
    source: str


@dataclass(frozen=True)
class PolarityQuestion:
    question: str
    negative: bool
    source: str
    evidence: str
    from_faq: bool


def _rows(path: Path, needed: Sequence[str]) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = [name for name in needed if rows and name not in rows[0]]
    if missing:
        raise EvaluationDataError(f"{path} lacks the column(s) {', '.join(missing)}.")
    return [{k: (v or "").strip() for k, v in row.items() if k} for row in rows]


def read_docs_questions(path: Path) -> list[DocsQuestion]:
    rows = _rows(path, ("question", "fact"))
    return [DocsQuestion(r["question"], r["fact"], r.get("source", "")) for r in rows if r["question"] and r["fact"]]


def read_follow_ups(path: Path) -> list[FollowUp]:
    rows = _rows(path, ("first", "follow_up", "fact"))
    return [
        FollowUp(r["first"], r["follow_up"], r["fact"], r.get("source", ""))
        for r in rows
        if r["first"] and r["follow_up"] and r["fact"]
    ]


def read_polarity(path: Path) -> list[PolarityQuestion]:
    rows = _rows(path, ("question", "polarity", "source"))
    return [
        PolarityQuestion(
            question=r["question"],
            negative=r["polarity"].lower() == "negative",
            source=r["source"],
            evidence=r.get("evidence", ""),
            from_faq=not r["source"].endswith(".md"),
        )
        for r in rows
        if r["question"] and r["polarity"].lower() in {"negative", "positive"}
    ]


def _plain(text: str) -> str:
    return " ".join(text.lower().replace("`", "").replace("*", "").split())


def contains_fact(answer: str, fact: str) -> bool:
    """The fact is in the answer, compared without case, markup or spacing. A full stop (or
    colon, semicolon, comma, exclamation mark) that ends the fact is not part of it: "Re-ingesting an unchanged file writes nothing." is in
    "... re-ingesting an unchanged file writes nothing, and ..."."""
    return _plain(fact).rstrip(".!;:, ") in _plain(answer)


def says_no(answer: str) -> bool:
    """Whether an answer says no: its opening yes or no when it has one ("Yes, your employer
    keeps paying you. Should your employer not pay, ..." says yes), else any negation in it."""
    opening = opening_yes_or_no(answer)
    return opening == "no" if opening is not None else is_negative(answer)


def asserts_opposite(answer: str, *, grounded: bool, negative: bool, any_negation: bool = False) -> bool:
    """A grounded answer whose polarity is not the source's. ``any_negation``: read any "not"
    in it as a no, the reading used until 4 December 2026 (kept to compare runs)."""
    said_no = is_negative(answer) if any_negation else says_no(answer)
    return grounded and said_no != negative


async def ask(answerer: Answerer, question: str, scopes: frozenset[str] = frozenset({PUBLIC_SCOPE})) -> tuple[Any, float]:
    started = time.perf_counter()
    answer = await answerer.answer(Question(text=question, scopes=scopes))
    return answer, time.perf_counter() - started


async def docs_questions_run(
    answerers: Sequence[tuple[str, Answerer]],
    questions: Sequence[DocsQuestion],
    progress: Progress,
    *,
    scopes: frozenset[str] = frozenset({PUBLIC_SCOPE}),
    label: str = "docs questions",
) -> dict[str, Any]:
    """Each answerer's share of answers that contain their question's fact, beside the
    extractive baseline; asked as from a channel that sees ``scopes``."""
    rows: dict[str, Any] = {}
    first = answerers[0][1]
    baseline = []
    for item in questions:
        hits = first.retrieve(Question(text=item.question, scopes=scopes))
        baseline.append(float(bool(hits) and contains_fact(best_sentences(hits[0].chunk.text, item.question), item.fact)))
    for style, answerer in answerers:
        found: list[float] = []
        seconds: list[float] = []
        misses: list[dict[str, str]] = []
        for number, item in enumerate(questions, start=1):
            progress(f"{label} ({style}): {number}/{len(questions)}")
            answer, took = await ask(answerer, item.question, scopes)
            seconds.append(took)
            found.append(float(contains_fact(answer.text, item.fact)))
            if not found[-1] and len(misses) < 5:
                misses.append({"question": item.question, "fact": item.fact, "answer": answer.text[:300]})
        rows[style] = {
            "contains_fact": round(metrics.mean(found), 4),
            "interval": metrics_interval(found),
            "median_seconds": round(statistics.median(seconds), 2) if seconds else None,
            "misses": misses,
        }
    return {
        "questions": len(questions),
        "styles": rows,
        "baseline": {"name": "extractive: best sentences of the top chunk", "contains_fact": round(metrics.mean(baseline), 4)},
    }


async def follow_ups_run(
    answerers: Sequence[tuple[str, Answerer]], items: Sequence[FollowUp], progress: Progress
) -> dict[str, Any]:
    """Each answerer's share of follow-ups whose answer contains their fact, asked in a thread
    after the first question and the answerer's own answer to it, beside the extractive
    baseline: the best sentences of the top chunk found for the thread's words."""
    rows: dict[str, Any] = {}
    searcher = answerers[0][1]
    baseline = []
    for item in items:
        hits = searcher.retrieve(Question(text=item.follow_up, conversation=(Turn("asker", item.first),)))
        baseline.append(float(bool(hits) and contains_fact(best_sentences(hits[0].chunk.text, item.follow_up), item.fact)))
    for style, answerer in answerers:
        found: list[float] = []
        misses: list[dict[str, str]] = []
        for number, item in enumerate(items, start=1):
            progress(f"follow-up questions ({style}): {number}/{len(items)}")
            before, _ = await ask(answerer, item.first)
            thread = (Turn("asker", item.first), Turn("Tidings", before.text, by_bot=True))
            answer = await answerer.answer(Question(text=item.follow_up, scopes=frozenset({PUBLIC_SCOPE}), conversation=thread))
            found.append(float(contains_fact(answer.text, item.fact)))
            if not found[-1] and len(misses) < 5:
                misses.append({"first": item.first, "follow_up": item.follow_up, "fact": item.fact, "answer": answer.text[:300]})
        rows[style] = {"contains_fact": round(metrics.mean(found), 4), "interval": metrics_interval(found), "misses": misses}
    return {
        "questions": len(items),
        "styles": rows,
        "baseline": {"name": "extractive: best sentences of the top chunk, searched with the thread", "contains_fact": round(metrics.mean(baseline), 4)},
    }


async def polarity_run(
    answerers: Sequence[tuple[str, Answerer]], questions: Sequence[PolarityQuestion], progress: Progress
) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for label, answerer in answerers:
        opposite: list[dict[str, str]] = []
        any_negation = 0
        evidence = 0
        for number, item in enumerate(questions, start=1):
            progress(f"polarity ({label}): {number}/{len(questions)}")
            answer, _ = await ask(answerer, item.question)
            if asserts_opposite(answer.text, grounded=answer.grounded, negative=item.negative):
                opposite.append({"question": item.question, "answer": answer.text[:300], "style": answer.style})
            any_negation += asserts_opposite(answer.text, grounded=answer.grounded, negative=item.negative, any_negation=True)
            evidence += bool(item.evidence) and contains_fact(answer.text, item.evidence)
        rows[label] = {
            "asserts_opposite": len(opposite),
            "asserts_opposite_any_negation": any_negation,
            "contains_evidence": round(evidence / max(1, len(questions)), 4),
            "opposite_examples": opposite[:5],
        }
    return {"questions": len(questions), "styles": rows}


def metrics_interval(values: Sequence[float]) -> list[float] | None:
    """The 95% bootstrap interval of a mean."""
    if not values:
        return None
    interval = bootstrap_mean(values)
    return [round(interval.low, 4), round(interval.high, 4)]
