"""Schedules (created stopped: turn them on in the UI under Automation)."""

import dagster as dg

# The module, not its jobs: a job imported by name would be found here too and loaded twice.
from augment_assets.defs.automation import jobs


@dg.schedule(job=jobs.refresh_graph_job, cron_schedule="0 2 * * 1", default_status=dg.DefaultScheduleStatus.STOPPED)
def weekly_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every Monday 02:00: the whole graph, every partition (a new Yelp release, an updated CSV); an
    unchanged corpus reuses its saved generator."""
    return dg.RunRequest(run_key=f"refresh-{context.scheduled_execution_time:%Y%m%d}")


@dg.schedule(job=jobs.evaluate_job, cron_schedule="0 6 * * 4", default_status=dg.DefaultScheduleStatus.STOPPED)
def weekly_evaluation(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every Thursday 06:00: re-score the classifiers on whatever synthetic reviews exist by then (a
    backfill of new temperatures or sizes launched from the UI during the week)."""
    return dg.RunRequest(run_key=f"evaluation-{context.scheduled_execution_time:%Y%m%d}")
