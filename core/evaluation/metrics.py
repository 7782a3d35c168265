"""Quality metrics: pure functions over plain values, each checked by hand in the tests.

Retrieval: hit@k and mean reciprocal rank over the rank of the first relevant result.
Answers: SQuAD's token F1 (after its normalisation: lower case, no punctuation, no articles),
containment of the gold span, and the share of citations whose chunk holds the gold answer.
Refusals: precision and recall of refusing, when a refusal is decided by a score falling
below a threshold, and the curve over thresholds that picks the default. Digests: ROUGE-1/2/L
(rouge-score, stemmed) and the share of a reference's key points a summary covers.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.text import content_words

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


# -- text ------------------------------------------------------------------------------------


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, punctuation and articles removed, spaces collapsed."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 between a prediction and one gold answer."""
    predicted = normalize_answer(prediction).split()
    wanted = normalize_answer(gold).split()
    if not predicted or not wanted:
        return float(predicted == wanted)
    common = Counter(predicted) & Counter(wanted)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(wanted)
    return 2 * precision * recall / (precision + recall)


def best_f1(prediction: str, golds: Sequence[str]) -> float:
    """Token F1 against the closest of several gold answers (SQuAD takes the maximum)."""
    return max((token_f1(prediction, gold) for gold in golds), default=0.0)


def contains_answer(text: str, golds: Sequence[str]) -> bool:
    """True when the normalised text contains one of the normalised gold answers."""
    haystack = normalize_answer(text)
    return any(needle and needle in haystack for needle in (normalize_answer(g) for g in golds))


def citation_precision(cited_texts: Sequence[str], golds: Sequence[str]) -> float | None:
    """Share of cited chunks that contain a gold answer; None when nothing was cited."""
    if not cited_texts:
        return None
    return sum(1 for text in cited_texts if contains_answer(text, golds)) / len(cited_texts)


# -- rankings --------------------------------------------------------------------------------


def first_relevant_rank(relevant: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant result, or None when none is relevant."""
    for rank, is_relevant in enumerate(relevant, start=1):
        if is_relevant:
            return rank
    return None


def hit_at_k(ranks: Sequence[int | None], k: int) -> float:
    """Share of queries whose first relevant result is within the top ``k``."""
    if not ranks:
        return 0.0
    return sum(1 for rank in ranks if rank is not None and rank <= k) / len(ranks)


def mean_reciprocal_rank(ranks: Sequence[int | None]) -> float:
    """Mean of 1/rank of the first relevant result (0 when none was found)."""
    if not ranks:
        return 0.0
    return sum(1.0 / rank for rank in ranks if rank is not None) / len(ranks)


def mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# -- refusals --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefusalCase:
    """One question asked of one knowledge base: whether the answer is there, and the score
    a refusal is decided on (the best hit's similarity)."""

    should_refuse: bool
    score: float


@dataclass(frozen=True)
class RefusalPoint:
    threshold: float
    precision: float
    recall: float
    refused: int
    answered: int

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def refusal_point(cases: Sequence[RefusalCase], threshold: float) -> RefusalPoint:
    """Refusing when ``score < threshold``: precision (refusals that were right) and recall
    (unanswerable questions refused). Precision is 1.0 when nothing is refused, by convention."""
    refused = [case for case in cases if case.score < threshold]
    right = sum(1 for case in refused if case.should_refuse)
    unanswerable = sum(1 for case in cases if case.should_refuse)
    precision = right / len(refused) if refused else 1.0
    recall = right / unanswerable if unanswerable else 1.0
    return RefusalPoint(threshold, precision, recall, len(refused), len(cases) - len(refused))


def threshold_curve(cases: Sequence[RefusalCase], thresholds: Sequence[float]) -> list[RefusalPoint]:
    return [refusal_point(cases, t) for t in thresholds]


def choose_threshold(curve: Sequence[RefusalPoint]) -> RefusalPoint:
    """The point where the worse of precision and recall is best (both targets matter
    equally); among equals, the one with the better F1, then the lower threshold (fewer
    needless refusals)."""
    if not curve:
        raise ValueError("An empty threshold curve has no best point.")
    return max(curve, key=lambda p: (round(min(p.precision, p.recall), 6), round(p.f1, 6), -p.threshold))


# -- digests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rouge:
    rouge1: float
    rouge2: float
    rougeL: float


def rouge(summary: str, reference: str) -> Rouge:
    """ROUGE-1/2/L F-measures (rouge-score, Porter-stemmed)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    scores = scorer.score(reference, summary)
    return Rouge(scores["rouge1"].fmeasure, scores["rouge2"].fmeasure, scores["rougeL"].fmeasure)


def key_points(reference: str) -> list[str]:
    """A reference summary's key points: its sentences."""
    return [s.strip() for s in _SENTENCE_END.split(reference.strip()) if len(content_words(s)) >= 2]


def key_point_coverage(summary: str, points: Sequence[str], *, share: float = 0.5) -> float:
    """Share of key points at least ``share`` of whose content words appear in the summary."""
    if not points:
        return 0.0
    words = content_words(summary)
    covered = 0
    for point in points:
        wanted = content_words(point)
        if wanted and len(wanted & words) / len(wanted) >= share:
            covered += 1
    return covered / len(points)


def lead_baseline(text: str, words: int) -> str:
    """The first sentences of ``text`` up to ``words`` words (the last sentence may be cut)."""
    taken: list[str] = []
    for word in text.split():
        if len(taken) >= words:
            break
        taken.append(word)
    return " ".join(taken)
