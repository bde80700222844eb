"""What a team takes away: the saved classifier (a reproducible skops artifact, loaded back only when intact),
the reviews it labels (a CSV read with named errors), and the one-page report."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from augment_assets.lib.errors import InputError
from augment_assets.lib.predictions import choose_saved, prediction_rows
from augment_assets.lib.report import ReportInputs, report_html, report_markdown
from augment_assets.lib.saved_classifier import (
    MODEL_FILE,
    SPEC_FILE,
    artifact_of,
    fit_configuration,
    load_classifier,
    save_artifact,
)
from augment_assets.lib.texts_csv import read_texts_csv

TEXTS = [
    "great crust and friendly staff",
    "cold soggy pizza, rude service",
    "lovely sauce, will come back",
    "terrible, burnt and late",
    "best slice in town",
    "awful cheese and a long wait",
] * 4
LABELS = np.array([1, 0, 1, 0, 1, 0] * 4)
NB = json.dumps({"alpha": 0.3, "ngram_range": [1, 2], "sublinear_tf": True})
LR = json.dumps({"C": "default", "ngram_range": [1, 1], "sublinear_tf": False})


def saved(tmp_path, classifier="nb", hyperparameters=NB) -> Path:
    estimator = fit_configuration(classifier, hyperparameters, TEXTS, LABELS)
    artifact = artifact_of(estimator, classifier, hyperparameters)
    artifact.card = {"data_size": "all"}
    return save_artifact(artifact, tmp_path / "classifiers", "all", "# card\n")


@pytest.mark.parametrize("classifier,hyperparameters", [("nb", NB), ("lr", LR)])
def test_a_saved_classifier_is_reproducible_and_predicts_as_fitted(tmp_path, classifier, hyperparameters):
    first = artifact_of(fit_configuration(classifier, hyperparameters, TEXTS, LABELS), classifier, hyperparameters)
    second = artifact_of(fit_configuration(classifier, hyperparameters, TEXTS, LABELS), classifier, hyperparameters)
    # the same fit, the same bytes and the same version (skops alone stamps ids and times into the file)
    assert first.weights == second.weights and first.version == second.version
    other = artifact_of(
        fit_configuration(classifier, hyperparameters, TEXTS[:12], LABELS[:12]), classifier, hyperparameters
    )
    assert other.version != first.version
    folder = save_artifact(first, tmp_path, "all", "# card\n")
    assert folder == tmp_path / "all" / first.version and (folder / MODEL_FILE).read_bytes() == first.weights
    loaded = load_classifier(folder)
    estimator = fit_configuration(classifier, hyperparameters, TEXTS, LABELS)
    new = ["crust was great", "rude and cold", "fine"]
    labels, p = loaded.score(new)
    assert list(labels) == ["negative" if y == 0 else "positive" for y in estimator.predict(new)]
    np.testing.assert_allclose(p, estimator.predict_proba(new)[:, 1], rtol=1e-12)
    # the hyperparameters are the ones asked for, TF-IDF options included
    vectorizer = loaded.pipeline[0]
    assert vectorizer.ngram_range == tuple(json.loads(hyperparameters)["ngram_range"])


def test_a_saved_classifier_has_the_same_version_in_another_process(tmp_path):
    """Nothing of the process (an object's address, a time) reaches the file: another interpreter fitting the same
    model saves the same bytes."""
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from augment_assets_tests.test_takeaway import TEXTS, LABELS, NB\n"
        "from augment_assets.lib.saved_classifier import artifact_of, fit_configuration\n"
        "print(artifact_of(fit_configuration('nb', NB, TEXTS, LABELS), 'nb', NB).version)\n"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    here = artifact_of(fit_configuration("nb", NB, TEXTS, LABELS), "nb", NB)
    assert other == here.version
    # and the loaded pipeline still transforms (the dropped stop-words address is set again on use)
    folder = save_artifact(here, tmp_path, "all", "")
    assert list(load_classifier(folder).predict(["great crust"])) == ["positive"]


def _rewrite_model(spec_path: Path, change) -> None:
    spec = json.loads(spec_path.read_text())
    change(spec)
    spec_path.write_text(json.dumps(spec))


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda folder: (folder / MODEL_FILE).unlink(), "model.skops is missing"),
        (lambda folder: (folder / SPEC_FILE).unlink(), "no classifier.json"),
        (lambda folder: (folder / SPEC_FILE).write_text("{not json"), "classifier.json is corrupted"),
        (
            lambda folder: (folder / MODEL_FILE).write_bytes((folder / MODEL_FILE).read_bytes()[:-40]),
            "do not match its version",
        ),
        (
            lambda folder: _rewrite_model(
                folder / SPEC_FILE, lambda spec: spec["model"].__setitem__("format_version", 0)
            ),
            "artifact format 0",
        ),
        (
            lambda folder: _rewrite_model(
                folder / SPEC_FILE, lambda spec: spec["model"].__setitem__("sklearn_version", "0.24")
            ),
            "scikit-learn 0.24",
        ),
    ],
)
def test_a_damaged_or_incompatible_artifact_names_the_asset_to_rematerialize(tmp_path, damage, message):
    folder = saved(tmp_path)
    damage(folder)
    with pytest.raises(InputError, match=message) as error:
        load_classifier(folder)
    assert "Re-materialize sentiment_classifier" in str(error.value) and str(folder) in str(error.value)


def test_a_missing_artifact_folder_names_the_asset(tmp_path):
    with pytest.raises(InputError, match="Re-materialize sentiment_classifier"):
        load_classifier(tmp_path / "gone")


def test_an_artifact_whose_hash_matches_but_holds_foreign_types_is_refused(tmp_path):
    """A file re-hashed after tampering, asking skops to build a type outside scikit-learn, is refused."""
    import io

    folder = saved(tmp_path)
    data = (folder / MODEL_FILE).read_bytes()
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name == "schema.json":
                content = content.replace(b'"MultinomialNB"', b'"Popen"', 1).replace(
                    b'"sklearn.naive_bayes"', b'"subprocess"', 1
                )
            target.writestr(name, content)
    (folder / MODEL_FILE).write_bytes(out.getvalue())
    from augment_assets.lib.saved_classifier import Artifact

    spec = json.loads((folder / SPEC_FILE).read_text())
    spec["version"] = Artifact(spec["model"], weights=out.getvalue()).version
    (folder / SPEC_FILE).write_text(json.dumps(spec))
    with pytest.raises(InputError, match="types this project never saves"):
        load_classifier(folder)


# ---------------------------------------------------------------- the CSV of reviews to label


def test_a_texts_csv_keeps_rows_ids_and_the_line_each_starts_on(tmp_path):
    path = tmp_path / "new.csv"
    path.write_text('id,text\nr1,"Great pizza,\nreally"\n\nr2,Cold crust\n', encoding="utf-8")
    frame = read_texts_csv(path)
    assert frame.to_dict("records") == [
        {"row": 1, "line": 2, "review_id": "r1", "text": "Great pizza,\nreally"},
        {"row": 2, "line": 5, "review_id": "r2", "text": "Cold crust"},
    ]


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "the file is empty"),
        (b"review,stars\ngood,5\n", "line 1: no `text` column"),
        (b"text\n", "a header but no rows"),
        (b"text\ngood\ncaf\xe9 au lait\n", "line 3: not UTF-8"),
        (b'text\ngood\n   \nok\n""\n', "2 of 4 rows have an empty text \\(lines 3, 5\\)"),
    ],
)
def test_a_bad_texts_csv_names_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as error:
        read_texts_csv(path)
    assert str(path) in str(error.value)


def test_predictions_say_where_each_review_came_from(tmp_path):
    folder = saved(tmp_path)
    loaded = load_classifier(folder)
    frame = pd.DataFrame({"row": [1, 2], "review_id": ["a", None], "text": ["great crust", "rude and cold"]})
    rows = prediction_rows(frame, loaded, "new.csv", "new.csv")
    assert list(rows["source_row"]) == [1, 2] and list(rows["predicted_sentiment"]) == ["positive", "negative"]
    assert rows["classifier_version"].eq(loaded.version).all() and rows["p_positive"].between(0, 1).all()
    assert rows["text_hash"].str.len().gt(8).all() and rows["text_hash"].is_unique


def test_the_default_classifier_is_the_largest_data_size():
    registry = pd.DataFrame(
        {
            "data_size": ["10", "all", "50", "all"],
            "genuine_per_class": [10, None, 50, None],
            "classifier_version": ["a", "b", "c", "old"],
            "current": [True, True, True, False],
        }
    )
    assert choose_saved(registry)["classifier_version"] == "b"
    assert choose_saved(registry, "50")["classifier_version"] == "c"
    with pytest.raises(InputError, match="saved sizes are 10, 50, all"):
        choose_saved(registry, "25")
    assert choose_saved(registry[registry["data_size"] != "all"])["classifier_version"] == "c"


# ---------------------------------------------------------------- the report


def test_the_report_answers_three_questions_per_data_size():
    recommendation = pd.DataFrame(
        {
            "data_size": ["50", "all"],
            "genuine_per_class": [50, None],
            "classifier": ["embedding", "nb"],
            "variant": ["genuine_tuned", "genuine+synthetic"],
            "repeats": [3, 3],
            "hyperparameters": ['{"C": 0.01}', '{"alpha": 0.3} x2; {"alpha": 1.0} x1'],
            "synthetic_per_genuine": [None, "1"],
            "validation_accuracy": [0.9, 0.85],
            "accuracy": [0.87, 0.84],
            "accuracy_ci_low": [0.83, 0.8],
            "accuracy_ci_high": [0.9, 0.88],
            "validation_reviews": [100, 80],
            "configurations_compared": [120, 1500],
            "chosen_by": ["cross-validation", "validation fold"],
            "highest_scoring": ["lr genuine_tuned", "nb genuine+synthetic"],
            "highest_minus_chosen": [0.02, 0.0],
            "highest_minus_chosen_se": [0.025, 0.0],
            "compared_on_reviews": [100, 80],
        }
    )
    headline = pd.DataFrame(
        {
            "eval_set": ["holdout"] * 3,
            "data_size": ["50", "all", "all"],
            "classifier": ["nb", "nb", "lr"],
            "verdict": ["no gain", "gain", "loss"],
            "gain_vs_baseline": [0.01, 0.03, -0.02],
            "gain_ci_low": [-0.02, 0.01, -0.04],
            "gain_ci_high": [0.04, 0.05, -0.001],
            "min_detectable_gain": [0.03, 0.02, 0.02],
            "worth": ["about 3 genuine per class", "about 40 genuine per class", None],
        }
    )
    text = report_markdown(ReportInputs(recommendation, headline, pd.DataFrame()))
    all_at, fifty_at = text.index("## All training reviews (data size all)"), text.index("## 50 reviews per class")
    assert all_at < fifty_at  # the largest size first
    for section in (text[all_at:fifty_at], text[fifty_at:]):
        assert "**Did synthetic data help?**" in section and "**What to deploy:**" in section
        assert "**What the synthetic data was worth:**" in section
    assert "Yes, for nb" in text[all_at:fifty_at] and "+3.0 points (+1.0 to +5.0" in text
    assert "No gain shown" in text[fifty_at:] and "embedding** on **genuine_tuned" in text
    assert "picked by validation fold (85.0% of 80 reviews, among 1,500 configurations); also the best-scoring" in text
    # the one-standard-error rule kept a declared-earlier option: the report says over what, and by how much
    assert "picked by cross-validation (90.0% of 100 reviews, among 120 configurations); kept over the " in text
    assert "best-scoring lr genuine_tuned (+2.0 points ahead, standard error 2.5, on 100 shared reviews)" in text
    assert "repeats disagreed" in text[all_at:fifty_at] and "same configuration in each of 3" in text[fifty_at:]
    page = report_html(text)
    assert page.startswith("<!doctype html>") and "<table>" in page and "http" not in page.split("<body>")[1]


# ---------------------------------------------------------------- through Dagster (called by the graph test)


def check_takeaway_through_dagster(project: Path, store, run, step_errors) -> None:
    """After the evaluate group: the deploy group saves one classifier per data size, refit exactly as the
    evaluation refit it; review_predictions labels the source's unlabelled reviews and an inbox file, a bad inbox
    file fails alone, and a second classifier version adds rows beside the first; the report answers."""
    import dagster as dg

    from augment_assets.defs.predict.assets import SOURCE_BATCH, inbox_files_sensor, register_batches
    from augment_assets.predict import load

    result = run(dg.AssetSelection.groups("deploy"))
    assert result.success, step_errors(result)
    recommendation = store.read("SELECT * FROM recommendation WHERE eval_set = 'holdout'")
    registry = store.read_table("classifier_registry")
    assert sorted(registry["data_size"]) == sorted(recommendation["data_size"]) and registry["current"].all()
    metrics = store.read_table("classifier_metrics")
    holdout = store.read_table("holdout_reviews")
    for row in registry.itertuples():
        rec = recommendation[recommendation["data_size"] == row.data_size].iloc[0]
        folder = Path(row.path)
        assert folder.parent.parent == project / "classifiers" and (folder / "MODEL_CARD.md").exists()
        classifier = load(folder)
        assert classifier.version == row.classifier_version == folder.name
        # refit as the evaluation refits it: on the holdout, the saved model scores what the evaluation's refit of
        # repeat 1 scored (classifier_metrics, recommendation.deploy_accuracy), without the asset reading the holdout
        assert row.holdout_accuracy == pytest.approx(rec["deploy_accuracy"])
        scored = metrics[
            (metrics["eval_set"] == "holdout")
            & (metrics["repeat"] == 1)
            & (metrics["data_size"] == row.data_size)
            & (metrics["classifier"] == rec["classifier"])
            & (metrics["variant"] == rec["variant"])
        ]
        assert rec["deploy_accuracy"] in set(scored["accuracy"]), (rec.to_dict(), scored["accuracy"].tolist())
        labels, p = classifier.score(holdout["text"].tolist())
        assert np.mean(labels == holdout["sentiment"].to_numpy()) == pytest.approx(row.holdout_accuracy)
        assert ((p > 0.5) == (labels == "positive")).mean() > 0.95
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("sentiment_classifier"))
        assert event.asset_materialization.tags["dagster/data_version"] not in ("", None)
        report_md = instance.get_latest_materialization_event(dg.AssetKey("report")).asset_materialization.metadata
    text = report_md["report"].value
    comparison = store.read_table("strategy_comparison")
    assert len(comparison) and "## What trusting the recommendation costs" in text
    assert text.count("**Did synthetic data help?**") == len(recommendation)
    assert (project / "reports" / "report.html").read_text().count("What to deploy") == len(recommendation)

    # `augment-assets predict`: a CSV labelled with the largest size's classifier, or another size's; a bad one is refused
    from augment_assets.cli import main

    reviews = project / "to_label.csv"
    reviews.write_text('text,review_id\n"Hot, fresh and friendly.",a\nSoggy crust and a rude cashier.,b\n')
    assert main(["predict", str(reviews)]) == 0
    labelled = pd.read_csv(project / "to_label_predictions.csv")
    assert list(labelled["review_id"]) == ["a", "b"] and list(labelled["line"]) == [2, 3]
    assert (
        labelled["classifier_version"]
        .eq(registry.loc[registry["genuine_per_class"].isna(), "classifier_version"].iloc[0])
        .all()
    )
    assert (
        labelled["predicted_sentiment"].isin(["negative", "positive"]).all()
        and labelled["p_positive"].between(0, 1).all()
    )
    smallest = registry.loc[registry["genuine_per_class"].idxmin()]
    assert main(["predict", str(reviews), "-o", str(project / "out.csv"), "--data-size", smallest["data_size"]]) == 0
    assert pd.read_csv(project / "out.csv")["classifier_version"].eq(smallest["classifier_version"]).all()
    (project / "empty.csv").write_text("")
    assert main(["predict", str(project / "empty.csv"), "-o", str(project / "never.csv")]) == 2
    assert not (project / "never.csv").exists()

    # the source's unlabelled reviews, then two inbox files: one good, one without a text column
    inbox = project / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / "new.csv").write_text("id,text\nx1,The crust was perfect and the staff lovely.\nx2,Cold and late.\n")
    (inbox / "broken.csv").write_text("review\nno text column here\n")
    with dg.DagsterInstance.get() as instance:
        keys = register_batches(instance, inbox)
        assert keys == [SOURCE_BATCH, "broken.csv", "new.csv"]
    outcomes = {key: run(dg.AssetSelection.assets("review_predictions"), key) for key in keys}
    assert outcomes[SOURCE_BATCH].success and outcomes["new.csv"].success, step_errors(outcomes["new.csv"])
    assert not outcomes["broken.csv"].success and "no `text` column" in step_errors(outcomes["broken.csv"])
    predictions = store.read_table("review_predictions")
    unlabelled = store.read_table("unlabelled_reviews")
    by_batch = predictions.groupby("batch").size().to_dict()
    assert by_batch == {SOURCE_BATCH: len(unlabelled), "new.csv": 2} and len(unlabelled) > 0
    largest = registry.loc[registry["genuine_per_class"].isna(), "classifier_version"].iloc[0]
    assert set(predictions["classifier_version"]) == {largest}
    new = predictions[predictions["batch"] == "new.csv"].sort_values("source_row")
    assert list(new["review_id"]) == ["x1", "x2"] and list(new["source_row"]) == [1, 2]
    # a classifier of another data size labels new.csv again: rows added beside, the view shows the newest
    other = registry.loc[registry["classifier_version"] != largest, "data_size"]
    if len(other):
        again = run(
            dg.AssetSelection.assets("review_predictions"),
            "new.csv",
            {"ops": {"review_predictions": {"config": {"data_size": other.iloc[0]}}}},
        )
        assert again.success, step_errors(again)
        predictions = store.read_table("review_predictions")
        assert predictions.groupby("batch").size().to_dict() == {SOURCE_BATCH: len(unlabelled), "new.csv": 4}
        latest = store.read("SELECT * FROM latest_predictions WHERE batch = 'new.csv'")
        assert len(latest) == 2 and latest["data_size"].eq(other.iloc[0]).all()
    # the sensor: each inbox file is a run request of its partition, keyed by the file and the classifier
    with dg.DagsterInstance.get() as instance:
        from augment_assets.defs.deploy.resources import DeliverablesResource

        context = dg.build_sensor_context(
            instance=instance, resources={"deliverables": DeliverablesResource(inbox_dir=str(inbox))}
        )
        outcome = inbox_files_sensor(context)
    assert sorted(r.partition_key for r in outcome.run_requests) == ["broken.csv", "new.csv"]


def check_model_classifiers_refit_exactly(project: Path, store) -> None:
    """The embedding and generative classifiers, whichever the recommendation picked: each one's tuned baseline at
    `all`, refit and saved by sentiment_classifier's own code and loaded through augment_assets.predict, scores on
    the holdout exactly what classifier_metrics measured (the same cached vectors and generator margins)."""
    import types

    from augment_assets.defs.deploy.assets import fit_recommended
    from augment_assets.defs.generate.resources import language_model_resource
    from augment_assets.lib.embedding_fits import EmbeddingConfig
    from augment_assets.lib.saved_classifier import artifact_of, save_artifact
    from augment_assets.predict import load

    metrics = store.read_table("classifier_metrics")
    configs = store.read_table("training_set_configs")
    holdout = store.read_table("holdout_reviews")
    refit = configs[
        (configs["repeat"] == 1)
        & (configs["data_size"] == "all")
        & (configs["phase"] == "refit")
        & (configs["training_data"] == "genuine")
    ]
    for classifier in ("embedding", "generative"):
        scored = metrics[
            (metrics["eval_set"] == "holdout")
            & (metrics["repeat"] == 1)
            & (metrics["data_size"] == "all")
            & (metrics["classifier"] == classifier)
            & (metrics["variant"] == "genuine_tuned")
        ].iloc[0]
        hyperparameters = json.loads(scored["hyperparameters"])
        if classifier == "embedding":
            hyperparameters["max_tokens"] = EmbeddingConfig().max_tokens  # the default classifier_metrics read with
        row = types.SimpleNamespace(
            data_size="all",
            classifier=classifier,
            deploy_repeat=1,
            deploy_training_set_id=int(refit["training_set_id"].iloc[0]),
            deploy_hyperparameters=json.dumps(hyperparameters, sort_keys=True),
        )
        language_model = language_model_resource().process_config_and_initialize()  # its EnvVars read
        estimator, model, _, _ = fit_recommended(store, row, language_model, print)
        artifact = artifact_of(estimator, classifier, row.deploy_hyperparameters, **model)
        artifact.card = {"data_size": "all"}
        folder = save_artifact(artifact, project / "extra_classifiers", "all", "")
        labels = load(folder).predict(holdout["text"].tolist())
        assert np.mean(labels == holdout["sentiment"].to_numpy()) == pytest.approx(scored["accuracy"], abs=1e-12), (
            classifier
        )
