"""The Celery app the `dagster-celery` workers run (`dagster-celery worker start -A augment_assets.celery_app`):
dagster-celery's own tasks, on the broker, result backend and settings the runs' executor uses
(augment_assets/defs/executors.py), so a worker and a run cannot disagree on them."""

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task

from augment_assets.defs.executors import celery_app_args

app = make_app(celery_app_args())
execute_plan = create_task(app)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
