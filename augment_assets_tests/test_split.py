"""The independent split (stratified, grouped, deterministic) and the gold exclusion."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from augment_assets.lib.errors import InputError
from augment_assets.lib.leakage import (
    DEFAULT_NEAR_DUP_THRESHOLD,
    business_overlap,
    near_duplicate_leaks,
    near_duplicate_pairs,
)
from augment_assets.lib.reviews import label_reviews
from augment_assets.lib.split import exclude_texts, split_reviews
from augment_assets.lib.text import text_key
from augment_assets.lib.yelp import read_reviews_csv, read_sample_reviews

SHARED_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "yelp_pizza" / "pizza_reviews.csv"
# invented reviews in the shared CSV's format (`stars,text`), kept in the repository: fixtures/make_fixtures.py
FIXTURE_CSV = Path(__file__).resolve().parent / "fixtures" / "pizza_reviews.csv"

VOCAB = (
    "crust sauce cheese pepperoni delivery oven basil garlic slice dough wait staff table order price "
    "booth parking patio music mushrooms onions olives peppers sausage ham pineapple wings salad"
).split()


def make_reviews(
    n_businesses: int = 40, per_business: int = 16, seed: int = 1, with_business: bool = True
) -> pd.DataFrame:
    rnd = random.Random(seed)
    rows = []
    for b in range(n_businesses):
        for k in range(per_business):
            sentiment = "positive" if (k + b) % 2 else "negative"
            text = " ".join(rnd.choices(VOCAB, k=30)) + f" review {b}-{k}"
            rows.append(
                {
                    "review_id": f"r{b:03d}-{k:03d}",
                    "business_id": f"biz{b:03d}" if with_business else None,
                    "stars": 5.0 if sentiment == "positive" else 1.0,
                    "sentiment": sentiment,
                    "text": text,
                    "date": None,
                }
            )
    return pd.DataFrame(rows)


def test_split_is_disjoint_stratified_and_sized():
    reviews = make_reviews()
    training, holdout, report = split_reviews(reviews, train_per_class=100, holdout_size=120)
    assert set(training["review_id"]).isdisjoint(holdout["review_id"])
    assert holdout["sentiment"].value_counts().to_dict() == {"negative": 60, "positive": 60}
    assert training["sentiment"].value_counts().to_dict() == {"negative": 100, "positive": 100}
    assert report["holdout"] == {"negative": 60, "positive": 60}
    assert report["training"] == {"negative": 100, "positive": 100}
    assert report["available"] == {"negative": 320, "positive": 320}
    assert list(training.columns) == list(reviews.columns)


def test_split_is_business_grouped():
    training, holdout, report = split_reviews(make_reviews(), train_per_class=100, holdout_size=120)
    assert set(training["business_id"]).isdisjoint(holdout["business_id"])
    assert report["grouped_by_business"] is True
    assert report["businesses"]["holdout"] == holdout["business_id"].nunique() > 1
    assert report["businesses"]["training"] == training["business_id"].nunique() > 1


def test_training_pool_balanced_to_the_smaller_class():
    reviews = make_reviews(n_businesses=30, per_business=10, with_business=False)
    reviews = pd.concat([reviews[reviews.sentiment == "positive"], reviews[reviews.sentiment == "negative"].head(90)])
    training, holdout, report = split_reviews(reviews, train_per_class=225, holdout_size=100)
    assert holdout["sentiment"].value_counts().to_dict() == {"negative": 50, "positive": 50}
    assert training["sentiment"].value_counts().to_dict() == {"negative": 40, "positive": 40}


def test_a_holdout_the_data_cannot_supply_is_an_error_naming_the_numbers():
    reviews = make_reviews(n_businesses=10, per_business=10, with_business=False)  # 50 per class
    with pytest.raises(
        InputError,
        match=r"holdout_size=200 is more than the data can supply.*50 negative and 50 positive.*at most 30 negative \+ 30 positive = 60",
    ):
        split_reviews(reviews, train_per_class=225, holdout_size=200, min_train_per_class=20)
    with pytest.raises(InputError, match="holdout_size=8 is below the minimum of 20"):
        split_reviews(reviews, holdout_size=8)
    training, holdout, _ = split_reviews(reviews, train_per_class=225, holdout_size=60, min_train_per_class=20)
    assert holdout["sentiment"].value_counts().to_dict() == {"negative": 30, "positive": 30}
    assert training["sentiment"].value_counts().to_dict() == {"negative": 20, "positive": 20}


def test_most_of_the_data_may_be_held_out():
    """1,300 reviews: hold out 1,000 of them; the rest trains."""
    reviews = make_reviews(n_businesses=130, per_business=10, seed=9)
    training, holdout, _ = split_reviews(reviews, holdout_size=1000, max_holdout_per_business=10)
    assert len(holdout) == 1000 and holdout["sentiment"].value_counts().to_dict() == {"negative": 500, "positive": 500}
    assert set(training["business_id"]).isdisjoint(holdout["business_id"]) and len(training) >= 40


def test_split_is_deterministic_and_independent_of_row_order():
    reviews = make_reviews()
    first = split_reviews(reviews, train_per_class=80, holdout_size=100, seed=7)
    shuffled = reviews.sample(frac=1.0, random_state=123).reset_index(drop=True)
    second = split_reviews(shuffled, train_per_class=80, holdout_size=100, seed=7)
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])
    assert first[2] == second[2]
    other_seed = split_reviews(reviews, train_per_class=80, holdout_size=100, seed=8)
    assert set(other_seed[1]["review_id"]) != set(first[1]["review_id"])


def test_near_duplicates_never_straddle_the_split():
    reviews = make_reviews(with_business=False)
    # every review also posted again, lightly edited (one word changed, one added), under another id
    edited = reviews.copy()
    edited["review_id"] = "dup-" + edited["review_id"]
    edited["text"] = edited["text"].str.replace("review", "Review!", n=1, regex=False) + " really"
    both = pd.concat([reviews, edited], ignore_index=True)
    assert all(text_key(a) != text_key(b) for a, b in zip(reviews["text"], edited["text"]))  # not exact duplicates
    training, holdout, report = split_reviews(both, train_per_class=150, holdout_size=150)
    base = lambda ids: {i.removeprefix("dup-") for i in ids}  # noqa: E731
    assert base(training["review_id"]).isdisjoint(base(holdout["review_id"]))
    assert report["near_duplicates_excluded"] > 0
    assert near_duplicate_leaks(holdout, {"training_reviews": training}).empty
    # and without grouping they would have straddled: the check above can fail
    pairs = near_duplicate_pairs(both["text"].tolist(), 0.8)
    assert len(pairs) == len(reviews)


def test_near_duplicate_pairs_threshold():
    a = " ".join(f"word{i}" for i in range(60))
    lightly_edited = a.replace("word30", "changed")
    different = " ".join(f"other{i}" for i in range(60))
    pairs = near_duplicate_pairs([a, lightly_edited, different, a.upper()], threshold=0.8)
    assert pairs == [(0, 1), (0, 3), (1, 3)]
    assert near_duplicate_pairs([a, lightly_edited], threshold=0.99) == []


def test_sample_split_has_no_business_or_near_duplicate_across_sides():
    raw, _ = read_sample_reviews()
    reviews, _, _ = label_reviews(raw)
    training, holdout, report = split_reviews(reviews)
    assert set(training["business_id"]).isdisjoint(holdout["business_id"])
    assert len(holdout) == 200 and report["holdout"] == {"negative": 100, "positive": 100}
    assert training["sentiment"].value_counts().nunique() == 1  # balanced
    assert report["near_duplicate_threshold"] == DEFAULT_NEAR_DUP_THRESHOLD
    assert near_duplicate_leaks(holdout, {"training_reviews": training}).empty
    texts = pd.concat([training, holdout])["text"].tolist()
    sides = ["t"] * len(training) + ["h"] * len(holdout)
    assert all(sides[i] == sides[j] for i, j in near_duplicate_pairs(texts))


def test_too_few_reviews_says_what_it_found_and_needs():
    reviews = make_reviews(n_businesses=5, per_business=8, with_business=False)  # 20 per class
    with pytest.raises(InputError) as error:
        split_reviews(reviews)
    message = str(error.value)
    assert "found 20 negative and 20 positive" in message and "need at least 30 of each" in message


def test_grouping_that_leaves_training_short_is_an_error():
    # one giant business per class: whichever goes to the holdout, training lacks that class
    reviews = make_reviews(n_businesses=2, per_business=80)
    reviews["sentiment"] = ["negative" if b == "biz000" else "positive" for b in reviews["business_id"]]
    with pytest.raises(InputError, match="training side has"):
        split_reviews(reviews, holdout_size=100)


def test_exclude_texts_removes_gold_by_normalized_text():
    training = pd.DataFrame({"review_id": ["a", "b", "c"], "text": ["Great pizza!", "Cold crust.", "Nice staff"]})
    kept, removed = exclude_texts(training, ["great PIZZA", "something else"])
    assert kept["review_id"].tolist() == ["b", "c"] and removed == 1
    same, none_removed = exclude_texts(training, [])
    assert len(same) == 3 and none_removed == 0


def _split_passes_the_blocking_checks(raw: pd.DataFrame) -> dict:
    reviews, _, _ = label_reviews(raw)
    training, holdout, report = split_reviews(reviews)  # every default, as the asset runs it
    # exactly what no_holdout_near_duplicate on training_reviews computes
    assert near_duplicate_leaks(holdout, {"training_reviews": training}).empty
    assert business_overlap(training, holdout).empty
    return report


def test_default_split_of_the_sample_passes_the_near_duplicate_check():
    raw, _ = read_sample_reviews()
    report = _split_passes_the_blocking_checks(raw)
    assert report["holdout_size"] == 200 and report["training"]["negative"] >= 20


def _with_reposts(raw: pd.DataFrame, n: int, seed: int = 0) -> tuple[pd.DataFrame, set[tuple[int, int]]]:
    """`raw` and, after it, lightly edited reposts of `n` of its reviews (a tenth of the words replaced);
    and the (original, repost) row pairs."""
    rnd = random.Random(seed)

    def edit(text: str) -> str:
        tokens = text.split()
        for _ in range(max(1, round(0.1 * len(tokens)))):
            tokens[rnd.randrange(len(tokens))] = "honestly"
        return " ".join(tokens)

    raw = raw.reset_index(drop=True)
    originals = raw.sample(n=n, random_state=seed)
    reposted = pd.concat([raw, originals.assign(text=originals["text"].map(edit))], ignore_index=True)
    return reposted, {(int(i), len(raw) + k) for k, i in enumerate(originals.index)}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(FIXTURE_CSV, id="fixture"),
        pytest.param(
            SHARED_CSV,
            id="shared",
            marks=pytest.mark.skipif(not SHARED_CSV.is_file(), reason=f"shared pizza CSV not present at {SHARED_CSV}"),
        ),
    ],
)
def test_default_split_of_a_pizza_csv_passes_the_near_duplicate_check(path):
    raw, _ = read_reviews_csv(path)
    report = _split_passes_the_blocking_checks(raw)
    assert report["holdout_size"] == 200
    # 40 lightly edited reposts planted (no exact duplicates, each a near-duplicate of its original): the split
    # must never keep a pair apart, so the reposts of the originals it holds out are withheld from training
    reposted, planted = _with_reposts(raw, 40)
    assert all(text_key(reposted["text"][i]) != text_key(reposted["text"][j]) for i, j in planted)
    assert planted <= set(near_duplicate_pairs(reposted["text"].tolist()))
    report = _split_passes_the_blocking_checks(reposted)
    assert report["holdout_size"] == 200 and report["near_duplicates_excluded"] > 0


def test_holdout_takes_at_most_the_cap_from_one_business():
    # two huge businesses and many small ones: uncapped, the first big one in the walk could fill a class alone
    big = make_reviews(n_businesses=2, per_business=200, seed=3)
    big["business_id"] = big["business_id"].str.replace("biz", "big")
    small = make_reviews(n_businesses=60, per_business=6, seed=4)
    reviews = pd.concat([big, small], ignore_index=True)
    for seed in range(4):
        training, holdout, report = split_reviews(reviews, train_per_class=100, holdout_size=200, seed=seed)
        assert report["max_holdout_per_business"] == 20
        assert holdout["business_id"].value_counts().max() <= 20
        assert len(holdout) == 200 and set(training["business_id"]).isdisjoint(holdout["business_id"])
    _, holdout, report = split_reviews(reviews, train_per_class=100, holdout_size=200, max_holdout_per_business=5)
    assert holdout["business_id"].value_counts().max() <= 5 and report["holdout"] == {"negative": 100, "positive": 100}
    with pytest.raises(InputError, match="max_holdout_per_business"):
        split_reviews(reviews, max_holdout_per_business=0)


def test_exclude_texts_also_removes_near_duplicates_of_gold():
    gold = "The crust was burnt black on the bottom and the sauce tasted like it came straight from a can"
    training = pd.DataFrame(
        {
            "review_id": ["a", "b", "c"],
            "text": [
                gold.replace("black", "charcoal") + " sadly",
                "Friendly staff and a quick delivery tonight",
                gold.upper(),
            ],
        }
    )
    kept, removed = exclude_texts(training, [gold])
    assert kept["review_id"].tolist() == ["b"] and removed == 2
    assert near_duplicate_leaks(pd.DataFrame({"text": [gold]}), {"training": kept}).empty
    exact_only, removed = exclude_texts(training, [gold], near_duplicate_threshold=None)
    assert exact_only["review_id"].tolist() == ["a", "b"] and removed == 1
