"""`report`: the one-page answer (lib/report.py) as AUGMENT_REPORTS_DIR/report.html and as Markdown in the asset's
metadata, read from the published tables, the saved classifiers and the checks' latest results."""

import os
from pathlib import Path

import dagster as dg
import pandas as pd

from augment_assets.defs.deploy.resources import DeliverablesResource
from augment_assets.defs.resources import WarehouseResource
from augment_assets.lib.model_card import code_version
from augment_assets.lib.plots import learning_curve_png
from augment_assets.lib.report import EVAL_SET, ReportInputs, report_html, report_markdown


def check_results(context: dg.AssetExecutionContext) -> list[tuple[str, str, str]]:
    """(asset, check, passed / failed / not run) of every check of the code location, by its latest evaluation."""
    # every check of the code location, not only the run's: a run of `dg.materialize` knows its selection alone
    from augment_assets.definitions import build_definitions

    graph = build_definitions().resolve_asset_graph()
    keys = sorted(graph.asset_check_keys, key=lambda k: (k.asset_key.path, k.name))
    records = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    out = []
    for key in keys:
        record = records.get(key)
        evaluation = (
            record.event.dagster_event.event_specific_data
            if record is not None and record.event is not None and record.event.dagster_event is not None
            else None
        )
        passed = getattr(evaluation, "passed", None)
        status = "not run" if passed is None else "passed" if passed else "failed"
        out.append((key.asset_key.to_user_string(), key.name, status))
    return out


def lineage(store, instance: dg.DagsterInstance) -> dict[str, str]:
    out = {"code": code_version()}
    if store.has_table("pizza_reviews"):
        counts = store.read(
            "SELECT (SELECT count(*) FROM pizza_reviews) AS reviews, (SELECT count(*) FROM training_reviews) AS training"
        ).iloc[0]
        # the holdout's size from its materialization: the holdout flows only into the metrics and the checks
        event = instance.get_latest_materialization_event(dg.AssetKey("holdout_reviews"))
        held = event.asset_materialization.metadata.get("dagster/row_count") if event else None
        out["data"] = (
            f"{counts['reviews']} labelled reviews: {counts['training']} in the training pool, "
            f"{held.value if held is not None else 'n/a'} held out"
        )
    if store.has_table("sentiment_generator"):
        generators = store.read(
            "SELECT data_size, repeat, sentiment, generator_version, base_model FROM sentiment_generator ORDER BY ALL"
        )
        out["generators"] = "; ".join(
            f"{g.sentiment} {g.data_size} r{g.repeat}: {g.generator_version}" for g in generators.itertuples()
        )
        out["base model"] = ", ".join(sorted(set(generators["base_model"].astype(str))))
    return out


@dg.asset(
    deps=[
        "recommendation",
        "headline",
        "learning_curve",
        "sentiment_classifier",
        "pizza_reviews",
        "training_reviews",
        "sentiment_generator",
    ],
    group_name="deploy",
    kinds={"html"},
    description=(
        "The one-page answer, AUGMENT_REPORTS_DIR/report.html (self-contained) and the same Markdown here: per data "
        "size, did synthetic data help, what to deploy and what the synthetic data was worth; then the learning "
        "curve, the leakage checks and the lineage."
    ),
)
def report(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, deliverables: DeliverablesResource
) -> dg.MaterializeResult:
    store = warehouse.get()
    registry = store.read_table("classifier_registry") if store.has_table("classifier_registry") else pd.DataFrame()
    inputs = ReportInputs(
        recommendation=store.read("SELECT * FROM recommendation WHERE eval_set = ?", [EVAL_SET]),
        headline=store.read_table("headline"),
        strategies=store.read("SELECT * FROM strategy_comparison WHERE eval_set = ?", [EVAL_SET])
        if store.has_table("strategy_comparison")
        else pd.DataFrame(),
        registry=registry[registry["current"]] if len(registry) else registry,
        learning_curve_png=learning_curve_png(
            store.read_table("learning_curve"), store.read_table("headline"), EVAL_SET
        ),
        checks=check_results(context),
        lineage=lineage(store, context.instance),
    )
    text = report_markdown(inputs)
    path = Path(deliverables.reports_dir) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    partial.write_text(report_html(text))
    os.replace(partial, path)
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.md(text),
            "path": dg.MetadataValue.path(str(path.resolve())),
            "bytes": path.stat().st_size,
        }
    )
