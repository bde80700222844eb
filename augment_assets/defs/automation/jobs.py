"""Jobs: one per partitions definition (inferred from the selected assets), each launchable from the UI, a schedule or a sensor."""

import dagster as dg

from augment_assets.cli import STAGES  # the CLI's stages, in order (a light module: no definitions load)

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups("ingest"),
    description="Read the source, label and dedup, split into training and holdout, nested folds; leakage checks.",
)
generators_job = dg.define_asset_job(
    "generators_job",
    selection=dg.AssetSelection.assets("prompt_table", "sentiment_generator"),
    description="Prompt table and fine-tuned generator of one generator partition (sentiment x data size x repeat).",
)
synthetic_job = dg.define_asset_job(
    "synthetic_job",
    selection=dg.AssetSelection.assets("synthetic_reviews"),
    description="Synthetic reviews of one generator (sentiment x data size x repeat) at one temperature.",
)
evaluate_job = dg.define_asset_job(
    "evaluate_job",
    selection=dg.AssetSelection.groups("evaluate", "share"),
    description=(
        "The reference's checks, every training set, the classifier metrics with the headline, learning curve and "
        "recommendation, then the shared views and the Parquet export; leakage checks."
    ),
)

REFRESH_TAG = "augment_assets/refresh"  # on every stage run a refresh launched: the refresh's run id


class RefreshConfig(dg.Config):
    stages: list[str] = list(STAGES)


@dg.op(description="Materializes the graph stage by stage, exactly as `augment-assets materialize` does.")
def refresh_graph(context: dg.OpExecutionContext, config: RefreshConfig) -> dg.Output[None]:
    """One asset job cannot hold assets of different partitions definitions, so the whole graph is
    this op: it launches the stage runs (ingest, one per generator, one per synthetic partition, the
    evaluation) into the same instance, each tagged with this run's id, and fails naming the stage."""
    from augment_assets.cli import materialize_all

    unknown = [s for s in config.stages if s not in STAGES]
    if unknown:
        raise dg.Failure(f"unknown stage(s) {unknown}; the stages are {', '.join(STAGES)}", allow_retries=False)
    stages = [s for s in STAGES if s in config.stages]
    code = materialize_all(stages, instance=context.instance, tags={REFRESH_TAG: context.run_id})
    if code:
        raise dg.Failure(
            f"the refresh stopped (status {code}); the failed stage run is tagged {REFRESH_TAG}={context.run_id}",
            allow_retries=False,
        )
    return dg.Output(None, metadata={"stages": ", ".join(stages)})


@dg.job(
    executor_def=dg.in_process_executor,  # it only orchestrates: each stage run executes its own steps
    description="The whole asset graph, every partition: the stage runs `augment-assets materialize` launches.",
    tags={"augment_assets/kind": "refresh"},
)
def refresh_graph_job():
    refresh_graph()
