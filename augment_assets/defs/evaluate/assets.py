"""Evaluate: `reference_synthetic`, `training_set` (every set a classifier is fit on), and the scores:
`classifier_metrics`, `headline`, `learning_curve` and `recommendation`, made together.

Thin wiring over augment_assets.lib.{reference,training_sets,evaluation}; every choice is
made there, on labelled training reviews (cross-validation folds and validation folds), never on a holdout.
"""

import dataclasses
from pathlib import Path

import dagster as dg
import pandas as pd
import pydantic

from augment_assets.defs.generate.resources import LanguageModelResource
from augment_assets.defs.leakage.check_names import HOLDOUT_COMPARISON_CHECKS
from augment_assets.defs.metadata import (
    for_people,
    images_markdown,
    png_markdown,
    preview,
    review_table_metadata,
    table_metadata,
)
from augment_assets.defs.partitions import candidate_sizes
from augment_assets.defs.resources import ExperimentResource, WarehouseResource, env_or
from augment_assets.defs.settings import config_field
from augment_assets.lib.embedding import EmbeddingConfig, Embeddings, embed_texts, embedding_texts
from augment_assets.lib.errors import InputError
from augment_assets.lib.evaluation import evaluate
from augment_assets.lib.generative import (
    GenerativeScores,
    ScoringConfig,
    classifier_review_tokens,
    evaluation_texts,
    score_pairs,
    teach,
    teacher_review_tokens,
)
from augment_assets.lib.model import choose_device_dtype
from augment_assets.lib.plots import accuracy_curve_png, confusion_png, learning_curve_png
from augment_assets.lib.reference import empty_reference, read_reference_synthetic
from augment_assets.lib.training_sets import TrainingSets, build_training_sets
from augment_assets.lib.variants import (
    EMBEDDING,
    GENERATIVE,
    EvaluationConfig,
    check_classifiers,
    check_selection,
    check_teachers,
)
from augment_assets.lib.warehouse import Warehouse

REFERENCE_CHECKS = HOLDOUT_COMPARISON_CHECKS  # reference_synthetic carries every one (defs/leakage/checks.py)


class EvaluationResource(dg.ConfigurableResource):
    """Comparison inputs: another generator's output (`REFERENCE_SYNTHETIC_CSV`)."""

    reference_synthetic_csv: str | None = None


def evaluation_resource() -> EvaluationResource:
    return EvaluationResource(reference_synthetic_csv=env_or("REFERENCE_SYNTHETIC_CSV"))


@dg.asset(
    group_name="evaluate",
    kinds={"csv", "duckdb"},
    pool="warehouse",
    description=(
        "Another generator's synthetic reviews (REFERENCE_SYNTHETIC_CSV; empty when unset), under the same blocking "
        "leakage checks as synthetic_reviews. training_set scores it only when every one of its checks passed."
    ),
)
def reference_synthetic(
    context: dg.AssetExecutionContext, evaluation: EvaluationResource, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    path = evaluation.reference_synthetic_csv
    # Read and checked before anything is written: a bad file leaves the published table as it was.
    reference = read_reference_synthetic(path) if path else empty_reference()
    warehouse.get().write_table("reference_synthetic", reference)
    return dg.MaterializeResult(
        metadata={
            "configured": bool(path),
            "source_path": str(path or ""),
            **review_table_metadata("reference_synthetic", reference),
        }
    )


def reference_check_failures(instance: dg.DagsterInstance) -> list[str]:
    """Why the reference must not be scored: each of its blocking checks that failed, or has not run,
    on its latest materialization. Empty when all passed."""
    asset = dg.AssetKey("reference_synthetic")
    materialization = instance.get_latest_materialization_event(asset)
    keys = [dg.AssetCheckKey(asset, name) for name in REFERENCE_CHECKS]
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    failures = []
    for key in keys:
        record = records.get(key)
        # the record's event is its evaluation once the check has run (its planned event before)
        evaluated_at = record.event.timestamp if record is not None and record.event is not None else None
        if (
            record is None
            or record.status.value == "PLANNED"
            or (materialization and (evaluated_at is None or evaluated_at < materialization.timestamp))
        ):
            failures.append(f"{key.name}: not run on the latest reference_synthetic")
        elif record.status.value != "SUCCEEDED":
            evaluation = (
                record.event.dagster_event.event_specific_data if record.event and record.event.dagster_event else None
            )
            failures.append(f"{key.name}: {getattr(evaluation, 'description', None) or record.status.value}")
    return failures


class TrainingSetSettings(dg.Config):
    ratios: list[float] = config_field(EvaluationConfig, "ratios")
    draws: int = config_field(EvaluationConfig, "draws")
    selection_shares: list[float] = config_field(EvaluationConfig, "selection_shares")
    selection_teachers: list[str] = config_field(EvaluationConfig, "selection_teachers")
    weighting_teachers: list[str] = config_field(EvaluationConfig, "weighting_teachers")

    @pydantic.field_validator("selection_teachers")
    @classmethod
    def _known_teachers(cls, names: list[str]) -> list[str]:
        try:
            return list(check_selection(names, ())[0])
        except InputError as error:  # pydantic reports a ValueError with the setting's name
            raise ValueError(str(error)) from None

    @pydantic.field_validator("weighting_teachers")
    @classmethod
    def _known_weighting_teachers(cls, names: list[str]) -> list[str]:
        try:
            return list(check_teachers("weighting_teachers", names))
        except InputError as error:
            raise ValueError(str(error)) from None

    @pydantic.field_validator("selection_shares")
    @classmethod
    def _shares(cls, shares: list[float]) -> list[float]:
        try:
            return list(check_selection((), shares)[1])
        except InputError as error:
            raise ValueError(str(error)) from None

    def evaluation_config(self, experiment: ExperimentResource) -> EvaluationConfig:
        return dataclasses.replace(
            EvaluationConfig(),
            ratios=tuple(self.ratios),
            draws=self.draws,
            seed=experiment.seed,
            selection_shares=tuple(self.selection_shares),
            selection_teachers=tuple(self.selection_teachers),
            weighting_teachers=tuple(self.weighting_teachers),
        )


def synthetic_with_data_size(store: Warehouse) -> pd.DataFrame:
    """Synthetic reviews of the current generators, each with its generator's data size and repeat (from
    the registry, joined on generator_version: rows of a replaced generator drop out)."""
    if not (store.has_table("synthetic_reviews") and store.has_table("sentiment_generator")):
        return pd.DataFrame(columns=["synthetic_id", "sentiment", "temperature", "text", "data_size", "repeat"])
    return store.read(
        "SELECT s.synthetic_id, s.sentiment, s.temperature, s.text, g.data_size, g.repeat "
        "FROM synthetic_reviews s JOIN sentiment_generator g USING (generator_version)"
    )


@dg.asset(
    deps=["training_reviews", "review_folds", "synthetic_reviews", "sentiment_generator", "reference_synthetic"],
    group_name="evaluate",
    kinds={"duckdb"},
    pool="warehouse",
    description=(
        "Every training set a classifier is fit on, by id: per repeat, data size, kind of training data, option, ratio, "
        "temperature selection, draw and phase (select: built on the fit fold; refit: on the whole pool). "
        "training_set_configs has one row per set; classifier_metrics fits on exactly these."
    ),
)
def training_set(
    context: dg.AssetExecutionContext,
    config: TrainingSetSettings,
    experiment: ExperimentResource,
    warehouse: WarehouseResource,
    language_model: LanguageModelResource,
) -> dg.MaterializeResult:
    store = warehouse.get()
    training, folds = store.read_table("training_reviews"), store.read_table("review_folds")
    reference = store.read_table("reference_synthetic") if store.has_table("reference_synthetic") else empty_reference()
    reference_excluded, reference_rows = [], len(reference)
    if len(reference):
        reference_excluded = reference_check_failures(context.instance)
        if reference_excluded:
            context.log.warning(
                "reference_synthetic is not scored: its leakage checks did not pass ("
                + "; ".join(reference_excluded)
                + "). A reference whose generator saw holdout reviews would be scored as if it were clean."
            )
            reference = None
    synthetic = synthetic_with_data_size(store)
    teachers, teacher_scores = {}, GenerativeScores()
    if len(synthetic) and store.has_table("sentiment_generator"):
        # the generative classifier labels the synthetic reviews for the sets it filters or relabels
        device, dtype = choose_device_dtype(language_model.device)
        teachers, teacher_scores = teach(
            store.read_table("sentiment_generator"),
            training,
            folds,
            synthetic,
            Path(language_model.work_dir) / "generative_scores",
            device,
            dtype,
            ScoringConfig(max_review_tokens=experiment.generative_max_review_tokens),
            progress=context.log.info,
            corpus=_fine_tuning_corpus(store),
        )
        for cell, why in teacher_scores.skipped.items():
            context.log.warning(f"data size {cell[1]}, repeat {cell[0]}: no generative teacher ({why})")
    sets = build_training_sets(
        training,
        folds,
        synthetic,
        reference,
        config.evaluation_config(experiment),
        progress=context.log.info,
        candidate_sizes=candidate_sizes(),
        generative_teacher=teachers,
    )
    members = sets.member_table()
    derived = {  # items made here: perturbed copies, and synthetic reviews under their teacher's label
        f"{source}_reviews": sets.items[sets.items["source"] == source][["item_id", "sentiment", "text"]]
        for source in ("perturbed", "relabelled")
    }
    # the reference decision, made once here and read by the scores (the headline's `reference_status`)
    reference_decision = pd.DataFrame(
        [
            {
                "reference_rows": reference_rows,
                "scored": reference is not None and len(reference) > 0,
                "why_not": (
                    "not scored: its leakage checks did not pass (" + "; ".join(reference_excluded) + ")"
                    if reference_excluded
                    else None
                    if reference is not None and len(reference)
                    else "no reference supplied (REFERENCE_SYNTHETIC_CSV unset)"
                ),
            }
        ]
    ).astype({"why_not": "string"})
    store.write_tables(
        {
            "training_set": members,
            "training_set_configs": sets.configs,
            "reference_decision": reference_decision,
            **derived,
        }
    )
    for warning in sets.warnings:
        context.log.warning(warning)
    summary = (
        sets.configs[sets.configs["repeat"] == 1]
        .groupby(["data_size", "phase", "training_data"], sort=False)
        .agg(sets=("training_set_id", "size"), rows=("n_rows", "sum"), max_synthetic=("n_synthetic", "max"))
        .reset_index()
    )
    return dg.MaterializeResult(
        metadata={
            **table_metadata("training_set", members),
            "training_sets": len(sets.configs),
            "sets_by_kind_repeat_1": dg.MetadataValue.md(summary.to_markdown(index=False)),
            "repeats": int(sets.configs["repeat"].max()),
            "capped_sets": int(sets.configs["capped"].astype(bool).sum()),
            "relabelled_synthetic_reviews": len(derived["relabelled_reviews"]),
            "generative_teacher_reviews_scored": int(teacher_scores.stats.scored),
            "generative_teacher_seconds": _rounded(teacher_scores.stats.seconds),
            "reference_scored": reference is not None and len(reference) > 0,
            "reference_excluded_because": dg.MetadataValue.md("\n".join(f"- {r}" for r in reference_excluded) or "n/a"),
            "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in sets.warnings) or "none"),
        }
    )


ITEM_SOURCES = {  # source -> (table, id column) holding the text of that kind of training-set item
    "genuine": ("training_reviews", "review_id"),
    "perturbed": ("perturbed_reviews", "item_id"),
    "relabelled": ("relabelled_reviews", "item_id"),
    "synthetic": ("synthetic_reviews", "synthetic_id"),
    "reference": ("reference_synthetic", "synthetic_id"),
}


def item_texts_sql(store: Warehouse) -> str:
    """A query of every training-set item's (source, item_id, sentiment, text), over the tables that hold them."""
    return " UNION ALL ".join(
        f"SELECT '{source}' AS source, {column} AS item_id, sentiment, text FROM {table}"
        for source, (table, column) in ITEM_SOURCES.items()
        if store.has_table(table)
    )


def training_set_items(store: Warehouse) -> pd.DataFrame:
    """The text of every item the stored training sets name, by (source, item_id)."""
    return store.read(
        f"WITH items AS (SELECT DISTINCT source, item_id FROM training_set) "
        f"SELECT i.source, i.item_id, t.sentiment, t.text FROM items i JOIN ({item_texts_sql(store)}) t "
        "USING (source, item_id)"
    )


def read_training_sets(store: Warehouse, seed: int) -> TrainingSets:
    if not store.has_table("training_set"):
        raise InputError("No training sets: materialize training_set first.")
    return TrainingSets.from_tables(
        store.read_table("training_set"),
        store.read_table("training_set_configs"),
        training_set_items(store),
        store.read_table("review_folds"),
        seed,
    )


class MetricsSettings(dg.Config):
    bootstrap: int = config_field(EvaluationConfig, "bootstrap")
    classifiers: list[str] = config_field(EvaluationConfig, "classifiers")
    embedding_max_tokens: int = config_field(EmbeddingConfig, "max_tokens")
    workers: int | None = config_field(EvaluationConfig, "workers")

    @pydantic.field_validator("classifiers")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        try:
            return list(check_classifiers(names))
        except InputError as error:  # pydantic reports a ValueError with the setting's name
            raise ValueError(str(error)) from None


def _fine_tuning_corpus(store: Warehouse) -> pd.DataFrame | None:
    """Which reviews each generator version was fine-tuned on: a pair never scores its own training reviews."""
    return (
        store.read("SELECT generator_version, review_id FROM fine_tuning_corpus")
        if store.has_table("fine_tuning_corpus")
        else None
    )


def generative_scores(
    store: Warehouse,
    sets: TrainingSets,
    holdouts: dict,
    language_model: LanguageModelResource,
    config: ScoringConfig,
    log,
) -> GenerativeScores:
    """Every validation fold's and holdout's margins under its data size's generator pair (cached per generator
    version under the work dir): the inputs of the generative classifier."""
    if not store.has_table("sentiment_generator"):
        return GenerativeScores()
    device, dtype = choose_device_dtype(language_model.device)
    scores = score_pairs(
        store.read_table("sentiment_generator"),
        evaluation_texts(sets, holdouts),
        Path(language_model.work_dir) / "generative_scores",
        device,
        dtype,
        config,
        progress=log,
        corpus=_fine_tuning_corpus(store),
    )
    return scores


def embedding_features(
    sets: TrainingSets, holdouts: dict, language_model: LanguageModelResource, config: EmbeddingConfig, log
) -> Embeddings:
    """The base model's vectors of every text the embedding classifier fits on or scores (cached per base model
    under the work dir): the inputs of the embedding classifier. The model is checked for hidden states first."""
    path, info = language_model.resolve()
    device, dtype = choose_device_dtype(language_model.device)
    return embed_texts(
        embedding_texts(sets, holdouts),
        info["base_model"],
        path,
        Path(language_model.work_dir) / "review_embeddings",
        device,
        dtype,
        config,
        progress=log,
    )


def _rounded(value: float) -> float:
    return for_people({"value": float(value)})["value"]


SCORE_DEPS = [
    "training_set",
    "review_folds",
    "training_reviews",
    "synthetic_reviews",
    "reference_synthetic",
    "holdout_reviews",
    "gold_holdout",
    "sentiment_generator",
]  # the generative classifier scores with the generators themselves


@dg.multi_asset(
    name="classifier_metrics",
    specs=[
        dg.AssetSpec(
            "classifier_metrics",
            # the training sets name their members by id; the texts come from the tables that hold them
            deps=SCORE_DEPS,
            group_name="evaluate",
            kinds={"duckdb", "scikitlearn"},
            description=(
                "TF-IDF + Naive Bayes and logistic regression, and the base model's mean-pooled hidden states + logistic "
                "regression (embedding), fit on the stored training sets, per repeat: tuned "
                "baselines (cross-validated over the size's pool) vs synthetic candidates (chosen on the validation "
                "fold) per data size, scored on the "
                "holdout(s) with bootstrap intervals and a paired gain (also classifier_metrics_curve: accuracy vs ratio)."
            ),
        ),
        dg.AssetSpec(
            "headline",
            deps=SCORE_DEPS,
            group_name="evaluate",
            kinds={"duckdb"},
            description=(
                "Per evaluation set, classifier and data size with generators: the mean gain over repeats of the "
                "selected candidate over the selected baseline, its two-level bootstrap interval (repeats and holdout "
                "reviews), the minimum detectable gain (the interval's half-width), the verdict and the worth. "
                "Also candidate_gains: the same gain for each candidate variant (lever) on its own."
            ),
        ),
        dg.AssetSpec(
            "learning_curve",
            deps=SCORE_DEPS,
            group_name="evaluate",
            kinds={"duckdb"},
            description=(
                "Holdout accuracy of the selected baseline (every size in DATA_SIZES and LEARNING_CURVE_SIZES) and of "
                "the selected candidate (sizes with generators) against genuine reviews per class, over repeats."
            ),
        ),
        dg.AssetSpec(
            "recommendation",
            deps=SCORE_DEPS,
            group_name="evaluate",
            kinds={"duckdb"},
            description=(
                "Per evaluation set and data size: the one classifier and training data the one-standard-error rule "
                "keeps (the declared default, left only for an option better by more than a paired standard error on "
                "labelled training reviews), with its holdout accuracy: what to deploy. Also "
                "strategy_comparison: its holdout accuracy beside each fixed strategy declared before the run, paired."
            ),
        ),
    ],
    pool="warehouse",
)
def classifier_metrics(
    context: dg.AssetExecutionContext,
    config: MetricsSettings,
    experiment: ExperimentResource,
    warehouse: WarehouseResource,
    language_model: LanguageModelResource,
):
    store = warehouse.get()
    holdouts = {"holdout": store.read_table("holdout_reviews")}
    if store.has_table("gold_holdout"):
        gold = store.read_table("gold_holdout")
        if len(gold):
            holdouts["gold"] = gold
    for name, frame in holdouts.items():
        if frame.empty:
            raise InputError(f"The {name} set is empty: nothing to score on. Materialize holdout_reviews first.")
    sets = read_training_sets(store, experiment.seed)
    draws = int(sets.configs["draw"].max()) + 1
    evaluation_config = dataclasses.replace(
        EvaluationConfig(),
        draws=draws,
        bootstrap=config.bootstrap,
        seed=experiment.seed,
        classifiers=tuple(config.classifiers),
        workers=config.workers,
    )
    log = lambda message: context.log.info(str(message))  # noqa: E731
    scoring = None
    if GENERATIVE in evaluation_config.classifiers:
        # the generative classifier reads what its teacher read (refused before any work when set otherwise)
        scoring = ScoringConfig(
            max_review_tokens=classifier_review_tokens(
                experiment.generative_max_review_tokens,
                teacher_review_tokens(sets.configs["teacher_hyperparameters"].dropna().unique()),
            )
        )
    embeddings = None
    if EMBEDDING in evaluation_config.classifiers:  # first: a base model without hidden states fails before other work
        embeddings = embedding_features(
            sets, holdouts, language_model, EmbeddingConfig(max_tokens=config.embedding_max_tokens), log
        )
    scores = None
    if scoring is not None:
        scores = generative_scores(
            store, sets, holdouts, language_model, scoring, lambda message: context.log.info(str(message))
        )
    decision = store.read_table("reference_decision") if store.has_table("reference_decision") else pd.DataFrame()
    reference_status = (
        None if decision.empty or pd.isna(decision["why_not"].iloc[0]) else str(decision["why_not"].iloc[0])
    )
    result = evaluate(
        sets,
        holdouts,
        evaluation_config,
        progress=log,
        generative=scores,
        embeddings=embeddings,
        reference_status=reference_status,
    )
    # One publish: the headline, the curve and the recommendation always describe the same fits.
    store.write_tables(
        {
            "classifier_metrics": result.metrics,
            "classifier_metrics_curve": result.curve,
            "headline": result.headline,
            "learning_curve": result.learning_curve,
            "recommendation": result.recommendation,
            "strategy_comparison": result.strategy_comparison,
            "candidate_gains": result.candidate_gains,
            "generative_scores": (scores or GenerativeScores()).table,
        }
    )
    for warning in result.warnings:
        context.log.warning(warning)
    first = result.metrics[
        (result.metrics["repeat"] == 1) & result.metrics["data_size"].isin(set(result.headline.get("data_size", [])))
    ]
    metadata: dict = {
        **table_metadata("classifier_metrics", result.metrics),
        "repeats": int(result.metrics["repeat"].max()),
        "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in result.warnings) or "none"),
        "accuracy_vs_ratio_repeat_1": png_markdown(
            accuracy_curve_png(result.curve[result.curve["repeat"] == 1], first),
            "accuracy vs synthetic ratio (repeat 1)",
        ),
        "confusion_matrices": images_markdown(
            [
                (
                    f"{classifier} on {eval_set}, {data_size} data",
                    confusion_png(matrices, f"{classifier} · {eval_set} · {data_size}"),
                )
                for (classifier, eval_set, data_size), matrices in sorted(result.confusion.items())
            ]
        ),
        "table": preview(
            result.metrics[
                [
                    "eval_set",
                    "repeat",
                    "data_size",
                    "classifier",
                    "variant",
                    "synthetic_per_genuine",
                    "accuracy",
                    "accuracy_ci_low",
                    "accuracy_ci_high",
                    "selected",
                    "baseline_selected",
                ]
            ],
            rows=len(result.metrics),
        ),
        "classifier_fits": int(result.extras.get("fits", 0)),
        "seconds": _rounded(result.seconds),
    }
    if embeddings is not None:
        stats = embeddings.stats
        metadata.update(
            {
                "embedding_base_model": embeddings.base_model,
                "embedding_dtype": embeddings.dtype,
                "embedding_max_tokens": embeddings.config.max_tokens,
                "embedding_texts": int(stats.texts),
                "embedding_texts_embedded": int(stats.embedded),
                "embedding_texts_reused": int(stats.texts - stats.embedded),
                "embedding_tokens": int(stats.tokens),
                "embedding_seconds": _rounded(stats.seconds),
                "embedding_texts_per_s": _rounded(stats.texts_per_s),
            }
        )
    if scores is not None:
        stats = scores.stats
        metadata.update(
            {
                "generative_max_review_tokens": scoring.max_review_tokens,
                "generative_reviews_scored": int(stats.scored),
                "generative_scores_reused": int(stats.texts - stats.scored),
                "generative_seconds": _rounded(stats.seconds),
                "generative_reviews_per_s": _rounded(stats.reviews_per_s),
            }
        )
    yield dg.MaterializeResult(asset_key="classifier_metrics", metadata=metadata)
    headline = result.headline
    shown = [
        "eval_set",
        "classifier",
        "data_size",
        "repeats",
        "baseline_variant",
        "baseline_accuracy",
        "selected_variant",
        "selected_accuracy",
        "gain_vs_baseline",
        "gain_ci_low",
        "gain_ci_high",
        "min_detectable_gain",
        "verdict",
        "best_baseline_classifier",
        "gain_vs_best_baseline",
        "verdict_vs_best_baseline",
        "worth",
    ]
    levers = result.candidate_gains
    lever_columns = [
        "eval_set",
        "classifier",
        "data_size",
        "variant",
        "accuracy",
        "baseline_accuracy",
        "gain_vs_baseline",
        "gain_ci_low",
        "gain_ci_high",
        "verdict",
        "teacher_accuracy",
        "student_minus_teacher",
        "verdict_vs_teacher",
    ]
    head_metadata: dict = {
        **table_metadata("headline", headline),
        "headline": dg.MetadataValue.md(
            headline[[c for c in shown if c in headline]].to_markdown(index=False, floatfmt=".4f")
        ),
        # each lever on its own (table candidate_gains, written with the headline)
        "candidate_gains": dg.MetadataValue.md(
            levers[lever_columns].to_markdown(index=False, floatfmt=".4f") if len(levers) else "none"
        ),
    }
    for row in headline.itertuples():
        head_metadata[f"gain_{row.eval_set}_{row.data_size}_{row.classifier}"] = _rounded(row.gain_vs_baseline)
        head_metadata[f"min_detectable_gain_{row.eval_set}_{row.data_size}_{row.classifier}"] = _rounded(
            row.min_detectable_gain
        )
    yield dg.MaterializeResult(asset_key="headline", metadata=head_metadata)
    yield dg.MaterializeResult(
        asset_key="learning_curve",
        metadata={
            **table_metadata("learning_curve", result.learning_curve),
            "learning_curve": images_markdown(
                [
                    (f"learning curve on {name}", learning_curve_png(result.learning_curve, headline, name))
                    for name in holdouts
                ]
            ),
            "table": preview(result.learning_curve, rows=len(result.learning_curve)),
        },
    )
    comparison = result.strategy_comparison
    yield dg.MaterializeResult(
        asset_key="recommendation",
        metadata={
            **table_metadata("recommendation", result.recommendation),
            "table": preview(result.recommendation, rows=len(result.recommendation)),
            # what trusting the recommendation costs: beside each fixed strategy (table strategy_comparison)
            "strategy_comparison": dg.MetadataValue.md(
                comparison[
                    [
                        "eval_set",
                        "data_size",
                        "strategy",
                        "strategy_accuracy",
                        "recommended_accuracy",
                        "recommended_minus_strategy",
                        "difference_ci_low",
                        "difference_ci_high",
                        "verdict",
                    ]
                ].to_markdown(index=False, floatfmt=".4f")
                if len(comparison)
                else "none"
            ),
        },
    )
