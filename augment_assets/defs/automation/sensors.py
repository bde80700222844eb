"""Sensors: react to a changed source file (created stopped), evaluate the automation conditions
(created stopped), and end dead runs (running)."""

from pathlib import Path

import dagster as dg

# The module, not its jobs: a job imported by name would be found here too and loaded twice.
from augment_assets.defs.automation import jobs
from augment_assets.defs.ingest.resources import ReviewSourceResource


def source_fingerprint(paths: list[Path]) -> str:
    return ";".join(f"{p}:{p.stat().st_mtime_ns}:{p.stat().st_size}" if p.exists() else f"{p}:missing" for p in paths)


@dg.sensor(job=jobs.ingest_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def review_source_changed(context: dg.SensorEvaluationContext, source: ReviewSourceResource):
    """Re-ingest when the configured source files change (size or modification time); skip, naming the
    path, while a configured file is missing (a run would only fail on it)."""
    missing = [str(p) for p in source.files() if not p.exists()]
    if missing:
        return dg.SkipReason(
            f"source file(s) missing: {', '.join(missing)}; waiting for them (check REVIEWS_CSV / YELP_DATASET_DIR)"
        )
    fingerprint = source_fingerprint(source.files())
    if fingerprint == context.cursor:
        return dg.SkipReason("source files unchanged")
    context.update_cursor(fingerprint)
    return dg.RunRequest(run_key=fingerprint)
