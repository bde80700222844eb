"""The evaluation's output tables: their columns, their types, and the per-row records of `classifier_metrics`
and the validation curve."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .classify import bootstrap_interval, classification_scores, confusion
from .fitting import Grid
from .selection import ScoredRow
from .variants import CANDIDATES

METRIC_COLUMNS = [
    "eval_set",
    "repeat",
    "classifier",
    "variant",
    "data_size",
    "genuine_per_class",
    "synthetic_per_genuine",
    "temperature_selection",
    "hyperparameters",
    "n_train",
    "n_synthetic",
    "synthetic_capped",
    "draws",
    "accuracy",
    "accuracy_std",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "f1_macro",
    "validation_accuracy",
    "selected",
    "baseline_selected",
    "gain_vs_baseline",
    "gain_ci_low",
    "gain_ci_high",
    "teacher",
    "teacher_accuracy",
]


CURVE_COLUMNS = [
    "eval_set",
    "repeat",
    "classifier",
    "data_size",
    "variant",
    "temperature_selection",
    "ratio",
    "hyperparameters",
    "validation_accuracy",
    "validation_low",
    "validation_high",
    "accuracy",
    "accuracy_low",
    "accuracy_high",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "n_synthetic",
]


CHOICE = ("variant", "temperature_selection", "ratio", "hyperparameters", "validation_accuracy", "accuracy")


TEACHER = ("teacher", "teacher_accuracy")


# A taught student against its own teacher, paired over the same repeats and holdout reviews: a student that
# trails its teacher is no win (the teacher itself is the better classifier), and `loss` says so.
VS_TEACHER = (
    "student_minus_teacher",
    "student_minus_teacher_ci_low",
    "student_minus_teacher_ci_high",
    "verdict_vs_teacher",
)


HEADLINE_COLUMNS = [
    "eval_set",
    "classifier",
    "data_size",
    "genuine_per_class",
    "repeats",
    "genuine_accuracy",
    *(f"baseline_{k}" for k in CHOICE),
    *(f"selected_{k}" for k in CHOICE),
    *(f"selected_{k}" for k in TEACHER),
    "gain_vs_baseline",
    "gain_ci_low",
    "gain_ci_high",
    "min_detectable_gain",
    "verdict",
    "best_baseline_classifier",
    "best_baseline_variant",
    "best_baseline_validation_accuracy",
    "best_baseline_accuracy",
    "gain_vs_best_baseline",
    "gain_vs_best_baseline_ci_low",
    "gain_vs_best_baseline_ci_high",
    "verdict_vs_best_baseline",
    "best_baseline_beats_every_candidate",
    *VS_TEACHER,
    *(f"reference_{k}" for k in CHOICE),
    "reference_gain_vs_baseline",
    "reference_gain_ci_low",
    "reference_gain_ci_high",
    "reference_status",
    "selected_minus_reference",
    "selected_minus_reference_ci_low",
    "selected_minus_reference_ci_high",
    "worth_genuine_per_class",
    "worth_extra_per_class",
    "worth",
]


TEXT_COLUMNS = {
    "eval_set",
    "classifier",
    "data_size",
    "role",
    "variant",
    "verdict",
    "worth",
    "temperature_selection",
    "synthetic_per_genuine",
    "hyperparameters",
    "deploy_hyperparameters",
    "strategy",
    "chosen_by",
    "highest_scoring",
    "recommended_classifier",
    "recommended_variant",
    "best_baseline_classifier",
    "best_baseline_variant",
    "verdict_vs_best_baseline",
    "best_baseline_beats_every_candidate",
    "teacher",
    "selected_teacher",
    "reference_status",
    "ratio",
    "verdict_vs_teacher",
} | {
    f"{p}_{k}"
    for p in ("baseline", "selected", "reference")
    for k in ("variant", "temperature_selection", "ratio", "hyperparameters")
}


def typed_table(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """A table with these columns in this order, typed even when empty (an untyped empty column lands in
    DuckDB as INTEGER): text as string, counts as Int64, the rest float."""
    frame = pd.DataFrame(rows, columns=columns)
    types = {
        c: "string"
        if c in TEXT_COLUMNS
        else "Int64"
        if c
        in (
            "genuine_per_class",
            "repeats",
            "selected_by_validation",
            "deploy_repeat",
            "deploy_training_set_id",
            "configurations_compared",
            "validation_reviews",
            "compared_on_reviews",
        )
        else "float64"
        for c in columns
    }
    return frame.astype(types)


LEARNING_CURVE_COLUMNS = [
    "eval_set",
    "classifier",
    "data_size",
    "genuine_per_class",
    "pool_per_class",
    "role",
    "variant",
    "repeats",
    "validation_accuracy",
    "accuracy",
    "accuracy_ci_low",
    "accuracy_ci_high",
]


# Each lever on its own: per candidate variant, its best configuration on validation per repeat against the
# selected baseline, paired as the headline's gain is. The headline reports only the one candidate validation
# picks overall; this says which levers moved the gain and which did not.
CANDIDATE_GAIN_COLUMNS = [
    "eval_set",
    "classifier",
    "data_size",
    "genuine_per_class",
    "variant",
    "role",
    "repeats",
    "temperature_selection",
    "ratio",
    "hyperparameters",
    "teacher",
    "teacher_accuracy",
    "validation_accuracy",
    "accuracy",
    "baseline_accuracy",
    "gain_vs_baseline",
    "gain_ci_low",
    "gain_ci_high",
    "verdict",
    "selected_by_validation",
    *VS_TEACHER,
]


RECOMMENDATION_COLUMNS = [
    "eval_set",
    "data_size",
    "genuine_per_class",
    "classifier",
    "variant",
    "role",
    "repeats",
    "temperature_selection",
    "synthetic_per_genuine",
    "hyperparameters",
    "validation_accuracy",
    "accuracy",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "deploy_repeat",
    "deploy_training_set_id",
    "deploy_hyperparameters",
    "deploy_accuracy",
    "configurations_compared",
    "validation_reviews",
    "chosen_by",
    "highest_scoring",
    "highest_scoring_accuracy",
    "highest_minus_chosen",
    "highest_minus_chosen_se",
    "compared_on_reviews",
]


STRATEGY_COLUMNS = [
    "eval_set",
    "data_size",
    "genuine_per_class",
    "strategy",
    "classifier",
    "variant",
    "hyperparameters",
    "repeats",
    "strategy_accuracy",
    "recommended_classifier",
    "recommended_variant",
    "recommended_accuracy",
    "recommended_minus_strategy",
    "difference_ci_low",
    "difference_ci_high",
    "verdict",
]


def metric_record(r: ScoredRow, y, correct, idx, grid: Grid, context: dict, confidence: float) -> dict:
    preds = r.predictions[context["eval_set"]]
    scores = [classification_scores(y, p) for p in preds]
    accs = [s["accuracy"] for s in scores]
    low, high = bootstrap_interval(correct, idx, confidence)
    return {
        **context,
        "variant": r.variant.name,
        "synthetic_per_genuine": r.ratio,
        "temperature_selection": r.selection,
        "hyperparameters": grid.hyperparameters(r.gridpoint, r.option),
        "n_train": int(round(np.mean(r.n_train))),
        "n_synthetic": int(round(np.mean(r.n_synthetic))),
        "synthetic_capped": r.capped,
        "draws": len(preds),
        "accuracy": float(np.mean(accs)),
        "accuracy_std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
        "accuracy_ci_low": low,
        "accuracy_ci_high": high,
        **{k: float(np.mean([s[k] for s in scores])) for k in scores[0] if k != "accuracy"},
        "validation_accuracy": float(np.mean(r.validation)),
        "_accuracies": accs,
    }


def curve_records(rows: list[ScoredRow], records: dict[int, dict]) -> list[dict]:
    """Accuracy against ratio for every candidate (variant, selection); genuine_tuned is each curve's ratio-0 point."""
    curves = sorted(
        {(r.variant.name, r.selection) for r in rows if r.variant.role != "baseline"},
        key=lambda vs: (CANDIDATES.index(vs[0]), str(vs[1])),
    )
    out = []
    for r in rows:
        if r.variant.role == "baseline" and r.variant.name != "genuine_tuned":
            continue
        record = records[id(r)]
        for variant, selection in curves if r.variant.role == "baseline" else [(r.variant.name, r.selection)]:
            out.append(
                {
                    "eval_set": record["eval_set"],
                    "repeat": record["repeat"],
                    "classifier": record["classifier"],
                    "data_size": record["data_size"],
                    "variant": variant,
                    "temperature_selection": selection,
                    "ratio": r.ratio,
                    "hyperparameters": record["hyperparameters"],
                    "validation_accuracy": float(np.mean(r.validation)),
                    "validation_low": float(np.min(r.validation)),
                    "validation_high": float(np.max(r.validation)),
                    "accuracy": record["accuracy"],
                    "accuracy_low": float(np.min(record["_accuracies"])),
                    "accuracy_high": float(np.max(record["_accuracies"])),
                    "accuracy_ci_low": record["accuracy_ci_low"],
                    "accuracy_ci_high": record["accuracy_ci_high"],
                    "n_synthetic": record["n_synthetic"],
                }
            )
    return out


def mean_confusion(rows: list[ScoredRow | None], y, name: str):
    if not rows or any(r is None for r in rows):
        return None
    return np.mean([confusion(y, p) for r in rows for p in r.predictions[name]], axis=0).round(2).tolist()
