"""What a team takes away: `sentiment_classifier`, the recommendation's configuration at each data size refit
and saved as a versioned artifact (lib/saved_classifier.py) with its model card, listed in `classifier_registry`.

Thin wiring: the recommendation (a decision materialized once, by classifier_metrics) names the classifier,
its hyperparameters and the stored training set it was refit on; this asset refits exactly that and saves it.
"""

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from augment_assets.defs.deploy.resources import DeliverablesResource
from augment_assets.defs.evaluate.assets import item_texts_sql
from augment_assets.defs.generate.resources import LanguageModelResource
from augment_assets.defs.metadata import preview, table_metadata
from augment_assets.defs.resources import WarehouseResource
from augment_assets.lib.classifiers import GenerativeThreshold
from augment_assets.lib.classify import encode_labels
from augment_assets.lib.errors import InputError
from augment_assets.lib.model_card import card_markdown, code_version
from augment_assets.lib.report import EVAL_SET, headline_at
from augment_assets.lib.saved_classifier import artifact_of, configuration, fit_configuration, save_artifact
from augment_assets.lib.warehouse import Warehouse

REGISTRY_COLUMNS = [
    "classifier_version",
    "data_size",
    "genuine_per_class",
    "classifier",
    "variant",
    "hyperparameters",
    "training_set_id",
    "n_genuine",
    "n_synthetic",
    "generator_versions",
    "holdout_accuracy",
    "accuracy",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "synthetic_verdict",
    "path",
    "code_version",
    "saved_at",
    "current",
]


def training_set_texts(store: Warehouse, set_id: int) -> pd.DataFrame:
    """One stored training set's members with their texts, in stored order (the order the evaluation fit)."""
    members = store.read(
        f"SELECT m.source, m.item_id, m.sentiment, m.weight, t.text "
        f"FROM (SELECT *, row_number() OVER () AS stored FROM training_set WHERE training_set_id = ?) m "
        f"JOIN (SELECT source, item_id, text FROM ({item_texts_sql(store)})) t USING (source, item_id) "
        "ORDER BY m.stored",
        [int(set_id)],
    )
    if members.empty:
        raise InputError(
            f"training set {set_id}, which the recommendation names, is not in training_set: materialize "
            "training_set and classifier_metrics again"
        )
    return members


def synthetic_verdicts(headline: pd.DataFrame, data_size: str, classifier: str) -> str:
    """What synthetic data did at this size, per classifier (the deployed one first), from the headline."""
    rows = headline_at(headline, data_size, classifier)
    if rows.empty:
        return "not measured at this size (no generators: a learning-curve size)"
    return "; ".join(
        f"{r.classifier}: {r.verdict}, gain {100 * r.gain_vs_baseline:+.1f} points "
        f"({100 * r.gain_ci_low:+.1f} to {100 * r.gain_ci_high:+.1f}), minimum detectable {100 * r.min_detectable_gain:.1f}"
        for r in rows.itertuples()
    )


def _generative_estimator(store: Warehouse, row) -> tuple[GenerativeThreshold, dict, int]:
    """The generator pair of the recommended repeat as a classifier: its threshold as chosen on validation, its
    P(positive) calibrated on the same validation margins; what the artifact names (the pair, the length it
    reads); and how many genuine reviews the pair learned from."""
    pair = store.read(
        "SELECT sentiment, generator_version, path, n_train FROM sentiment_generator WHERE data_size = ? AND repeat = ?",
        [row.data_size, int(row.deploy_repeat)],
    )
    threshold, _ = configuration("generative", row.deploy_hyperparameters)
    scores = store.read(
        "SELECT s.margin, r.sentiment FROM generative_scores s JOIN training_reviews r USING (review_id) "
        "WHERE s.data_size = ? AND s.repeat = ? AND s.scored_set = 'validation'",
        [row.data_size, int(row.deploy_repeat)],
    )
    margins = scores["margin"].to_numpy(dtype=float)
    estimator = GenerativeThreshold(threshold=threshold, margins=lambda positions: margins[np.asarray(positions)])
    estimator.fit(np.arange(len(margins)), encode_labels(scores["sentiment"]))
    model = {
        "generators": {
            g.sentiment: {"version": g.generator_version, "path": str(Path(g.path).resolve())}
            for g in pair.itertuples()
        },
        "max_review_tokens": int(json.loads(row.deploy_hyperparameters)["max_review_tokens"]),
    }
    return estimator, model, int(pair["n_train"].sum())


def fit_recommended(store: Warehouse, row, language_model: LanguageModelResource, log) -> tuple:
    """(fitted estimator, what the artifact adds, genuine and synthetic reviews it learned from, generator
    versions) of one row of the recommendation."""
    if row.classifier == "generative":
        estimator, model, n_genuine = _generative_estimator(store, row)
        return estimator, model, (n_genuine, 0), sorted(g["version"] for g in model["generators"].values())
    members = training_set_texts(store, row.deploy_training_set_id)
    weights = members["weight"].to_numpy(dtype=float)
    weights = None if np.all(weights == 1.0) else weights
    resources, model = {}, {}
    if row.classifier == "embedding":
        access = language_model.access(log)
        model = {
            "base_model": access.base_model,
            "max_tokens": int(json.loads(row.deploy_hyperparameters)["max_tokens"]),
        }
        resources["embeddings"] = access.embeddings(model)
    estimator = fit_configuration(
        row.classifier,
        row.deploy_hyperparameters,
        members["text"],
        encode_labels(members["sentiment"]),
        weights,
        **resources,
    )
    synthetic = members.loc[members["source"] == "synthetic", "item_id"].astype(str).tolist()
    versions = []
    if synthetic and store.has_table("synthetic_reviews"):
        versions = store.read(
            "SELECT DISTINCT generator_version FROM synthetic_reviews WHERE list_contains(?, synthetic_id) ORDER BY 1",
            [synthetic],
        )["generator_version"].tolist()
    counts = (int((members["source"] != "synthetic").sum()), len(synthetic))
    return estimator, model, counts, versions


@dg.asset(
    deps=[
        "recommendation",
        "headline",
        "classifier_metrics",  # its generative_scores: the generative classifier's margins
        "training_set",
        "reference_synthetic",  # a training set may hold reference reviews
        "training_reviews",
        "synthetic_reviews",
        "sentiment_generator",
    ],
    group_name="deploy",
    kinds={"scikitlearn", "duckdb"},
    pool="warehouse",
    description=(
        "The classifier to deploy at each data size: the recommendation's configuration refit on that size's whole "
        "pool as the evaluation refits it, saved (skops, no pickle) under AUGMENT_CLASSIFIERS_DIR/<size>/<version>/ "
        "with a model card; classifier_registry lists every one saved. The data version is the artifacts' hash."
    ),
)
def sentiment_classifier(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    language_model: LanguageModelResource,
    deliverables: DeliverablesResource,
) -> dg.MaterializeResult:
    store = warehouse.get()
    if not store.has_table("recommendation"):
        raise InputError("No recommendation yet: materialize classifier_metrics (the evaluate stage) first.")
    recommendation = store.read("SELECT * FROM recommendation WHERE eval_set = ?", [EVAL_SET])
    headline = store.read_table("headline") if store.has_table("headline") else pd.DataFrame(columns=["eval_set"])
    log = lambda message: context.log.info(str(message))  # noqa: E731
    # Fit and check every size before anything is written: a failure leaves the saved classifiers as they were.
    fitted = []
    for row in recommendation.itertuples():
        estimator, model, (n_genuine, n_synthetic), versions = fit_recommended(store, row, language_model, log)
        # this fit's holdout accuracy as classifier_metrics measured it: the holdout itself is never read here
        holdout_accuracy = float(row.deploy_accuracy)
        artifact = artifact_of(estimator, row.classifier, row.deploy_hyperparameters, **model)
        artifact.card = {
            "data_size": row.data_size,
            "genuine_per_class": None if pd.isna(row.genuine_per_class) else int(row.genuine_per_class),
            "variant": row.variant,
            "repeat": int(row.deploy_repeat),
            "training_set_id": None if pd.isna(row.deploy_training_set_id) else int(row.deploy_training_set_id),
            "n_genuine": n_genuine,
            "n_synthetic": n_synthetic,
            "generator_versions": versions,
            "holdout_accuracy": holdout_accuracy,
            "accuracy": float(row.accuracy),
            "accuracy_ci_low": float(row.accuracy_ci_low),
            "accuracy_ci_high": float(row.accuracy_ci_high),
            "repeats": int(row.repeats),
            "synthetic_verdict": synthetic_verdicts(headline, row.data_size, row.classifier),
            "code_version": code_version(),
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "run_id": context.run.run_id,
        }
        fitted.append((row, artifact))
    if not fitted:
        raise InputError(
            "The recommendation has no row for the holdout: nothing to save. Re-materialize classifier_metrics."
        )
    registry_rows, cards = [], []
    for row, artifact in fitted:
        card = card_markdown(artifact.version, artifact.model, artifact.card)
        folder = save_artifact(artifact, deliverables.classifiers_dir, row.data_size, card)
        cards.append(card)
        registry_rows.append(
            {
                "classifier_version": artifact.version,
                "data_size": row.data_size,
                "genuine_per_class": artifact.card["genuine_per_class"],
                "classifier": row.classifier,
                "variant": row.variant,
                "hyperparameters": row.deploy_hyperparameters,
                "training_set_id": artifact.card["training_set_id"],
                "n_genuine": artifact.card["n_genuine"],
                "n_synthetic": artifact.card["n_synthetic"],
                "generator_versions": ", ".join(artifact.card["generator_versions"]),
                "holdout_accuracy": artifact.card["holdout_accuracy"],
                "accuracy": artifact.card["accuracy"],
                "accuracy_ci_low": artifact.card["accuracy_ci_low"],
                "accuracy_ci_high": artifact.card["accuracy_ci_high"],
                "synthetic_verdict": artifact.card["synthetic_verdict"],
                "path": str(folder.resolve()),
                "code_version": artifact.card["code_version"],
                "saved_at": artifact.card["saved_at"],
                "current": True,
            }
        )
        log(f"{row.data_size} data: saved {row.classifier} {artifact.version} to {folder}")
    registry = register(store, pd.DataFrame(registry_rows, columns=REGISTRY_COLUMNS))
    versions = sorted(r["classifier_version"] for r in registry_rows)
    current = registry[registry["current"]]
    return dg.MaterializeResult(
        data_version=dg.DataVersion(hashlib.sha256(",".join(versions).encode()).hexdigest()[:16]),
        metadata={
            "classifiers": dg.MetadataValue.md(
                current[
                    ["data_size", "classifier", "variant", "classifier_version", "holdout_accuracy", "path"]
                ].to_markdown(index=False, floatfmt=".4f")
            ),
            **{f"version_{r['data_size']}": r["classifier_version"] for r in registry_rows},
            "model_cards": dg.MetadataValue.md("\n\n".join(cards)),
            **table_metadata("classifier_registry", registry),
            "registry": preview(registry, rows=len(registry)),
        },
    )


def register(store: Warehouse, saved: pd.DataFrame) -> pd.DataFrame:
    """`classifier_registry` with these classifiers added (a version saved again is replaced): each one saved
    stays listed; `current` marks each data size's latest."""
    registry = store.read_table("classifier_registry") if store.has_table("classifier_registry") else None
    if registry is None or not len(registry):
        registry = saved
    else:
        keep = ~registry["classifier_version"].isin(saved["classifier_version"])
        registry = pd.concat([registry[keep].assign(current=False), saved], ignore_index=True)
        # a data size the recommendation no longer has keeps its last classifier current
        others = ~registry["data_size"].isin(saved["data_size"])
        latest = registry[others].groupby("data_size")["saved_at"].transform("max")
        registry.loc[others, "current"] = registry.loc[others, "saved_at"] == latest
    registry = registry[REGISTRY_COLUMNS].astype({"current": bool})
    store.write_table("classifier_registry", registry)
    return registry
