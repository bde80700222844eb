"""Jobs: one per partitions definition (inferred from the selected assets), each launchable from the UI, a schedule or a sensor."""

import dagster as dg

from augment_assets.stages import STAGE_LIST, STAGES

# One asset job per stage, as declared in augment_assets/stages.py (the command runs the same stages).
STAGE_JOBS = {
    stage.name: dg.define_asset_job(stage.job, selection=stage.selection(), description=stage.description)
    for stage in STAGE_LIST
}
ingest_job = STAGE_JOBS["ingest"]
generators_job = STAGE_JOBS["generators"]
synthetic_job = STAGE_JOBS["synthetic"]
evaluate_job = STAGE_JOBS["evaluate"]
predict_job = STAGE_JOBS["predict"]

REFRESH_TAG = "augment_assets/refresh"  # on every stage run a refresh launched: the refresh's run id


class RefreshConfig(dg.Config):
    stages: list[str] = list(STAGES)


@dg.op(description="Materializes the graph stage by stage, exactly as `augment-assets materialize` does.")
def refresh_graph(context: dg.OpExecutionContext, config: RefreshConfig) -> dg.Output[None]:
    """One asset job cannot hold assets of different partitions definitions, so the whole graph is
    this op: it launches the stage runs (ingest, one per generator, one per generator's synthetic partitions, the
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
