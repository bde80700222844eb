"""Evaluate: `training_set` (genuine + synthetic at each ratio) and `classifier_metrics` (the honest headline).

Thin wiring over augment_assets.lib.evaluation; every choice is made there on validation data.
"""


import dataclasses

import dagster as dg
import pandas as pd
from pydantic import Field

from augment_assets.defs.metadata import images_markdown, png_markdown, preview
from augment_assets.defs.resources import ExperimentResource, WarehouseResource, env_or
from augment_assets.lib.errors import InputError
from augment_assets.lib.evaluation import EvaluationConfig, build_training_set, evaluate
from augment_assets.lib.plots import accuracy_curve_png, confusion_png
from augment_assets.lib.reference import read_reference_synthetic


class EvaluationResource(dg.ConfigurableResource):
    """Comparison inputs: another generator's output (`REFERENCE_SYNTHETIC_CSV`)."""

    reference_synthetic_csv: str | None = None


def evaluation_resource() -> EvaluationResource:
    return EvaluationResource(reference_synthetic_csv=env_or("REFERENCE_SYNTHETIC_CSV"))


class EvaluationSettings(dg.Config):
    ratios: list[float] = Field(
        default_factory=lambda: list(EvaluationConfig().ratios),
        description="Synthetic reviews per genuine review to try (capped by what exists).",
    )
    draws: int = Field(default=EvaluationConfig().draws, ge=1, description="Repeats of every random variant.")
    bootstrap: int = Field(default=EvaluationConfig().bootstrap, ge=100)

    def evaluation_config(self, experiment: ExperimentResource) -> EvaluationConfig:
        return dataclasses.replace(
            EvaluationConfig(),
            ratios=tuple(self.ratios),
            draws=self.draws,
            bootstrap=self.bootstrap,
            seed=experiment.seed,
            validation_share=experiment.validation_share,
            low_data_per_class=experiment.low_data_per_class,
        )


def _synthetic(store) -> pd.DataFrame:
    if not store.has_table("synthetic_reviews"):
        return pd.DataFrame(columns=["synthetic_id", "sentiment", "temperature", "prompt", "text"])
    return store.read_table("synthetic_reviews")


@dg.asset(
    deps=["training_reviews", "synthetic_reviews"],
    group_name="evaluate",
    kinds={"duckdb"},
    pool="warehouse",
    description="Genuine training reviews plus synthetic reviews at each ratio and temperature selection, with provenance.",
)
def training_set(
    context: dg.AssetExecutionContext,
    config: EvaluationSettings,
    experiment: ExperimentResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    store = warehouse.get()
    table = build_training_set(
        store.read_table("training_reviews"), _synthetic(store), tuple(config.ratios), seed=experiment.seed
    )
    store.write_table("training_set", table)
    sizes = (
        table.groupby(["temperature_selection", "ratio"], dropna=False)
        .agg(rows=("text", "size"), synthetic=("source", lambda s: int((s == "synthetic").sum())))
        .reset_index()
    )
    capped = table.loc[table["capped"].astype(bool), ["temperature_selection", "ratio"]].drop_duplicates()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "configurations": dg.MetadataValue.md(sizes.to_markdown(index=False)),
            "capped_configurations": len(capped),
            "preview": preview(table),
        }
    )


@dg.asset(
    deps=["training_reviews", "holdout_reviews", "gold_holdout", "synthetic_reviews", "training_set"],
    group_name="evaluate",
    kinds={"duckdb", "scikitlearn"},
    pool="warehouse",
    description=(
        "TF-IDF + Naive Bayes and logistic regression: tuned baselines vs synthetic candidates, chosen on "
        "validation data, scored on the holdout(s) with bootstrap intervals and a paired headline gain."
    ),
)
def classifier_metrics(
    context: dg.AssetExecutionContext,
    config: EvaluationSettings,
    experiment: ExperimentResource,
    evaluation: EvaluationResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    store = warehouse.get()
    holdouts = {"holdout": store.read_table("holdout_reviews")}
    if store.has_table("gold_holdout"):
        gold = store.read_table("gold_holdout")
        if len(gold):
            holdouts["gold"] = gold
    for name, frame in holdouts.items():
        if frame.empty:
            raise InputError(f"The {name} set is empty: nothing to score on. Materialize holdout_reviews first.")
    reference = (
        read_reference_synthetic(evaluation.reference_synthetic_csv) if evaluation.reference_synthetic_csv else None
    )
    generators = store.read_table("sentiment_generator") if store.has_table("sentiment_generator") else pd.DataFrame()
    caps = generators["train_per_class_cap"].dropna().unique() if "train_per_class_cap" in generators else []
    result = evaluate(
        store.read_table("training_reviews"),
        _synthetic(store),
        holdouts,
        reference=reference,
        config=config.evaluation_config(experiment),
        generator_train_per_class=int(max(caps)) if len(caps) else None,
        progress=lambda message: context.log.info(str(message)),
    )
    store.write_tables({"classifier_metrics": result.metrics, "classifier_metrics_curve": result.curve})
    for warning in result.warnings:
        context.log.warning(warning)
    selected = result.metrics[result.metrics["selected"]]
    metadata: dict = {
        "dagster/row_count": len(result.metrics),
        "headline": dg.MetadataValue.md(result.headline.to_markdown(index=False, floatfmt=".4f")),
        "warnings": dg.MetadataValue.md("\n".join(f"- {w}" for w in result.warnings) or "none"),
        "accuracy_vs_ratio": png_markdown(accuracy_curve_png(result.curve, result.metrics), "accuracy vs synthetic ratio"),
        "confusion_matrices": images_markdown(
            [
                (f"{classifier} on {eval_set}, {data_size} data", confusion_png(matrices, f"{classifier} · {eval_set} · {data_size}"))
                for (classifier, eval_set, data_size), matrices in sorted(result.confusion.items())
            ]
        ),
        "table": preview(
            result.metrics[
                ["eval_set", "data_size", "classifier", "variant", "synthetic_per_genuine", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "selected", "baseline_selected"]
            ],
            rows=len(result.metrics),
        ),
    }
    for row in selected.itertuples():
        key = f"gain_{row.eval_set}_{row.data_size}_{row.classifier}"
        metadata[key] = float(row.gain_vs_baseline)
    return dg.MaterializeResult(metadata=metadata)
