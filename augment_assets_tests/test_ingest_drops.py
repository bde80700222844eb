"""What ingest drops, by reason (a log line, the `pizza_reviews` metadata, the split error), and the
3-star reviews it publishes as `unlabelled_reviews`."""

import logging
import random
import string

import dagster as dg
import pandas as pd
import pytest

from augment_assets.cli import run_problems
from augment_assets.lib.reviews import (
    CONFLICTING_LABEL,
    DUPLICATE,
    NO_LABEL,
    UNLABELLED_COLUMNS,
    csv_review_id,
    label_reviews,
    unlabelled_reviews,
)
from augment_assets.lib.text import text_key
from augment_assets.lib.warehouse import Warehouse
from augment_assets.lib.yelp import read_reviews_csv


def distinct_texts(n: int, seed: int = 0) -> list[str]:
    """Texts of random made-up words: no two are near-duplicates, so the split keeps them all."""
    rnd = random.Random(seed)
    vocabulary = ["".join(rnd.choices(string.ascii_lowercase, k=rnd.randint(3, 9))) for _ in range(3000)]
    return [" ".join(rnd.choices(vocabulary, k=25)) for _ in range(n)]


def csv_with_87_rows_without_stars(path):
    """606 rows: 87 with empty stars, the rest 1, 2, 4 or 5 stars."""
    stars = ["" if i % 7 == 3 else str((1, 2, 4, 5)[i % 4]) for i in range(606)]
    assert stars.count("") == 87
    pd.DataFrame({"text": distinct_texts(606), "stars": stars}).to_csv(path, index=False)
    return path


def materialize_ingest(tmp_path, csv_path):
    from augment_assets.defs.ingest.assets import ingest_reviews
    from augment_assets.defs.ingest.resources import ReviewSourceResource
    from augment_assets.defs.resources import ExperimentResource, WarehouseResource

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [ingest_reviews],
        resources={
            "source": ReviewSourceResource(reviews_csv=str(csv_path)),
            "experiment": ExperimentResource(),
            "warehouse": WarehouseResource(path=str(tmp_path / "warehouse.duckdb")),
        },
        instance=instance,
        raise_on_error=False,
    )
    logs = [(e.level, e.user_message) for e in instance.all_logs(result.run_id) if e.user_message]
    return result, logs


def test_rows_without_stars_are_counted_by_label_reviews(tmp_path):
    raw, report = read_reviews_csv(csv_with_87_rows_without_stars(tmp_path / "reviews.csv"))
    reviews, rejected, duplicates = label_reviews(raw)
    assert (len(raw), report.rejected) == (606, {})
    assert rejected == {NO_LABEL: 87} and duplicates == {}
    assert len(reviews) == 606 - 87


def test_ingest_logs_and_records_the_rows_it_dropped(tmp_path):
    result, logs = materialize_ingest(tmp_path, csv_with_87_rows_without_stars(tmp_path / "reviews.csv"))
    assert result.success, logs
    line = "Dropped 87 of 606 rows: 87 no stars or sentiment"
    assert (logging.WARNING, line) in logs, logs
    read = [m for _, m in logs if m.startswith("Read 606 reviews from csv")]
    assert read and [m for _, m in logs].index(line) > [m for _, m in logs].index(read[0])

    written = {
        m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("ingest_reviews")
    }
    pizza = written["pizza_reviews"]
    assert pizza["rows_dropped"].value == 87
    assert "| no stars or sentiment |     87 |" in pizza["dropped_by_reason"].value, pizza["dropped_by_reason"].value
    # the keys that were there before keep their meaning
    assert (pizza["rows_rejected"].value, pizza["duplicates_removed"].value) == (87, 0)
    assert "no stars or sentiment" in pizza["rejected_by_reason"].value

    # no 3-star rows: unlabelled_reviews is published, empty, and typed (not INTEGER columns)
    assert written["unlabelled_reviews"]["dagster/row_count"].value == 0
    store = Warehouse(tmp_path / "warehouse.duckdb")
    schema = store.read("DESCRIBE unlabelled_reviews")
    assert dict(zip(schema["column_name"], schema["column_type"])) == {
        "review_id": "VARCHAR",
        "business_id": "VARCHAR",
        "stars": "DOUBLE",
        "text": "VARCHAR",
        "date": "VARCHAR",
    }
    assert len(store.read_table("pizza_reviews")) == 606 - 87


def test_one_text_under_two_labels_counts_duplicates_and_conflicts():
    raw = pd.DataFrame({"text": ["The same pizza review, copied."] * 100, "stars": [5.0, 1.0] * 50})
    reviews, rejected, duplicates = label_reviews(raw)
    assert reviews["sentiment"].tolist() == ["positive"] and rejected == {}
    # 49 more positive copies are plain duplicates; the 50 negative ones conflict with the kept label
    assert duplicates == {DUPLICATE: 49, CONFLICTING_LABEL: 50}


def test_the_split_error_says_what_was_dropped_before(tmp_path):
    path = tmp_path / "copies.csv"
    pd.DataFrame({"text": ["The same pizza review, copied."] * 100, "stars": [5, 1] * 50}).to_csv(path, index=False)
    result, logs = materialize_ingest(tmp_path, path)
    assert not result.success
    errors = run_problems(result)  # what `augment-assets materialize` prints
    assert len(errors) == 1, errors
    assert "Too few reviews to split: found 0 negative and 1 positive" in errors[0], errors[0]
    dropped = (
        "Before the split, ingest dropped 99 of 100 rows: 49 duplicate text or review_id, "
        "50 duplicate text with a conflicting label"
    )
    assert dropped in errors[0], errors[0]
    assert errors[0].count("Too few reviews to split") == 1, errors[0]  # said once, not again as a cause
    assert not Warehouse(tmp_path / "warehouse.duckdb").has_table("unlabelled_reviews")


def test_unlabelled_reviews_are_the_distinct_3_star_reviews_not_labelled():
    raw = pd.DataFrame(
        {
            "review_id": ["a", "b", "c", "d", "e", "f", "g", None, "h"],
            "business_id": ["p1", "p1", "p2", "p2", "p3", "p3", None, "p4", "p4"],
            "stars": [5, 1, 3, 3, 3, 3, 3, 3, 4],
            "text": [
                "Great crust and sauce",
                "Cold and soggy",
                "great crust AND sauce!",  # the text of a labelled review
                "Fine pizza, nothing special",
                "fine pizza  nothing special.",  # a duplicate of d
                "   ",  # empty
                "?!",  # nothing left after normalization
                "Okay slice",  # no id
                "Good enough",
            ],
            "date": ["2020-01-01"] * 9,
        }
    )
    labelled, _, _ = label_reviews(raw)
    found = unlabelled_reviews(raw, labelled)
    assert list(found.columns) == UNLABELLED_COLUMNS
    expected = pd.DataFrame(
        {
            "review_id": ["d", csv_review_id(text_key("Okay slice"))],
            "business_id": ["p2", "p4"],
            "stars": [3.0, 3.0],
            "text": ["Fine pizza, nothing special", "Okay slice"],
            "date": ["2020-01-01"] * 2,
        }
    )
    pd.testing.assert_frame_equal(found.astype(object), expected.astype(object))


def test_unlabelled_reviews_of_a_sentiment_only_csv_are_empty_and_typed():
    raw = pd.DataFrame({"text": ["Nice pie", "Bad pie", "Meh pie"], "sentiment": ["positive", "negative", "neutral"]})
    labelled, _, _ = label_reviews(raw)
    found = unlabelled_reviews(raw, labelled)
    assert found.empty and list(found.columns) == UNLABELLED_COLUMNS
    assert found["stars"].dtype == "float64"
    assert all(pd.api.types.is_string_dtype(found[c]) for c in UNLABELLED_COLUMNS if c != "stars")


@pytest.mark.parametrize("labelled_first", [True, False])
def test_unlabelled_reviews_skip_ids_already_labelled(labelled_first):
    rows = [("r1", 5, "A labelled review"), ("r1", 3, "Another text under the same id")]
    raw = pd.DataFrame(rows if labelled_first else rows[::-1], columns=["review_id", "stars", "text"])
    labelled, _, _ = label_reviews(raw)
    assert labelled["review_id"].tolist() == ["r1"]
    assert unlabelled_reviews(raw, labelled).empty
