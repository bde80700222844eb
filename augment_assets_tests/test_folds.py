"""The nested folds (augment_assets.lib.folds): written once, nested, deterministic, checked."""

import pandas as pd
import pytest

from augment_assets.lib.errors import InputError
from augment_assets.lib.folds import CV_FOLDS, build_folds, fold_reviews, parse_data_sizes, with_cv_folds


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


def test_each_pool_is_dealt_into_stratified_cross_validation_folds():
    """Every review of a size's whole pool (fit and validation) has one `cv_fold`: CV_FOLDS folds, or as many as the
    smaller class has reviews, each holding every class within one review of its share; derived only from ids,
    sentiments and the seed, so a table stored without the column gets the same folds back."""
    folds = build_folds(training(100), [None, 50, 10, 2], validation_share=0.2, seed=0, repeats=2)
    for (repeat, size), pool in folds.groupby(["repeat", "data_size"]):
        per_class = pool["sentiment"].value_counts()
        k = min(CV_FOLDS, int(per_class.min()))
        assert sorted(pool["cv_fold"].unique()) == list(range(k)), (repeat, size)
        counts = pool.groupby(["cv_fold", "sentiment"]).size().unstack()
        assert (counts.max() - counts.min()).max() <= 1, (repeat, size)
    assert folds.loc[folds["data_size"] == "2", "cv_fold"].nunique() == 2  # 2 per class: leave-one-per-class-out
    # each repeat deals its own folds
    first, second = (folds[(folds["repeat"] == r) & (folds["data_size"] == "all")] for r in (1, 2))
    assert not first.set_index("review_id")["cv_fold"].equals(
        second.set_index("review_id")["cv_fold"].loc[first["review_id"]]
    )
    pd.testing.assert_frame_equal(with_cv_folds(folds.drop(columns="cv_fold"), seed=0)[folds.columns], folds)


def test_a_size_larger_than_its_pool_names_both_numbers():
    with pytest.raises(
        InputError, match=r"Data size 90 per class is larger.*fit fold of data size all holds 80 negative, 80 positive"
    ):
        build_folds(training(100), [None, 90], 0.2, 0)


def test_fold_reviews_reads_the_stored_roles():
    frame = training(30)
    folds = build_folds(frame, [None, 10], 0.2, 0)
    fit = fold_reviews(frame, folds, "10", "fit")
    assert len(fit) == 16 and set(fit["review_id"]) <= set(frame["review_id"])
    assert len(fold_reviews(frame, folds, "10")) == 20
    with pytest.raises(InputError, match="no rows for data size '25'"):
        fold_reviews(frame, folds, "25")


def test_each_repeat_is_its_own_nested_draw_and_repeat_1_is_the_plain_draw():
    from augment_assets.defs.leakage.checks import fold_nesting_violations

    train = training(100)
    folds = build_folds(train, [None, 50, 25], validation_share=0.2, seed=0, repeats=3)
    assert sorted(folds["repeat"].unique()) == [1, 2, 3]
    assert fold_nesting_violations(folds).empty
    one = build_folds(train, [None, 50, 25], validation_share=0.2, seed=0)
    pd.testing.assert_frame_equal(folds[folds["repeat"] == 1].reset_index(drop=True), one)
    validation = {
        r: set(
            folds.loc[
                (folds["repeat"] == r) & (folds["data_size"] == "all") & (folds["fold"] == "validation"), "review_id"
            ]
        )
        for r in (1, 2, 3)
    }
    assert validation[1] != validation[2] != validation[3] and all(len(v) == 40 for v in validation.values())
    pools = {r: set(fold_reviews(train, folds, "25", repeat=r)["review_id"]) for r in (1, 2, 3)}
    assert len({frozenset(p) for p in pools.values()}) == 3  # each repeat draws its own low-data subset
    # A review moved into another size's pool in one repeat breaks the nesting, and the check says where.
    broken = folds.copy()
    row = broken.index[(broken["repeat"] == 2) & (broken["data_size"] == "25")][0]
    outside = (
        set(train["review_id"])
        - set(
            broken.loc[(broken["repeat"] == 2) & (broken["data_size"] == "50") & (broken["fold"] == "fit"), "review_id"]
        )
    ).pop()
    broken.loc[row, "review_id"] = outside
    found = fold_nesting_violations(broken)
    assert found[["review_id", "repeat", "data_size"]].values.tolist() == [[outside, 2, "25"]]


def test_repeats_and_learning_curve_sizes_are_checked_before_any_work():
    from augment_assets.defs.partitions import configured_fold_sizes, configured_repeats
    from augment_assets.lib.folds import parse_repeats

    assert configured_repeats("3") == 3 and parse_repeats(" 1 ") == 1
    for bad, match in (("0", "repeats must be at least 1"), ("-2", "at least 1"), ("three", "not a whole number")):
        with pytest.raises(InputError, match=f"REPEATS='{bad}'.*{match}"):
            configured_repeats(bad)
    assert configured_fold_sizes("all,50", "10,25,100") == [None, 100, 50, 25, 10]
    assert configured_fold_sizes("all,50", "2,50") == [None, 50, 2]  # a shared size is one size
    with pytest.raises(InputError, match="LEARNING_CURVE_SIZES='1,10'.*data size 1 is below the minimum of 2"):
        configured_fold_sizes("all,50", "1,10")
    with pytest.raises(InputError, match="Data size 100 per class is larger than the pool"):
        build_folds(training(60), configured_fold_sizes("all", "100"), 0.2, 0, repeats=2)
    with pytest.raises(InputError, match="repeats must be at least 1"):
        build_folds(training(60), [None], 0.2, 0, repeats=0)
