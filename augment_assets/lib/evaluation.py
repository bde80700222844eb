"""The honest evaluation: tuned baselines vs synthetic candidates, every choice made on labelled training reviews.

It scores the training sets of `lib/training_sets.py` (the `training_set` table), per
data size and classifier, following scikit-learn's select-then-refit contract
(`GridSearchCV(refit=True)` with a `PredefinedSplit`):

1. **Select.** Each row of the table is a variant (lib/variants.py) at a ratio and
   temperature selection. Every configuration of it (hyperparameters, and the training
   data's option: duplicate k, perturbation share, filter threshold) is fit on its
   `select` sets (built on the `fit` fold) and scored on the data size's `validation`
   fold; random sets are repeated over draws and compared by their mean. Training rows
   only ever train, validation rows only ever score. A classifier on the genuine reviews
   alone (`genuine`, `genuine_tuned`) needs no generator and is cross-validated over the
   whole pool instead (lib/selection.py). The one baseline and the one candidate with the
   best selection accuracy become `baseline_selected` / `selected`.
2. **Refit.** Each row's chosen configuration is fit on its `refit` sets (the whole pool
   of that data size) and scores every holdout. A holdout takes part in no choice: its
   labels are read only after step 1 is finished.
3. **Intervals.** 95% percentile bootstrap over holdout reviews. With draws, a review's
   correctness is the share of draws that got it right, so the bootstrap mean is the
   draw-averaged accuracy reported in `accuracy`. The headline gain is paired: one
   matrix of resampled review indices, both the candidate's and the baseline's
   draw-averaged correctness on the same resample.

4. **Over repeats** (`Summaries`). Steps 1-3 run per repeat (its own folds, generators
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
6. **Recommendation.** Per evaluation set and data size, the classifier and variant the
   one-standard-error rule keeps (lib/selection_rule.py, summaries.RECOMMENDATION_ORDER),
   and its holdout accuracy.
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
   threshold (`attach_teachers` reads the teacher from the option).
9. **The embedding classifier** (lib/embedding.py), where its vectors are given: the base
   model's mean-pooled hidden states + logistic regression, fit like a student on the sets of
   the kinds it is fit on (`TrainingData.embedded`: genuine-only baselines, and synthetic
   candidates), C chosen like a student's parameter; a headline row of its own, and a place among the best
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

from .classify import (
    LABELS,
    bootstrap_indices,
    paired_bootstrap_gain,
)
from .embedding_fits import Embeddings
from .errors import InputError
from .evaluation_tables import (
    CANDIDATE_GAIN_COLUMNS,
    CURVE_COLUMNS,
    HEADLINE_COLUMNS,
    LEARNING_CURVE_COLUMNS,
    METRIC_COLUMNS,
    RECOMMENDATION_COLUMNS,
    STRATEGY_COLUMNS,
    curve_records,
    mean_confusion,
    metric_record,
    typed_table,
)
from .fitting import Grid
from .generative_margins import GenerativeScores
from .selection import Scorer, cell_label, choose_rows
from .strategies import strategy_comparison
from .summaries import (
    RepeatCell,
    Summaries,
    attach_teachers,
    mark_baselines_that_beat_every_candidate,
    worth,
    worth_columns,
)
from .training_sets import TrainingSets
from .variants import (
    BASELINES,
    CANDIDATES,
    EMBEDDING,
    EvaluationConfig,
    with_candidates,
)

__all__ = ["BASELINES", "CANDIDATES", "EvaluationConfig", "EvaluationResult", "evaluate", "worth"]


@dataclass
class EvaluationResult:
    metrics: pd.DataFrame  # the classifier_metrics table
    curve: pd.DataFrame  # validation and holdout accuracy per classifier, data size, variant, selection, ratio
    confusion: dict  # (classifier, eval_set, data_size) -> {"selected": 2x2, "baseline": 2x2}
    warnings: list[str]
    headline: pd.DataFrame  # one row per classifier x eval_set x data size with generators, over repeats
    learning_curve: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=LEARNING_CURVE_COLUMNS))
    recommendation: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=RECOMMENDATION_COLUMNS))
    # the recommendation beside each fixed strategy declared before the run (strategies.FIXED_STRATEGIES)
    strategy_comparison: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=STRATEGY_COLUMNS))
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


# ------------------------------------------------------------------ the tables


def _repeat_rows(
    rows, baseline, selected, name: str, y, idx, grid: Grid, context: dict, confidence: float
) -> tuple[dict, dict]:
    """One repeat's `classifier_metrics` records of one cell on one holdout, by row, and each row's per-review
    correctness (draw-averaged)."""
    correct = {id(r): (np.asarray(r.predictions[name]) == y).mean(axis=0) for r in rows}
    records = {}
    for r in rows:
        record = metric_record(r, y, correct[id(r)], idx, grid, context, confidence)
        record.update(
            selected=r is selected,
            baseline_selected=r is baseline,
            gain_vs_baseline=np.nan,
            gain_ci_low=np.nan,
            gain_ci_high=np.nan,
            teacher=r.teacher_name,
            teacher_accuracy=np.nan,
        )
        if r.teacher is not None:  # beside the student's: a student that trails its teacher is no win
            record["teacher_accuracy"] = float(np.mean((np.asarray(r.teacher.predictions[name]) == y).mean(axis=1)))
        if r is selected:
            gain = paired_bootstrap_gain(correct[id(r)], correct[id(baseline)], idx, confidence)
            record.update(gain_vs_baseline=gain[0], gain_ci_low=gain[1], gain_ci_high=gain[2])
        records[id(r)] = record
    return records, correct


def _per_repeat(results, holdouts, holdout_labels, boot, grid: Grid, config: EvaluationConfig, warn, candidate_cells):
    """`classifier_metrics` and the validation curve, row by row; the cells the summaries read; and every row's
    per-review correctness on each holdout, computed once."""
    metric_rows, curve_rows = [], []
    cells: dict[tuple, list[RepeatCell]] = {}
    all_correct: dict[tuple, np.ndarray] = {}  # (id(row), eval_set) -> per-review correctness, computed once
    for (repeat, data_size, cap, clf, pool_per_class), rows in results.items():
        baseline, selected, reference = choose_rows(rows, config.select_reference)
        if selected is None and (repeat, data_size) in candidate_cells and clf in with_candidates(config.classifiers):
            warn(f"{cell_label((repeat, data_size))}, {clf}: no candidate to select; no headline gain")
        cells.setdefault((data_size, cap, clf), []).append(
            RepeatCell(repeat, pool_per_class, rows, baseline, selected, reference)
        )
        for name in holdouts:
            context = {
                "eval_set": name,
                "repeat": repeat,
                "classifier": clf,
                "data_size": data_size,
                "genuine_per_class": cap,
            }
            records, correct = _repeat_rows(
                rows, baseline, selected, name, holdout_labels[name], boot[name], grid, context, config.confidence
            )
            all_correct.update({(key, name): value for key, value in correct.items()})
            metric_rows.extend(records.values())
            curve_rows.extend(curve_records(rows, records))
    return metric_rows, curve_rows, cells, all_correct


def _summary_rows(summaries: Summaries, cells, holdouts, holdout_labels, config: EvaluationConfig, candidate_cells):
    """The learning curve, the recommendation, the headline and the candidate gains over repeats, and the mean
    confusion matrices of each headline's choices."""
    learning_rows, recommendation_rows, strategy_rows = [], [], []
    for name in holdouts:
        for clf in config.classifiers:
            learning_rows.extend(summaries.learning_curve(name, clf))
        for data_size, cap in dict.fromkeys((k[0], k[1]) for k in cells):
            recommendation = summaries.recommendation(name, data_size, cap, holdout_labels[name])
            if recommendation is not None:
                recommendation_rows.append(recommendation)
            strategy_rows.extend(strategy_comparison(summaries, name, data_size, cap))
    learning_curve = typed_table(learning_rows, LEARNING_CURVE_COLUMNS)
    headline_rows, gain_rows, confusions = [], [], {}
    for (data_size, cap, clf), entries in cells.items():
        if not any((c.repeat, data_size) in candidate_cells for c in entries) or clf not in with_candidates(
            config.classifiers
        ):
            continue  # a learning-curve size (baselines only), or a classifier without candidates: no headline
        for name in holdouts:
            context = {"eval_set": name, "classifier": clf, "data_size": data_size, "genuine_per_class": cap}
            head = summaries.headline(name, context, entries)
            head.update(worth_columns(head, learning_curve))
            headline_rows.append(head)
            gain_rows.extend(summaries.candidate_gains(name, context, entries))
            confusions[(clf, name, data_size)] = {
                "selected": mean_confusion([c.selected for c in entries], holdout_labels[name], name),
                "baseline": mean_confusion([c.baseline for c in entries], holdout_labels[name], name),
            }
    mark_baselines_that_beat_every_candidate(headline_rows)
    return learning_rows, recommendation_rows, strategy_rows, headline_rows, gain_rows, confusions


def _tables(
    results,
    holdouts,
    holdout_labels,
    grid: Grid,
    config: EvaluationConfig,
    warn,
    candidate_cells,
    reference_status: str | None = None,
) -> EvaluationResult:
    boot = {name: bootstrap_indices(len(frame), config.bootstrap, config.seed) for name, frame in holdouts.items()}
    attach_teachers(results)
    metric_rows, curve_rows, cells, all_correct = _per_repeat(
        results, holdouts, holdout_labels, boot, grid, config, warn, candidate_cells
    )
    summaries = Summaries(cells, all_correct, boot, grid, config, reference_status)
    learning_rows, recommendation_rows, strategy_rows, headline_rows, gain_rows, confusions = _summary_rows(
        summaries, cells, holdouts, holdout_labels, config, candidate_cells
    )
    metrics = pd.DataFrame(metric_rows).drop(columns="_accuracies")
    metrics = metrics[METRIC_COLUMNS + [col for col in metrics.columns if col not in METRIC_COLUMNS]]
    metrics["genuine_per_class"] = metrics["genuine_per_class"].astype("Int64")
    return EvaluationResult(
        metrics=metrics,
        curve=pd.DataFrame(curve_rows, columns=CURVE_COLUMNS).astype({"temperature_selection": "string"}),
        confusion=confusions,
        warnings=[],
        headline=typed_table(headline_rows, HEADLINE_COLUMNS),
        learning_curve=typed_table(learning_rows, LEARNING_CURVE_COLUMNS),
        recommendation=typed_table(recommendation_rows, RECOMMENDATION_COLUMNS),
        strategy_comparison=typed_table(strategy_rows, STRATEGY_COLUMNS),
        candidate_gains=typed_table(gain_rows, CANDIDATE_GAIN_COLUMNS),
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
    # Thousands of small fits: BLAS threads only add contention (docs/results.md, "BLAS threads in the
    # evaluation").
    with threadpool_limits(limits=1):
        scorer = Scorer(sets, holdouts, config, progress, generative, embeddings)
        results = scorer.run()
        result = _tables(
            results,
            holdouts,
            scorer.holdout_labels,
            scorer.grid,
            config,
            scorer.warn,
            scorer.candidate_cells,
            reference_status,
        )
    if embeddings is not None:  # the length it reads is part of the embedding classifier a team deploys
        rec = result.recommendation
        rows = rec["classifier"] == EMBEDDING
        rec.loc[rows, "deploy_hyperparameters"] = [
            json.dumps({**json.loads(h), "max_tokens": embeddings.config.max_tokens}, sort_keys=True)
            for h in rec.loc[rows, "deploy_hyperparameters"]
        ]
    result.warnings = list(scorer.warnings)
    result.seconds = time.perf_counter() - started
    result.extras["fits"] = scorer.cache.fits + (scorer.embedding_fits.fits if scorer.embedding_fits else 0)
    progress(f"evaluation done in {result.seconds:.1f} s ({scorer.cache.fits} classifier fits)")
    return result
