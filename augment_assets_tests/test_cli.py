"""The one command's own checks: a run config is checked whole before any run starts."""

import pytest

from augment_assets.cli import JOB_OF_OP, check_run_config, main


@pytest.fixture(scope="module")
def defs():
    from augment_assets.definitions import build_definitions

    return build_definitions()


def test_every_configurable_op_is_checked_against_its_job(defs):
    jobs = {name: defs.resolve_job_def(name) for name in set(JOB_OF_OP.values())}
    for op, job in JOB_OF_OP.items():
        assert jobs[job].graph.has_node_named(op), (op, job)


def test_a_good_config_passes(defs):
    config = {"ops": {"synthetic_reviews": {"config": {"n": 500}}, "training_set": {"config": {"draws": 3}}}}
    assert check_run_config(defs, config) == []
    assert check_run_config(defs, {}) == []


def test_typos_and_bad_values_are_named_with_the_valid_choices(defs):
    problems = check_run_config(
        defs,
        {
            "opz": {},
            "ops": {
                "synthetic_review": {"config": {"n": 5}},
                "synthetic_reviews": {"config": {"nn": 5}},
                "training_set": {"config": {"draws": "three"}},
            },
        },
    )
    assert len(problems) == 4, problems
    assert "unknown top-level key 'opz'" in problems[0]
    assert "unknown op 'synthetic_review'" in problems[1] and "synthetic_reviews" in problems[1]
    assert problems[2].startswith("synthetic_reviews:") and '"nn"' in problems[2]
    assert problems[3].startswith("training_set:") and "three" in problems[3]
    assert check_run_config(defs, ["ops"]) and check_run_config(defs, {"ops": ["x"]})


def test_the_command_refuses_a_bad_config_before_any_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AUGMENT_WAREHOUSE", str(tmp_path / "w.duckdb"))
    bad = tmp_path / "run.yaml"
    bad.write_text("ops:\n  synthetic_review: {config: {n: 5}}\n")
    assert main(["materialize", "--config", str(bad)]) == 2
    assert "unknown op 'synthetic_review'" in capsys.readouterr().err
    assert not (tmp_path / "w.duckdb").exists()  # nothing ran


def test_a_failure_headline_is_the_projects_message_with_its_cause():
    from dagster._utils.error import SerializableErrorInfo

    from augment_assets.cli import _root_message

    cause = SerializableErrorInfo("EmptyDataError: No columns to parse from file\n", [], "EmptyDataError")
    ours = SerializableErrorInfo("InputError: reviews.csv is empty: give it a header\n", [], "InputError", cause=cause)
    wrapper = SerializableErrorInfo("DagsterExecutionStepExecutionError: Error occurred\n", [], "DagsterExecutionStepExecutionError", cause=ours)
    assert _root_message(wrapper) == "InputError: reviews.csv is empty: give it a header (cause: EmptyDataError: No columns to parse from file)"
    plain = SerializableErrorInfo("Wrapper\n", [], "DagsterExecutionStepExecutionError", cause=cause)
    assert _root_message(plain) == "EmptyDataError: No columns to parse from file"
