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
    monkeypatch.setenv("AUGMENT_EXPORT_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("AUGMENT_CLASSIFIERS_DIR", str(tmp_path / "classifiers"))
    monkeypatch.setenv("AUGMENT_INBOX", str(tmp_path / "inbox"))
    monkeypatch.setenv("AUGMENT_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("SYNTHETIC_TEMPERATURES", "0.7,0.9,1.1")
    for name in SOURCE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def run(selection, partition_key=None, run_config=None, tags=None):
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
            tags=tags,
        )


def checks_by_name(result) -> dict[str, bool]:
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e.passed for e in result.get_asset_check_evaluations()}


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
        "unlabelled_reviews": "ingest",
        "review_folds": "ingest",
        "prompt_table": "generate",
        "sentiment_generator": "generate",
        "synthetic_reviews": "generate",
        "reference_synthetic": "evaluate",
        "training_set": "evaluate",
        "classifier_metrics": "evaluate",
        "headline": "evaluate",
        "learning_curve": "evaluate",
        "recommendation": "evaluate",
        "warehouse_views": "share",
        "synthetic_reviews_parquet": "share",
        "sentiment_classifier": "deploy",
        "report": "deploy",
        "review_predictions": "predict",
    }
    synthetic = graph.get(dg.AssetKey("synthetic_reviews"))
    generators = [f"{s}_{size}_r1" for size in ("all", "50") for s in ("negative", "positive")]
    assert sorted(synthetic.partitions_def.get_partition_keys()) == sorted(
        f"{g}|{t}" for g in generators for t in ("0.7", "0.9", "1.1")
    )
    # The synthetic partitions depend on their own generator (and the folds its judge reads) only.
    assert {k.to_user_string() for k in synthetic.parent_keys} == {
        "sentiment_generator",
        "prompt_table",
        "training_reviews",
        "review_folds",
    }
    # The holdout flows only into the metrics (and the checks).
    holdout_children = {k.to_user_string() for k in graph.get(dg.AssetKey("holdout_reviews")).child_keys}
    assert holdout_children == {"classifier_metrics", "headline", "learning_curve", "recommendation"}
    blocking = {key.name for key in graph.asset_check_keys if graph.get_check_spec(key).blocking}
    assert {
        "no_holdout_text",
        "no_holdout_near_duplicate",
        "no_business_overlap",
        "no_copied_holdout_spans",
    } <= blocking
    assert {j.name for j in defs.jobs} >= {
        "ingest_job",
        "generators_job",
        "synthetic_job",
        "evaluate_job",
        "predict_job",
    }
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
    # The UI's table facts: the DuckDB table name and the column schema of what was written.
    assert metadata["dagster/table_name"].value == "pizza_reviews"
    schema = metadata["dagster/column_schema"].value
    columns = store.read(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'pizza_reviews'"
    )
    assert [(c.name, c.type) for c in schema.columns] == [tuple(r) for r in columns.values.tolist()]


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
    # Only 3-star reviews: nothing labelled. The message counts the rejections and, for a CSV, points at
    # its label column, not at the Yelp category filter.
    bad_csv.write_text("text,stars\n" + "".join(f"an average pizza number {i},3\n" for i in range(40)))
    result = run(dg.AssetSelection.groups("ingest"))
    message = step_errors(result)
    assert not result.success and "No labelled reviews left" in message and "40 rows read" in message, message
    assert "stars (1-5) or sentiment" in message and "categor" not in message, message
    pd.testing.assert_frame_equal(store.read_table("pizza_reviews"), before)


GENERATORS = ("negative_all_r1", "positive_all_r1", "negative_50_r1", "positive_50_r1")
TINY_FINETUNE = {"ops": {"sentiment_generator": {"config": {"epochs": 1, "max_length": 64}}}}
TINY_GENERATION = {"ops": {"synthetic_reviews": {"config": {"n": 12, "max_new_tokens": 24, "batch_size": 6}}}}
TINY_EVALUATION = {
    "ops": {
        "training_set": {"config": {"ratios": [0, 1], "draws": 1}},
        "classifier_metrics": {"config": {"bootstrap": 200}},
    }
}


def run_generators_and_synthetic(temperature: str = "0.9") -> None:
    for key in GENERATORS:
        result = run(dg.AssetSelection.assets("prompt_table", "sentiment_generator"), key, TINY_FINETUNE)
        assert result.success, step_errors(result)
    for key in GENERATORS:
        result = run(dg.AssetSelection.assets("synthetic_reviews"), f"{key}|{temperature}", TINY_GENERATION)
        assert result.success, step_errors(result)


def test_a_partition_holds_n_kept_times_over_generation_or_says_why_not(project, monkeypatch, tiny_model_dir):
    """n x over_generation kept reviews; with filters that drop everything, the step stops at max_attempts,
    succeeds with what it has (nothing), and says why in its metadata and as a warning in the run's log."""
    import logging

    monkeypatch.setenv("BASE_MODEL", str(tiny_model_dir))
    assert run(dg.AssetSelection.groups("ingest")).success
    key = "negative_all_r1"
    assert run(dg.AssetSelection.assets("prompt_table", "sentiment_generator"), key, TINY_FINETUNE).success
    settings = {"max_new_tokens": 24, "batch_size": 6}
    pooled = run(
        dg.AssetSelection.assets("synthetic_reviews"),
        f"{key}|0.9",
        {"ops": {"synthetic_reviews": {"config": {**settings, "n": 4, "over_generation": 1.5}}}},
    )
    assert pooled.success, step_errors(pooled)
    store = Warehouse(project / "warehouse.duckdb")
    assert len(store.read("SELECT * FROM synthetic_reviews WHERE temperature = 0.9")) == 6  # ceil(4 x 1.5)

    import augment_assets.defs.generate.assets as generate_assets

    monkeypatch.setattr(generate_assets, "filter_synthetic", lambda frame: (frame.iloc[:0], {"degenerate": len(frame)}))
    short = run(
        dg.AssetSelection.assets("synthetic_reviews"),
        f"{key}|1.1",
        {"ops": {"synthetic_reviews": {"config": {**settings, "n": 4, "max_attempts": 7}}}},
    )
    assert short.success, step_errors(short)
    written = short.asset_materializations_for_node("synthetic_reviews")[0].metadata
    assert (written["kept"].value, written["attempted"].value, written["short_by"].value) == (0, 7, 4)
    why = "kept 0 of the 4 reviews asked for: stopped at max_attempts=7 attempts; the quality filters dropped 7 (degenerate 7)"
    assert written["why_short"].value.startswith(why), written["why_short"].value
    with dg.DagsterInstance.get() as instance:
        warnings = [e.user_message for e in instance.all_logs(short.run_id) if e.level == logging.WARNING]
    assert any(f"{key}|1.1: {why}" in w for w in warnings), warnings


def test_a_run_of_a_generators_temperatures_decodes_them_together_and_records_each_partition(
    project, monkeypatch, tiny_model_dir
):
    """What `augment-assets materialize` launches per generator: one run over the range of its temperatures. Each
    partition's rows are stored under its own temperature, Dagster records a materialization of each partition, and
    the rows equal those of a run of that partition alone (float32: the tiny model's CPU dtype is forced)."""
    from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

    monkeypatch.setenv("BASE_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("AUGMENT_CPU_DTYPE", "float32")
    assert run(dg.AssetSelection.groups("ingest")).success
    key = "positive_all_r1"
    assert run(dg.AssetSelection.assets("prompt_table", "sentiment_generator"), key, TINY_FINETUNE).success
    span = {ASSET_PARTITION_RANGE_START_TAG: f"{key}|0.7", ASSET_PARTITION_RANGE_END_TAG: f"{key}|1.1"}
    together = run(dg.AssetSelection.assets("synthetic_reviews"), None, TINY_GENERATION, tags=span)
    assert together.success, step_errors(together)
    store = Warehouse(project / "warehouse.duckdb")
    rows = store.read("SELECT * FROM synthetic_reviews ORDER BY temperature, synthetic_id")
    assert rows.groupby("temperature").size().to_dict() == {0.7: 12, 0.9: 12, 1.1: 12}
    recorded = {m.partition: m.metadata for m in together.asset_materializations_for_node("synthetic_reviews")}
    assert set(recorded) == {f"{key}|{t}" for t in ("0.7", "0.9", "1.1")}
    for temperature in ("0.7", "0.9", "1.1"):  # each partition's own figures, not the run's sum
        metadata = recorded[f"{key}|{temperature}"]
        assert metadata["kept"].value == 12 and metadata["dagster/partition_row_count"].value == 12
        assert metadata["temperatures_decoded_together"].value == 3 and "quality_label_fidelity" in metadata
        assert metadata["partitions_in_run"].value == 3
        assert all(f"{key}|{t}" in metadata["run_by_partition"].value for t in ("0.7", "0.9", "1.1"))
    alone = run(dg.AssetSelection.assets("synthetic_reviews"), f"{key}|1.1", TINY_GENERATION)
    assert alone.success, step_errors(alone)
    written = alone.asset_materializations_for_node("synthetic_reviews")[0].metadata
    assert written["temperatures_decoded_together"].value == 1 and written["resumed_reviews"].value == 12
    store.replace_rows("synthetic_reviews", store.read_table("synthetic_reviews").iloc[:0], {"temperature": 1.1})
    shutil.rmtree(project / "work" / "synthetic")  # nothing to resume: the run alone decodes 1.1 by itself
    assert run(dg.AssetSelection.assets("synthetic_reviews"), f"{key}|1.1", TINY_GENERATION).success
    again = store.read("SELECT * FROM synthetic_reviews WHERE temperature = 1.1 ORDER BY synthetic_id")
    pd.testing.assert_frame_equal(
        again.drop(columns="created_at"),
        rows[rows["temperature"] == 1.1].reset_index(drop=True).drop(columns="created_at"),
    )


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        # one class only: 304 positive reviews
        ([(f"a fine pizza place number {i} with good crust", 5) for i in range(304)], "Too few reviews to split"),
        # duplicates only: two distinct reviews, each repeated
        ([("great pizza and friendly staff", 5), ("cold pizza and rude staff", 1)] * 300, "Too few reviews to split"),
    ],
    ids=["one-class", "duplicates-only"],
)
def test_a_source_that_cannot_be_split_leaves_every_table_as_it_was(project, monkeypatch, rows, message):
    assert run(dg.AssetSelection.groups("ingest")).success
    store = Warehouse(project / "warehouse.duckdb")
    tables = ("pizza_reviews", "unlabelled_reviews", "training_reviews", "holdout_reviews", "review_folds")
    before = {name: store.read_table(name) for name in tables}
    bad_csv = project / "bad.csv"
    pd.DataFrame(rows, columns=["text", "stars"]).to_csv(bad_csv, index=False)
    monkeypatch.setenv("REVIEWS_CSV", str(bad_csv))
    result = run(dg.AssetSelection.groups("ingest"))
    assert not result.success and message in step_errors(result), step_errors(result)
    for name in tables:
        pd.testing.assert_frame_equal(store.read_table(name), before[name])


def test_one_partition_of_every_asset_through_dagster(project, monkeypatch, tiny_model_dir):
    """ingest -> prompt_table/sentiment_generator[every generator] -> synthetic_reviews[one temperature each]
    -> reference_synthetic, training_set -> classifier_metrics, with a tiny model so the whole graph runs in about a minute."""
    from augment_assets.definitions import build_definitions
    from augment_assets.defs.evaluate.assets import read_training_sets
    from augment_assets.defs.leakage.checks import generator_fold_violations
    from augment_assets.defs.resources import experiment_resource

    from .lineage import ReadLog

    monkeypatch.setenv("BASE_MODEL", str(tiny_model_dir))
    reads = ReadLog(build_definitions()).install(monkeypatch)
    assert run(dg.AssetSelection.groups("ingest")).success
    run_generators_and_synthetic()
    result = run(dg.AssetSelection.groups("evaluate"), None, TINY_EVALUATION)
    assert result.success, step_errors(result)
    # Every table an asset or check read is a declared dependency (or its own).
    assert len(reads.reads) >= 20, sorted(reads.reads)  # every asset and check of the graph was seen
    assert reads.undeclared() == {}, reads.undeclared()

    store = Warehouse(project / "warehouse.duckdb")
    generators = store.read_table("sentiment_generator")
    assert sorted(generators["generator"]) == sorted(GENERATORS)
    assert all(Path(p, "config.json").exists() for p in generators["path"])
    assert generators.set_index("generator")["n_train"].to_dict() == {
        "negative_all_r1": 104,
        "positive_all_r1": 104,
        "negative_50_r1": 40,
        "positive_50_r1": 40,
    }
    # Every generator's corpus lies in the fit fold of its own size and meets no validation
    # review of its own or a larger size.
    corpus, folds = store.read_table("fine_tuning_corpus"), store.read_table("review_folds")
    assert generator_fold_violations(corpus, generators, folds).empty
    for row in generators.itertuples():
        mine = set(corpus.loc[corpus["generator"] == row.generator, "review_id"])
        fit = set(folds.loc[(folds["data_size"] == row.data_size) & (folds["fold"] == "fit"), "review_id"])
        assert mine and mine <= fit
        larger = ["all"] if row.data_size == "50" else []
        validation = set(
            folds.loc[folds["data_size"].isin([row.data_size, *larger]) & (folds["fold"] == "validation"), "review_id"]
        )
        assert mine.isdisjoint(validation)
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("synthetic_reviews"))
    written = event.asset_materialization.metadata
    assert "dagster/row_count" not in written and written["dagster/partition_row_count"].value > 0
    floats = [v.value for v in written.values() if isinstance(v.value, float)]
    assert floats and all(round(f, 4) == f for f in floats), floats  # rounded for people
    # n counts kept reviews: the partition holds the 12 asked for, and says how many slots it took
    assert (
        written["kept"].value == written["dagster/partition_row_count"].value == written["keep_target"].value == 12
    ), written
    assert written["attempted"].value >= 12 and written["short_by"].value == 0 and written["max_attempts"].value == 36
    assert written["attempted"].value == 12 + written["dropped_by_filters"].value + written["kept_beyond_target"].value
    # Its data version is the fingerprint of the settings that shaped it and the number asked for.
    fingerprint, asked = event.asset_materialization.tags["dagster/data_version"].rsplit("-n", 1)
    assert len(fingerprint) >= 12 and fingerprint != "None" and asked == "12"
    synthetic = store.read_table("synthetic_reviews")
    assert set(synthetic.columns) >= {
        "synthetic_id",
        "sentiment",
        "temperature",
        "prompt",
        "text",
        "generator_version",
        "seed",
        "created_at",
    }
    assert set(zip(synthetic["generator"], synthetic["temperature"])) <= {(g, 0.9) for g in GENERATORS}
    assert synthetic["synthetic_id"].is_unique
    metrics = store.read_table("classifier_metrics")
    # generator sizes all and 50, and the learning curve's baseline-only sizes 100, 25, 10
    assert set(metrics["data_size"]) == {"all", "100", "50", "25", "10"} and set(metrics["repeat"]) == {1}
    for (classifier, eval_set, data_size), group in metrics.groupby(["classifier", "eval_set", "data_size"]):
        assert group["baseline_selected"].sum() == 1, (classifier, eval_set, data_size)
        # a candidate at every size with generators (no low-data candidate skipped), none elsewhere;
        # the generative classifier (the generator pairs) is a baseline at the sizes with generators only
        assert group["selected"].sum() == (data_size in ("all", "50") and classifier != "generative"), (
            classifier,
            eval_set,
            data_size,
        )
    assert set(metrics.loc[metrics["classifier"] == "generative", "data_size"]) == {"all", "50"}
    scores = store.read_table("generative_scores")
    folds_of = folds[folds["fold"] == "validation"].groupby("data_size").size()
    holdout_size = len(store.read_table("holdout_reviews"))
    assert scores.groupby("data_size").size().to_dict() == {
        size: folds_of[size] + holdout_size for size in ("all", "50")
    }
    assert set(scores["negative_generator_version"]) == set(
        generators.loc[generators["sentiment"] == "negative", "generator_version"]
    )
    headline = store.read_table("headline")
    assert sorted(headline["data_size"].unique()) == ["50", "all"] and (headline["repeats"] == 1).all()
    # half the interval's width (0 when the candidate predicts exactly as the baseline, as a tiny model may)
    half_width = (headline["gain_ci_high"] - headline["gain_ci_low"]) / 2
    assert (headline["min_detectable_gain"] - half_width).abs().max() < 1e-12 and headline["worth"].str.len().gt(
        0
    ).all()
    # no REFERENCE_SYNTHETIC_CSV: the headline says so, rather than leaving the reference columns blank unexplained
    assert (headline["reference_status"] == "no reference supplied (REFERENCE_SYNTHETIC_CSV unset)").all()
    assert headline["selected_minus_reference"].isna().all()
    curve = store.read_table("learning_curve")
    assert set(curve.loc[curve["role"] == "baseline", "data_size"]) == {"all", "100", "50", "25", "10"}
    assert set(curve.loc[curve["role"] == "candidate", "data_size"]) == {"all", "50"}
    recommendation = store.read_table("recommendation")
    assert len(recommendation) == 5 and set(recommendation["classifier"]) <= {"nb", "lr", "generative", "embedding"}
    # the embedding classifier: every size, candidates at the sizes with generators, each text embedded once
    embedded = metrics[metrics["classifier"] == "embedding"]
    assert set(embedded["data_size"]) == {"all", "100", "50", "25", "10"} and "genuine+synthetic" in set(
        embedded["variant"]
    )
    assert not {"genuine+perturbed", "genuine+synthetic_filtered", "genuine+reference"} & set(embedded["variant"])
    assert (
        "embedding" in set(headline["classifier"])
        and headline["best_baseline_beats_every_candidate"]
        .isin(["yes, shown", "yes, point estimate only", "no", "n/a"])
        .all()
    )
    with dg.DagsterInstance.get() as instance:
        scored = instance.get_latest_materialization_event(
            dg.AssetKey("classifier_metrics")
        ).asset_materialization.metadata
    assert (
        scored["embedding_texts"].value > holdout_size
        and scored["embedding_texts_embedded"].value == scored["embedding_texts"].value
    )
    assert len(list((project / "work" / "review_embeddings").glob("*.parquet"))) == 1
    assert {"genuine", "genuine_tuned", "genuine+duplicates", "genuine+perturbed", "genuine+synthetic"} <= set(
        metrics["variant"]
    )
    # training_set is the truth: every synthetic member of a size's sets comes from that size's generators,
    # and the metrics' synthetic counts are the stored sets' counts.
    sets = read_training_sets(store, experiment_resource().process_config_and_initialize().seed)
    members = store.read_table("training_set").merge(store.read_table("training_set_configs"), on="training_set_id")
    synthetic_members = members[members["source"] == "synthetic"].merge(
        synthetic[["synthetic_id", "generator"]], left_on="item_id", right_on="synthetic_id"
    )
    assert (
        len(synthetic_members)
        and (synthetic_members["generator"].str.split("_").str[1] == synthetic_members["data_size"]).all()
    )
    refit = sets.configs[(sets.configs["phase"] == "refit") & (sets.configs["training_data"] == "synthetic")]
    chosen = metrics[metrics["selected"] & (metrics["variant"] == "genuine+synthetic")]
    for row in chosen.itertuples():
        stored = refit[
            (refit["data_size"] == row.data_size)
            & (refit["ratio"] == row.synthetic_per_genuine)
            & (refit["temperature_selection"] == row.temperature_selection)
        ]
        assert row.n_synthetic == int(stored["n_synthetic"].iloc[0]), row
    # The shared views and the Parquet export, queried read-only by another process while they are written.
    _views_and_export_under_a_reader(project, store)
    # What a team takes away: the saved classifiers, their predictions and the report (test_takeaway.py).
    from .test_takeaway import check_model_classifiers_refit_exactly, check_takeaway_through_dagster

    check_takeaway_through_dagster(project, store, run, step_errors)
    check_model_classifiers_refit_exactly(project, store)
    # A synthetic review that copies 20 words of a holdout review fails the span check.
    checks = checks_by_name(run(dg.AssetSelection.checks_for_assets(dg.AssetKey("synthetic_reviews"))))
    assert checks["synthetic_reviews:no_copied_holdout_spans"] is True, checks
    _plant(
        store,
        "INSERT INTO synthetic_reviews BY NAME SELECT 'planted' AS synthetic_id, sentiment, 0.9 AS temperature, "
        "'negative_all_r1' AS generator, '' AS prompt, "
        "array_to_string(list_slice(string_split(text, ' '), 1, 20), ' ') || ' and more words of my own' AS text "
        "FROM holdout_reviews WHERE length(text) > 300 LIMIT 1",
    )
    checks = checks_by_name(run(dg.AssetSelection.checks_for_assets(dg.AssetKey("synthetic_reviews"))))
    assert checks["synthetic_reviews:no_copied_holdout_spans"] is False, checks
    # A second run with unchanged inputs reuses the saved generator instead of retraining.
    result = run(dg.AssetSelection.assets("sentiment_generator"), "negative_50_r1", TINY_FINETUNE)
    event = result.get_asset_materialization_events()[0]
    assert event.materialization.metadata["reused_saved_model"].value is True
    # A generator corpus planted with a validation review of a larger size fails the fold check.
    _plant(
        store,
        "INSERT INTO fine_tuning_corpus SELECT f.review_id, f.sentiment, t.text, 'negative_50_r1', g.generator_version "
        "FROM review_folds f JOIN training_reviews t USING (review_id), sentiment_generator g "
        "WHERE f.data_size = 'all' AND f.fold = 'validation' AND g.generator = 'negative_50_r1' LIMIT 1",
    )
    checks = checks_by_name(run(dg.AssetSelection.checks_for_assets(dg.AssetKey("sentiment_generator"))))
    assert checks["sentiment_generator:corpus_inside_own_fit_fold"] is False, checks


def test_a_holdout_review_given_as_a_prompt_fails_the_prompt_checks(project):
    assert run(dg.AssetSelection.groups("ingest")).success
    store = Warehouse(project / "warehouse.duckdb")
    clean = run(dg.AssetSelection.assets("prompt_table"), "negative_all_r1")
    assert clean.success and all(checks_by_name(clean).values()), checks_by_name(clean)
    holdout_text = store.read("SELECT text FROM holdout_reviews WHERE sentiment = 'negative' LIMIT 1")["text"][0]
    planted = {"ops": {"prompt_table": {"config": {"extra_prompts": [holdout_text]}}}}
    result = run(dg.AssetSelection.assets("prompt_table"), "negative_all_r1", planted)
    checks = checks_by_name(result)
    assert checks == {"prompt_table:no_holdout_text": False, "prompt_table:no_holdout_only_ngrams": False}, checks


def test_a_leaking_reference_fails_its_checks_and_is_not_scored(project, monkeypatch, tiny_model_dir):
    """A reference holding edited copies of holdout reviews fails its blocking checks in a real run, and
    training_set then leaves it out; a clean reference is scored."""
    monkeypatch.setenv("BASE_MODEL", str(tiny_model_dir))
    assert run(dg.AssetSelection.groups("ingest")).success
    store = Warehouse(project / "warehouse.duckdb")
    holdout = store.read_table("holdout_reviews")
    training = store.read_table("training_reviews")
    clean = pd.DataFrame({"sentiment": training["sentiment"], "text": training["text"].str.upper() + " truly"})
    leaking = pd.concat(
        [
            clean,
            pd.DataFrame({"sentiment": holdout["sentiment"].head(5), "text": "honestly " + holdout["text"].head(5)}),
        ]
    )
    reference_csv = project / "reference.csv"
    monkeypatch.setenv("REFERENCE_SYNTHETIC_CSV", str(reference_csv))

    leaking.to_csv(reference_csv, index=False)
    result = run(dg.AssetSelection.assets("reference_synthetic"))
    checks = checks_by_name(result)
    assert checks["reference_synthetic:no_holdout_near_duplicate"] is False, checks
    assert not result.success and "5 near-duplicates" in step_errors(result)
    result = run(
        dg.AssetSelection.assets("training_set"),
        None,
        {"ops": {"training_set": {"config": {"ratios": [0, 1], "draws": 1}}}},
    )
    assert result.success, step_errors(result)
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["reference_scored"].value is False
    assert "no_holdout_near_duplicate" in metadata["reference_excluded_because"].value
    assert "reference" not in set(store.read_table("training_set")["source"])
    decision = store.read_table("reference_decision").iloc[0]  # what the headline's reference_status reports
    assert not decision["scored"] and decision["reference_rows"] == len(leaking)
    assert (
        decision["why_not"].startswith("not scored: its leakage checks did not pass")
        and "no_holdout_near_duplicate" in decision["why_not"]
    )

    clean.to_csv(reference_csv, index=False)
    result = run(dg.AssetSelection.assets("reference_synthetic"))
    assert result.success and all(checks_by_name(result).values()), checks_by_name(result)
    result = run(
        dg.AssetSelection.assets("training_set"),
        None,
        {"ops": {"training_set": {"config": {"ratios": [0, 1], "draws": 1}}}},
    )
    assert result.success and "reference" in set(store.read_table("training_set")["source"])
    decision = store.read_table("reference_decision").iloc[0]
    assert decision["scored"] and pd.isna(decision["why_not"])

    # A bad reference file is a named error and loses nothing already published.
    before = store.read_table("reference_synthetic")
    reference_csv.write_text("label,review\npositive,good\n")
    result = run(dg.AssetSelection.assets("reference_synthetic"))
    assert not result.success and "lacks column(s) ['sentiment', 'text']" in step_errors(result)
    pd.testing.assert_frame_equal(store.read_table("reference_synthetic"), before)


def test_the_read_log_catches_an_undeclared_read(project, monkeypatch):
    """The lineage detector the graph test relies on: an asset reading a table it does not declare is reported."""
    from augment_assets.defs.resources import WarehouseResource

    from .lineage import ReadLog

    @dg.asset
    def declared(warehouse: WarehouseResource) -> None:
        warehouse.get().write_table("declared", pd.DataFrame({"x": [1]}))

    @dg.asset
    def sneaky(warehouse: WarehouseResource) -> None:  # reads `declared` without deps=[declared]
        warehouse.get().read_table("declared")

    defs = dg.Definitions(
        assets=[declared, sneaky], resources={"warehouse": WarehouseResource(path=str(project / "w.duckdb"))}
    )
    reads = ReadLog(defs).install(monkeypatch)
    assert dg.materialize(
        [declared, sneaky], resources={"warehouse": WarehouseResource(path=str(project / "w.duckdb"))}
    ).success
    assert reads.undeclared() == {"sneaky": {"declared"}}


def test_the_source_sensor_follows_the_configured_files(project, tmp_path):
    """One precedence rule for what is read and what is watched: the sensor fingerprints the CSV
    the resource reads, launches once per change and skips an unchanged file."""
    from augment_assets.defs.automation.sensors import review_source_changed
    from augment_assets.defs.ingest.resources import ReviewSourceResource

    csv = tmp_path / "reviews.csv"
    csv.write_text("text,stars\ngreat pizza,5\n")
    source = ReviewSourceResource(reviews_csv=str(csv))
    assert source.files() == [csv]
    first = review_source_changed(dg.build_sensor_context(cursor=None, resources={"source": source}))
    assert isinstance(first, dg.RunRequest) and str(csv) in first.run_key
    context = dg.build_sensor_context(cursor=first.run_key, resources={"source": source})
    assert isinstance(review_source_changed(context), dg.SkipReason)
    csv.write_text("text,stars\ngreat pizza,5\nbad pizza,1\n")
    changed = review_source_changed(dg.build_sensor_context(cursor=first.run_key, resources={"source": source}))
    assert isinstance(changed, dg.RunRequest) and changed.run_key != first.run_key
    assert ReviewSourceResource().files()[0].parent.name == "sample"
    # A missing file is not a change: it skips, naming the path, and keeps the cursor for when it returns.
    csv.unlink()
    context = dg.build_sensor_context(cursor=changed.run_key, resources={"source": source})
    skipped = review_source_changed(context)
    assert isinstance(skipped, dg.SkipReason) and str(csv) in skipped.skip_message and "missing" in skipped.skip_message
    assert context.cursor == changed.run_key


def test_the_command_labels_every_good_inbox_file_past_a_bad_one(project, capsys):
    """`augment-assets materialize --stage predict`: a bad inbox file fails its own batch, with its error; the
    batches after it are still labelled, and the command exits 1 naming the one that failed."""
    from augment_assets.cli import materialize_all

    assert run(dg.AssetSelection.groups("ingest")).success
    config = {
        "ops": {
            "training_set": {"config": {"draws": 1}},
            "classifier_metrics": {"config": {"classifiers": ["nb"], "bootstrap": 100}},
        }
    }
    assert materialize_all(["evaluate"], config) == 0
    inbox = project / "inbox"
    inbox.mkdir()
    (inbox / "a_bad.csv").write_bytes(b"text\ncaf\xe9 au lait\n")
    (inbox / "b_good.csv").write_text("id,text\nr1,Lovely crust and quick service.\n")
    capsys.readouterr()
    assert materialize_all(["predict"]) == 1
    err = capsys.readouterr().err
    assert "a_bad.csv, line 2: not UTF-8" in err and "these prediction batches failed" in err
    predictions = Warehouse(project / "warehouse.duckdb").read_table("review_predictions")
    assert set(predictions["batch"]) == {"source-unlabelled", "b_good.csv"}
    assert predictions.loc[predictions["batch"] == "b_good.csv", "review_id"].tolist() == ["r1"]


def test_the_cli_reports_a_leaking_reference_and_evaluates_without_it(project, monkeypatch, capsys, tiny_model_dir):
    """`augment-assets materialize --stage evaluate`: the reference's failed blocking check is a warning,
    the evaluation still runs, and the reference is not among what the classifiers were fit on."""
    from augment_assets.cli import materialize_all

    assert run(dg.AssetSelection.groups("ingest")).success
    store = Warehouse(project / "warehouse.duckdb")
    holdout = store.read_table("holdout_reviews")
    reference_csv = project / "reference.csv"
    pd.DataFrame({"sentiment": holdout["sentiment"], "text": holdout["text"] + " indeed"}).to_csv(
        reference_csv, index=False
    )
    monkeypatch.setenv("REFERENCE_SYNTHETIC_CSV", str(reference_csv))
    monkeypatch.setenv("BASE_MODEL", str(tiny_model_dir))  # the embedding classifier's base model: tiny, in seconds
    config = {
        "ops": {
            "training_set": {"config": {"ratios": [0, 1], "draws": 1}},
            "classifier_metrics": {"config": {"bootstrap": 100}},
        }
    }
    assert materialize_all(["evaluate"], config) == 0
    err = capsys.readouterr().err
    assert "warning: check reference_synthetic:no_holdout_near_duplicate failed" in err and "left out of scoring" in err
    assert "reference" not in set(store.read_table("training_set")["source"])
    assert "genuine+reference" not in set(store.read_table("classifier_metrics")["variant"])


@pytest.mark.slow
def test_repeats_from_a_run_config_through_the_one_command(project, tiny_model_dir):
    """`augment-assets materialize --config` with an `env:` block: two repeats, each with its own folds,
    generators and synthetic reviews, scored together; a variable set in the shell wins over the file."""
    import os
    import subprocess
    import sys

    import yaml

    config = project / "repeats.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "env": {
                    "REPEATS": 2,
                    "DATA_SIZES": "all",
                    "LEARNING_CURVE_SIZES": "25",
                    "SYNTHETIC_TEMPERATURES": "0.9",
                    "BASE_MODEL": "not-used: the shell's BASE_MODEL wins",
                },
                **TINY_FINETUNE,
                "ops": {**TINY_FINETUNE["ops"], **TINY_GENERATION["ops"], **TINY_EVALUATION["ops"]},
            }
        )
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SYNTHETIC_TEMPERATURES", "REPEATS", "DATA_SIZES", "LEARNING_CURVE_SIZES")
    }
    env["BASE_MODEL"] = str(tiny_model_dir)
    done = subprocess.run(
        [sys.executable, "-m", "augment_assets", "materialize", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "env BASE_MODEL is already set in the environment" in done.stderr
    store = Warehouse(project / "warehouse.duckdb")
    folds = store.read_table("review_folds")
    assert set(folds["repeat"]) == {1, 2} and set(folds["data_size"]) == {"all", "25"}
    validation = [
        set(
            folds.loc[
                (folds["repeat"] == r) & (folds["fold"] == "validation") & (folds["data_size"] == "all"), "review_id"
            ]
        )
        for r in (1, 2)
    ]
    assert validation[0] != validation[1]
    generators = store.read_table("sentiment_generator")
    assert sorted(generators["generator"]) == sorted(f"{s}_all_r{r}" for s in ("negative", "positive") for r in (1, 2))
    from augment_assets.defs.leakage.checks import generator_fold_violations

    assert generator_fold_violations(store.read_table("fine_tuning_corpus"), generators, folds).empty
    # each repeat's generator learned from its own repeat's fit fold: the two corpora differ
    corpus = store.read_table("fine_tuning_corpus")
    assert set(corpus.loc[corpus["generator"] == "negative_all_r1", "review_id"]) != set(
        corpus.loc[corpus["generator"] == "negative_all_r2", "review_id"]
    )
    synthetic = store.read_table("synthetic_reviews")
    assert set(synthetic["generator"]) == set(generators["generator"])
    headline = store.read_table("headline")
    assert list(headline["data_size"].unique()) == ["all"] and (headline["repeats"] == 2).all()
    assert headline["min_detectable_gain"].notna().all() and headline["verdict"].isin(["gain", "no gain", "loss"]).all()
    curve = store.read_table("learning_curve")
    assert set(zip(curve["data_size"], curve["role"])) == {
        ("all", "baseline"),
        ("all", "candidate"),
        ("25", "baseline"),
    }
    recommendation = store.read_table("recommendation")
    assert sorted(recommendation["data_size"]) == ["25", "all"]
    metrics = store.read_table("classifier_metrics")
    assert set(metrics["repeat"]) == {1, 2}


def test_previews_escape_review_text():
    """A review's own `|`, newlines, image links and HTML neither break the UI's preview table nor make
    the UI fetch anything."""
    import re

    from augment_assets.defs.metadata import preview

    text = "bad | worse\nreally ![pixel](http://tracker.example/p.png) <img src='http://tracker.example/q'> [x](y)"
    markdown = preview(pd.DataFrame({"text": [text, "plain"], "stars": [1, 5]})).value
    lines = markdown.splitlines()
    assert len(lines) == 4  # header, rule, two rows: the newline did not split a row
    cells = [re.split(r"(?<!\\)\|", line)[1:-1] for line in lines]
    assert all(len(row) == 2 for row in cells), cells  # the review's | did not add a column
    assert not re.search(r"(?<!\\)!(?<!\\)\[", markdown) and "<img" not in markdown
    assert not re.search(r"(?<!\\)\]\(", markdown)  # no live link or image target
    assert "bad \\| worse" in markdown and "&lt;img" in markdown


def _start_cli(args, env_extra=None):
    import os
    import subprocess
    import sys

    env = {**os.environ, **(env_extra or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "augment_assets", "materialize", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(process, needle: str, timeout: float = 300) -> str:
    """Read the process's stderr until a line holds `needle`; the lines read so far."""
    import time

    seen, deadline = [], time.monotonic() + timeout
    for line in process.stderr:
        seen.append(line)
        if needle in line:
            return "".join(seen)
        assert time.monotonic() < deadline, "".join(seen)[-3000:]
    raise AssertionError(f"{needle!r} never appeared:\n" + "".join(seen)[-3000:])


def _slow_finetune_config(path):
    import yaml

    path.write_text(yaml.safe_dump({"ops": {"sentiment_generator": {"config": {"epochs": 200, "max_length": 64}}}}))
    return path


@pytest.mark.slow
def test_a_run_killed_with_sigkill_mid_fine_tuning_does_not_block_the_next(project, tiny_model_dir):
    """SIGKILL while a generator holds the language_model pool: the next command ends the dead run,
    frees the slot and completes on its own."""
    import os
    import signal
    import subprocess
    import sys

    assert run(dg.AssetSelection.groups("ingest")).success
    env = {"BASE_MODEL": str(tiny_model_dir)}
    killed = _start_cli(["--stage", "generators", "--config", str(_slow_finetune_config(project / "slow.yaml"))], env)
    _wait_for(killed, "Fine-tuning")
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    with dg.DagsterInstance.get() as instance:
        stuck = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert len(stuck) == 1  # what SIGKILL leaves: a STARTED run ...
        assert instance.event_log_storage.get_concurrency_info("language_model").active_run_ids == {
            stuck[0].run_id
        }  # ... holding the pool
    tiny = project / "tiny.yaml"
    import yaml

    tiny.write_text(yaml.safe_dump(TINY_FINETUNE))
    again = subprocess.run(
        [sys.executable, "-m", "augment_assets", "materialize", "--stage", "generators", "--config", str(tiny)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"recovered: run {stuck[0].run_id}" in again.stderr and "is gone; marked failed" in again.stderr
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(stuck[0].run_id).status == dg.DagsterRunStatus.FAILURE
        assert not instance.event_log_storage.get_concurrency_info("language_model").active_run_ids


@pytest.mark.slow
def test_sigterm_ends_a_run_within_seconds_and_frees_its_pool(project, tiny_model_dir):
    import os
    import signal
    import subprocess
    import time

    assert run(dg.AssetSelection.groups("ingest")).success
    process = _start_cli(
        ["--stage", "generators", "--config", str(_slow_finetune_config(project / "slow.yaml"))],
        {"BASE_MODEL": str(tiny_model_dir)},
    )
    _wait_for(process, "Fine-tuning")
    sent = time.monotonic()
    os.killpg(process.pid, signal.SIGTERM)
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # leave nothing running into the next tests
        pytest.fail("still running 60 s after SIGTERM:\n" + process.communicate()[1][-4000:])
    assert time.monotonic() - sent < 30 and process.returncode != 0, stderr[-4000:]
    assert "interrupted" in stderr and "not retried" in stderr, stderr[-4000:]
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert runs and all(r.is_finished for r in runs), [r.status for r in runs]
        assert not instance.event_log_storage.get_concurrency_info("language_model").active_run_ids


@pytest.mark.slow
def test_a_run_killed_mid_ingest_does_not_block_the_next(project):
    import os
    import signal
    import subprocess
    import sys

    killed = _start_cli(["--stage", "ingest"])
    _wait_for(killed, "Read ")
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    again = subprocess.run(
        [sys.executable, "-m", "augment_assets", "materialize", "--stage", "ingest"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    with dg.DagsterInstance.get() as instance:
        assert not instance.event_log_storage.get_concurrency_info("warehouse").active_run_ids
        assert all(r.is_finished for r in instance.get_runs())


def _views_and_export_under_a_reader(project: Path, store: Warehouse) -> None:
    import subprocess
    import sys
    import textwrap

    from augment_assets.defs.share.assets import VIEWS

    reader = textwrap.dedent(
        f"""
        import duckdb, time
        print("ready", flush=True)
        answers, deadline = set(), time.time() + 60
        while time.time() < deadline:
            con = duckdb.connect({str(project / "warehouse.duckdb")!r}, read_only=True)
            views = {{r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()}}
            if "latest_headline" in views:
                answers.add(con.execute("select count(*) from latest_headline").fetchone()[0])
                answers.add(con.execute("select count(*) from synthetic_reviews_with_lineage").fetchone()[0])
                con.close()
                break
            con.close()
            time.sleep(0.05)
        print(sorted(answers))
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", reader], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "ready"
    result = run(dg.AssetSelection.groups("share"))
    assert result.success, step_errors(result)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0 and out.strip() not in ("", "[]"), (out, err)
    for name in VIEWS:
        assert len(store.read(f"SELECT * FROM {name}")) > 0, name
    lineage = store.read("SELECT * FROM synthetic_reviews_with_lineage")
    assert len(lineage) == len(store.read_table("synthetic_reviews"))
    assert {"data_size", "repeat", "base_model", "temperature", "prompt", "generator_version"} <= set(lineage.columns)
    import duckdb

    exported = (
        duckdb.connect()
        .execute("SELECT * FROM read_parquet(?)", [str(project / "exports" / "synthetic_reviews.parquet")])
        .df()
    )
    assert sorted(exported["synthetic_id"]) == sorted(lineage["synthetic_id"]) and list(exported.columns) == list(
        lineage.columns
    )


def test_a_dead_ui_launched_run_is_ended_and_its_slot_freed(project):
    """A run launched from the UI runs in a worker the default launcher started; when that worker is
    killed the run stays STARTED with its slot. The recovery sensor reads the worker's pid from Dagster's
    own engine event, ends the run and frees the slot; a live worker's run is left alone."""
    import os
    import subprocess
    import sys

    from dagster._core.events import EngineEventData

    from augment_assets.defs.automation.runs import dead_run_recovery

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with dg.DagsterInstance.get() as instance:
        runs = {}
        for pool in ("warehouse", "language_model"):  # what a run's executor does before its first claim
            instance.event_log_storage.initialize_concurrency_limit_to_default(pool)
        for name, pid in (("dead", gone.pid), ("alive", os.getpid())):
            run = instance.add_run(
                dg.DagsterRun(job_name="ingest_job", run_id=f"{name}-run-0000", status=dg.DagsterRunStatus.STARTED)
            )
            instance.report_engine_event(f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid))
            instance.event_log_storage.claim_concurrency_slot(
                "warehouse" if name == "dead" else "language_model", run.run_id, "step"
            )
            runs[name] = run
        assert instance.event_log_storage.get_concurrency_info("warehouse").active_run_ids == {"dead-run-0000"}
        skipped = dead_run_recovery(dg.build_sensor_context(instance=instance))
        assert "dead-run-0000" in skipped.skip_message and "alive-run-0000" not in skipped.skip_message
        assert instance.get_run_by_id("dead-run-0000").status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id("alive-run-0000").status == dg.DagsterRunStatus.STARTED
        assert not instance.event_log_storage.get_concurrency_info("warehouse").active_run_ids
        assert instance.event_log_storage.get_concurrency_info("language_model").active_run_ids == {"alive-run-0000"}


@pytest.mark.slow
def test_killing_dagster_asset_materialize_leaves_no_step_process(project, tiny_model_dir):
    """Dagster's own command runs the steps in its process (the definitions' in-process executor): while a
    generator fine-tunes it has no child step process, so SIGKILL to it leaves nothing running."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    assert run(dg.AssetSelection.groups("ingest")).success
    slow = _slow_finetune_config(project / "slow.yaml")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "augment_assets.definitions",
            "--select",
            "sentiment_generator",
            "--partition",
            "negative_all_r1",
            "-c",
            str(slow),
        ],
        env={**os.environ, "BASE_MODEL": str(tiny_model_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(process, "Fine-tuning")

    def children(pid: int) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
        return found

    # the step runs in the command's own process: no multiprocess-executor child (its only children are
    # Dagster's compute-log tailer and the watcher that ends the tailer with it)
    kids = [_cmdline(Path("/proc") / str(k)) for k in children(process.pid)]
    assert not [k for k in kids if "multiprocessing" in k or "execute_step" in k], kids
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 15
    while True:  # Dagster's watcher ends the tailers within a few seconds; nothing of the run stays
        leftover = [_cmdline(p) for p in Path("/proc").iterdir() if p.name.isdigit() and str(project) in _cmdline(p)]
        if not leftover or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert leftover == [], leftover


def _cmdline(proc: "Path") -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_the_evaluation_follows_its_inputs_only_when_their_blocking_checks_passed(project, monkeypatch, tiny_model_dir):
    """Declarative automation, tick by tick: nothing while an input is missing; then the training sets;
    then the scores once the training sets' own blocking checks passed; never the generators. A new
    synthetic partition whose blocking check failed is not followed; one whose checks passed is."""
    from augment_assets.definitions import build_definitions

    monkeypatch.setenv("BASE_MODEL", str(tiny_model_dir))
    defs = build_definitions()
    requested = lambda result: {key.to_user_string() for key in result._requested_partitions_by_asset_key}  # noqa: E731
    assert run(dg.AssetSelection.groups("ingest")).success
    run_generators_and_synthetic("0.9")
    with dg.DagsterInstance.get() as instance:
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert tick.total_requested == 0  # two temperatures and the reference are still missing
        for temperature in ("0.7", "1.1"):
            for key in GENERATORS:
                assert run(
                    dg.AssetSelection.assets("synthetic_reviews"), f"{key}|{temperature}", TINY_GENERATION
                ).success
        assert run(dg.AssetSelection.assets("reference_synthetic")).success
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert requested(tick) == {"training_set", "synthetic_reviews_parquet"}, requested(tick)
        tiny_sets = {"ops": {"training_set": TINY_EVALUATION["ops"]["training_set"]}}
        assert run(dg.AssetSelection.assets("training_set", "synthetic_reviews_parquet"), None, tiny_sets).success
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        scores = ("classifier_metrics", "headline", "learning_curve", "recommendation", "warehouse_views")
        assert requested(tick) == set(scores), requested(tick)  # one run: the views follow the scores in it
        tiny_scores = {"ops": {"classifier_metrics": TINY_EVALUATION["ops"]["classifier_metrics"]}}
        assert run(dg.AssetSelection.assets(*scores), None, tiny_scores).success
        tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert tick.total_requested == 0  # settled
        # A re-made partition whose blocking check then fails (a copied holdout review): not followed.
        store = Warehouse(project / "warehouse.duckdb")
        assert run(dg.AssetSelection.assets("synthetic_reviews"), "negative_all_r1|0.9", TINY_GENERATION).success
        _plant(
            store,
            "INSERT INTO synthetic_reviews BY NAME SELECT 'planted' AS synthetic_id, sentiment, 0.9 AS temperature, "
            "'negative_all_r1' AS generator, '' AS prompt, text FROM holdout_reviews LIMIT 1",
        )
        checks = checks_by_name(run(dg.AssetSelection.checks_for_assets(dg.AssetKey("synthetic_reviews"))))
        assert checks["synthetic_reviews:no_holdout_near_duplicate"] is False, checks
        blocked = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert "training_set" not in requested(blocked), requested(blocked)
        # Re-made clean, its checks pass: now the training sets follow.
        assert run(dg.AssetSelection.assets("synthetic_reviews"), "negative_all_r1|0.9", TINY_GENERATION).success
        followed = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=blocked.cursor)
        assert "training_set" in requested(followed), requested(followed)


def test_a_transient_model_step_failure_is_retried_and_a_user_error_is_not(project, monkeypatch, tiny_model_dir):
    """The fine-tuning step's retry policy: a transient error (here a planted RuntimeError on the first
    call) is retried and the generator is published; an InputError fails once, with its message, and
    is not retried."""
    import augment_assets.defs.generate.assets as generate
    from augment_assets.lib.errors import InputError

    monkeypatch.setenv("BASE_MODEL", str(tiny_model_dir))
    assert run(dg.AssetSelection.groups("ingest")).success
    calls, real = [], generate.finetune

    def flaky(*args, **kwargs):
        calls.append("flaky")
        if len(calls) == 1:
            raise RuntimeError("planted transient failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(generate, "finetune", flaky)
    selection = dg.AssetSelection.assets("prompt_table", "sentiment_generator")
    result = run(selection, "negative_50_r1", TINY_FINETUNE)
    assert result.success, step_errors(result)
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 1 and calls == ["flaky", "flaky"]
    assert "negative_50_r1" in set(
        Warehouse(project / "warehouse.duckdb").read_table("sentiment_generator")["generator"]
    )

    def user_error(*args, **kwargs):
        calls.append("user")
        raise InputError("planted user error: fix the setting")

    monkeypatch.setattr(generate, "finetune", user_error)
    result = run(selection, "positive_50_r1", TINY_FINETUNE)
    assert not result.success
    assert [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"] == []
    assert calls.count("user") == 1
    assert "planted user error: fix the setting" in step_errors(result)


def test_the_schedules_and_the_whole_graph_refresh_job(project):
    """The weekly schedules' requests (one run key per tick), their run config against the job's schema,
    and the refresh job: its stage runs land in the same instance tagged with its run id."""
    from datetime import datetime

    from augment_assets.definitions import build_definitions
    from augment_assets.defs.automation.jobs import REFRESH_TAG
    from augment_assets.defs.automation.schedules import weekly_evaluation, weekly_refresh

    defs = build_definitions()
    monday = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 12, 7, 2, 0))
    request = weekly_refresh(monday)
    assert isinstance(request, dg.RunRequest) and request.run_key == "refresh-20261207"
    assert weekly_refresh.job_name == "refresh_graph_job" and weekly_evaluation.job_name == "evaluate_job"
    assert weekly_evaluation(monday).run_key == "evaluation-20261207"
    refresh = defs.resolve_job_def("refresh_graph_job")
    assert dg.validate_run_config(refresh, {"ops": {"refresh_graph": {"config": {"stages": ["ingest"]}}}})
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(refresh, {"ops": {"refresh_graph": {"config": {"stages": "ingest"}}}})
    assert dg.validate_run_config(defs.resolve_job_def("evaluate_job"), {})

    with dg.DagsterInstance.get() as instance:
        bad = refresh.execute_in_process(
            run_config={"ops": {"refresh_graph": {"config": {"stages": ["ingest", "train"]}}}},
            instance=instance,
            raise_on_error=False,
        )
        assert not bad.success
        assert "unknown stage(s) ['train']" in str(bad.all_events)
        result = refresh.execute_in_process(
            run_config={"ops": {"refresh_graph": {"config": {"stages": ["ingest"]}}}}, instance=instance
        )
        assert result.success
        children = instance.get_runs(filters=dg.RunsFilter(tags={REFRESH_TAG: result.run_id}))
        assert [r.tags["augment_assets/stage"] for r in children] == ["ingest"]
        assert children[0].status == dg.DagsterRunStatus.SUCCESS
    assert len(Warehouse(project / "warehouse.duckdb").read_table("training_reviews")) > 0
