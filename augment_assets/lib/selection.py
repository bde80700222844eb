"""Select on labelled training reviews, then refit: the evaluation's work within one repeat.

`Scorer` fits every stored training set (lib/training_sets.py) of every variant, classifier, ratio and
temperature selection at each configuration of its grid, chooses a configuration, refits it on the whole pool
and predicts every holdout. Each result is a `ScoredRow` carrying its `Evidence` (lib/selection_rule.py): what
it was chosen on, review by review.

- A classifier on the genuine reviews alone (`genuine`, `genuine_tuned`) needs no generator, so it is chosen by
  cross-validation over the size's whole pool (`cv_fold`, lib/folds.py): every labelled review is scored once,
  by a fit on the other folds. Its gridpoint is the first in grid order (library defaults first) within one
  standard error of the best (`one_standard_error_matrix`).
- Every other row needs the size's generators (trained on the `fit` fold), or is a duplicated or perturbed
  baseline, and is chosen on the `validation` fold: the best validation accuracy, ties keeping the earlier
  entry (`classifiers.best_index`).

Below `VECTORIZER_SEARCH_MIN_PER_CLASS` genuine reviews per class the tuned grid holds the vectorizer at its
defaults and searches the classifier's parameter only: fewer configurations where there is less to choose on.
The holdouts' labels are never read here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .classifiers import best_index, tie_rounded
from .classify import LABELS, encode_labels
from .embedding_fits import EmbeddingFits, Embeddings
from .fitting import FitCache, Grid
from .forked import cores, forked_map, forks
from .generative_margins import GenerativeScores, choose_threshold, predict
from .selection_rule import Evidence, one_standard_error_matrix
from .training_sets import TrainingSets, option_key, validation_name
from .variants import EMBEDDING, GENERATIVE, TRAINING_DATA, VARIANTS, EvaluationConfig, Variant

# The TF-IDF vectorizer options are searched from this many genuine reviews per class in a size's pool; below it
# the tuned grid is the classifier's parameter alone (5-6 configurations instead of 20-24).
VECTORIZER_SEARCH_MIN_PER_CLASS = 50


@dataclass
class ScoredRow:
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
    teacher: ScoredRow | None = None  # the classifier row that filtered or relabelled its synthetic reviews
    teacher_name: str | None = None  # that classifier (its `genuine_tuned` row)
    refit_sets: list[int] = field(default_factory=list)  # per draw: the training set it was refit on
    compared: int = 1  # configurations (option x gridpoint) scored to choose this row's
    validation_reviews: int = 0  # the reviews it was chosen on (its whole pool where cross-validated)
    evidence: Evidence | None = None  # what it was chosen on, review by review (lib/selection_rule.py)
    cross_validated: bool = False


def selection_label(selection) -> str:
    return "reference" if selection is None else f"temperature {selection}"


class Scorer:
    """Fits the stored training sets and scores them: select on validation, refit, predict holdouts."""

    def __init__(
        self,
        sets: TrainingSets,
        holdouts: dict[str, pd.DataFrame],
        config: EvaluationConfig,
        progress,
        generative: GenerativeScores | None = None,
        embeddings: Embeddings | None = None,
    ):
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
        # each size's pool in cross-validation folds: (pool items, [(eval name, training items, held-out mask)])
        self.cross_validation: dict[tuple, tuple[np.ndarray, list]] = {}
        for cell, (pool, cv) in sets.cross_validation.items():
            folds = []
            for k in np.unique(cv):
                name = f"cv:{cell[0]}:{cell[1]}:{k}"
                for fitter in (self.cache, self.embedding_fits):
                    if fitter is not None:
                        fitter.add_eval(name, rows=self.item_rows[pool[cv == k]])
                folds.append((name, pool[cv != k], cv == k))
            if len(folds) > 1:
                self.cross_validation[cell] = (pool, folds)
        # ((repeat, data size), phase, training data, classifier, ratio, selection) -> {option: {draw: set id}}
        self.index: dict[tuple, dict[str, dict[int, int]]] = {}
        for row in self.configs.itertuples(index=False):
            key = (
                (int(row.repeat), row.data_size),
                row.phase,
                row.training_data,
                none_if_missing(row.classifier),
                float(row.ratio),
                none_if_missing(row.temperature_selection),
            )
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
        for c, phase, data, classifier, ratio, selection in self.index:
            if c == cell and phase == "select" and data == kind.name and classifier == kind.teacher_of(clf):
                if (ratio, selection) not in seen:
                    seen.append((ratio, selection))
        return seen

    def gridpoints(self, cell, clf: str, tuned: bool) -> list[tuple]:
        """The grid searched at this (repeat, data size): the vectorizer options only where the pool holds
        `VECTORIZER_SEARCH_MIN_PER_CLASS` genuine reviews per class."""
        pool, _ = self.sets.cross_validation[cell]
        search_vectorizer = len(pool) >= VECTORIZER_SEARCH_MIN_PER_CLASS * len(LABELS)
        return self.grid.gridpoints(clf, tuned, search_vectorizer=search_vectorizer)

    def cross_validated(self, cell, clf: str, gridpoints: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
        """(the pool's items, whether each gridpoint got each right: [gridpoint, review]), each review labelled by
        a fit on the other cross-validation folds of the genuine reviews."""
        pool, folds = self.cross_validation[cell]
        correct = np.zeros((len(gridpoints), len(pool)))
        for name, train, held in folds:
            preds = self.fitter(clf).predict(self.item_rows[train], self.item_labels[train], gridpoints, [name])
            truth = self.item_labels[pool[held]]
            for i, gp in enumerate(gridpoints):
                correct[i, held] = preds[gp][name] == truth
        return pool, correct

    def run_row(self, cell, variant: Variant, clf: str, ratio: float, selection) -> ScoredRow | None:
        kind = TRAINING_DATA[variant.data]
        classifier = kind.teacher_of(clf)
        options = self.index.get((cell, "select", kind.name, classifier, ratio, selection), {})
        if kind.name == "genuine" and cell in self.cross_validation and len(options) == 1:
            row = self.cross_validated_row(cell, variant, clf, ratio, selection, next(iter(options)))
        else:
            row = self.validated_row(cell, variant, clf, ratio, selection, options)
        return None if row is None else self.refit(cell, row, clf)

    def cross_validated_row(self, cell, variant: Variant, clf: str, ratio: float, selection, option: str) -> ScoredRow:
        """A classifier on the genuine reviews alone, its gridpoint chosen by cross-validation over the whole pool
        (the one-standard-error rule from the library defaults)."""
        gridpoints = self.gridpoints(cell, clf, variant.tuned)
        pool, correct = self.cross_validated(cell, clf, gridpoints)
        i = one_standard_error_matrix(correct)
        row = ScoredRow(variant, ratio, selection, json.loads(option), gridpoints[i], [float(correct[i].mean())])
        row.compared, row.validation_reviews = len(gridpoints), len(pool)
        row.evidence, row.cross_validated = Evidence(cell[0], pool, correct[i]), True
        return row

    def validated_row(self, cell, variant: Variant, clf: str, ratio: float, selection, options: dict):
        """The best configuration on the validation fold (ties keep the earlier), or None where none is left."""
        kind = TRAINING_DATA[variant.data]
        draws = self.config.draws if kind.random else 1
        gridpoints = self.gridpoints(cell, clf, variant.tuned)
        val_name, val_labels = validation_name(cell), self.val_labels[cell]
        best = None  # (mean validation accuracy, option, gridpoint index, per-draw correctness)
        compared = 0
        for option, by_draw in options.items():
            if len(by_draw) < draws:
                continue  # some draw left no synthetic review (e.g. a high filter threshold)
            compared += len(gridpoints)
            per_draw = []
            for draw in range(draws):
                rows, labels, weights = self.fit_set(by_draw[draw])
                preds = self.fitter(clf).predict(rows, labels, gridpoints, [val_name], weights=weights)
                per_draw.append([preds[gp][val_name] == val_labels for gp in gridpoints])
            correct = np.asarray(per_draw, dtype=float)  # [draw, gridpoint, review]
            accs = correct.mean(axis=2)
            i = best_index(accs.mean(axis=0))
            mean = tie_rounded(accs.mean(axis=0)[i])
            if best is None or mean > best[0]:
                best = (mean, option, i, correct[:, i])
        if best is None:
            self.warn(
                f"{cell_label(cell)}, {clf}: {variant.name} at ratio {ratio:g} ({selection_label(selection)}) skipped: "
                "no configuration left any synthetic review to add"
            )
            return None
        _, option, i, correct = best
        row = ScoredRow(variant, ratio, selection, json.loads(option), gridpoints[i], correct.mean(axis=1).tolist())
        row.compared, row.validation_reviews = compared, len(val_labels)
        row.evidence = Evidence(cell[0], self.sets.validation[cell], correct.mean(axis=0))
        return row

    def refit(self, cell, row: ScoredRow, clf: str) -> ScoredRow | None:
        """The chosen configuration refit on the data size's whole pool (each draw), predicting every holdout."""
        kind = TRAINING_DATA[row.variant.data]
        classifier = kind.teacher_of(clf)
        option = option_key(row.option)
        draws = self.config.draws if kind.random else 1
        refit = self.index.get((cell, "refit", kind.name, classifier, row.ratio, row.selection), {}).get(option, {})
        holdout_names = [f"holdout:{n}" for n in self.holdouts]
        for draw in range(draws):
            if draw not in refit:
                self.warn(
                    f"{cell_label(cell)}, {clf}: {row.variant.name} at ratio {row.ratio:g} chose {option} on "
                    "validation, which leaves no synthetic review on the data size's whole pool; row skipped"
                )
                return None
            config = self.configs.iloc[refit[draw]]
            rows, labels, weights = self.fit_set(refit[draw])
            preds = self.fitter(clf).predict(rows, labels, [row.gridpoint], holdout_names, weights=weights)
            for name in self.holdouts:
                row.predictions.setdefault(name, []).append(preds[row.gridpoint][f"holdout:{name}"])
            row.n_train.append(len(rows))
            row.refit_sets.append(int(refit[draw]))
            row.n_synthetic.append(int(config["n_synthetic"]))
            row.capped = row.capped or bool(config["capped"])
        return row

    def run(self) -> dict[tuple, list[ScoredRow]]:
        """{(repeat, data size, genuine per class, classifier, pool per class): rows}.

        The fitted classifiers' rows are chosen and refit independently for each (data size, classifier), over
        its repeats (whose fits can repeat one another, e.g. the whole pool's refit, and so share a cache): on
        `config.workers` forked processes (lib/forked.py; default one per core), the costliest first. Then
        everything is reported in table order (the same rows, warnings and count of fits as in one process),
        whatever order they finished in."""
        plan = []  # in table order: ("warn", message) | ("generative", key, cell, group) | ("fitted", key)
        tasks = []  # (cell, classifier, key) of the fitted classifiers
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
                plan.append(
                    (
                        "warn",
                        f"low data ({cap} genuine per class): genuine+reference reported, but the reference generator "
                        "saw more genuine reviews than this classifier (the study's GPT-2 saw 450): not a fair "
                        "low-data comparison",
                    )
                )
            for clf in self.config.classifiers:
                key = (cell[0], size, cap, clf, pool_per_class)
                if clf == GENERATIVE:  # fit on no training set: scored from its generators' margins, here
                    plan.append(("generative", key, cell, group))
                elif clf == EMBEDDING and self.embedding_fits is None:
                    plan.append(("warn", f"{cell_label(cell)}: embedding classifier not scored (no embeddings given)"))
                else:
                    plan.append(("fitted", key))
                    tasks.append((cell, clf, key))
        by_size: dict[tuple, list[int]] = {}
        for i, (cell, clf, _) in enumerate(tasks):
            by_size.setdefault((cell[1], clf), []).append(i)
        groups = list(by_size.values())
        workers = self.config.workers or cores()
        in_workers = forks(workers, len(groups))
        done = {}

        def finished(g: int, results: list) -> None:
            for i, result in zip(groups[g], results):
                cell, clf, key = tasks[i]
                done[key] = result
                self.progress(f"{cell_label(cell)}, {clf}: {len(result[0])} rows selected and refit")

        forked_map(
            self.score_group, [[tasks[i][:2] for i in g] for g in groups], workers, cost=self.cost, on_result=finished
        )
        results = {}
        for kind, key, *where in plan:
            if kind == "warn":
                self.warn(key)
            elif kind == "generative":
                rows = self.generative_rows(*where)
                if rows:
                    results[key] = rows
            else:
                rows, warnings, fits = done[key]
                for message in warnings:
                    self.warn(message)
                if in_workers:  # a worker's fits were counted in its own copy: count them here
                    self.cache.fits += fits[0]
                    if self.embedding_fits is not None:
                        self.embedding_fits.fits += fits[1]
                results[key] = rows
        self.warn_capped()
        return results

    def score_group(self, group: list[tuple]) -> list:
        return [self.score(task) for task in group]

    def score(self, task: tuple) -> tuple[list[ScoredRow], list[str], tuple[int, int]]:
        """(rows, warnings, fits made) of one (cell, classifier): its rows chosen on labelled training reviews
        and refit. Its warnings are returned, not raised: `run` reports them in table order."""
        cell, clf = task
        progress, self.progress = self.progress, lambda message: None
        warned, fits = len(self.warnings), self.fit_counts()
        try:
            rows = []
            for variant in VARIANTS:
                if clf == EMBEDDING and not TRAINING_DATA[variant.data].embedded:
                    continue
                for ratio, selection in self.rows_of(cell, variant, clf):
                    row = self.run_row(cell, variant, clf, ratio, selection)
                    if row is not None:
                        rows.append(row)
        finally:
            self.progress = progress
        warnings = self.warnings[warned:]
        del self.warnings[warned:]
        after = self.fit_counts()
        return rows, warnings, (after[0] - fits[0], after[1] - fits[1])

    def fit_counts(self) -> tuple[int, int]:
        return self.cache.fits, self.embedding_fits.fits if self.embedding_fits is not None else 0

    def cell_rows(self, cell) -> pd.Series:
        return (self.configs["repeat"].astype(int) == cell[0]) & (self.configs["data_size"] == cell[1])

    def cost(self, group: list[tuple]) -> int:
        """A group's relative cost, to hand out the costliest first: its stored training sets to fit (logistic
        regression and the embedding classifier take several times naive Bayes' time a fit)."""
        return sum(int(self.cell_rows(cell).sum()) * (1 if clf == "nb" else 3) for cell, clf in group)

    def generative_rows(self, cell, group: pd.DataFrame) -> list[ScoredRow]:
        """The generative classifier's two baseline rows at a size with generators: threshold 0, and the
        threshold fit on the validation fold's margins; [] where it has no scores."""
        scores = self.generative
        if scores is None or (cell, "validation") not in scores.margins:
            if cell in self.candidate_cells:
                why = "no generator scores given" if scores is None else scores.skipped.get(cell, "no generator scores")
                self.warn(f"{cell_label(cell)}: generative classifier not scored ({why})")
            return []
        margins, labels = scores.margins[(cell, "validation")], self.val_labels[cell]
        if len(margins) != len(labels):
            raise ValueError(
                f"{cell_label(cell)}: {len(margins)} generative margins for {len(labels)} validation reviews"
            )
        tuned, _ = choose_threshold(margins, labels)
        fit = group[(group["phase"] == "select") & (group["training_data"] == "genuine")]["n_genuine"]
        option = {"max_review_tokens": scores.config.max_review_tokens}
        rows = []
        for name, threshold in (("genuine", 0.0), ("genuine_tuned", tuned)):
            variant = next(v for v in VARIANTS if v.name == name)
            validation = [float(np.mean(predict(margins, threshold) == labels))]
            row = ScoredRow(variant, 0.0, None, option, (None, GENERATIVE, threshold), validation)
            row.validation_reviews = len(labels)
            row.evidence = Evidence(cell[0], self.sets.validation[cell], predict(margins, threshold) == labels)
            # the tuned threshold was chosen on these very reviews, among as many cut points as there are reviews
            row.compared = len(labels) if name == "genuine_tuned" else 1
            for holdout in self.holdouts:
                row.predictions[holdout] = [predict(scores.margins[(cell, f"holdout:{holdout}")], threshold)]
            # the generators learned from the fit fold only (they are not refit on the whole pool)
            row.n_train, row.n_synthetic = [int(fit.iloc[0]) if len(fit) else 0], [0]
            rows.append(row)
        self.progress(f"{cell_label(cell)}, {GENERATIVE}: threshold {tuned:+.4f} fit on validation")
        return rows

    def warn_capped(self) -> None:
        capped = self.configs[self.configs["capped"].astype(bool) & (self.configs["draw"] == 0)]
        for (size, data, selection), events in capped.groupby(
            ["data_size", "training_data", "temperature_selection"], dropna=False, sort=False
        ):
            largest = events.loc[events["requested_synthetic"].idxmax()]
            ratios = ", ".join(f"{r:g}" for r in sorted(set(events["ratio"])))
            self.warn(
                f"{size} data, {data} ({selection_label(none_if_missing(selection))}): ratio(s) {ratios} ask for more synthetic "
                f"reviews than exist; capped, balanced per sentiment (largest request: {largest['requested_synthetic']} at "
                f"ratio {largest['ratio']:g} on the {'whole pool' if largest['phase'] == 'refit' else 'fit fold'}, got "
                f"{largest['n_synthetic']}). Capped ratios can be identical training sets."
            )


def cell_label(cell: tuple[int, str]) -> str:
    return f"{cell[1]} data" if cell[0] == 1 else f"{cell[1]} data (repeat {cell[0]})"


def none_if_missing(value):
    return None if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA else value


def best_row(rows: list[ScoredRow]) -> ScoredRow | None:
    if not rows:
        return None
    return rows[best_index([np.mean(r.validation) for r in rows])]


def choose_rows(
    rows: list[ScoredRow], select_reference: bool
) -> tuple[ScoredRow | None, ScoredRow | None, ScoredRow | None]:
    """(baseline, selected candidate, best reference row), each by validation accuracy only."""
    eligible = {"candidate", "reference"} if select_reference else {"candidate"}
    return (
        best_row([r for r in rows if r.variant.role == "baseline"]),
        best_row([r for r in rows if r.variant.role in eligible]),
        best_row([r for r in rows if r.variant.role == "reference"]),
    )
