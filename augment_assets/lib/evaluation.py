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

Ties on validation accuracy keep the earlier entry (library defaults first, smaller
option / ratio first, variants in their declared order).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from .classify import (
    LABELS,
    bootstrap_indices,
    bootstrap_interval,
    classification_scores,
    confusion,
    encode_labels,
    paired_bootstrap_gain,
)
from .errors import InputError
from .fitting import FitCache, Grid
from .training_sets import TrainingSets
from .variants import BASELINES, CANDIDATES, TRAINING_DATA, VARIANTS, EvaluationConfig, Variant

__all__ = ["BASELINES", "CANDIDATES", "EvaluationConfig", "EvaluationResult", "evaluate"]

METRIC_COLUMNS = [
    "eval_set", "classifier", "variant", "data_size", "genuine_per_class", "synthetic_per_genuine",
    "temperature_selection", "hyperparameters", "n_train", "n_synthetic", "synthetic_capped", "draws",
    "accuracy", "accuracy_std", "accuracy_ci_low", "accuracy_ci_high", "precision_weighted",
    "recall_weighted", "f1_weighted", "f1_macro", "validation_accuracy", "selected",
    "baseline_selected", "gain_vs_baseline", "gain_ci_low", "gain_ci_high",
]
CURVE_COLUMNS = [
    "eval_set", "classifier", "data_size", "variant", "temperature_selection", "ratio", "hyperparameters",
    "validation_accuracy", "validation_low", "validation_high", "accuracy", "accuracy_low", "accuracy_high",
    "accuracy_ci_low", "accuracy_ci_high", "n_synthetic",
]


@dataclass
class EvaluationResult:
    metrics: pd.DataFrame  # the classifier_metrics table
    curve: pd.DataFrame  # validation and holdout accuracy per classifier, data size, variant, selection, ratio
    confusion: dict  # (classifier, eval_set, data_size) -> {"selected": 2x2, "baseline": 2x2}
    warnings: list[str]
    headline: pd.DataFrame  # one row per classifier x eval_set x data_size
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


def _fmt_selection(selection) -> str:
    return "reference" if selection is None else f"temperature {selection}"


class _Scorer:
    """Fits the stored training sets and scores them: select on validation, refit, predict holdouts."""

    def __init__(self, sets: TrainingSets, holdouts: dict[str, pd.DataFrame], config: EvaluationConfig, progress):
        self.config = config
        self.progress = progress
        self.holdouts = holdouts
        self.warnings: list[str] = list(sets.warnings)
        self.grid = Grid.from_config(config.vectorizer_grid, config.nb_alphas, config.lr_cs)
        self.configs = sets.configs
        self.members = sets.members
        self.cache = FitCache(self.grid.vec_options)
        self.item_rows = self.cache.register(sets.items["text"].astype(str).tolist())
        self.item_labels = encode_labels(sets.items["sentiment"])
        progress(f"tokenizing {len(self.cache.texts)} training-side texts")
        self.cache.freeze()
        self.val_labels = {}
        for size, index in sets.validation.items():
            self.cache.add_eval(f"validation:{size}", rows=self.item_rows[index])
            self.val_labels[size] = self.item_labels[index]
        self.holdout_labels = {}
        for name, frame in holdouts.items():
            self.cache.add_eval(f"holdout:{name}", texts=frame["text"].astype(str).tolist())
            self.holdout_labels[name] = encode_labels(frame["sentiment"])
        # (data size, phase, training data, classifier, ratio, selection) -> {option: {draw: set id}}
        self.index: dict[tuple, dict[str, dict[int, int]]] = {}
        for row in self.configs.itertuples(index=False):
            key = (row.data_size, row.phase, row.training_data, _none(row.classifier), float(row.ratio), _none(row.temperature_selection))
            self.index.setdefault(key, {}).setdefault(row.option, {})[int(row.draw)] = int(row.training_set_id)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            self.progress(f"warning: {message}")

    def fit_set(self, set_id: int):
        members = self.members[set_id]
        return self.item_rows[members], self.item_labels[members]

    def rows_of(self, size: str, variant: Variant, clf: str) -> list[tuple[float, str | None]]:
        """(ratio, selection) of every row this variant has at this data size, in stored order."""
        kind = TRAINING_DATA[variant.data]
        seen = []
        for (s, phase, data, classifier, ratio, selection) in self.index:
            if s == size and phase == "select" and data == kind.name and classifier in (None, clf):
                if (ratio, selection) not in seen:
                    seen.append((ratio, selection))
        return seen

    def run_row(self, size, variant: Variant, clf: str, ratio: float, selection) -> _Row | None:
        kind = TRAINING_DATA[variant.data]
        classifier = clf if kind.teacher else None
        draws = self.config.draws if kind.random else 1
        options = self.index.get((size, "select", kind.name, classifier, ratio, selection), {})
        gridpoints = self.grid.gridpoints(clf, variant.tuned)
        val_name, val_labels = f"validation:{size}", self.val_labels[size]
        best = None  # (mean validation accuracy, option, gridpoint, per-draw accuracies)
        for option, by_draw in options.items():
            if len(by_draw) < draws:
                continue  # some draw left no synthetic review (e.g. a high filter threshold)
            per_draw = []
            for draw in range(draws):
                rows, labels = self.fit_set(by_draw[draw])
                preds = self.cache.predict(rows, labels, gridpoints, [val_name])
                per_draw.append([np.mean(preds[gp][val_name] == val_labels) for gp in gridpoints])
            accs = np.asarray(per_draw)
            means = np.round(accs.mean(axis=0), 10)
            i = int(np.argmax(means))
            if best is None or means[i] > best[0]:
                best = (means[i], option, gridpoints[i], accs[:, i].tolist())
        if best is None:
            self.warn(
                f"{size} data, {clf}: {variant.name} at ratio {ratio:g} ({_fmt_selection(selection)}) skipped: "
                "no configuration left any synthetic review to add"
            )
            return None
        _, option, gridpoint, validation = best
        row = _Row(variant, ratio, selection, json.loads(option), gridpoint, validation)
        refit = self.index.get((size, "refit", kind.name, classifier, ratio, selection), {}).get(option, {})
        holdout_names = [f"holdout:{n}" for n in self.holdouts]
        for draw in range(draws):
            if draw not in refit:
                self.warn(
                    f"{size} data, {clf}: {variant.name} at ratio {ratio:g} chose {option} on validation, which leaves "
                    "no synthetic review on the data size's whole pool; row skipped"
                )
                return None
            config = self.configs.iloc[refit[draw]]
            rows, labels = self.fit_set(refit[draw])
            preds = self.cache.predict(rows, labels, [gridpoint], holdout_names)[gridpoint]
            for name in self.holdouts:
                row.predictions.setdefault(name, []).append(preds[f"holdout:{name}"])
            row.n_train.append(len(rows))
            row.n_synthetic.append(int(config["n_synthetic"]))
            row.capped = row.capped or bool(config["capped"])
        return row

    def run(self) -> dict[tuple, list[_Row]]:
        results = {}
        for size, group in self.configs.groupby("data_size", sort=False):
            cap = group["genuine_per_class"].iloc[0]
            cap = None if pd.isna(cap) else int(cap)
            if cap is not None and (group["training_data"] == "reference").any():
                self.warn(
                    f"low data ({cap} genuine per class): genuine+reference reported, but the reference generator saw "
                    "more genuine reviews than this classifier (the study's GPT-2 saw 450): not a fair low-data comparison"
                )
            for clf in self.config.classifiers:
                rows = []
                for variant in VARIANTS:
                    for ratio, selection in self.rows_of(size, variant, clf):
                        row = self.run_row(size, variant, clf, ratio, selection)
                        if row is not None:
                            rows.append(row)
                self.progress(f"{size} data, {clf}: {len(rows)} rows selected and refit")
                results[(size, cap, clf)] = rows
        self.warn_capped()
        return results

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


def _none(value):
    return None if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA else value


# ------------------------------------------------------------------ the tables


def _best(rows: list[_Row]) -> _Row | None:
    if not rows:
        return None
    scores = [round(float(np.mean(r.validation)), 10) for r in rows]
    return rows[int(np.argmax(scores))]


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
                    "eval_set": record["eval_set"], "classifier": record["classifier"], "data_size": record["data_size"],
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


def _headline_record(rows, chosen, correct, idx, grid: Grid, context: dict, confidence: float) -> dict:
    baseline, selected, reference = chosen
    genuine = next((r for r in rows if r.variant.name == "genuine"), None)
    head = {
        **context,
        "genuine_accuracy": float(correct[id(genuine)].mean()) if genuine else np.nan,
        "baseline_variant": baseline.variant.name,
        "baseline_hyperparameters": grid.hyperparameters(baseline.gridpoint, baseline.option),
        "baseline_validation_accuracy": float(np.mean(baseline.validation)),
        "baseline_accuracy": float(correct[id(baseline)].mean()),
    }
    for prefix, r in (("selected", selected), ("reference", reference)):
        gain_key = "" if prefix == "selected" else "reference_"
        if r is None:
            head.update({f"{prefix}_{k}": None for k in ("variant", "temperature_selection", "ratio", "hyperparameters")})
            head.update({f"{prefix}_validation_accuracy": np.nan, f"{prefix}_accuracy": np.nan})
            gain = (np.nan, np.nan, np.nan)
        else:
            head.update(
                {
                    f"{prefix}_variant": r.variant.name,
                    f"{prefix}_temperature_selection": r.selection,
                    f"{prefix}_ratio": r.ratio,
                    f"{prefix}_hyperparameters": grid.hyperparameters(r.gridpoint, r.option),
                    f"{prefix}_validation_accuracy": float(np.mean(r.validation)),
                    f"{prefix}_accuracy": float(correct[id(r)].mean()),
                }
            )
            gain = paired_bootstrap_gain(correct[id(r)], correct[id(baseline)], idx, confidence)
        head.update({f"{gain_key}gain_vs_baseline": gain[0], f"{gain_key}gain_ci_low": gain[1], f"{gain_key}gain_ci_high": gain[2]})
    return head


def _mean_confusion(r: _Row | None, y, name: str):
    if r is None:
        return None
    return np.mean([confusion(y, p) for p in r.predictions[name]], axis=0).round(2).tolist()


def _tables(results, holdouts, holdout_labels, grid: Grid, config: EvaluationConfig, warn) -> EvaluationResult:
    metric_rows, curve_rows, headline_rows, confusions = [], [], [], {}
    boot = {name: bootstrap_indices(len(frame), config.bootstrap, config.seed) for name, frame in holdouts.items()}
    for (data_size, cap, clf), rows in results.items():
        chosen = _choose(rows, config.select_reference)
        baseline, selected, _ = chosen
        if selected is None:
            warn(f"{data_size} data, {clf}: no candidate to select; no headline gain")
        for name in holdouts:
            y, idx = holdout_labels[name], boot[name]
            context = {"eval_set": name, "classifier": clf, "data_size": data_size, "genuine_per_class": cap}
            correct = {id(r): (np.asarray(r.predictions[name]) == y).mean(axis=0) for r in rows}
            records = {}
            for r in rows:
                record = _metric_record(r, y, correct[id(r)], idx, grid, context, config.confidence)
                record.update(selected=r is selected, baseline_selected=r is baseline,
                              gain_vs_baseline=np.nan, gain_ci_low=np.nan, gain_ci_high=np.nan)
                if r is selected:
                    gain = paired_bootstrap_gain(correct[id(r)], correct[id(baseline)], idx, config.confidence)
                    record.update(gain_vs_baseline=gain[0], gain_ci_low=gain[1], gain_ci_high=gain[2])
                records[id(r)] = record
            metric_rows.extend(records.values())
            curve_rows.extend(_curve_records(rows, records))
            confusions[(clf, name, data_size)] = {
                "selected": _mean_confusion(selected, y, name), "baseline": _mean_confusion(baseline, y, name)
            }
            headline_rows.append(_headline_record(rows, chosen, correct, idx, grid, context, config.confidence))
    metrics = pd.DataFrame(metric_rows).drop(columns="_accuracies")
    metrics = metrics[METRIC_COLUMNS + [col for col in metrics.columns if col not in METRIC_COLUMNS]]
    metrics["genuine_per_class"] = metrics["genuine_per_class"].astype("Int64")
    return EvaluationResult(
        metrics=metrics, curve=pd.DataFrame(curve_rows, columns=CURVE_COLUMNS).astype({"temperature_selection": "string"}), confusion=confusions, warnings=[], headline=pd.DataFrame(headline_rows)
    )


def evaluate(
    sets: TrainingSets,
    holdouts: dict[str, pd.DataFrame],
    config: EvaluationConfig = EvaluationConfig(),
    progress: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """The classifier_metrics table, the curve, confusion matrices and the headline (see module docstring)."""
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
        scorer = _Scorer(sets, holdouts, config, progress)
        results = scorer.run()
        result = _tables(results, holdouts, scorer.holdout_labels, scorer.grid, config, scorer.warn)
    result.warnings = list(scorer.warnings)
    result.seconds = time.perf_counter() - started
    result.extras["fits"] = scorer.cache.fits
    progress(f"evaluation done in {result.seconds:.1f} s ({scorer.cache.fits} classifier fits)")
    return result
