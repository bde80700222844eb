"""The Dagster layer end to end: real definitions, a real instance on disk, a real DuckDB file.

Ingest runs on the embedded sample; generation runs with a tiny randomly initialised model
(the embedded tokenizer, a few seconds) through the same assets the demo uses.
"""

import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from augment_assets.lib.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[1]
SOURCE_VARIABLES = ("YELP_DATASET_DIR", "REVIEWS_CSV", "GOLD_HOLDOUT_CSV", "REFERENCE_SYNTHETIC_CSV", "BASE_MODEL")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A fresh instance and warehouse in tmp_path, on the embedded sample."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("AUGMENT_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("AUGMENT_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("AUGMENT_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("SYNTHETIC_TEMPERATURES", "0.7,0.9,1.1")
    for name in SOURCE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run(selection, partition_key=None, run_config=None):
    from augment_assets.definitions import build_definitions

    defs = build_definitions()  # resources read from the environment now
    config = {**QUIET, **(run_config or {})}
    with dg.DagsterInstance.get() as instance:
        return dg.materialize(
            [*defs.assets, *defs.asset_checks],
            selection=selection,
            partition_key=partition_key,
            instance=instance,
            resources=defs.resources,
            raise_on_error=False,
            run_config=config,
        )


def checks_by_name(result) -> dict[str, bool]:
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()
    }


def step_errors(result) -> str:
    from augment_assets.cli import run_problems

    return "\n".join(run_problems(result))


def test_definitions_describe_the_designed_graph(project):
    from augment_assets.definitions import build_definitions

    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "review_source": "ingest",
        "pizza_reviews": "ingest",
        "gold_holdout": "ingest",
        "training_reviews": "ingest",
        "holdout_reviews": "ingest",
        "prompt_table": "generate",
        "sentiment_generator": "generate",
        "synthetic_reviews": "generate",
        "training_set": "evaluate",
        "classifier_metrics": "evaluate",
    }
    synthetic = graph.get(dg.AssetKey("synthetic_reviews"))
    assert sorted(synthetic.partitions_def.get_partition_keys()) == sorted(
        f"{s}|{t}" for s in ("negative", "positive") for t in ("0.7", "0.9", "1.1")
    )
    # The synthetic partitions depend on their own sentiment's generator only.
    assert {k.to_user_string() for k in synthetic.parent_keys} == {"sentiment_generator", "prompt_table"}
    # The holdout flows only into the metrics (and the checks).
    holdout_children = {k.to_user_string() for k in graph.get(dg.AssetKey("holdout_reviews")).child_keys}
    assert holdout_children == {"classifier_metrics"}
    blocking = {key.name for key in graph.asset_check_keys if graph.get_check_spec(key).blocking}
    assert {"no_holdout_text", "no_holdout_near_duplicate", "no_business_overlap", "no_copied_holdout_spans"} <= blocking
    assert {j.name for j in defs.jobs} >= {"ingest_job", "generators_job", "synthetic_job", "evaluate_job"}
    assert {s.name for s in defs.schedules} and {s.name for s in defs.sensors}


def test_ingest_group_materializes_into_duckdb_and_the_instance(project):
    result = run(dg.AssetSelection.groups("ingest"))
    assert result.success, step_errors(result)
    checks = checks_by_name(result)
    assert checks and all(checks.values()), checks
    store = Warehouse(project / "warehouse.duckdb")
    counts = store.read("SELECT sentiment, count(*) AS n FROM pizza_reviews GROUP BY 1 ORDER BY 1")
    assert counts["sentiment"].tolist() == ["negative", "positive"] and counts["n"].min() > 50
    training, holdout = store.read_table("training_reviews"), store.read_table("holdout_reviews")
    assert set(training["review_id"]).isdisjoint(holdout["review_id"])
    assert set(training["business_id"].dropna()).isdisjoint(holdout["business_id"].dropna())
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("pizza_reviews"))
    metadata = event.asset_materialization.metadata
    assert metadata["source"].value == "sample"
    assert metadata["rows_negative"].value == int(counts.set_index("sentiment").loc["negative", "n"])


def _plant(store: Warehouse, sql: str) -> None:
    with store.publish() as con:
        con.execute(sql)


@pytest.mark.parametrize(
    ("plant", "failing_checks"),
    [
        # A holdout review copied verbatim (different case and spacing) into the training pool.
        (
            "INSERT INTO training_reviews SELECT 'planted', NULL, stars, sentiment, upper(text) || '  ', date "
            "FROM holdout_reviews LIMIT 1",
            # a verbatim copy is a near-duplicate too
            {"training_reviews:no_holdout_text", "training_reviews:no_holdout_near_duplicate"},
        ),
        # A lightly edited copy: its first two words dropped.
        (
            "INSERT INTO training_reviews SELECT 'planted', NULL, stars, sentiment, "
            "regexp_replace(text, '^\\S+\\s+\\S+\\s+', ''), date FROM holdout_reviews "
            "WHERE length(text) > 200 LIMIT 1",
            {"training_reviews:no_holdout_near_duplicate"},
        ),
        # A restaurant on both sides of the split.
        (
            "INSERT INTO training_reviews SELECT 'planted', business_id, stars, sentiment, 'an unrelated review text', date "
            "FROM holdout_reviews WHERE business_id IS NOT NULL LIMIT 1",
            {"training_reviews:no_business_overlap"},
        ),
    ],
)
def test_a_planted_leak_fails_its_blocking_check(project, plant, failing_checks):
    assert run(dg.AssetSelection.groups("ingest")).success
    store = Warehouse(project / "warehouse.duckdb")
    _plant(store, plant)
    result = run(dg.AssetSelection.checks_for_assets(dg.AssetKey("training_reviews")))
    checks = checks_by_name(result)
    assert len(checks) == 3, checks
    assert {name for name, passed in checks.items() if not passed} == failing_checks, checks
    assert not result.success  # blocking: the run fails


def test_bad_input_names_the_problem_and_keeps_the_published_tables(project, monkeypatch):
    assert run(dg.AssetSelection.groups("ingest")).success
    store = Warehouse(project / "warehouse.duckdb")
    before = store.read_table("pizza_reviews")
    bad_csv = project / "bad.csv"
    bad_csv.write_text("stars,body\n5,great pizza\n")
    monkeypatch.setenv("REVIEWS_CSV", str(bad_csv))
    result = run(dg.AssetSelection.groups("ingest"))
    assert not result.success
    message = step_errors(result)
    assert "bad.csv" in message and "body" in message, message
    pd.testing.assert_frame_equal(store.read_table("pizza_reviews"), before)


def test_one_partition_of_every_asset_through_dagster(project, monkeypatch, tiny_model_dir):
    """ingest -> prompt_table/sentiment_generator[each sentiment] -> synthetic_reviews[one per sentiment]
    -> training_set -> classifier_metrics, with a tiny model so the whole graph runs in about a minute."""
    monkeypatch.setenv("BASE_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("LOW_DATA_PER_CLASS", "0")
    assert run(dg.AssetSelection.groups("ingest")).success
    finetune = {"ops": {"sentiment_generator": {"config": {"epochs": 1, "max_length": 64}}}}
    for sentiment in ("negative", "positive"):
        result = run(dg.AssetSelection.assets("prompt_table", "sentiment_generator"), sentiment, finetune)
        assert result.success, step_errors(result)
    generation = {"ops": {"synthetic_reviews": {"config": {"n": 12, "max_new_tokens": 24, "batch_size": 6}}}}
    for sentiment in ("negative", "positive"):
        result = run(dg.AssetSelection.assets("synthetic_reviews"), f"{sentiment}|0.9", generation)
        assert result.success, step_errors(result)
    evaluation = {"ops": {name: {"config": {"ratios": [0, 1], "draws": 1, "bootstrap": 200}} for name in ("training_set", "classifier_metrics")}}
    result = run(dg.AssetSelection.groups("evaluate"), None, evaluation)
    assert result.success, step_errors(result)

    store = Warehouse(project / "warehouse.duckdb")
    generators = store.read_table("sentiment_generator")
    assert sorted(generators["sentiment"]) == ["negative", "positive"]
    assert all(Path(p, "config.json").exists() for p in generators["path"])
    # The fine-tuning corpus is the fit part of the training pool: never a holdout review.
    corpus = store.read_table("fine_tuning_corpus")
    assert set(corpus["review_id"]) <= set(store.read_table("training_reviews")["review_id"])
    synthetic = store.read_table("synthetic_reviews")
    assert set(synthetic.columns) >= {"synthetic_id", "sentiment", "temperature", "prompt", "text", "generator_version", "seed", "created_at"}
    assert set(zip(synthetic["sentiment"], synthetic["temperature"])) <= {("negative", 0.9), ("positive", 0.9)}
    assert synthetic["synthetic_id"].is_unique
    metrics = store.read_table("classifier_metrics")
    for (classifier, eval_set, data_size), group in metrics.groupby(["classifier", "eval_set", "data_size"]):
        assert group["baseline_selected"].sum() == 1, (classifier, eval_set, data_size)
    assert {"genuine", "genuine_tuned", "genuine+duplicates", "genuine+perturbed"} <= set(metrics["variant"])
    # A synthetic review that copies 20 words of a holdout review fails the span check.
    checks = checks_by_name(run(dg.AssetSelection.checks_for_assets(dg.AssetKey("synthetic_reviews"))))
    assert checks["synthetic_reviews:no_copied_holdout_spans"] is True, checks
    _plant(
        store,
        "INSERT INTO synthetic_reviews BY NAME SELECT 'planted' AS synthetic_id, sentiment, 0.9 AS temperature, "
        "'' AS prompt, array_to_string(list_slice(string_split(text, ' '), 1, 20), ' ') || ' and more words of my own' AS text "
        "FROM holdout_reviews WHERE length(text) > 300 LIMIT 1",
    )
    checks = checks_by_name(run(dg.AssetSelection.checks_for_assets(dg.AssetKey("synthetic_reviews"))))
    assert checks["synthetic_reviews:no_copied_holdout_spans"] is False, checks
    # A second run with unchanged inputs reuses the saved generator instead of retraining.
    result = run(dg.AssetSelection.assets("sentiment_generator"), "negative", finetune)
    event = result.get_asset_materialization_events()[0]
    assert event.materialization.metadata["reused_saved_model"].value is True


def test_a_holdout_review_given_as_a_prompt_fails_the_prompt_checks(project):
    assert run(dg.AssetSelection.groups("ingest")).success
    store = Warehouse(project / "warehouse.duckdb")
    clean = run(dg.AssetSelection.assets("prompt_table"), "negative")
    assert clean.success and all(checks_by_name(clean).values()), checks_by_name(clean)
    holdout_text = store.read("SELECT text FROM holdout_reviews WHERE sentiment = 'negative' LIMIT 1")["text"][0]
    planted = {"ops": {"prompt_table": {"config": {"extra_prompts": [holdout_text]}}}}
    result = run(dg.AssetSelection.assets("prompt_table"), "negative", planted)
    checks = checks_by_name(result)
    assert checks == {"prompt_table:no_holdout_text": False, "prompt_table:no_holdout_only_ngrams": False}, checks
