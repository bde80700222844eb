"""The honest evaluation: tuned baselines vs synthetic candidates, every choice made on validation.

It scores the training sets of `lib/training_sets.py` (the `training_set` table), per
data size and classifier, following scikit-learn's select-then-refit contract
(`GridSearchCV(refit=True)` with a `PredefinedSplit`):

1. **Select.** Each row of the table is a variant (lib/variants.py) at a ratio and
   temperature selection. Every configuration of it (hyperparameters, and the training
   data's option: duplicate k, perturbation share, filter threshold) is fit on its
   `select` sets (built on the `fit` fold) and scored on the data size's `validation`
   fold; random sets are repeated over draws and compared by their mean. Training rows
   only ever train, validation rows only ever score. The one baseline and the one
   candidate with the best validation accuracy become `baseline_selected` / `selected`.
2. **Refit.** Each row's chosen configuration is fit on its `refit` sets (the whole pool
   of that data size) and scores every holdout. A holdout takes part in no choice: its
   labels are read only after step 1 is finished.
3. **Intervals.** 95% percentile bootstrap over holdout reviews. With draws, a review's
   correctness is the share of draws that got it right, so the bootstrap mean is the
   draw-averaged accuracy reported in `accuracy`. The headline gain is paired: one
   matrix of resampled review indices, both the candidate's and the baseline's
   draw-averaged correctness on the same resample.

4. **Over repeats** (`_Summaries`). Steps 1-3 run per repeat (its own folds, generators
   and sets). The `headline` row per evaluation set x classifier x data size with
   generators is the mean over repeats of the per-repeat paired gain, with a two-level
   bootstrap interval (repeats and holdout reviews resampled together) and the
   **minimum detectable gain** = that interval's half-width. A gain whose interval
   crosses zero has the verdict "no gain".
5. **Learning curve and worth.** The selected baseline at every size (the learning
   curve's extra sizes fit baselines only) and the selected candidate at the sizes with
   generators, against genuine reviews per class; **worth** = the genuine reviews per
   class at which the baseline's curve (linearly interpolated) first reaches the
   candidate's accuracy, minus the candidate's own.
6. **Recommendation.** Per evaluation set and data size, the classifier and variant with
   the best mean validation accuracy over repeats, and its holdout accuracy.
7. **The generative classifier** (lib/generative.py), where its scores are given: per
   repeat and data size with generators, the `genuine` row (threshold 0) and the
   `genuine_tuned` row (threshold fit on the validation fold's margins), both baselines;
   its holdout predictions use the threshold validation chose. The headline's
   `best_baseline_*` columns compare each candidate with the best baseline of *any*
   classifier at its size (chosen by mean validation accuracy), so a baseline that beats
   every synthetic candidate shows there, with its paired interval. As a teacher (its
   labels of the synthetic reviews, lib/training_sets.py) it filters or relabels the
   candidates `genuine+synthetic_filtered_generative` and `genuine+synthetic_relabelled`;
   every taught row carries its teacher's own holdout accuracy (`teacher_accuracy`).
8. **Over-generate and select** (`genuine+synthetic_selected`): the top share of each synthetic
   partition by a teacher; teacher and share are options chosen on validation like a filter
   threshold (`_attach_teachers` reads the teacher from the option).
9. **The embedding classifier** (lib/embedding.py), where its vectors are given: the base
   model's mean-pooled hidden states + logistic regression, fit like a student on the sets of
   the kinds it is fit on (`TrainingData.embedded`: genuine-only baselines, and synthetic
   candidates), C chosen on validation; a headline row of its own, and a place among the best
   baselines. Per size, the headline says whether the best baseline of any classifier beats
   every classifier's selected candidate (`best_baseline_beats_every_candidate`).

Ties on validation accuracy keep the earlier entry (library defaults first, smaller
option / ratio first, variants in their declared order, classifiers in configured order).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .classifiers import best_index, tie_rounded
from .classify import (
    LABELS,
    bootstrap_indices,
    bootstrap_interval,
    classification_scores,
    confusion,
    encode_labels,
    paired_bootstrap_gain,
    repeat_indices,
    two_level_bootstrap,
)
from .embedding_fits import EmbeddingFits, Embeddings
from .errors import InputError
from .fitting import FitCache, Grid
from .generative_margins import GenerativeScores, choose_threshold, predict
from .training_sets import TrainingSets, validation_name
from .variants import (
    BASELINES,
    CANDIDATES,
    EMBEDDING,
    GENERATIVE,
    TRAINING_DATA,
    VARIANTS,
    EvaluationConfig,
    Variant,
    with_candidates,
)

__all__ = ["BASELINES", "CANDIDATES", "EvaluationConfig", "EvaluationResult", "evaluate"]

METRIC_COLUMNS = [
    "eval_set", "repeat", "classifier", "variant", "data_size", "genuine_per_class", "synthetic_per_genuine",
    "temperature_selection", "hyperparameters", "n_train", "n_synthetic", "synthetic_capped", "draws",
    "accuracy", "accuracy_std", "accuracy_ci_low", "accuracy_ci_high", "precision_weighted",
    "recall_weighted", "f1_weighted", "f1_macro", "validation_accuracy", "selected",
    "baseline_selected", "gain_vs_baseline", "gain_ci_low", "gain_ci_high", "teacher", "teacher_accuracy",
]
CURVE_COLUMNS = [
    "eval_set", "repeat", "classifier", "data_size", "variant", "temperature_selection", "ratio", "hyperparameters",
    "validation_accuracy", "validation_low", "validation_high", "accuracy", "accuracy_low", "accuracy_high",
    "accuracy_ci_low", "accuracy_ci_high", "n_synthetic",
]
_CHOICE = ("variant", "temperature_selection", "ratio", "hyperparameters", "validation_accuracy", "accuracy")
_TEACHER = ("teacher", "teacher_accuracy")
# A taught student against its own teacher, paired over the same repeats and holdout reviews: a student that
# trails its teacher is no win (the teacher itself is the better classifier), and `loss` says so.
_VS_TEACHER = ("student_minus_teacher", "student_minus_teacher_ci_low", "student_minus_teacher_ci_high", "verdict_vs_teacher")
HEADLINE_COLUMNS = [
    "eval_set", "classifier", "data_size", "genuine_per_class", "repeats", "genuine_accuracy",
    *(f"baseline_{k}" for k in _CHOICE), *(f"selected_{k}" for k in _CHOICE), *(f"selected_{k}" for k in _TEACHER),
    "gain_vs_baseline", "gain_ci_low", "gain_ci_high", "min_detectable_gain", "verdict",
    "best_baseline_classifier", "best_baseline_variant", "best_baseline_validation_accuracy", "best_baseline_accuracy",
    "gain_vs_best_baseline", "gain_vs_best_baseline_ci_low", "gain_vs_best_baseline_ci_high", "verdict_vs_best_baseline",
    "best_baseline_beats_every_candidate", *_VS_TEACHER,
    *(f"reference_{k}" for k in _CHOICE), "reference_gain_vs_baseline", "reference_gain_ci_low", "reference_gain_ci_high",
    "reference_status", "selected_minus_reference", "selected_minus_reference_ci_low", "selected_minus_reference_ci_high",
    "worth_genuine_per_class", "worth_extra_per_class", "worth",
]
_TEXT_COLUMNS = {"eval_set", "classifier", "data_size", "role", "variant", "verdict", "worth", "temperature_selection",
                 "synthetic_per_genuine", "hyperparameters", "best_baseline_classifier", "best_baseline_variant",
                 "verdict_vs_best_baseline", "best_baseline_beats_every_candidate", "teacher", "selected_teacher",
                 "reference_status", "ratio", "verdict_vs_teacher"} | {f"{p}_{k}" for p in ("baseline", "selected", "reference")
                                                                  for k in ("variant", "temperature_selection", "ratio", "hyperparameters")}


def _typed(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    """A table with these columns in this order, typed even when empty (an untyped empty column lands in
    DuckDB as INTEGER): text as string, counts as Int64, the rest float."""
    frame = pd.DataFrame(rows, columns=columns)
    types = {
        c: "string" if c in _TEXT_COLUMNS else "Int64" if c in ("genuine_per_class", "repeats", "selected_by_validation") else "float64"
        for c in columns
    }
    return frame.astype(types)


LEARNING_CURVE_COLUMNS = [
    "eval_set", "classifier", "data_size", "genuine_per_class", "pool_per_class", "role", "variant", "repeats",
    "validation_accuracy", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
]
# Each lever on its own: per candidate variant, its best configuration on validation per repeat against the
# selected baseline, paired as the headline's gain is. The headline reports only the one candidate validation
# picks overall; this says which levers moved the gain and which did not.
CANDIDATE_GAIN_COLUMNS = [
    "eval_set", "classifier", "data_size", "genuine_per_class", "variant", "role", "repeats", "temperature_selection",
    "ratio", "hyperparameters", "teacher", "teacher_accuracy", "validation_accuracy", "accuracy", "baseline_accuracy",
    "gain_vs_baseline", "gain_ci_low", "gain_ci_high", "verdict", "selected_by_validation",
    *_VS_TEACHER,
]
RECOMMENDATION_COLUMNS = [
    "eval_set", "data_size", "genuine_per_class", "classifier", "variant", "role", "repeats", "temperature_selection",
    "synthetic_per_genuine", "hyperparameters", "validation_accuracy", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
]


@dataclass
class EvaluationResult:
    metrics: pd.DataFrame  # the classifier_metrics table
    curve: pd.DataFrame  # validation and holdout accuracy per classifier, data size, variant, selection, ratio
    confusion: dict  # (classifier, eval_set, data_size) -> {"selected": 2x2, "baseline": 2x2}
    warnings: list[str]
    headline: pd.DataFrame  # one row per classifier x eval_set x data size with generators, over repeats
    learning_curve: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LEARNING_CURVE_COLUMNS))
    recommendation: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RECOMMENDATION_COLUMNS))
    candidate_gains: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CANDIDATE_GAIN_COLUMNS))
    seconds: float = 0.0
    extras: dict = field(default_factory=dict)


# ------------------------------------------------------------------ input checks


def _require_columns(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{name}: missing column(s) {missing}; expected at least {list(columns)}, got {list(frame.columns)}"
        )


def check_labelled(frame: pd.DataFrame | None, name: str, *, two_classes: bool) -> pd.DataFrame:
    """The frame, if it is a usable labelled set (negative/positive labels, non-empty texts)."""
    if frame is None or len(frame) == 0:
        raise InputError(f"{name} is empty: nothing to score or train on")
    _require_columns(frame, ("sentiment", "text"), name)
    bad = sorted(set(frame["sentiment"].dropna().astype(str)) - set(LABELS))
    if bad or frame["sentiment"].isna().any():
        raise InputError(f"{name}: sentiment must be 'negative' or 'positive'; found {bad or ['<null>']}")
    empty = frame["text"].isna() | (frame["text"].astype(str).str.strip() == "")
    if empty.any():
        raise InputError(f"{name}: {int(empty.sum())} null or empty texts; drop them first")
    if two_classes and frame["sentiment"].nunique() < 2:
        raise InputError(
            f"{name} has a single class ({frame['sentiment'].iloc[0]!r}, {len(frame)} rows): "
            "accuracy on it says nothing about a sentiment classifier"
        )
    return frame


# ------------------------------------------------------------------ select and refit


@dataclass
class _Row:
    """One row of the table: a variant at a ratio and selection, with its chosen configuration."""

    variant: Variant
    ratio: float
    selection: str | None
    option: dict
    gridpoint: tuple
    validation: list[float]  # per draw, at the chosen configuration
    n_train: list[int] = field(default_factory=list)
    n_synthetic: list[int] = field(default_factory=list)
    capped: bool = False
    predictions: dict = field(default_factory=dict)  # eval_set -> [per-draw predictions]
    teacher: _Row | None = None  # the classifier row that filtered or relabelled its synthetic reviews
    teacher_name: str | None = None  # that classifier (its `genuine_tuned` row)


def _fmt_selection(selection) -> str:
    return "reference" if selection is None else f"temperature {selection}"


class _Scorer:
    """Fits the stored training sets and scores them: select on validation, refit, predict holdouts."""

    def __init__(self, sets: TrainingSets, holdouts: dict[str, pd.DataFrame], config: EvaluationConfig, progress,
                 generative: GenerativeScores | None = None, embeddings: Embeddings | None = None):
        self.config = config
        self.generative = generative
        self.progress = progress
        self.holdouts = holdouts
        self.warnings: list[str] = list(sets.warnings)
        self.grid = Grid.from_config(config.vectorizer_grid, config.nb_alphas, config.lr_cs, config.embedding_cs)
        self.configs = sets.configs
        self.sets = sets
        self.members = sets.members
        self.cache = FitCache(self.grid.vec_options)
        self.item_rows = self.cache.register(sets.items["text"].astype(str).tolist())
        self.item_labels = encode_labels(sets.items["sentiment"])
        progress(f"tokenizing {len(self.cache.texts)} training-side texts")
        self.cache.freeze()
        self.val_labels = {}
        for cell, index in sets.validation.items():
            self.cache.add_eval(validation_name(cell), rows=self.item_rows[index])
            self.val_labels[cell] = self.item_labels[index]
        self.holdout_labels = {}
        for name, frame in holdouts.items():
            self.cache.add_eval(f"holdout:{name}", texts=frame["text"].astype(str).tolist())
            self.holdout_labels[name] = encode_labels(frame["sentiment"])
        # the embedding classifier: the same training sets and evaluation sets, the base model's vectors as features
        self.embedding_fits = None
        if embeddings is not None and EMBEDDING in config.classifiers:
            self.embedding_fits = EmbeddingFits(self.cache.texts, embeddings)
            for cell, index in sets.validation.items():
                self.embedding_fits.add_eval(validation_name(cell), rows=self.item_rows[index])
            for name, frame in holdouts.items():
                self.embedding_fits.add_eval(f"holdout:{name}", texts=frame["text"].astype(str).tolist())
        # ((repeat, data size), phase, training data, classifier, ratio, selection) -> {option: {draw: set id}}
        self.index: dict[tuple, dict[str, dict[int, int]]] = {}
        for row in self.configs.itertuples(index=False):
            key = ((int(row.repeat), row.data_size), row.phase, row.training_data, _none(row.classifier), float(row.ratio), _none(row.temperature_selection))
            self.index.setdefault(key, {}).setdefault(row.option, {})[int(row.draw)] = int(row.training_set_id)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            self.progress(f"warning: {message}")

    def fitter(self, clf: str):
        """What fits and predicts this classifier on a training set (`FitCache.predict`'s contract)."""
        return self.embedding_fits if clf == EMBEDDING else self.cache

    def fit_set(self, set_id: int):
        """(FitCache rows, labels, sample weights or None) of one stored training set."""
        members = self.members[set_id]
        return self.item_rows[members], self.item_labels[members], self.sets.weights_of(set_id)

    def rows_of(self, cell: tuple[int, str], variant: Variant, clf: str) -> list[tuple[float, str | None]]:
        """(ratio, selection) of every row this variant has at this (repeat, data size), in stored order."""
        kind = TRAINING_DATA[variant.data]
        seen = []
        for (c, phase, data, classifier, ratio, selection) in self.index:
            if c == cell and phase == "select" and data == kind.name and classifier == kind.teacher_of(clf):
                if (ratio, selection) not in seen:
                    seen.append((ratio, selection))
        return seen

    def run_row(self, cell, variant: Variant, clf: str, ratio: float, selection) -> _Row | None:
        kind = TRAINING_DATA[variant.data]
        classifier = kind.teacher_of(clf)
        draws = self.config.draws if kind.random else 1
        options = self.index.get((cell, "select", kind.name, classifier, ratio, selection), {})
        gridpoints = self.grid.gridpoints(clf, variant.tuned)
        val_name, val_labels = validation_name(cell), self.val_labels[cell]
        size = _cell_label(cell)
        best = None  # (mean validation accuracy, option, gridpoint, per-draw accuracies)
        for option, by_draw in options.items():
            if len(by_draw) < draws:
                continue  # some draw left no synthetic review (e.g. a high filter threshold)
            per_draw = []
            for draw in range(draws):
                rows, labels, weights = self.fit_set(by_draw[draw])
                preds = self.fitter(clf).predict(rows, labels, gridpoints, [val_name], weights=weights)
                per_draw.append([np.mean(preds[gp][val_name] == val_labels) for gp in gridpoints])
            accs = np.asarray(per_draw)
            i = best_index(accs.mean(axis=0))
            mean = tie_rounded(accs.mean(axis=0)[i])
            if best is None or mean > best[0]:
                best = (mean, option, gridpoints[i], accs[:, i].tolist())
        if best is None:
            self.warn(
                f"{size}, {clf}: {variant.name} at ratio {ratio:g} ({_fmt_selection(selection)}) skipped: "
                "no configuration left any synthetic review to add"
            )
            return None
        _, option, gridpoint, validation = best
        row = _Row(variant, ratio, selection, json.loads(option), gridpoint, validation)
        refit = self.index.get((cell, "refit", kind.name, classifier, ratio, selection), {}).get(option, {})
        holdout_names = [f"holdout:{n}" for n in self.holdouts]
        for draw in range(draws):
            if draw not in refit:
                self.warn(
                    f"{size}, {clf}: {variant.name} at ratio {ratio:g} chose {option} on validation, which leaves "
                    "no synthetic review on the data size's whole pool; row skipped"
                )
                return None
            config = self.configs.iloc[refit[draw]]
            rows, labels, weights = self.fit_set(refit[draw])
            preds = self.fitter(clf).predict(rows, labels, [gridpoint], holdout_names, weights=weights)[gridpoint]
            for name in self.holdouts:
                row.predictions.setdefault(name, []).append(preds[f"holdout:{name}"])
            row.n_train.append(len(rows))
            row.n_synthetic.append(int(config["n_synthetic"]))
            row.capped = row.capped or bool(config["capped"])
        return row

    def run(self) -> dict[tuple, list[_Row]]:
        """{(repeat, data size, genuine per class, classifier, pool per class): rows}."""
        results = {}
        self.candidate_cells = set()
        for (repeat, size), group in self.configs.groupby(["repeat", "data_size"], sort=False):
            cell = (int(repeat), size)
            if group["training_data"].map(lambda d: TRAINING_DATA[d].pool is not None).any():
                self.candidate_cells.add(cell)
            cap = group["genuine_per_class"].iloc[0]
            cap = None if pd.isna(cap) else int(cap)
            # genuine reviews per class this size trains on in the end (its whole pool; balanced)
            refit_genuine = group[(group["phase"] == "refit") & (group["training_data"] == "genuine")]
            pool_per_class = float(refit_genuine["n_genuine"].iloc[0]) / len(LABELS) if len(refit_genuine) else np.nan
            if cap is not None and (group["training_data"] == "reference").any():
                self.warn(
                    f"low data ({cap} genuine per class): genuine+reference reported, but the reference generator saw "
                    "more genuine reviews than this classifier (the study's GPT-2 saw 450): not a fair low-data comparison"
                )
            for clf in self.config.classifiers:
                if clf == GENERATIVE:  # fit on no training set: scored from its generators' margins
                    rows = self.generative_rows(cell, group)
                    if rows:
                        results[(cell[0], size, cap, clf, pool_per_class)] = rows
                    continue
                if clf == EMBEDDING and self.embedding_fits is None:
                    self.warn(f"{_cell_label(cell)}: embedding classifier not scored (no embeddings given)")
                    continue
                rows = []
                for variant in VARIANTS:
                    if clf == EMBEDDING and not TRAINING_DATA[variant.data].embedded:
                        continue
                    for ratio, selection in self.rows_of(cell, variant, clf):
                        row = self.run_row(cell, variant, clf, ratio, selection)
                        if row is not None:
                            rows.append(row)
                self.progress(f"{_cell_label(cell)}, {clf}: {len(rows)} rows selected and refit")
                results[(cell[0], size, cap, clf, pool_per_class)] = rows
        self.warn_capped()
        return results

    def generative_rows(self, cell, group: pd.DataFrame) -> list[_Row]:
        """The generative classifier's two baseline rows at a size with generators: threshold 0, and the
        threshold fit on the validation fold's margins; [] where it has no scores."""
        scores = self.generative
        if scores is None or (cell, "validation") not in scores.margins:
            if cell in self.candidate_cells:
                why = "no generator scores given" if scores is None else scores.skipped.get(cell, "no generator scores")
                self.warn(f"{_cell_label(cell)}: generative classifier not scored ({why})")
            return []
        margins, labels = scores.margins[(cell, "validation")], self.val_labels[cell]
        if len(margins) != len(labels):
            raise ValueError(f"{_cell_label(cell)}: {len(margins)} generative margins for {len(labels)} validation reviews")
        tuned, _ = choose_threshold(margins, labels)
        fit = group[(group["phase"] == "select") & (group["training_data"] == "genuine")]["n_genuine"]
        option = {"max_review_tokens": scores.config.max_review_tokens}
        rows = []
        for name, threshold in (("genuine", 0.0), ("genuine_tuned", tuned)):
            variant = next(v for v in VARIANTS if v.name == name)
            validation = [float(np.mean(predict(margins, threshold) == labels))]
            row = _Row(variant, 0.0, None, option, (None, GENERATIVE, threshold), validation)
            for holdout in self.holdouts:
                row.predictions[holdout] = [predict(scores.margins[(cell, f"holdout:{holdout}")], threshold)]
            # the generators learned from the fit fold only (they are not refit on the whole pool)
            row.n_train, row.n_synthetic = [int(fit.iloc[0]) if len(fit) else 0], [0]
            rows.append(row)
        self.progress(f"{_cell_label(cell)}, {GENERATIVE}: threshold {tuned:+.4f} fit on validation")
        return rows

    def warn_capped(self) -> None:
        capped = self.configs[self.configs["capped"].astype(bool) & (self.configs["draw"] == 0)]
        for (size, data, selection), events in capped.groupby(["data_size", "training_data", "temperature_selection"], dropna=False, sort=False):
            largest = events.loc[events["requested_synthetic"].idxmax()]
            ratios = ", ".join(f"{r:g}" for r in sorted(set(events["ratio"])))
            self.warn(
                f"{size} data, {data} ({_fmt_selection(_none(selection))}): ratio(s) {ratios} ask for more synthetic "
                f"reviews than exist; capped, balanced per sentiment (largest request: {largest['requested_synthetic']} at "
                f"ratio {largest['ratio']:g} on the {'whole pool' if largest['phase'] == 'refit' else 'fit fold'}, got "
                f"{largest['n_synthetic']}). Capped ratios can be identical training sets."
            )


def _cell_label(cell: tuple[int, str]) -> str:
    return f"{cell[1]} data" if cell[0] == 1 else f"{cell[1]} data (repeat {cell[0]})"


def _none(value):
    return None if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA else value


# ------------------------------------------------------------------ the tables


def _best(rows: list[_Row]) -> _Row | None:
    if not rows:
        return None
    return rows[best_index([np.mean(r.validation) for r in rows])]


def _choose(rows: list[_Row], select_reference: bool) -> tuple[_Row | None, _Row | None, _Row | None]:
    """(baseline, selected candidate, best reference row), each by validation accuracy only."""
    eligible = {"candidate", "reference"} if select_reference else {"candidate"}
    return (
        _best([r for r in rows if r.variant.role == "baseline"]),
        _best([r for r in rows if r.variant.role in eligible]),
        _best([r for r in rows if r.variant.role == "reference"]),
    )


def _metric_record(r: _Row, y, correct, idx, grid: Grid, context: dict, confidence: float) -> dict:
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


def _curve_records(rows: list[_Row], records: dict[int, dict]) -> list[dict]:
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
                    "eval_set": record["eval_set"], "repeat": record["repeat"], "classifier": record["classifier"], "data_size": record["data_size"],
                    "variant": variant, "temperature_selection": selection, "ratio": r.ratio,
                    "hyperparameters": record["hyperparameters"],
                    "validation_accuracy": float(np.mean(r.validation)),
                    "validation_low": float(np.min(r.validation)), "validation_high": float(np.max(r.validation)),
                    "accuracy": record["accuracy"],
                    "accuracy_low": float(np.min(record["_accuracies"])), "accuracy_high": float(np.max(record["_accuracies"])),
                    "accuracy_ci_low": record["accuracy_ci_low"], "accuracy_ci_high": record["accuracy_ci_high"],
                    "n_synthetic": record["n_synthetic"],
                }
            )
    return out


def _describe(values) -> str | None:
    """One value when every repeat chose the same, else each with its count ("a x2; b x1")."""
    values = [None if v is None else (f"{v:g}" if isinstance(v, float) else str(v)) for v in values]
    if not values or all(v is None for v in values):
        return None
    counts: dict = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    if len(counts) == 1:
        return values[0]
    return "; ".join(f"{v} x{n}" for v, n in counts.items())


def _verdict(low: float, high: float) -> str:
    """"gain" / "loss" only when the interval excludes zero; else "no gain"."""
    if np.isnan(low) or np.isnan(high):
        return "n/a"
    return "gain" if low > 0 else "loss" if high < 0 else "no gain"


@dataclass
class _Cell:
    """One data size x classifier of one repeat: its rows and its choices."""

    repeat: int
    pool_per_class: float
    rows: list[_Row]
    baseline: _Row | None
    selected: _Row | None
    reference: _Row | None


class _Summaries:
    """Over repeats: the headline, the learning curve, worth and the recommendation.

    Intervals are a two-level percentile bootstrap (`classify.two_level_bootstrap`):
    each resample draws repeats with replacement and holdout reviews with replacement
    (one draw of reviews shared by all repeats, the holdout being one sample), and
    averages over the drawn repeats. With one repeat it is the paired bootstrap over
    holdout reviews. The minimum detectable gain is that interval's half-width: a gain
    of this design must exceed it for its interval to exclude zero.
    """

    def __init__(self, cells: dict, correct: dict, boot, grid: Grid, config: EvaluationConfig, reference_status: str | None = None):
        self.cells, self.grid, self.config, self.boot = cells, grid, config, boot
        self.reference_status = reference_status  # why the reference has no rows, when it has none
        self.correct = correct  # (id(row), eval_set) -> per-review correctness, draw-averaged

    def interval(self, vectors: list[np.ndarray], name: str) -> tuple[float, float, float]:
        idx = self.boot[name]
        repeats = repeat_indices(len(vectors), idx.shape[0], self.config.seed)
        return two_level_bootstrap(vectors, idx, repeats, self.config.confidence)

    def accuracy(self, rows: list[_Row], name: str) -> tuple[float, float, float]:
        return self.interval([self.correct[(id(r), name)] for r in rows], name)

    def gain(self, rows: list[_Row], baselines: list[_Row], name: str) -> tuple[float, float, float]:
        return self.interval([self.correct[(id(r), name)] - self.correct[(id(b), name)] for r, b in zip(rows, baselines)], name)

    def _choice(self, prefix: str, rows: list[_Row]) -> dict:
        return {
            f"{prefix}_variant": _describe([r.variant.name for r in rows]),
            f"{prefix}_temperature_selection": _describe([r.selection for r in rows]),
            f"{prefix}_ratio": _describe([float(r.ratio) for r in rows]),
            f"{prefix}_hyperparameters": _describe([self.grid.hyperparameters(r.gridpoint, r.option) for r in rows]),
            f"{prefix}_validation_accuracy": float(np.mean([np.mean(r.validation) for r in rows])),
        }

    def headline(self, name: str, context: dict, entries: list[_Cell]) -> dict:
        baselines = [c.baseline for c in entries]
        genuine = [next((r for r in c.rows if r.variant.name == "genuine"), None) for c in entries]
        head = {**context, "repeats": len(entries)}
        head["genuine_accuracy"] = self.accuracy(genuine, name)[0] if all(genuine) else np.nan
        head.update(self._choice("baseline", baselines))
        head["baseline_accuracy"] = self.accuracy(baselines, name)[0]
        for prefix in ("selected", "reference"):
            picks = [getattr(c, prefix) for c in entries]
            gain_key = "" if prefix == "selected" else "reference_"
            if any(p is None for p in picks):
                head.update({f"{prefix}_{k}": None for k in ("variant", "temperature_selection", "ratio", "hyperparameters")})
                head.update({f"{prefix}_validation_accuracy": np.nan, f"{prefix}_accuracy": np.nan})
                gain = (np.nan, np.nan, np.nan)
            else:
                head.update(self._choice(prefix, picks))
                head[f"{prefix}_accuracy"] = self.accuracy(picks, name)[0]
                gain = self.gain(picks, baselines, name)
            head.update({f"{gain_key}gain_vs_baseline": gain[0], f"{gain_key}gain_ci_low": gain[1], f"{gain_key}gain_ci_high": gain[2]})
            if prefix == "selected":
                head["min_detectable_gain"] = (gain[2] - gain[1]) / 2
                head["verdict"] = _verdict(gain[1], gain[2])
        teachers = [c.selected.teacher if c.selected is not None else None for c in entries]
        taught = all(t is not None for t in teachers)
        head["selected_teacher"] = _describe([c.selected.teacher_name for c in entries]) if taught else None
        head["selected_teacher_accuracy"] = self.accuracy(teachers, name)[0] if taught else np.nan
        head.update(self._against_teacher(name, [c.selected for c in entries]))
        head.update(self._against_reference(name, entries))
        head.update(self._against_best_baseline(name, context, entries))
        return head

    def candidate_gains(self, name: str, context: dict, entries: list[_Cell]) -> list[dict]:
        """Per candidate (and reference) variant present at every repeat: its own validation pick per repeat
        against that repeat's selected baseline, over repeats and holdout reviews."""
        out = []
        baselines = [c.baseline for c in entries]
        if any(b is None for b in baselines):
            return out
        for variant in VARIANTS:
            if variant.role == "baseline":
                continue
            picks = [_best([r for r in c.rows if r.variant.name == variant.name]) for c in entries]
            if any(p is None for p in picks):
                continue
            gain, low, high = self.gain(picks, baselines, name)
            choice = self._choice("x", picks)
            taught = all(p.teacher is not None for p in picks)
            out.append({
                **context, "variant": variant.name, "role": variant.role, "repeats": len(entries),
                "temperature_selection": choice["x_temperature_selection"], "ratio": choice["x_ratio"],
                "hyperparameters": choice["x_hyperparameters"], "validation_accuracy": choice["x_validation_accuracy"],
                "teacher": _describe([p.teacher_name for p in picks]) if taught else None,
                "teacher_accuracy": self.accuracy([p.teacher for p in picks], name)[0] if taught else np.nan,
                "accuracy": self.accuracy(picks, name)[0], "baseline_accuracy": self.accuracy(baselines, name)[0],
                "gain_vs_baseline": gain, "gain_ci_low": low, "gain_ci_high": high, "verdict": _verdict(low, high),
                "selected_by_validation": sum(c.selected is p for c, p in zip(entries, picks)),
                **self._against_teacher(name, picks),
            })
        return out

    def _against_teacher(self, name: str, picks: list) -> dict:
        """A taught pick (one teacher row per repeat) minus its teacher, paired; n/a where a repeat has no pick
        or its teacher is a pair (no one row to compare with)."""
        if not picks or any(p is None or p.teacher is None for p in picks):
            return dict(zip(_VS_TEACHER, (np.nan, np.nan, np.nan, "n/a")))
        gain, low, high = self.gain(picks, [p.teacher for p in picks], name)
        return dict(zip(_VS_TEACHER, (gain, low, high, _verdict(low, high))))

    def _against_reference(self, name: str, entries: list[_Cell]) -> dict:
        """Our selected candidate next to the reference's best configuration (each chosen on validation), paired
        over the same holdout reviews and repeats; where the reference is not scored, why not."""
        out = {"selected_minus_reference": np.nan, "selected_minus_reference_ci_low": np.nan,
               "selected_minus_reference_ci_high": np.nan}
        picks, references = [c.selected for c in entries], [c.reference for c in entries]
        if all(r is not None for r in references):
            out["reference_status"] = "scored"
            if all(p is not None for p in picks):
                gain, low, high = self.gain(picks, references, name)
                out.update(selected_minus_reference=gain, selected_minus_reference_ci_low=low,
                           selected_minus_reference_ci_high=high)
        elif any(r is not None for r in references):
            out["reference_status"] = "not at every repeat"
        else:
            out["reference_status"] = self.reference_status or "not scored for this classifier"
        return out

    def best_baseline(self, data_size: str, cap, repeats: list[int]) -> tuple[str, list[_Row]] | None:
        """(classifier, its selected baseline per repeat) with the best mean validation accuracy over these
        repeats among every classifier's selected baselines at this size (ties: classifiers in configured order)."""
        best = None
        for clf in self.config.classifiers:
            by_repeat = {c.repeat: c.baseline for c in self.cells.get((data_size, cap, clf), [])}
            picks = [by_repeat.get(r) for r in repeats]
            if any(p is None for p in picks):
                continue  # not at every repeat of this row: not comparable
            score = tie_rounded(np.mean([np.mean(p.validation) for p in picks]))
            if best is None or score > best[0]:
                best = (score, clf, picks)
        return None if best is None else (best[1], best[2])

    def _against_best_baseline(self, name: str, context: dict, entries: list[_Cell]) -> dict:
        """The selected candidate against the best baseline of any classifier, paired over the same reviews."""
        best = self.best_baseline(context["data_size"], context["genuine_per_class"], [c.repeat for c in entries])
        picks = [c.selected for c in entries]
        out = {"best_baseline_classifier": None, "best_baseline_variant": None, "best_baseline_validation_accuracy": np.nan,
               "best_baseline_accuracy": np.nan, "gain_vs_best_baseline": np.nan, "gain_vs_best_baseline_ci_low": np.nan,
               "gain_vs_best_baseline_ci_high": np.nan, "verdict_vs_best_baseline": "n/a"}
        if best is None:
            return out
        clf, baselines = best
        out.update(
            best_baseline_classifier=clf,
            best_baseline_variant=_describe([b.variant.name for b in baselines]),
            best_baseline_validation_accuracy=float(np.mean([np.mean(b.validation) for b in baselines])),
            best_baseline_accuracy=self.accuracy(baselines, name)[0],
        )
        if all(p is not None for p in picks):
            gain, low, high = self.gain(picks, baselines, name)
            out.update(gain_vs_best_baseline=gain, gain_vs_best_baseline_ci_low=low, gain_vs_best_baseline_ci_high=high,
                       verdict_vs_best_baseline=_verdict(low, high))
        return out

    def learning_curve(self, name: str, clf: str) -> list[dict]:
        """Holdout accuracy of the selected baseline (every size) and the selected candidate (sizes with
        generators) against genuine reviews per class, averaged over repeats."""
        out = []
        for (data_size, cap, classifier), entries in self.cells.items():
            if classifier != clf:
                continue
            for role, attribute in (("baseline", "baseline"), ("candidate", "selected")):
                picks = [getattr(c, attribute) for c in entries]
                if any(p is None for p in picks):
                    continue
                accuracy, low, high = self.accuracy(picks, name)
                out.append(
                    {
                        "eval_set": name, "classifier": clf, "data_size": data_size, "genuine_per_class": cap,
                        "pool_per_class": float(np.mean([c.pool_per_class for c in entries])), "role": role,
                        "variant": _describe([p.variant.name for p in picks]), "repeats": len(entries),
                        "validation_accuracy": float(np.mean([np.mean(p.validation) for p in picks])),
                        "accuracy": accuracy, "accuracy_ci_low": low, "accuracy_ci_high": high,
                    }
                )
        return out

    def recommendation(self, name: str, data_size: str, cap) -> dict | None:
        """The one classifier and training data validation picks at this data size (mean over repeats)."""
        eligible = {"baseline", "candidate", "reference"} if self.config.select_reference else {"baseline", "candidate"}
        best = None
        for clf in self.config.classifiers:
            entries = self.cells.get((data_size, cap, clf))
            if not entries:
                continue
            for variant in VARIANTS:
                if variant.role not in eligible:
                    continue
                picks = [_best([r for r in c.rows if r.variant.name == variant.name]) for c in entries]
                if any(p is None for p in picks):
                    continue
                score = tie_rounded(np.mean([np.mean(p.validation) for p in picks]))
                if best is None or score > best[0]:
                    best = (score, clf, variant, picks, entries)
        if best is None:
            return None
        score, clf, variant, picks, entries = best
        accuracy, low, high = self.accuracy(picks, name)
        return {
            "eval_set": name, "data_size": data_size, "genuine_per_class": cap, "classifier": clf,
            "variant": variant.name, "role": variant.role, "repeats": len(entries),
            "temperature_selection": _describe([p.selection for p in picks]),
            "synthetic_per_genuine": _describe([float(p.ratio) for p in picks]),
            "hyperparameters": _describe([self.grid.hyperparameters(p.gridpoint, p.option) for p in picks]),
            "validation_accuracy": score, "accuracy": accuracy, "accuracy_ci_low": low, "accuracy_ci_high": high,
        }


def worth(curve: pd.DataFrame, target: float) -> tuple[float, str]:
    """(genuine reviews per class the baseline needs to reach `target`, how it was found).

    Linear interpolation of the baseline's learning curve (`pool_per_class` against
    accuracy), taking the first size at which it reaches the target. ("at most", n)
    when its smallest size already does; (nan, "more than all") when no size does.
    """
    points = curve.sort_values("pool_per_class")[["pool_per_class", "accuracy"]].to_numpy(dtype=float)
    if not len(points) or np.isnan(target):
        return np.nan, "n/a"
    if points[0, 1] >= target:
        return float(points[0, 0]), "at most"
    for (n0, a0), (n1, a1) in zip(points, points[1:]):
        if a1 >= target:
            return float(n0 + (target - a0) / (a1 - a0) * (n1 - n0)), "interpolated"
    return np.nan, "more than all"


def _worth_columns(head: dict, curve: pd.DataFrame) -> dict:
    baseline = curve[(curve["eval_set"] == head["eval_set"]) & (curve["classifier"] == head["classifier"]) & (curve["role"] == "baseline")]
    own = curve[(curve["eval_set"] == head["eval_set"]) & (curve["classifier"] == head["classifier"]) & (curve["data_size"] == head["data_size"])]
    if np.isnan(head.get("selected_accuracy", np.nan)) or own.empty:
        return {"worth_genuine_per_class": np.nan, "worth_extra_per_class": np.nan, "worth": "n/a"}
    have = float(own["pool_per_class"].iloc[0])
    needed, how = worth(baseline, float(head["selected_accuracy"]))
    if how == "more than all":
        text = f"more than all: no size of the baseline (up to {baseline['pool_per_class'].max():.0f} per class) reaches it"
        return {"worth_genuine_per_class": np.nan, "worth_extra_per_class": np.nan, "worth": text}
    extra = needed - have
    text = (
        f"{'at most ' if how == 'at most' else ''}{extra:+.0f} labelled reviews per class "
        f"(the baseline needs {needed:.0f} per class to match; this size has {have:.0f})"
    )
    if head["verdict"] == "no gain":
        text = f"no gain (interval crosses zero); point estimate {text}"
    elif head["verdict"] == "loss":
        text = f"loss; point estimate {text}"
    return {"worth_genuine_per_class": needed, "worth_extra_per_class": extra, "worth": text}


def _attach_teachers(results: dict) -> None:
    """Give each row whose synthetic reviews a teacher filtered or relabelled that teacher's row: the student's own
    `genuine_tuned` row (the tuned classifier fit on the same genuine rows), or the generative classifier's."""
    tuned = {(key[0], key[1], key[3]): r for key, rows in results.items() for r in rows if r.variant.name == "genuine_tuned"}
    for (repeat, data_size, _, clf, _), rows in results.items():
        for r in rows:
            # a selected candidate's teacher is in its option (a pair of teachers has no one row)
            teacher = r.option.get("teacher") or TRAINING_DATA[r.variant.data].teacher_of(clf)
            r.teacher = tuned.get((repeat, data_size, teacher)) if teacher is not None else None
            r.teacher_name = teacher if r.teacher is not None else None


def _mark_baselines_that_beat_every_candidate(rows: list[dict]) -> None:
    """Per evaluation set and data size, whether the best baseline of any classifier (chosen on validation) beats
    the selected synthetic candidate of *every* classifier there: `yes, shown` when each paired interval against
    it lies below 0, `yes, point estimate only` when each gain is below 0 but some interval reaches 0, `no`
    when some candidate is at least as good, `n/a` when no candidate could be compared."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["eval_set"], row["data_size"]), []).append(row)
    for group in groups.values():
        compared = [r for r in group if not np.isnan(r["gain_vs_best_baseline"])]  # a classifier without a candidate has none to beat
        if not compared:
            answer = "n/a"
        elif all(r["gain_vs_best_baseline"] < 0 for r in compared):
            answer = "yes, shown" if all(r["verdict_vs_best_baseline"] == "loss" for r in compared) else "yes, point estimate only"
        else:
            answer = "no"
        for row in group:
            row["best_baseline_beats_every_candidate"] = answer


def _mean_confusion(rows: list[_Row | None], y, name: str):
    if not rows or any(r is None for r in rows):
        return None
    return np.mean([confusion(y, p) for r in rows for p in r.predictions[name]], axis=0).round(2).tolist()


def _tables(results, holdouts, holdout_labels, grid: Grid, config: EvaluationConfig, warn, candidate_cells,
            reference_status: str | None = None) -> EvaluationResult:
    metric_rows, curve_rows, headline_rows, gain_rows, confusions = [], [], [], [], {}
    boot = {name: bootstrap_indices(len(frame), config.bootstrap, config.seed) for name, frame in holdouts.items()}
    cells: dict[tuple, list[_Cell]] = {}
    all_correct: dict[tuple, np.ndarray] = {}  # (id(row), eval_set) -> per-review correctness, computed once
    _attach_teachers(results)
    for (repeat, data_size, cap, clf, pool_per_class), rows in results.items():
        baseline, selected, reference = _choose(rows, config.select_reference)
        if selected is None and (repeat, data_size) in candidate_cells and clf in with_candidates(config.classifiers):
            warn(f"{_cell_label((repeat, data_size))}, {clf}: no candidate to select; no headline gain")
        cells.setdefault((data_size, cap, clf), []).append(_Cell(repeat, pool_per_class, rows, baseline, selected, reference))
        for name in holdouts:
            y, idx = holdout_labels[name], boot[name]
            context = {"eval_set": name, "repeat": repeat, "classifier": clf, "data_size": data_size, "genuine_per_class": cap}
            correct = {id(r): (np.asarray(r.predictions[name]) == y).mean(axis=0) for r in rows}
            all_correct.update({(key, name): value for key, value in correct.items()})
            records = {}
            for r in rows:
                record = _metric_record(r, y, correct[id(r)], idx, grid, context, config.confidence)
                record.update(selected=r is selected, baseline_selected=r is baseline,
                              gain_vs_baseline=np.nan, gain_ci_low=np.nan, gain_ci_high=np.nan,
                              teacher=r.teacher_name, teacher_accuracy=np.nan)
                if r.teacher is not None:  # beside the student's: a student that trails its teacher is no win
                    record["teacher_accuracy"] = float(np.mean((np.asarray(r.teacher.predictions[name]) == y).mean(axis=1)))
                if r is selected:
                    gain = paired_bootstrap_gain(correct[id(r)], correct[id(baseline)], idx, config.confidence)
                    record.update(gain_vs_baseline=gain[0], gain_ci_low=gain[1], gain_ci_high=gain[2])
                records[id(r)] = record
            metric_rows.extend(records.values())
            curve_rows.extend(_curve_records(rows, records))
    summaries = _Summaries(cells, all_correct, boot, grid, config, reference_status)
    learning_rows, recommendation_rows = [], []
    for name in holdouts:
        for clf in config.classifiers:
            learning_rows.extend(summaries.learning_curve(name, clf))
        for data_size, cap in dict.fromkeys((k[0], k[1]) for k in cells):
            recommendation = summaries.recommendation(name, data_size, cap)
            if recommendation is not None:
                recommendation_rows.append(recommendation)
    learning_curve = _typed(learning_rows, LEARNING_CURVE_COLUMNS)
    for (data_size, cap, clf), entries in cells.items():
        if not any((c.repeat, data_size) in candidate_cells for c in entries) or clf not in with_candidates(config.classifiers):
            continue  # a learning-curve size (baselines only), or a classifier without candidates: no headline
        for name in holdouts:
            context = {"eval_set": name, "classifier": clf, "data_size": data_size, "genuine_per_class": cap}
            head = summaries.headline(name, context, entries)
            head.update(_worth_columns(head, learning_curve))
            headline_rows.append(head)
            gain_rows.extend(summaries.candidate_gains(name, context, entries))
            confusions[(clf, name, data_size)] = {
                "selected": _mean_confusion([c.selected for c in entries], holdout_labels[name], name),
                "baseline": _mean_confusion([c.baseline for c in entries], holdout_labels[name], name),
            }
    _mark_baselines_that_beat_every_candidate(headline_rows)
    metrics = pd.DataFrame(metric_rows).drop(columns="_accuracies")
    metrics = metrics[METRIC_COLUMNS + [col for col in metrics.columns if col not in METRIC_COLUMNS]]
    metrics["genuine_per_class"] = metrics["genuine_per_class"].astype("Int64")
    headline = _typed(headline_rows, HEADLINE_COLUMNS)
    learning_curve = _typed(learning_rows, LEARNING_CURVE_COLUMNS)
    recommendation = _typed(recommendation_rows, RECOMMENDATION_COLUMNS)
    return EvaluationResult(
        metrics=metrics,
        curve=pd.DataFrame(curve_rows, columns=CURVE_COLUMNS).astype({"temperature_selection": "string"}),
        confusion=confusions,
        warnings=[],
        headline=headline,
        learning_curve=learning_curve,
        recommendation=recommendation,
        candidate_gains=_typed(gain_rows, CANDIDATE_GAIN_COLUMNS),
    )


def evaluate(
    sets: TrainingSets,
    holdouts: dict[str, pd.DataFrame],
    config: EvaluationConfig = EvaluationConfig(),
    progress: Callable[[str], None] | None = None,
    generative: GenerativeScores | None = None,
    embeddings: Embeddings | None = None,
    reference_status: str | None = None,
) -> EvaluationResult:
    """The classifier_metrics table, the curve, confusion matrices and the headline (see module docstring).

    `reference_status`: why the training sets hold no reference (e.g. its leakage checks failed), for the
    headline's `reference_status` where it has no reference rows.

    `generative`: the generators' margins of every validation fold and holdout (lib/generative.py
    `score_pairs`), for the `generative` classifier; `embeddings`: the base model's vectors of every text the
    embedding classifier fits or scores (lib/embedding.py `embed_texts` of `embedding_texts`), for `embedding`.
    Without them a classifier is left out, with a warning.
    """
    if not holdouts:
        raise InputError("no holdout given: evaluate needs at least one labelled holdout (e.g. {'holdout': frame})")
    for name, frame in holdouts.items():
        check_labelled(frame, f"holdout {name!r}", two_classes=True)
    if config.draws < 1 or config.bootstrap < 1:
        raise InputError(f"draws and bootstrap must be >= 1, got {config.draws} and {config.bootstrap}")
    if sets.configs.empty:
        raise InputError("training_set holds no training sets: materialize training_set first")
    progress = progress or (lambda message: None)
    started = time.perf_counter()
    # Thousands of small fits: BLAS threads only add contention (measured 25x slower
    # L-BFGS on a busy 2-core machine with OpenBLAS threading on).
    with threadpool_limits(limits=1):
        scorer = _Scorer(sets, holdouts, config, progress, generative, embeddings)
        results = scorer.run()
        result = _tables(results, holdouts, scorer.holdout_labels, scorer.grid, config, scorer.warn, scorer.candidate_cells,
                         reference_status)
    result.warnings = list(scorer.warnings)
    result.seconds = time.perf_counter() - started
    result.extras["fits"] = scorer.cache.fits + (scorer.embedding_fits.fits if scorer.embedding_fits else 0)
    progress(f"evaluation done in {result.seconds:.1f} s ({scorer.cache.fits} classifier fits)")
    return result
