"""The one-standard-error rule: move away from a declared default only when the data show another configuration
better by more than the comparison's own noise.

A configuration's *evidence* is what it was chosen on: for each selection review (a genuine review of the data
size's pool, in one repeat), 1 if the configuration labelled it right, 0 if not (averaged over draws). Two
configurations compare *paired*, on the reviews both were scored on: a cross-validated configuration on every
review of the pool, one that needs the size's generators on its validation fold only. Over repeats the paired
differences are pooled.

`one_standard_error` takes configurations in a declared order of preference (the default first, simpler before
more complex) and moves away from the default only to a configuration better than the current choice by more
than one standard error of their paired difference (Breiman et al. 1984; Hastie, Tibshirani & Friedman, "The
Elements of Statistical Learning", 7.10). A challenger that is itself the best of m configurations on the same
reviews (a synthetic candidate's ratio, temperature and options) must clear sqrt(2 ln m) standard errors: the
expected maximum of m draws of pure noise. On a few reviews the standard error is large and the default stays; a
configuration is chosen over it only where many reviews agree. `one_standard_error_matrix` is the textbook form
for a grid scored on the same reviews: the first gridpoint within one standard error of the best. This answers
the failure of picking the best of hundreds of configurations on 4-20 validation reviews (Cawley & Talbot 2010;
Perez, Kiela & Cho 2021).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classifiers import best_index


@dataclass(frozen=True)
class Evidence:
    """One repeat's selection reviews (item indices) and whether the configuration got each right."""

    repeat: int
    reviews: np.ndarray
    correct: np.ndarray

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.correct)) if len(self.correct) else float("nan")


def pooled_accuracy(evidence: list[Evidence]) -> float:
    """An option's accuracy over every repeat's selection reviews together."""
    return float(np.mean(np.concatenate([e.correct for e in evidence])))


def paired_differences(a: list[Evidence], b: list[Evidence]) -> np.ndarray:
    """a's correctness minus b's on the reviews both were scored on, repeat by repeat, pooled."""
    parts = []
    for x in a:
        for y in b:
            if x.repeat != y.repeat:
                continue
            shared, ix, iy = np.intersect1d(x.reviews, y.reviews, assume_unique=True, return_indices=True)
            parts.append(np.asarray(x.correct, dtype=float)[ix] - np.asarray(y.correct, dtype=float)[iy])
    return np.concatenate(parts) if parts else np.empty(0)


def mean_and_standard_error(differences: np.ndarray) -> tuple[float, float]:
    """The mean paired difference and its standard error (0 where fewer than two reviews are shared)."""
    n = len(differences)
    if n == 0:
        return float("nan"), 0.0
    se = float(np.std(differences, ddof=1) / np.sqrt(n)) if n > 1 else 0.0
    return float(np.mean(differences)), se


def within_one_se_index(deficits: list[tuple[float, float]]) -> int:
    """The first entry whose (mean deficit to the best, its standard error) is within one standard error."""
    for i, (deficit, se) in enumerate(deficits):
        if not np.isnan(deficit) and deficit <= se + 1e-12:
            return i
    return len(deficits) - 1


@dataclass(frozen=True)
class Choice:
    """What the rule chose: the index kept, the best-scoring index, the best's margin over the kept one (paired,
    pooled) with its standard error, and on how many reviews that comparison was made."""

    chosen: int
    best: int
    margin: float
    standard_error: float
    reviews: int


def required_margin(standard_error: float, compared: int) -> float:
    """How much better a challenger must be to displace the incumbent: one standard error of the paired difference,
    times sqrt(2 ln m) where the challenger is itself the best of m configurations (the expected maximum of m
    standard normal draws: its winner's curse), never less than one."""
    return standard_error * max(1.0, float(np.sqrt(2 * np.log(max(compared, 1)))))


def one_standard_error(options: list[list[Evidence]], compared: list[int] | None = None) -> Choice:
    """Of configurations in declared order (each a list of per-repeat evidence; `compared[i]`: how many
    configurations option i was itself chosen among), the one kept by moving away from the first (the declared
    default) only to a challenger better than the current choice by more than `required_margin`, in order."""
    if not options:
        raise ValueError("one_standard_error needs at least one configuration")
    compared = compared or [1] * len(options)
    best = best_index([pooled_accuracy(option) for option in options])
    chosen = 0
    for i in range(1, len(options)):
        gain, se = mean_and_standard_error(paired_differences(options[i], options[chosen]))
        if not np.isnan(gain) and gain > required_margin(se, compared[i]) + 1e-12:
            chosen = i
    differences = paired_differences(options[best], options[chosen])
    margin, se = mean_and_standard_error(differences)
    return Choice(chosen, best, margin, se, len(differences))


def one_standard_error_matrix(correct: np.ndarray) -> int:
    """`one_standard_error` for configurations scored on the same reviews: rows of `correct` in declared order
    (the library default first), one column per review."""
    correct = np.asarray(correct, dtype=float)
    best = best_index(correct.mean(axis=1))
    return within_one_se_index([mean_and_standard_error(correct[best] - row) for row in correct])
