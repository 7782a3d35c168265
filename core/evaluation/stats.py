"""How far a figure could move on another sample of the same size: intervals and paired tests.

Every comparison ``tidings eval`` makes is paired: Tidings and its baseline answer the same
questions or summarise the same meetings, so what is measured is the per-item difference.

- ``bootstrap_mean``: percentile bootstrap interval of a mean (resampling the items with
  replacement, 2,000 times, from a fixed seed, so a rerun prints the same interval).
- ``compare_paired``: the mean of the per-item differences (ours minus baseline), its
  bootstrap interval, how many items each side won, and the exact two-sided sign test on
  those wins (ties dropped).

A difference counts only when its interval excludes zero, and it says "beats the baseline"
only on a held-out split: figures on a set something was tuned on are in-sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb
from typing import Any

import numpy as np

RESAMPLES = 2000
CONFIDENCE = 0.95
SEED = 20261127
# Resamples drawn at once: bounds memory at about 8 MB for a thousand items.
_BATCH = 1000


@dataclass(frozen=True)
class Interval:
    """A mean and its percentile bootstrap interval."""

    estimate: float
    low: float
    high: float
    confidence: float = CONFIDENCE

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def bootstrap_means(values: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray[Any, Any]:
    """The means of ``resamples`` resamples (with replacement, same size) of ``values``."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("A bootstrap needs at least one value.")
    rng = np.random.default_rng(seed)
    means: list[np.ndarray[Any, Any]] = []
    left = resamples
    while left > 0:
        batch = min(left, _BATCH)
        means.append(data[rng.integers(0, data.size, size=(batch, data.size))].mean(axis=1))
        left -= batch
    return np.concatenate(means)


def bootstrap_mean(
    values: Sequence[float], *, resamples: int = RESAMPLES, confidence: float = CONFIDENCE, seed: int = SEED
) -> Interval:
    """The mean of ``values`` with its percentile bootstrap interval."""
    if not 0 < confidence < 1:
        raise ValueError("confidence is a share between 0 and 1")
    means = bootstrap_means(values, resamples=resamples, seed=seed)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    estimate = float(np.mean(np.asarray(values, dtype=float)))
    # Rounding in the resampled sums can put a bound a hair past the mean of identical values.
    return Interval(estimate, min(float(low), estimate), max(float(high), estimate), confidence)


def sign_test_p(wins: int, losses: int) -> float:
    """Exact two-sided sign test: the chance of a split at least this uneven if each side
    were equally likely to win an item (ties are left out before calling)."""
    if wins < 0 or losses < 0:
        raise ValueError("wins and losses are counts")
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(wins, losses) + 1))
    return min(1.0, 2 * tail / (1 << n))


@dataclass(frozen=True)
class PairedComparison:
    """Ours against a baseline on the same items, for one metric."""

    metric: str
    items: int
    ours: float
    baseline: float
    difference: Interval  # ours minus baseline, per item, averaged
    wins: int
    losses: int
    ties: int
    sign_test_p: float

    def verdict(self, *, held_out: bool) -> str:
        """What may be said of the difference on this split."""
        if not self.difference.excludes_zero:
            return "no clear difference (interval covers 0)"
        above = self.difference.low > 0
        if held_out:
            return "beats the baseline" if above else "below the baseline"
        return ("above" if above else "below") + " the baseline in-sample (not a held-out result)"

    def as_dict(self, *, held_out: bool) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "items": self.items,
            "ours": round(self.ours, 4),
            "baseline": round(self.baseline, 4),
            "difference": round(self.difference.estimate, 4),
            "ci95": [round(self.difference.low, 4), round(self.difference.high, 4)],
            "wins": self.wins,
            "losses": self.losses,
            "ties": self.ties,
            "sign_test_p": float(f"{self.sign_test_p:.3g}"),
            "verdict": self.verdict(held_out=held_out),
        }


def compare_paired(
    metric: str,
    ours: Sequence[float],
    baseline: Sequence[float],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> PairedComparison:
    """Per-item differences ``ours[i] - baseline[i]``: their mean with a bootstrap interval,
    wins, losses and ties (equal to 1e-9), and the sign test on the wins."""
    if len(ours) != len(baseline):
        raise ValueError(f"paired values differ in number: {len(ours)} and {len(baseline)}")
    if not ours:
        raise ValueError("A comparison needs at least one pair.")
    differences = [float(a) - float(b) for a, b in zip(ours, baseline, strict=True)]
    wins = sum(1 for d in differences if d > 1e-9)
    losses = sum(1 for d in differences if d < -1e-9)
    return PairedComparison(
        metric=metric,
        items=len(differences),
        ours=float(np.mean(ours)),
        baseline=float(np.mean(baseline)),
        difference=bootstrap_mean(differences, resamples=resamples, seed=seed),
        wins=wins,
        losses=losses,
        ties=len(differences) - wins - losses,
        sign_test_p=sign_test_p(wins, losses),
    )
