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
    wrapper = SerializableErrorInfo(
        "DagsterExecutionStepExecutionError: Error occurred\n", [], "DagsterExecutionStepExecutionError", cause=ours
    )
    assert (
        _root_message(wrapper)
        == "InputError: reviews.csv is empty: give it a header (cause: EmptyDataError: No columns to parse from file)"
    )
    plain = SerializableErrorInfo("Wrapper\n", [], "DagsterExecutionStepExecutionError", cause=cause)
    assert _root_message(plain) == "EmptyDataError: No columns to parse from file"


def test_out_of_range_values_are_refused_before_any_run(defs):
    problems = check_run_config(
        defs,
        {"ops": {"synthetic_reviews": {"config": {"n": 0, "top_p": 1.5}}, "training_set": {"config": {"draws": 0}}}},
    )
    assert any(p.startswith("synthetic_reviews: n=0") and "greater than or equal to 1" in p for p in problems), problems
    assert any(p.startswith("synthetic_reviews: top_p=1.5") for p in problems), problems
    assert any(p.startswith("training_set: draws=0") for p in problems), problems
    assert check_run_config(defs, {"ops": {"synthetic_reviews": {"config": {"n": 5}}}}) == []


def test_an_over_generation_below_1_or_an_attempt_bound_below_the_pool_is_refused_before_any_run(defs):
    over = check_run_config(defs, {"ops": {"synthetic_reviews": {"config": {"over_generation": 0.5}}}})
    assert over == ["synthetic_reviews: over_generation=0.5: Input should be greater than or equal to 1"], over
    bound = check_run_config(
        defs, {"ops": {"synthetic_reviews": {"config": {"n": 10, "over_generation": 2, "max_attempts": 15}}}}
    )
    assert bound == [
        "synthetic_reviews: max_attempts=15: Value error, max_attempts must be an integer >= the 20 reviews to keep "
        "(n x over_generation), got 15; leave it unset for 60 (3 x 20)"
    ], bound
    # the default n (32) counts too, and a bound that reaches the pool passes
    assert check_run_config(defs, {"ops": {"synthetic_reviews": {"config": {"max_attempts": 31}}}})
    assert (
        check_run_config(
            defs, {"ops": {"synthetic_reviews": {"config": {"n": 10, "over_generation": 2, "max_attempts": 20}}}}
        )
        == []
    )


def test_an_unknown_selection_teacher_is_refused_before_any_run_naming_the_accepted_ones(defs):
    problems = check_run_config(
        defs, {"ops": {"training_set": {"config": {"selection_teachers": ["generative", "gpt"]}}}}
    )
    assert problems == [
        "training_set: selection_teachers=['generative', 'gpt']: Value error, selection_teachers: unknown ['gpt']; "
        "accepted values are generative, nb, lr, generative+nb, generative+lr (each at most once)"
    ], problems
    shares = check_run_config(defs, {"ops": {"training_set": {"config": {"selection_shares": [0.5, 2.0]}}}})
    assert len(shares) == 1 and "selection_shares: [2.0] outside (0, 1]" in shares[0], shares
    weighting = check_run_config(defs, {"ops": {"training_set": {"config": {"weighting_teachers": ["lr", "lr"]}}}})
    assert (
        len(weighting) == 1
        and "weighting_teachers: repeated names in ['lr', 'lr']; accepted values are generative" in weighting[0]
    ), weighting
    good = {
        "selection_teachers": ["lr", "generative+lr"],
        "selection_shares": [0.25, 0.5],
        "weighting_teachers": ["nb"],
    }
    assert check_run_config(defs, {"ops": {"training_set": {"config": good}}}) == []


def test_an_unknown_classifier_is_refused_before_any_run_naming_the_accepted_ones(defs):
    problems = check_run_config(defs, {"ops": {"classifier_metrics": {"config": {"classifiers": ["nb", "svm"]}}}})
    assert any(
        p.startswith("classifier_metrics: classifiers=")
        and "unknown ['svm']; accepted values are nb, lr, generative" in p
        for p in problems
    ), problems
    assert (
        check_run_config(defs, {"ops": {"classifier_metrics": {"config": {"classifiers": ["generative", "lr"]}}}}) == []
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read it"),
        ("ops: [unclosed", "not valid YAML"),
        ("env:\n  REPEAT: 3\n", "env: unknown setting 'REPEAT'"),
        ("env:\n  REPEATS: [1, 2]\n", "env: REPEATS must be a single value"),
    ],
    ids=["missing-file", "broken-yaml", "unknown-env", "env-list"],
)
def test_a_bad_config_file_is_one_clear_line_and_nothing_runs(tmp_path, monkeypatch, capsys, content, message):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AUGMENT_WAREHOUSE", str(tmp_path / "w.duckdb"))
    path = tmp_path / "run.yaml"
    if content is not None:
        path.write_text(content)
    assert main(["materialize", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert not (tmp_path / "w.duckdb").exists()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("REPEATS", "0", "REPEATS='0': repeats must be at least 1"),
        ("LEARNING_CURVE_SIZES", "1,10", "LEARNING_CURVE_SIZES='1,10': data size 1 is below the minimum of 2"),
        ("DATA_SIZES", "all,x", "DATA_SIZES='all,x': 'x' is not a whole number"),
        ("SYNTHETIC_TEMPERATURES", "5", "SYNTHETIC_TEMPERATURES='5': temperature 5.0 must be in (0, 2]"),
        ("AUGMENT_SEED", "abc", "AUGMENT_SEED='abc' is not a whole number"),
    ],
)
def test_a_bad_setting_is_named_when_the_definitions_load_and_nothing_runs(tmp_path, variable, value, message):
    """Settings read at load time (partitions among them) fail before any run, naming the variable."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "AUGMENT_WAREHOUSE": str(tmp_path / "w.duckdb"),
        variable: value,
    }
    done = subprocess.run(
        [sys.executable, "-m", "augment_assets", "materialize"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "w.duckdb").exists()


def test_a_base_model_without_hidden_states_is_refused_before_any_run(tmp_path, monkeypatch, capsys, tiny_model_dir):
    """The embedding classifier pools the base model's hidden states: a model without them is named before
    fine-tuning starts, not after the whole graph ran; without `embedding` in the classifiers it is not asked."""
    import torch

    from augment_assets.cli import base_model_problems
    from augment_assets.definitions import build_definitions
    from augment_assets.lib import embedding
    from augment_assets.lib.model import load_tokenizer

    class NoHiddenStates(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids, attention_mask=None, output_hidden_states=False):
            return type("Output", (), {"logits": torch.zeros((*input_ids.shape, 3))})()

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AUGMENT_WAREHOUSE", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("BASE_MODEL", str(tiny_model_dir))
    assert base_model_problems(build_definitions(), {}, ["evaluate"]) == []  # the tiny Llama has them
    monkeypatch.setattr(embedding, "load_model", lambda path, *a, **k: (NoHiddenStates(), load_tokenizer(path)))
    assert main(["materialize"]) == 2
    err = capsys.readouterr().err
    assert f"BASE_MODEL '{tiny_model_dir}' gives no hidden states" in err and "NoHiddenStates" in err, err
    assert not (tmp_path / "w.duckdb").exists()  # nothing ran
    without = {"ops": {"classifier_metrics": {"config": {"classifiers": ["nb", "lr", "generative"]}}}}
    assert base_model_problems(build_definitions(), without, ["ingest", "generators", "synthetic", "evaluate"]) == []
    assert base_model_problems(build_definitions(), {}, ["ingest", "generators"]) == []  # no evaluation asked
