"""The project as `dg` sees it: the same code location `dagster dev -w workspace.yaml` loads,
whatever it is launched by, and a wrong executor setting refused when the definitions load."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DG = Path(sys.executable).with_name("dg")


def test_dg_lists_the_code_location_that_workspace_yaml_loads():
    from augment_assets.definitions import build_definitions

    env = {**os.environ, "VIRTUAL_ENV": str(Path(sys.executable).parents[1])}
    listed = json.loads(
        subprocess.run(
            [str(DG), "list", "defs", "--json"], cwd=REPO, env=env, capture_output=True, text=True, check=True
        ).stdout
    )
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    assert {a["asset_key"] for a in listed["assets"]} == {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {j["name"] for j in listed["jobs"]} == {j.name for j in defs.jobs} >= {"refresh_graph_job", "synthetic_job"}
    assert {s["name"] for s in listed["schedules"]} == {s.name for s in defs.schedules}
    assert {s["name"] for s in listed["sensors"]} == {s.name for s in defs.sensors}
    # dg and workspace.yaml name the location the same, so the UI shows one location either way.
    workspace = (REPO / "workspace.yaml").read_text()
    assert "module_name: augment_assets.definitions" in workspace
    assert 'code_location_name = "augment_assets.definitions"' in (REPO / "pyproject.toml").read_text()


def test_an_unknown_executor_is_refused_naming_the_choices(monkeypatch):
    from augment_assets.defs.executors import celery_app_args, executor_from_environment
    from augment_assets.lib.errors import InputError

    monkeypatch.setenv("AUGMENT_EXECUTOR", "kubernetes")
    with pytest.raises(InputError, match="AUGMENT_EXECUTOR='kubernetes'.*in_process, celery"):
        executor_from_environment()
    monkeypatch.setenv("AUGMENT_EXECUTOR", "celery")
    monkeypatch.delenv("AUGMENT_CELERY_BROKER", raising=False)
    assert executor_from_environment().name == "celery"
    # Unset, the broker and the result backend are the local Redis, for the runs and the workers alike.
    assert celery_app_args()["broker"] == celery_app_args()["backend"] == "redis://127.0.0.1:6379/0"
    monkeypatch.setenv("AUGMENT_CELERY_BROKER", "redis://queue.example:6380/1")
    assert celery_app_args()["backend"] == "redis://queue.example:6380/1"


def test_the_shared_tables_carry_the_weekly_freshness_policy():
    from datetime import timedelta

    from augment_assets.definitions import build_definitions
    from augment_assets.defs.automation.freshness import SHARED

    graph = build_definitions().resolve_asset_graph()
    fresh = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).freshness_policy is not None}
    assert fresh == set(SHARED)
    policy = graph.get(next(k for k in graph.get_all_asset_keys() if k.to_user_string() == "headline")).freshness_policy
    assert policy.fail_window.to_timedelta() == timedelta(days=8) and policy.warn_window.to_timedelta() == timedelta(
        days=7
    )


def test_dg_dev_serves_the_same_code_location_as_dagster_dev(tmp_path):
    """`dg dev` starts the webserver on the project; its one code location is the one workspace.yaml
    names (the UI test serves that with `dagster dev -w workspace.yaml`), and it loads."""
    import shutil
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "VIRTUAL_ENV": str(Path(sys.executable).parents[1]),
        "DAGSTER_HOME": str(home),
        "AUGMENT_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
    }
    log = open(tmp_path / "dg_dev.log", "wb")
    server = subprocess.Popen(
        [str(DG), "dev", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    query = b'{"query": "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"}'
    try:
        deadline = time.monotonic() + 150
        while True:
            assert server.poll() is None, (tmp_path / "dg_dev.log").read_text()[-3000:]
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql", data=query, headers={"Content-Type": "application/json"}
                )
                entries = json.loads(urllib.request.urlopen(request, timeout=5).read())["data"]["workspaceOrError"][
                    "locationEntries"
                ]
                if entries and entries[0]["loadStatus"] == "LOADED":
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "dg_dev.log").read_text()[-3000:]
            time.sleep(1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:  # what is tested is the location it serves; its shutdown (webserver and daemon) can take a
            server.wait(timeout=90)  # minute on 2 loaded cores
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
    assert [e["name"] for e in entries] == ["augment_assets.definitions"]
