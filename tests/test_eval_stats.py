"""The evaluation's intervals and paired tests, on cases whose answer is known by hand."""

from __future__ import annotations

import random

import pytest

from core.evaluation.stats import bootstrap_mean, compare_paired, sign_test_p


def test_a_constant_has_a_zero_width_interval() -> None:
    interval = bootstrap_mean([0.25] * 40)
    assert interval.estimate == interval.low == interval.high == pytest.approx(0.25)
    assert interval.excludes_zero


def test_a_constant_difference_has_a_zero_width_interval_and_beats_only_when_held_out() -> None:
    ours = [0.1 * i + 0.02 for i in range(10)]
    baseline = [0.1 * i for i in range(10)]
    result = compare_paired("rougeL", ours, baseline)
    assert result.difference.estimate == pytest.approx(0.02)
    assert result.difference.low == pytest.approx(0.02) and result.difference.high == pytest.approx(0.02)
    assert (result.wins, result.losses, result.ties) == (10, 0, 0)
    assert result.verdict(held_out=True) == "beats the baseline"
    assert "in-sample" in result.verdict(held_out=False)


def test_symmetric_differences_cover_zero() -> None:
    ours = [1.0, 0.0] * 15
    baseline = [0.0, 1.0] * 15
    result = compare_paired("hit@5", ours, baseline)
    assert result.difference.estimate == 0.0
    assert result.difference.low < 0 < result.difference.high
    assert not result.difference.excludes_zero
    assert result.sign_test_p == 1.0
    assert result.verdict(held_out=True).startswith("no clear difference")


def test_the_interval_is_seeded_and_narrows_with_more_items() -> None:
    rng = random.Random(3)
    small = [rng.gauss(0.5, 0.2) for _ in range(20)]
    large = [rng.gauss(0.5, 0.2) for _ in range(500)]
    assert bootstrap_mean(small) == bootstrap_mean(small)
    assert bootstrap_mean(small, seed=1) != bootstrap_mean(small, seed=2)
    narrow, wide = bootstrap_mean(large), bootstrap_mean(small)
    assert narrow.high - narrow.low < (wide.high - wide.low) / 2
    # About the textbook width: 2 x 1.96 x sd / sqrt(n).
    assert narrow.high - narrow.low == pytest.approx(2 * 1.96 * 0.2 / 500**0.5, rel=0.2)
    assert narrow.low < 0.5 < narrow.high


def test_sign_test_by_hand() -> None:
    # 10 wins, 0 losses: 2 x (1/2)^10.
    assert sign_test_p(10, 0) == pytest.approx(2 / 1024)
    # 8 wins, 2 losses: 2 x (1 + 10 + 45) / 1024.
    assert sign_test_p(8, 2) == pytest.approx(2 * 56 / 1024)
    assert sign_test_p(5, 5) == 1.0 and sign_test_p(0, 0) == 1.0
    # Large counts stay exact and finite.
    assert 0.0 < sign_test_p(700, 600) < 0.01


def test_ties_are_counted_and_left_out_of_the_sign_test() -> None:
    result = compare_paired("f1", [0.5, 0.5, 0.9, 0.2], [0.5, 0.5, 0.1, 0.1])
    assert (result.wins, result.losses, result.ties) == (2, 0, 2)
    assert result.sign_test_p == pytest.approx(0.5)
    row = result.as_dict(held_out=False)
    assert row["ci95"][0] <= row["difference"] <= row["ci95"][1] and row["items"] == 4


def test_paired_values_must_pair() -> None:
    with pytest.raises(ValueError):
        compare_paired("f1", [0.1, 0.2], [0.1])
    with pytest.raises(ValueError):
        compare_paired("f1", [], [])


def test_the_text_report_shows_each_comparison_with_its_split_and_interval() -> None:
    from core.evaluation.report import render_tables
    from core.evaluation.runs import ANSWERS_SPLIT, MEETING_SPLIT_LABELS, comparison_rows

    check = MEETING_SPLIT_LABELS["check"]
    digests = {
        "model": "gemma", "n_ctx": 2048, "meetings": [],
        "mean": dict.fromkeys(("rouge1", "rouge2", "rougeL", "coverage", "lead_rouge1", "lead_rouge2", "lead_rougeL",
                               "lead_coverage", "tokens_per_input_token", "seconds"), 0.0),
        "split": {**check.as_dict(), "meetings_in_split": 19, "meetings_in_data": 35},
        "comparisons": comparison_rows(check, "digests vs lead baseline", "QMSum, 3 meetings",
                                       [("ROUGE-L", [0.2, 0.3, 0.25], [0.1, 0.2, 0.15])]),
    }
    answers_rows = comparison_rows(ANSWERS_SPLIT, "answers vs extractive baseline", "QA, 3 questions",
                                   [("token F1", [0.5, 0.6, 0.7], [0.4, 0.5, 0.6])])
    assert answers_rows[0]["verdict"].startswith("above the baseline in-sample")
    text = render_tables({"digests": digests})
    assert "[split: checking half (held out)]" in text and "0 of 19 meetings" in text
    row = next(line for line in text.splitlines() if line.startswith("digests vs lead baseline"))
    assert "+0.100" in row and "+0.100 to +0.100" in row and "3/0/0" in row and "beats the baseline" in row
