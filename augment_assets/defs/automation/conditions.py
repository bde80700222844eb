"""Declarative automation: the evaluation follows its inputs.

The scoring and sharing assets carry `AutomationCondition.eager()` combined with
`all_deps_blocking_checks_passed()`: eager alone would launch on inputs whose blocking
leakage checks failed (dagster #17332). They are cheap and deterministic, so they follow;
fine-tuning and generation stay deliberate (a run, a schedule or a backfill), since each
costs minutes of both CPU cores. The sensor that evaluates the conditions is created
stopped, like every other piece of automation here: turn it on under *Automation*.
"""

import dagster as dg

FOLLOW_INPUTS = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
FOLLOWERS = (
    "training_set",
    "classifier_metrics",
    "headline",
    "learning_curve",
    "recommendation",
    "warehouse_views",
    "synthetic_reviews_parquet",
)


def follows_inputs(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The spec with FOLLOW_INPUTS when it is one of FOLLOWERS."""
    if spec.key.to_user_string() in FOLLOWERS:
        return spec.replace_attributes(automation_condition=FOLLOW_INPUTS)
    return spec


evaluation_follows_inputs = dg.AutomationConditionSensorDefinition(
    "evaluation_follows_inputs",
    target=dg.AssetSelection.assets(*FOLLOWERS),
    default_status=dg.DefaultSensorStatus.STOPPED,
    minimum_interval_seconds=60,
    description="Re-scores after new synthetic reviews (or any input of the evaluation) whose blocking checks passed.",
)
