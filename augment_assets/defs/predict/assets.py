"""Predict: `review_predictions`, reviews without a label labelled by the saved classifier, one partition per
batch: the configured source's unlabelled reviews (`source-unlabelled`: ingest's 3-star reviews) and each CSV
dropped into the inbox (AUGMENT_INBOX, default data/inbox/; the `inbox_files_sensor` adds its partition).

A batch scored again by the same classifier version replaces its own rows; a new classifier version adds rows
beside the old ones; another batch's rows are never touched. `latest_predictions` is each batch's rows by the
classifier version that scored it last.
"""

from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from augment_assets.defs.deploy.resources import DeliverablesResource
from augment_assets.defs.generate.resources import LanguageModelResource
from augment_assets.defs.metadata import preview, table_metadata
from augment_assets.defs.resources import WarehouseResource
from augment_assets.lib.errors import InputError
from augment_assets.lib.predictions import choose_saved, prediction_rows
from augment_assets.lib.saved_classifier import ASSET, load_classifier
from augment_assets.lib.texts_csv import read_texts_csv

SOURCE_BATCH = "source-unlabelled"  # the configured source's unlabelled reviews; every other key is an inbox file
prediction_batches = dg.DynamicPartitionsDefinition(name="prediction_batches")

LATEST_PREDICTIONS = (
    "CREATE OR REPLACE VIEW latest_predictions AS SELECT p.* FROM review_predictions p JOIN ("
    "SELECT batch, arg_max(classifier_version, scored_at) AS classifier_version FROM review_predictions GROUP BY batch"
    ") latest USING (batch, classifier_version)"
)


def inbox_files(inbox: Path | str) -> list[Path]:
    """The CSVs in the inbox, by name (each one batch; its name is its partition key)."""
    folder = Path(inbox)
    return sorted(p for p in folder.glob("*.csv") if p.is_file()) if folder.is_dir() else []


def register_batches(instance: dg.DagsterInstance, inbox: Path | str) -> list[str]:
    """Add a partition for the source's unlabelled reviews and for each inbox CSV not yet known; every batch key."""
    keys = [SOURCE_BATCH, *(p.name for p in inbox_files(inbox))]
    known = set(instance.get_dynamic_partitions(prediction_batches.name))
    new = [k for k in keys if k not in known]
    if new:
        instance.add_dynamic_partitions(prediction_batches.name, new)
    return keys


class PredictionSettings(dg.Config):
    data_size: str | None = Field(
        default=None,
        description="Whose classifier labels the batch: a data size of classifier_registry (default: the largest).",
    )


def batch_reviews(key: str, warehouse, inbox: Path) -> tuple[pd.DataFrame, str]:
    """(reviews to label, where they came from) of one batch."""
    if key == SOURCE_BATCH:
        store = warehouse.get()
        if not store.has_table("unlabelled_reviews"):
            raise InputError("No unlabelled_reviews table: materialize the ingest stage first.")
        return store.read("SELECT review_id, text FROM unlabelled_reviews ORDER BY review_id"), "source"
    path = inbox / key
    return read_texts_csv(path), key


@dg.asset(
    partitions_def=prediction_batches,
    deps=["sentiment_classifier", "unlabelled_reviews"],
    group_name="predict",
    kinds={"duckdb", "csv"},
    pool="warehouse",
    description=(
        "Reviews without a label, labelled by the saved classifier (default: the largest data size's): per batch "
        f"(`{SOURCE_BATCH}`: the source's unlabelled reviews; else a CSV in AUGMENT_INBOX), with where each came "
        "from, its text hash, the predicted sentiment, P(positive), the classifier version and when. "
        "View latest_predictions: each batch by its latest classifier."
    ),
)
def review_predictions(
    context: dg.AssetExecutionContext,
    config: PredictionSettings,
    warehouse: WarehouseResource,
    language_model: LanguageModelResource,
    deliverables: DeliverablesResource,
) -> dg.MaterializeResult:
    key = context.partition_key
    # Read and checked first: a bad file fails here, and no row of any batch changes.
    reviews, source = batch_reviews(key, warehouse, Path(deliverables.inbox_dir))
    store = warehouse.get()
    if not store.has_table("classifier_registry"):
        raise InputError(f"No saved classifier yet: materialize {ASSET} first.")
    chosen = choose_saved(store.read_table("classifier_registry"), config.data_size)
    saved = load_classifier(chosen["path"], language_model.access(lambda m: context.log.info(str(m))))
    context.log.info(f"labelling {len(reviews)} reviews of {key} with {saved.classifier} {saved.version}")
    done = [0]

    def progress(n: int) -> None:
        done[0] += n
        context.log.info(f"labelled {done[0]} of {len(reviews)} reviews")

    rows = prediction_rows(reviews, saved, key, source, progress)
    # this batch under this classifier version: replaced; other versions and batches stay
    store.replace_rows("review_predictions", rows, {"batch": key, "classifier_version": saved.version})
    with store.publish() as con:
        con.execute(LATEST_PREDICTIONS)
    counts = rows["predicted_sentiment"].value_counts().to_dict()
    return dg.MaterializeResult(
        metadata={
            **table_metadata("review_predictions", rows),
            "batch": key,
            "classifier_version": saved.version,
            "classifier": saved.classifier,
            "data_size": saved.data_size,
            "positive": int(counts.get("positive", 0)),
            "negative": int(counts.get("negative", 0)),
            "preview": preview(rows.drop(columns=["scored_at"]), rows=10),
        }
    )


@dg.sensor(
    asset_selection=[review_predictions],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def inbox_files_sensor(context: dg.SensorEvaluationContext, deliverables: DeliverablesResource):
    """Each new or changed CSV in the inbox becomes a partition of review_predictions and is labelled; when a new
    classifier is saved, every inbox file is labelled again by it (its rows are added beside the old ones)."""
    files = inbox_files(deliverables.inbox_dir)
    if not files:
        return dg.SkipReason(f"no CSV in the inbox {deliverables.inbox_dir}")
    event = context.instance.get_latest_materialization_event(dg.AssetKey("sentiment_classifier"))
    if event is None:
        return dg.SkipReason("no saved classifier yet: materialize sentiment_classifier first")
    classifier = event.asset_materialization.tags.get("dagster/data_version", event.run_id)
    known = set(context.instance.get_dynamic_partitions(prediction_batches.name))
    new = [p.name for p in files if p.name not in known]
    requests = [
        dg.RunRequest(partition_key=p.name, run_key=f"{p.name}:{p.stat().st_mtime_ns}:{p.stat().st_size}:{classifier}")
        for p in files
    ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[prediction_batches.build_add_request(new)] if new else [],
    )
