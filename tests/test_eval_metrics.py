"""The evaluation's metric functions on examples worked out by hand."""

from __future__ import annotations

import pytest

from core.evaluation import metrics
from core.evaluation.answer_sets import asserts_opposite, says_no
from core.evaluation.metrics import RefusalCase


def test_normalisation_follows_squad() -> None:
    assert metrics.normalize_answer("The  Cat, sat!") == "cat sat"
    assert metrics.normalize_answer("An apple a day") == "apple day"


def test_token_f1_by_hand() -> None:
    # "cat sat" against "cat sat down": precision 2/2, recall 2/3, F1 = 0.8.
    assert metrics.token_f1("the cat sat", "a cat sat down") == pytest.approx(0.8)
    assert metrics.token_f1("dogs", "cats") == 0.0
    assert metrics.token_f1("", "") == 1.0
    assert metrics.token_f1("", "cats") == 0.0
    assert metrics.best_f1("cat sat", ["dog", "cat sat"]) == 1.0
    assert metrics.best_f1("cat", []) == 0.0


def test_containment_and_citation_precision() -> None:
    assert metrics.contains_answer("It is spread by Droplets.", ["spread by droplets"])
    assert not metrics.contains_answer("It is spread by droplets.", ["by air"])
    assert metrics.citation_precision(["x droplets y", "nothing here"], ["droplets"]) == 0.5
    assert metrics.citation_precision([], ["droplets"]) is None


def test_rank_metrics_by_hand() -> None:
    assert metrics.first_relevant_rank([False, True, True]) == 2
    assert metrics.first_relevant_rank([False, False]) is None
    ranks = [1, 3, None, 6]
    assert metrics.hit_at_k(ranks, 1) == 0.25
    assert metrics.hit_at_k(ranks, 5) == 0.5
    # (1 + 1/3 + 0 + 1/6) / 4
    assert metrics.mean_reciprocal_rank(ranks) == pytest.approx(0.375)
    assert metrics.hit_at_k([], 5) == 0.0
    assert metrics.percentile([4, 1, 3, 2], 50) == 2.5
    assert metrics.percentile([1, 2, 3, 4, 5], 100) == 5


def test_refusal_precision_recall_and_chosen_threshold() -> None:
    cases = [RefusalCase(True, 0.2), RefusalCase(True, 0.5), RefusalCase(False, 0.4), RefusalCase(False, 0.9)]
    middle = metrics.refusal_point(cases, 0.45)  # refuses 0.2 (right) and 0.4 (wrong)
    assert (middle.precision, middle.recall, middle.refused, middle.answered) == (0.5, 0.5, 2, 2)
    high = metrics.refusal_point(cases, 0.6)  # refuses 0.2, 0.4, 0.5: two of three right, both found
    assert high.precision == pytest.approx(2 / 3) and high.recall == 1.0
    low = metrics.refusal_point(cases, 0.3)
    assert (low.precision, low.recall) == (1.0, 0.5)
    none = metrics.refusal_point(cases, 0.0)
    assert (none.precision, none.recall, none.refused) == (1.0, 0.0, 0)
    curve = metrics.threshold_curve(cases, [0.3, 0.45, 0.6])
    assert metrics.choose_threshold(curve).threshold == 0.6
    with pytest.raises(ValueError):
        metrics.choose_threshold([])


def test_rouge_by_hand() -> None:
    same = metrics.rouge("the cat sat", "the cat sat")
    assert (same.rouge1, same.rouge2, same.rougeL) == (1.0, 1.0, 1.0)
    # 3 of 3 unigrams / 3 of 6: F = 2/3; bigrams 2 of 2 / 2 of 5: F = 4/7; LCS 3 like ROUGE-1.
    part = metrics.rouge("the cat sat", "the cat sat on the mat")
    assert part.rouge1 == pytest.approx(2 / 3)
    assert part.rouge2 == pytest.approx(4 / 7)
    assert part.rougeL == pytest.approx(2 / 3)


def test_key_points_and_coverage() -> None:
    points = metrics.key_points("Alice chose the red design. Bob will order the parts. Ok.")
    assert points == ["Alice chose the red design.", "Bob will order the parts."]
    # The first point shares alice, red, design (3 of 4 words); the second none.
    assert metrics.key_point_coverage("The red design was chosen by Alice", points) == 0.5
    assert metrics.key_point_coverage("anything", []) == 0.0


def test_lead_baseline_takes_the_first_words() -> None:
    assert metrics.lead_baseline("one two  three four", 2) == "one two"
    assert metrics.lead_baseline("one two", 5) == "one two"


@pytest.mark.parametrize(
    ("answer", "no"),
    [
        ("Yes, your employer keeps paying you. Should your employer not pay, the authority pays.", False),
        ("No. The symptoms are similar in children and adults.", True),
        ("Not yet. There is no vaccine.", True),
        ("There is no evidence that pets spread it.", True),
        ("Pets can carry it.", False),
        ("Nobody has reported it; yes, it is rare.", True),
    ],
)
def test_an_answer_says_no_by_its_opening_yes_or_no_else_by_any_negation(answer: str, no: bool) -> None:
    assert says_no(answer) is no


def test_the_polarity_reading_used_before_counts_any_not_as_a_no() -> None:
    answer = "Yes, your employer keeps paying you. Should your employer not pay, the authority pays."
    assert not asserts_opposite(answer, grounded=True, negative=False)
    assert asserts_opposite(answer, grounded=True, negative=False, any_negation=True)
    assert not asserts_opposite("No.", grounded=False, negative=False), "a refusal asserts nothing"
