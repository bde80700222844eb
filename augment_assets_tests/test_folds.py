"""The nested folds (augment_assets.lib.folds): written once, nested, deterministic, checked."""

import pandas as pd
import pytest

from augment_assets.lib.errors import InputError
from augment_assets.lib.folds import build_folds, fold_reviews, parse_data_sizes


def training(per_class: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "review_id": [f"r{i:04d}" for i in range(2 * per_class)],
            "sentiment": ["negative", "positive"] * per_class,
            "text": [f"review number {i}" for i in range(2 * per_class)],
        }
    )


def test_sizes_parse_largest_first_and_bad_values_name_the_variable():
    assert parse_data_sizes("all,50") == [None, 50]
    assert parse_data_sizes("25, 50,all") == [None, 50, 25]
    assert parse_data_sizes("50") == [None, 50]  # the whole pool is always an experiment
    with pytest.raises(InputError, match="DATA_SIZES='all,lots'.*'lots' is not a whole number"):
        parse_data_sizes("all,lots")
    with pytest.raises(InputError, match="DATA_SIZES='3'.*below the minimum"):
        parse_data_sizes("3")


def test_folds_nest_and_each_size_is_balanced():
    folds = build_folds(training(100), [None, 50, 25], validation_share=0.2, seed=0)
    counts = folds.groupby(["data_size", "fold", "sentiment"]).size().to_dict()
    assert counts[("all", "validation", "negative")] == 20 and counts[("all", "fit", "positive")] == 80
    assert counts[("50", "validation", "positive")] == 10 and counts[("50", "fit", "negative")] == 40
    assert counts[("25", "validation", "negative")] == 5 and counts[("25", "fit", "negative")] == 20
    ids = lambda size, fold=None: set(
        folds.loc[(folds["data_size"] == size) & ((folds["fold"] == fold) if fold else True), "review_id"]
    )
    # each smaller pool lies inside the fit fold of the next larger size ...
    assert ids("50") <= ids("all", "fit") and ids("25") <= ids("50", "fit")
    # ... so a generator of any size never saw a validation review of its own or a larger size
    for size, larger in (("25", ["50", "all"]), ("50", ["all"])):
        for other in larger:
            assert ids(size, "fit").isdisjoint(ids(other, "validation"))
    assert folds["genuine_per_class"].isna().sum() == 200 and set(folds["genuine_per_class"].dropna()) == {50, 25}


def test_folds_are_deterministic_and_independent_of_row_order():
    frame = training(60)
    a = build_folds(frame, [None, 20], 0.2, seed=3)
    b = build_folds(frame.sample(frac=1, random_state=1), [None, 20], 0.2, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(build_folds(frame, [None, 20], 0.2, seed=4))


def test_a_size_larger_than_its_pool_names_both_numbers():
    with pytest.raises(InputError, match=r"Data size 90 per class is larger.*fit fold of data size all holds 80 negative, 80 positive"):
        build_folds(training(100), [None, 90], 0.2, 0)


def test_fold_reviews_reads_the_stored_roles():
    frame = training(30)
    folds = build_folds(frame, [None, 10], 0.2, 0)
    fit = fold_reviews(frame, folds, "10", "fit")
    assert len(fit) == 16 and set(fit["review_id"]) <= set(frame["review_id"])
    assert len(fold_reviews(frame, folds, "10")) == 20
    with pytest.raises(InputError, match="no rows for data size '25'"):
        fold_reviews(frame, folds, "25")
