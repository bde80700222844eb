"""The one-standard-error rule (augment_assets.lib.selection_rule): the declared default stays unless the data show
another configuration better by more than the comparison's own standard error, paired on shared reviews."""

import numpy as np
import pytest

from augment_assets.lib.selection_rule import (
    Evidence,
    mean_and_standard_error,
    one_standard_error,
    one_standard_error_matrix,
    paired_differences,
)


def evidence(correct, repeat=1, reviews=None) -> list[Evidence]:
    correct = np.asarray(correct, dtype=float)
    reviews = np.arange(len(correct)) if reviews is None else np.asarray(reviews)
    return [Evidence(repeat, reviews, correct)]


def test_the_default_stays_on_a_few_reviews_and_yields_to_a_clear_winner_on_many():
    # 4 validation reviews: the challenger gets one more right; its margin (0.25) is within its standard error (0.25)
    default, challenger = evidence([1, 1, 0, 0]), evidence([1, 1, 1, 0])
    choice = one_standard_error([default, challenger])
    assert (choice.chosen, choice.best) == (0, 1)
    assert choice.margin == pytest.approx(0.25) and choice.standard_error == pytest.approx(0.25)
    # 400 reviews, the challenger right on 40 more: 0.1 against a standard error of 0.015
    rng = np.random.default_rng(0)
    base = (rng.random(400) < 0.7).astype(float)
    better = base.copy()
    better[np.flatnonzero(base == 0)[:40]] = 1
    choice = one_standard_error([evidence(base), evidence(better)])
    assert (choice.chosen, choice.best) == (1, 1) and choice.margin == 0 and choice.reviews == 400


def test_the_first_option_within_one_standard_error_of_the_best_is_kept_in_declared_order():
    rng = np.random.default_rng(1)
    best = (rng.random(200) < 0.9).astype(float)
    far = best.copy()
    far[np.flatnonzero(best == 1)[:40]] = 0  # 20 points worse: out
    near = best.copy()
    near[np.flatnonzero(best == 1)[:3]] = 0  # wrong on 3 reviews best gets right, right on 2 it gets wrong:
    near[np.flatnonzero(best == 0)[:2]] = 1  # half a point worse, within one standard error (1.1 points)
    assert one_standard_error([evidence(far), evidence(best), evidence(near)]).chosen == 1
    assert one_standard_error([evidence(far), evidence(near), evidence(best)]).chosen == 1
    assert one_standard_error_matrix(np.stack([far, near, best])) == 1
    assert one_standard_error_matrix(np.stack([best, near, far])) == 0


def test_comparisons_are_paired_on_the_reviews_both_were_scored_on_and_pooled_over_repeats():
    # a cross-validated option scored on the whole pool (reviews 0-9), one needing generators on its validation
    # fold (reviews 7-9): they compare on reviews 7-9 only, repeat by repeat
    pool = evidence([1, 0, 1, 0, 1, 0, 1, 1, 0, 0], repeat=1) + evidence([1] * 10, repeat=2)
    validation = evidence([1, 1, 1], repeat=1, reviews=[7, 8, 9]) + evidence([0, 1, 1], repeat=2, reviews=[7, 8, 9])
    np.testing.assert_array_equal(paired_differences(validation, pool), [0, 1, 1, -1, 0, 0])
    mean, se = mean_and_standard_error(paired_differences(validation, pool))
    assert mean == pytest.approx(1 / 6) and se == pytest.approx(np.std([0, 1, 1, -1, 0, 0], ddof=1) / np.sqrt(6))
    # nothing shared: no comparison, and the option is never kept over the best
    other = evidence([0, 0], repeat=3)
    assert len(paired_differences(pool, other)) == 0
    assert one_standard_error([other, pool]).chosen == 1
