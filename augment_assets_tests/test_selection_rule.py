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
    required_margin,
)


def evidence(correct, repeat=1, reviews=None) -> list[Evidence]:
    correct = np.asarray(correct, dtype=float)
    reviews = np.arange(len(correct)) if reviews is None else np.asarray(reviews)
    return [Evidence(repeat, reviews, correct)]


def better_by(base: np.ndarray, reviews: int) -> np.ndarray:
    out = base.copy()
    out[np.flatnonzero(base == 0)[:reviews]] = 1
    return out


def test_the_default_stays_on_a_few_reviews_and_yields_to_a_clear_winner_on_many():
    # 4 validation reviews: the challenger gets one more right; its margin (0.25) is within its standard error (0.25)
    default, challenger = evidence([1, 1, 0, 0]), evidence([1, 1, 1, 0])
    choice = one_standard_error([default, challenger])
    assert (choice.chosen, choice.best) == (0, 1)
    assert choice.margin == pytest.approx(0.25) and choice.standard_error == pytest.approx(0.25)
    # 400 reviews, the challenger right on 40 more: 0.1 against a standard error of 0.015
    base = (np.random.default_rng(0).random(400) < 0.7).astype(float)
    choice = one_standard_error([evidence(base), evidence(better_by(base, 40))])
    assert (choice.chosen, choice.best) == (1, 1) and choice.margin == 0 and choice.reviews == 400


def test_a_challenger_chosen_among_many_must_clear_its_winners_curse():
    base = (np.random.default_rng(2).random(200) < 0.8).astype(float)
    challenger = better_by(base, 6)  # 3 points better on 200 reviews: 2.5 standard errors of 1.2 points
    _, se = mean_and_standard_error(challenger - base)
    assert 2 * se < 0.03 < 3 * se
    assert one_standard_error([evidence(base), evidence(challenger)], compared=[1, 1]).chosen == 1
    assert one_standard_error([evidence(base), evidence(challenger)], compared=[1, 20]).chosen == 1  # 2.4 se
    assert one_standard_error([evidence(base), evidence(challenger)], compared=[1, 1000]).chosen == 0  # 3.7 se
    assert required_margin(0.01, 1) == 0.01 and required_margin(0.01, 1000) == pytest.approx(0.0372, abs=1e-4)


def test_each_challenger_in_declared_order_must_beat_the_current_choice():
    rng = np.random.default_rng(1)
    default = (rng.random(300) < 0.75).astype(float)
    clear = better_by(default, 30)  # 10 points better: displaces the default
    near = better_by(clear, 1)  # one review better than `clear`: not enough to displace it
    assert one_standard_error([evidence(default), evidence(clear), evidence(near)]).chosen == 1
    choice = one_standard_error([evidence(default), evidence(near), evidence(clear)])
    assert choice.chosen == 1 and choice.best == 1  # `near` came first and is itself the best
    # within a grid scored on the same reviews: the first gridpoint within one standard error of the best
    assert one_standard_error_matrix(np.stack([default, near, clear])) == 1
    assert one_standard_error_matrix(np.stack([clear, near, default])) == 0


def test_comparisons_are_paired_on_the_reviews_both_were_scored_on_and_pooled_over_repeats():
    # a cross-validated option scored on the whole pool (reviews 0-9), one needing generators on its validation
    # fold (reviews 7-9): they compare on reviews 7-9 only, repeat by repeat
    pool = evidence([1, 0, 1, 0, 1, 0, 1, 1, 0, 0], repeat=1) + evidence([1] * 10, repeat=2)
    validation = evidence([1, 1, 1], repeat=1, reviews=[7, 8, 9]) + evidence([0, 1, 1], repeat=2, reviews=[7, 8, 9])
    np.testing.assert_array_equal(paired_differences(validation, pool), [0, 1, 1, -1, 0, 0])
    mean, se = mean_and_standard_error(paired_differences(validation, pool))
    assert mean == pytest.approx(1 / 6) and se == pytest.approx(np.std([0, 1, 1, -1, 0, 0], ddof=1) / np.sqrt(6))
    # nothing shared: no comparison, so the default is kept
    other = evidence([1, 1], repeat=3)
    assert len(paired_differences(pool, other)) == 0
    assert one_standard_error([pool, other]).chosen == 0
