"""The graph's stages, declared once: the asset jobs (defs/automation/jobs.py) and the runs of
`augment-assets materialize` (cli.py) are both built from them.

A stage is one asset job. Dagster cannot run assets of different partitions definitions in one run, so
the command runs a partitioned stage once per partition key, in order (the synthetic stage once per generator,
over the range of its temperatures). A light module: it imports no
definitions, so the command can read it before the environment it sets is in place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str  # `augment-assets materialize --stage NAME`
    job: str  # the asset job launched from the UI, a schedule or a sensor
    description: str
    groups: tuple[str, ...] = ()  # the job selects these asset groups ...
    assets: tuple[str, ...] = ()  # ... and these assets
    config_ops: tuple[str, ...] = ()  # the ops of this stage a run config may configure
    # "generator" / "synthetic" / "predictions": one run per key of that partitions definition ("synthetic": per
    # generator, over its temperatures)
    partitions: str | None = None
    # assets the command runs on their own before the rest of the stage: the reference, whose failed
    # blocking checks must leave it out of scoring (training_set reads them) without stopping our candidates
    first_alone: tuple[str, ...] = ()
    run_label: str = ""  # how the command names this stage's runs (and tags them); default: the stage's name

    @property
    def label(self) -> str:
        return self.run_label or self.name

    def selection(self, without: tuple[str, ...] = ()):
        import dagster as dg

        selection = dg.AssetSelection.groups(*self.groups) | dg.AssetSelection.assets(*self.assets)
        return selection - dg.AssetSelection.assets(*without) if without else selection


STAGE_LIST = (
    Stage(
        "ingest",
        "ingest_job",
        "Read the source, label and dedup, split into training and holdout, nested folds; leakage checks.",
        groups=("ingest",),
        config_ops=("gold_holdout", "ingest_reviews"),
    ),
    Stage(
        "generators",
        "generators_job",
        "Prompt table and fine-tuned generator of one generator partition (sentiment x data size x repeat).",
        assets=("prompt_table", "sentiment_generator"),
        config_ops=("prompt_table", "sentiment_generator"),
        partitions="generator",
    ),
    Stage(
        "synthetic",
        "synthetic_job",
        "Synthetic reviews of one generator (sentiment x data size x repeat) at one temperature; the command runs "
        "each generator's temperatures as one run, decoded in one batch.",
        assets=("synthetic_reviews",),
        config_ops=("synthetic_reviews",),
        partitions="synthetic",
        run_label="synthetic_reviews",
    ),
    Stage(
        "evaluate",
        "evaluate_job",
        "The reference's checks, every training set, the classifier metrics with the headline, learning curve and "
        "recommendation, the classifier to deploy at each data size and the report, then the shared views and the "
        "Parquet export; leakage checks.",
        groups=("evaluate", "share", "deploy"),
        # classifier_metrics also makes headline, learning_curve and recommendation
        config_ops=("reference_synthetic", "training_set", "classifier_metrics"),
        first_alone=("reference_synthetic",),
    ),
    Stage(
        "predict",
        "predict_job",
        "Label one batch of unlabelled reviews (the source's, or one inbox CSV) with the saved classifier.",
        assets=("review_predictions",),
        config_ops=("review_predictions",),
        partitions="predictions",
        run_label="review_predictions",
    ),
)
STAGES = tuple(stage.name for stage in STAGE_LIST)
# The job that holds each configurable op, for checking a run config before any run starts.
JOB_OF_OP = {op: stage.job for stage in STAGE_LIST for op in stage.config_ops}
