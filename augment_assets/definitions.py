"""The code location: assembles the domains under defs/; nothing is defined here."""

from __future__ import annotations

import dagster as dg

from augment_assets.defs.evaluate.assets import classifier_metrics, evaluation_resource, reference_synthetic, training_set
from augment_assets.defs.generate.assets import prompt_table, sentiment_generator, synthetic_reviews
from augment_assets.defs.generate.resources import language_model_resource
from augment_assets.defs.ingest.assets import gold_holdout, ingest_reviews, review_source
from augment_assets.defs.ingest.resources import review_source_resource
from augment_assets.defs.leakage.checks import leakage_checks
from augment_assets.defs.ops.automation import follows_inputs
from augment_assets.defs.ops.jobs import jobs
from augment_assets.defs.ops.schedules import schedules
from augment_assets.defs.ops.sensors import sensors
from augment_assets.defs.resources import experiment_resource, warehouse_resource
from augment_assets.defs.share.assets import export_resource, synthetic_reviews_parquet, warehouse_views

OWNER = "team:augment-assets"  # who to ask about any asset of this code location


def _owned(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Every asset: its owner, its domain (the group) as a tag to filter the catalog by, and whether it
    follows its inputs (defs/ops/automation.py)."""
    spec = spec.replace_attributes(owners=[OWNER], tags={**spec.tags, "domain": spec.group_name or "external"})
    return follows_inputs(spec)


assets = [
    review_source,
    gold_holdout,
    ingest_reviews,
    prompt_table,
    sentiment_generator,
    synthetic_reviews,
    reference_synthetic,
    training_set,
    classifier_metrics,
    warehouse_views,
    synthetic_reviews_parquet,
]
assets = dg.map_asset_specs(_owned, assets)


def build_definitions() -> dg.Definitions:
    """Definitions with resources read from the environment at load time."""
    return dg.Definitions(
        assets=assets,
        # Steps run inside the run's own process: a killed run (`dagster asset materialize`, a UI run's
        # worker) leaves no orphaned step process behind still fine-tuning and holding a pool slot. The
        # pools allow one op at a time anyway; a multi-machine deployment sets its executor per job.
        executor=dg.in_process_executor,
        asset_checks=leakage_checks,
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources={
            "warehouse": warehouse_resource(),
            "source": review_source_resource(),
            "language_model": language_model_resource(),
            "experiment": experiment_resource(),
            "evaluation": evaluation_resource(),
            "exports": export_resource(),
        },
    )


defs = build_definitions()
