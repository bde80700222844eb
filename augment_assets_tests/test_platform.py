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
    listed = json.loads(subprocess.run([str(DG), "list", "defs", "--json"], cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout)
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
    from augment_assets.defs.executors import executor_from_environment
    from augment_assets.lib.errors import InputError

    monkeypatch.setenv("AUGMENT_EXECUTOR", "kubernetes")
    with pytest.raises(InputError, match="AUGMENT_EXECUTOR='kubernetes'.*in_process, celery"):
        executor_from_environment()
    monkeypatch.setenv("AUGMENT_EXECUTOR", "celery")
    monkeypatch.delenv("AUGMENT_CELERY_BROKER", raising=False)
    assert executor_from_environment().name == "celery"
    assert os.environ["AUGMENT_CELERY_BROKER"].startswith("redis://127.0.0.1")


def test_the_shared_tables_carry_the_weekly_freshness_policy():
    from datetime import timedelta

    from augment_assets.definitions import build_definitions
    from augment_assets.defs.automation.freshness import SHARED

    graph = build_definitions().resolve_asset_graph()
    fresh = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).freshness_policy is not None}
    assert fresh == set(SHARED)
    policy = graph.get(next(k for k in graph.get_all_asset_keys() if k.to_user_string() == "headline")).freshness_policy
    assert policy.fail_window.to_timedelta() == timedelta(days=8) and policy.warn_window.to_timedelta() == timedelta(days=7)
