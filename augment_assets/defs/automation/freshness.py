"""Freshness: the tables other teams read show as stale in the UI when the weekly refresh is missed.

`weekly_refresh` rebuilds the whole graph every Monday and `weekly_evaluation` re-scores on
Thursdays, so a shared table older than a week means a refresh did not happen: warn after 7 days,
fail after 8 (a day's slack for a long run). Evaluated by the daemon's freshness loop
(`dagster dev` runs it; `freshness: enabled` in dagster_home/dagster.yaml).
"""

from datetime import timedelta

import dagster as dg

WEEKLY = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=8), warn_window=timedelta(days=7))
# What downstream teams query: the scores, the shared views and export, and the synthetic reviews
# and generator registry behind them.
SHARED = (
    "sentiment_generator",
    "synthetic_reviews",
    "training_set",
    "classifier_metrics",
    "headline",
    "learning_curve",
    "recommendation",
    "warehouse_views",
    "synthetic_reviews_parquet",
)


def with_freshness(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The spec with the WEEKLY freshness policy when it is one of SHARED."""
    if spec.key.to_user_string() in SHARED:
        return spec.replace_attributes(freshness_policy=WEEKLY)
    return spec
