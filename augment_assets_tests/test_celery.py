"""The Celery executor's faults, for real: a local Redis (Debian's redis-server) on a free port, a
real `dagster-celery` worker, a tiny model, one synthetic partition launched with
`dagster asset materialize` on the Celery executor. A worker killed mid-step and a Redis stopped
mid-step must each fail the run clearly, within a bound, and leave no pool slot held.

(The happy path, every demo partition through two workers, is `make celery-demo`, which .ci/run runs.)
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FAIL_WITHIN_S = 150  # WORKER_LOST_S + a ping interval + the run's own shutdown, with room to spare
SLOW_GENERATION = '{"ops": {"synthetic_reviews": {"config": {"n": 4000, "max_new_tokens": 48, "batch_size": 8}}}}'

# Slow: each test starts Redis and Celery workers and may wait up to 150 s for a run.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("redis-server") is None, reason="redis-server is missing: bash scripts/install_redis.sh"
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kill_group(process: subprocess.Popen, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def stack(tmp_path, monkeypatch, tiny_model_dir):
    """A fresh instance and warehouse with ingest and one generator materialized, Redis, one worker."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    env = {
        "DAGSTER_HOME": str(home),
        "AUGMENT_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "AUGMENT_MODELS_DIR": str(tmp_path / "models"),
        "AUGMENT_WORK_DIR": str(tmp_path / "work"),
        "AUGMENT_EXPORT_DIR": str(tmp_path / "exports"),
        "AUGMENT_CLASSIFIERS_DIR": str(tmp_path / "classifiers"),
        "AUGMENT_INBOX": str(tmp_path / "inbox"),
        "AUGMENT_REPORTS_DIR": str(tmp_path / "reports"),
        "BASE_MODEL": str(tiny_model_dir),
        "AUGMENT_CELERY_BROKER": f"redis://127.0.0.1:{port}/0",
        "AUGMENT_CELERY_BACKEND": f"redis://127.0.0.1:{port}/0",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("REVIEWS_CSV", "YELP_DATASET_DIR", "GOLD_HOLDOUT_CSV", "REFERENCE_SYNTHETIC_CSV", "AUGMENT_EXECUTOR"):
        monkeypatch.delenv(name, raising=False)
    upstream = subprocess.run(
        [str(BIN / "augment-assets"), "materialize", "--stage", "ingest"], cwd=REPO, capture_output=True, text=True
    )
    assert upstream.returncode == 0, upstream.stderr[-3000:]
    from augment_assets.definitions import build_definitions

    defs = build_definitions()
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(
            [*defs.assets, *defs.asset_checks],
            selection=dg.AssetSelection.assets("prompt_table", "sentiment_generator"),
            partition_key="negative_50_r1",
            instance=instance,
            resources=defs.resources,
            run_config={"ops": {"sentiment_generator": {"config": {"epochs": 1, "max_length": 64}}}},
        )
        assert result.success
    redis = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    worker_log = tmp_path / "worker.log"
    with open(worker_log, "wb") as log:
        worker = subprocess.Popen(
            [
                str(BIN / "dagster-celery"),
                "worker",
                "start",
                "-A",
                "augment_assets.celery_app",
                "-n",
                "test",
                "--",
                "--concurrency=1",
            ],
            cwd=REPO,
            env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 90
    while b"ready." not in worker_log.read_bytes():
        assert time.monotonic() < deadline, worker_log.read_text()[-3000:]
        time.sleep(1)
    yield {"redis": redis, "worker": worker, "worker_log": worker_log}
    _kill_group(worker)
    _kill_group(redis)


def _launch(tmp_path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "augment_assets.definitions",
            "--select",
            "synthetic_reviews",
            "--partition",
            "negative_50_r1|0.9",
            "--config-json",
            SLOW_GENERATION,
        ],
        cwd=REPO,
        env={**os.environ, "AUGMENT_EXECUTOR": "celery"},
        stdout=open(tmp_path / "run.log", "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_for_step_start(instance, launched: subprocess.Popen, tmp_path) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        runs = instance.get_runs(limit=1)
        if runs and runs[0].tags.get("dagster/partition") == "negative_50_r1|0.9":
            started = instance.get_records_for_run(runs[0].run_id, of_type=dg.DagsterEventType.STEP_START).records
            if any(r.event_log_entry.dagster_event.step_key == "synthetic_reviews" for r in started):
                return runs[0].run_id
        assert launched.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
        time.sleep(1)
    raise AssertionError("the synthetic step never started on the worker")


def _assert_fails_clearly(
    instance, run_id: str, launched: subprocess.Popen, tmp_path, words: str | None = None
) -> float:
    started = time.monotonic()
    try:
        launched.wait(timeout=FAIL_WITHIN_S)
    except subprocess.TimeoutExpired:
        _kill_group(launched)
        raise AssertionError(
            f"the run still waits {FAIL_WITHIN_S} s after the fault: {(tmp_path / 'run.log').read_text()[-2000:]}"
        ) from None
    waited = time.monotonic() - started
    run = instance.get_run_by_id(run_id)
    assert run.status == dg.DagsterRunStatus.FAILURE
    failure = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    assert failure, "no RUN_FAILURE event"
    if words:
        assert words in str(failure[0].event_log_entry.dagster_event.event_specific_data.error), failure
    info = instance.event_log_storage.get_concurrency_info("language_model")
    assert not [s for s in info.claimed_slots if s.run_id == run_id], "the failed run still holds its pool slot"
    return waited


def test_a_worker_killed_mid_step_fails_the_run_and_frees_its_slot(stack, tmp_path):
    launched = _launch(tmp_path)
    with dg.DagsterInstance.get() as instance:
        run_id = _wait_for_step_start(instance, launched, tmp_path)
        _kill_group(stack["worker"])  # the worker and its pool process, as a lost machine would
        waited = _assert_fails_clearly(instance, run_id, launched, tmp_path, "the Celery worker test@")
    print(f"\nrun failed {waited:.0f} s after its worker was killed")


def test_a_redis_stopped_mid_step_fails_the_run_and_frees_its_slot(stack, tmp_path):
    launched = _launch(tmp_path)
    with dg.DagsterInstance.get() as instance:
        run_id = _wait_for_step_start(instance, launched, tmp_path)
        _kill_group(stack["redis"], signal.SIGTERM)
        waited = _assert_fails_clearly(instance, run_id, launched, tmp_path)
    print(f"\nrun failed {waited:.0f} s after Redis was stopped")
