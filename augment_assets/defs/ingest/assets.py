"""Ingest: `gold_holdout`, then the review source -> `pizza_reviews`, `unlabelled_reviews`, `training_reviews`,
`holdout_reviews` and `review_folds`, published together.

Every row a source gives and ingest drops is counted by reason - the reader's own (invalid UTF-8,
stars not a number), labelling's (3 stars, empty text, ...), duplicates, duplicates with a conflicting
label, and training reviews removed for the gold holdout - in one log line after "Read N reviews"
(a warning when anything was dropped) and in the metadata `dropped_by_reason` / `rows_dropped`.
"""

from collections import Counter

import dagster as dg
import pandas as pd

from augment_assets.defs.ingest.resources import ReviewSourceResource
from augment_assets.defs.metadata import counts_table, preview, review_table_metadata, table_metadata
from augment_assets.defs.partitions import fold_sizes, repeats
from augment_assets.defs.resources import ExperimentResource, WarehouseResource
from augment_assets.lib.errors import InputError
from augment_assets.lib.folds import build_folds
from augment_assets.lib.reviews import REVIEW_COLUMNS, label_reviews, unlabelled_reviews
from augment_assets.lib.split import exclude_texts, split_reviews
from augment_assets.lib.yelp import read_reviews_csv

review_source = dg.AssetSpec(
    "review_source",
    group_name="ingest",
    description=(
        "External review data: the Yelp Open Dataset JSON files in YELP_DATASET_DIR, "
        "else the CSV in REVIEWS_CSV, else the embedded demonstration sample (data/sample/)."
    ),
    kinds={"json", "csv"},
)

# the reason training reviews removed for the gold holdout are counted under (beside the source's and labelling's)
GOLD_OVERLAP = "gold holdout text or near-duplicate (removed from training_reviews)"


def dropped_rows(*counts: dict[str, int]) -> dict[str, int]:
    """reason -> rows dropped, from the reader's report, label_reviews' rejections and duplicates, ...

    In the order given; reasons without rows are left out."""
    total: Counter[str] = Counter()
    for part in counts:
        total += Counter(part)
    return dict(total)


def describe_dropped(dropped: dict[str, int], rows: int) -> str:
    """The log line, e.g. `Dropped 87 of 606 rows: 87 no stars or sentiment` (or `Dropped 0 of 606 rows`)."""
    line = f"Dropped {sum(dropped.values())} of {rows} rows"
    return line + (": " + ", ".join(f"{n} {why}" for why, n in dropped.items()) if dropped else "")


def _log_dropped(context: dg.AssetExecutionContext, dropped: dict[str, int], rows: int) -> None:
    (context.log.warning if dropped else context.log.info)(describe_dropped(dropped, rows))


def _dropped_metadata(dropped: dict[str, int]) -> dict:
    return {"rows_dropped": sum(dropped.values()), "dropped_by_reason": counts_table(dropped)}


@dg.asset(
    group_name="ingest",
    kinds={"duckdb"},
    pool="warehouse",
    description="Optional extra holdout from GOLD_HOLDOUT_CSV, evaluated in classifier_metrics and excluded from all training.",
)
def gold_holdout(
    context: dg.AssetExecutionContext, source: ReviewSourceResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    if not source.gold_holdout_csv:
        # Typed columns: an empty object column would land in DuckDB as INTEGER.
        gold = pd.DataFrame({c: pd.Series(dtype="float64" if c == "stars" else "string") for c in REVIEW_COLUMNS})
        warehouse.get().write_table("gold_holdout", gold)
        return dg.MaterializeResult(metadata={"configured": False, **table_metadata("gold_holdout", gold)})
    raw, report = read_reviews_csv(source.gold_holdout_csv)
    context.log.info(f"Read {len(raw)} reviews from GOLD_HOLDOUT_CSV ({report.path})")
    gold, rejected, duplicates = label_reviews(raw)
    dropped = dropped_rows(report.rejected, rejected, duplicates)
    _log_dropped(context, dropped, len(raw) + sum(report.rejected.values()))
    gold["review_id"] = "gold-" + gold["review_id"].astype(str).str.removeprefix("csv-")
    warehouse.get().write_table("gold_holdout", gold[REVIEW_COLUMNS])
    return dg.MaterializeResult(
        metadata={
            "configured": True,
            "source_path": report.path,
            **review_table_metadata("gold_holdout", gold[REVIEW_COLUMNS]),
            "duplicates_removed": sum(duplicates.values()),
            "rejected_by_reason": counts_table(dropped_rows(report.rejected, rejected)),
            **_dropped_metadata(dropped),
        }
    )


class SplitConfig(dg.Config):
    """Sizes of the independent split; defaults are close to the study (225 per class, ~200 held out)."""

    train_per_class: int = 225
    holdout_size: int = 200
    min_train_per_class: int = 20


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "pizza_reviews",
            deps=[review_source],
            group_name="ingest",
            kinds={"duckdb"},
            description="Labelled, deduplicated reviews of businesses in the configured categories (1-2 stars negative, 4-5 positive).",
        ),
        dg.AssetSpec(
            "unlabelled_reviews",
            deps=[review_source, "pizza_reviews"],
            group_name="ingest",
            kinds={"duckdb"},
            description=(
                "The source's reviews without a label because they have 3 stars, deduplicated by normalized text "
                "and without any whose text is a labelled review's: the reviews the product labels with its "
                "trained classifier. Empty for a CSV labelled only by `sentiment`."
            ),
        ),
        dg.AssetSpec(
            "training_reviews",
            deps=["pizza_reviews", gold_holdout],
            group_name="ingest",
            kinds={"duckdb"},
            description="The balanced training pool: the only genuine reviews any generator, prompt or classifier may learn from.",
        ),
        dg.AssetSpec(
            "holdout_reviews",
            deps=["pizza_reviews"],
            group_name="ingest",
            kinds={"duckdb"},
            description="The independent holdout: flows only into classifier_metrics and the leakage checks.",
        ),
        dg.AssetSpec(
            "review_folds",
            deps=["training_reviews"],
            group_name="ingest",
            kinds={"duckdb"},
            description=(
                "The nested folds: for each repeat (REPEATS) and data size (DATA_SIZES and LEARNING_CURVE_SIZES), "
                "which training reviews belong to it and whether each is `fit` (generators and classifiers learn from "
                "it) or `validation` (every choice is scored on it). Each smaller size is drawn from the fit fold of "
                "the next larger one; each repeat is its own seeded draw."
            ),
        ),
    ],
    pool="warehouse",
)
def ingest_reviews(
    context: dg.AssetExecutionContext,
    config: SplitConfig,
    source: ReviewSourceResource,
    experiment: ExperimentResource,
    warehouse: WarehouseResource,
):
    """Read, label, split and fold in memory, then publish the five tables in one write: a source that
    cannot be split (one class, too few reviews, a data size too large) fails before anything is
    published, so every table stays as it was."""
    store = warehouse.get()
    raw, report = source.read_reviews()
    context.log.info(f"Read {len(raw)} reviews from {report.source} ({report.path})")
    rows_read = len(raw) + sum(report.rejected.values())  # with the rows the reader itself rejected
    reviews, rejected, duplicates = label_reviews(raw)
    rejected = dropped_rows(report.rejected, rejected)  # source-level and label-level reasons
    dropped = dropped_rows(rejected, duplicates)
    if reviews.empty:  # nothing kept, so nothing was a duplicate: `rejected` is every dropped row
        raise InputError(
            f"No labelled reviews left from {report.path}: {len(raw)} rows read, rejected {rejected}. "
            + (
                "Check the CSV's stars (1-5) or sentiment (negative/positive) column."
                if report.source == "csv"
                else f"Check the reviews' stars and the categories {source.categories}."
            )
        )
    try:
        training, holdout, split_report = split_reviews(
            reviews,
            train_per_class=config.train_per_class,
            holdout_size=config.holdout_size,
            seed=experiment.seed,
            min_train_per_class=config.min_train_per_class,
        )
    except InputError as error:
        # the same error, saying what was dropped on the way; not chained, since the CLI and the UI would
        # print the split's message twice (once more as the cause)
        before = describe_dropped(dropped, rows_read).removeprefix("Dropped ")
        raise InputError(f"{error} Before the split, ingest dropped {before} (read from {report.path}).") from None
    gold = store.read_table("gold_holdout") if store.has_table("gold_holdout") else pd.DataFrame(columns=["text"])
    training, gold_removed = exclude_texts(training, gold["text"].tolist())
    dropped = dropped_rows(dropped, {GOLD_OVERLAP: gold_removed})
    _log_dropped(context, dropped, rows_read)
    unlabelled = unlabelled_reviews(raw, reviews)
    folds = build_folds(training, fold_sizes, experiment.validation_share, experiment.seed, repeats)
    # One publish: a reader never sees new reviews beside an old split, or a split beside other folds.
    store.write_tables(
        {
            "pizza_reviews": reviews[REVIEW_COLUMNS],
            "unlabelled_reviews": unlabelled,
            "training_reviews": training[REVIEW_COLUMNS],
            "holdout_reviews": holdout[REVIEW_COLUMNS],
            "review_folds": folds,
        }
    )
    bad_lines = pd.DataFrame(report.bad_lines[:20], columns=["file", "line", "reason"])
    yield dg.MaterializeResult(
        asset_key="pizza_reviews",
        metadata={
            **review_table_metadata("pizza_reviews", reviews[REVIEW_COLUMNS]),
            "source": report.source,
            "source_path": report.path,
            "categories": ", ".join(source.categories),
            "lines_read": report.lines_read,
            "businesses_matched": report.businesses_matched if report.businesses_matched is not None else -1,
            "duplicates_removed": sum(duplicates.values()),
            "rows_rejected": sum(rejected.values()),
            "rejected_by_reason": counts_table(rejected),
            **_dropped_metadata(dropped),
            "bad_json_lines": report.bad_line_count,
            "bad_json_line_examples": preview(bad_lines, rows=len(bad_lines))
            if len(bad_lines)
            else dg.MetadataValue.md("none"),
        },
    )
    yield dg.MaterializeResult(
        asset_key="unlabelled_reviews",
        metadata={**table_metadata("unlabelled_reviews", unlabelled), "preview": preview(unlabelled)},
    )
    businesses = lambda f: int(f["business_id"].dropna().nunique())  # noqa: E731
    table = pd.DataFrame([{"key": k, "value": str(v)} for k, v in split_report.items()])
    yield dg.MaterializeResult(
        asset_key="training_reviews",
        metadata={
            **review_table_metadata("training_reviews", training[REVIEW_COLUMNS]),
            "gold_reviews_removed": gold_removed,
            "businesses": businesses(training),
            "split_report": dg.MetadataValue.md(table.to_markdown(index=False)),
        },
    )
    yield dg.MaterializeResult(
        asset_key="holdout_reviews",
        metadata={
            **review_table_metadata("holdout_reviews", holdout[REVIEW_COLUMNS]),
            "businesses": businesses(holdout),
        },
    )
    sizes = (
        folds[folds["repeat"] == 1]
        .groupby(["data_size", "fold", "sentiment"], sort=False)
        .size()
        .unstack("sentiment")
        .reset_index()
    )
    yield dg.MaterializeResult(
        asset_key="review_folds",
        metadata={
            **table_metadata("review_folds", folds),
            "data_sizes": ", ".join(folds["data_size"].unique()),
            "repeats": int(folds["repeat"].max()),
            "validation_share": experiment.validation_share,
            "reviews_per_fold_repeat_1": dg.MetadataValue.md(sizes.to_markdown(index=False)),
        },
    )
