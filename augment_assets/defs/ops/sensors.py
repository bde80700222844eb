"""Sensors: react to a changed source file and to new synthetic partitions (created stopped)."""


from pathlib import Path

import dagster as dg

from augment_assets.defs.ops.jobs import evaluate_job, ingest_job
from augment_assets.defs.ops.runs import dead_run_recovery
from augment_assets.defs.ingest.resources import ReviewSourceResource


def source_fingerprint(paths: list[Path]) -> str:
    return ";".join(f"{p}:{p.stat().st_mtime_ns}:{p.stat().st_size}" if p.exists() else f"{p}:missing" for p in paths)


@dg.sensor(job=ingest_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def review_source_changed(context: dg.SensorEvaluationContext, source: ReviewSourceResource):
    """Re-ingest when the configured source files change (size or modification time); skip, naming the
    path, while a configured file is missing (a run would only fail on it)."""
    missing = [str(p) for p in source.files() if not p.exists()]
    if missing:
        return dg.SkipReason(f"source file(s) missing: {', '.join(missing)}; waiting for them (check REVIEWS_CSV / YELP_DATASET_DIR)")
    fingerprint = source_fingerprint(source.files())
    if fingerprint == context.cursor:
        return dg.SkipReason("source files unchanged")
    context.update_cursor(fingerprint)
    return dg.RunRequest(run_key=fingerprint)


@dg.asset_sensor(
    asset_key=dg.AssetKey("synthetic_reviews"),
    job=evaluate_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def synthetic_reviews_updated(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    """Re-evaluate after any synthetic partition is materialized."""
    return dg.RunRequest(run_key=context.cursor)


sensors = [review_source_changed, synthetic_reviews_updated, dead_run_recovery]
