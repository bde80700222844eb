"""Schedules (created stopped: turn them on in the UI under Automation)."""


import dagster as dg

from augment_assets.defs.partitions import generator_partitions
from augment_assets.defs.ops.jobs import evaluate_job, generators_job, ingest_job


@dg.schedule(job=ingest_job, cron_schedule="0 2 * * 1", default_status=dg.DefaultScheduleStatus.STOPPED)
def weekly_ingest(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every Monday 02:00: re-read the source (a new Yelp release, an updated CSV)."""
    return dg.RunRequest(run_key=None)


@dg.schedule(job=generators_job, cron_schedule="0 3 * * 1", default_status=dg.DefaultScheduleStatus.STOPPED)
def weekly_generators(context: dg.ScheduleEvaluationContext):
    """Every Monday 03:00: one run per generator (sentiment x data size x repeat); an unchanged corpus reuses the saved model."""
    for key in generator_partitions.get_partition_keys():
        yield dg.RunRequest(partition_key=key, run_key=f"{context.scheduled_execution_time:%Y%m%d}-{key}")


@dg.schedule(job=evaluate_job, cron_schedule="0 6 * * *", default_status=dg.DefaultScheduleStatus.STOPPED)
def daily_evaluation(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every day 06:00: re-score the classifiers on whatever synthetic reviews exist."""
    return dg.RunRequest(run_key=None)


schedules = [weekly_ingest, weekly_generators, daily_evaluation]
