"""Every training set a classifier is fit on, built once and stored as the `training_set` table.

For each repeat and data size (its `fit` and `validation` folds from `review_folds`),
each kind of training data (lib/variants.py), each option, ratio, temperature selection
and draw, and each phase, one training set:

- phase `select`: built on the data size's `fit` fold; its classifiers are scored on
  the `validation` fold, where every choice is made;
- phase `refit`: the same recipe on the data size's whole pool (`fit` + `validation`),
  the set the chosen configuration is refit on and scored on the holdouts.

Synthetic rows come only from generators of the same data size and repeat (a generator
that saw more genuine reviews would smuggle them into a low-data classifier). Sizes
without generators (the learning curve's extra sizes) get the baselines only. Duplicates
across synthetic partitions are removed here, where the union is formed. A set is a
multiset of *items*: genuine reviews, perturbed copies, synthetic and reference
reviews, each with a stable id, so the stored table holds ids, not copied text. A synthetic
review the generative teacher labels otherwise than its generator is also an item of source
`relabelled` (id `<synthetic_id>~relabelled`, the teacher's label), for the relabelled sets.
The selected sets (`top_share`) keep the top share of each synthetic partition by their teacher.
The weighted sets keep every sampled synthetic review with a `weight` (the classifiers' `sample_weight`):
its teacher's P(intended label); genuine members weigh 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .augment import perturb
from .classify import LABELS, encode_labels
from .fitting import FitCache, Grid, select
from .folds import FIT, VALIDATION, cross_validation_folds
from .recipes import (  # noqa: F401 - TeacherLabels, top_share re-exported
    TeacherLabels,
    synthetic_samples,
    temperature_selections,
    top_share,
)
from .text import text_key
from .variants import GENERATIVE, TRAINING_DATA, EvaluationConfig, students

CONFIG_COLUMNS = [
    "training_set_id",
    "repeat",
    "data_size",
    "genuine_per_class",
    "phase",
    "training_data",
    "option",
    "classifier",
    "ratio",
    "temperature_selection",
    "draw",
    "seed",
    "n_genuine",
    "n_synthetic",
    "requested_synthetic",
    "capped",
    "n_rows",
    "teacher_hyperparameters",
]
ITEM_COLUMNS = ["source", "item_id", "sentiment", "text"]
PHASES = ("select", "refit")


def validation_name(cell: tuple[int, str]) -> str:
    """The FitCache name of one (repeat, data size)'s validation fold."""
    return f"validation:{cell[0]}:{cell[1]}"


def option_key(option: dict) -> str:
    return json.dumps(option, sort_keys=True)


def selection_scores(teachers: dict, phase: str, name: str) -> tuple[np.ndarray, str] | None:
    """(P(intended label) of each synthetic review, how it was made) by the selection teacher `name`
    (lib/variants.py SELECTION_TEACHERS: one teacher, or the mean of two); None where a part is missing."""
    parts = [teachers.get((phase, part)) for part in name.split("+")]
    if any(p is None for p in parts):
        return None
    if len(parts) == 1:
        return parts[0]
    return (
        np.mean([p for p, _ in parts], axis=0),
        json.dumps({part: h for part, (_, h) in zip(name.split("+"), parts)}, sort_keys=True),
    )


@dataclass
class TrainingSets:
    """Items (every training-side text, once), one config row per set, and each set's members.

    `members[training_set_id]` holds item indices (repeats count: duplicates are repeats);
    `weights[training_set_id]` each member's sample weight, for the weighted sets only (the others weigh 1);
    `validation[(repeat, data_size)]` the item indices of that size's validation fold in that repeat;
    `cross_validation[(repeat, data_size)]` (item indices of its whole pool, each one's `cv_fold`).
    """

    items: pd.DataFrame  # ITEM_COLUMNS
    configs: pd.DataFrame  # CONFIG_COLUMNS
    members: dict[int, np.ndarray]
    validation: dict[tuple[int, str], np.ndarray]
    warnings: list[str] = field(default_factory=list)
    weights: dict[int, np.ndarray] = field(default_factory=dict)
    cross_validation: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def weights_of(self, set_id: int) -> np.ndarray | None:
        """The set's member weights, or None where every member weighs 1."""
        return self.weights.get(set_id)

    def member_table(self) -> pd.DataFrame:
        """The `training_set` table: one row per (set, member), by id."""
        ids = np.concatenate(
            [np.full(len(m), i, dtype=np.int64) for i, m in self.members.items()] or [np.empty(0, np.int64)]
        )
        index = np.concatenate(list(self.members.values()) or [np.empty(0, np.int64)])
        items = self.items.iloc[index]
        weights = np.concatenate(
            [self.weights.get(i, np.ones(len(m))) for i, m in self.members.items()] or [np.empty(0)]
        ).astype(np.float64)
        return pd.DataFrame(
            {
                "training_set_id": ids,
                "source": items["source"].to_numpy(),
                "item_id": items["item_id"].to_numpy(),
                "sentiment": items["sentiment"].to_numpy(),
                "weight": weights,
            }
        )

    @classmethod
    def from_tables(
        cls, members: pd.DataFrame, configs: pd.DataFrame, items: pd.DataFrame, folds: pd.DataFrame, seed: int = 0
    ) -> TrainingSets:
        """Rebuild from the stored tables (`items`: every member's text, by (source, item_id))."""
        items = items.drop_duplicates(["source", "item_id"]).reset_index(drop=True)
        position = pd.Series(np.arange(len(items)), index=pd.MultiIndex.from_frame(items[["source", "item_id"]]))
        rows = position.reindex(pd.MultiIndex.from_frame(members[["source", "item_id"]])).to_numpy()
        if np.isnan(rows.astype(float)).any():
            raise LookupError("training_set names items whose text is gone: re-materialize training_set")
        rows = rows.astype(np.int64)
        set_ids = members["training_set_id"].to_numpy()
        order = np.argsort(set_ids, kind="stable")
        # sorted once: indexing by `order` inside the loop below copied every member once per set (docs/results.md,
        # "Reading the stored training sets")
        sorted_ids, sorted_rows = set_ids[order], rows[order]
        # a table written before weights existed weighs every member 1
        stored = members["weight"].to_numpy(dtype=np.float64) if "weight" in members else np.ones(len(members))
        sorted_weights = stored[order]
        bounds = np.flatnonzero(np.diff(sorted_ids)) + 1
        chunks = [chunk for chunk in np.split(np.arange(len(order)), bounds) if len(chunk)]
        grouped = {int(sorted_ids[chunk[0]]): sorted_rows[chunk] for chunk in chunks}
        weights = {
            int(sorted_ids[chunk[0]]): sorted_weights[chunk]
            for chunk in chunks
            if not np.all(sorted_weights[chunk] == 1.0)
        }
        genuine = position.loc["genuine"] if "genuine" in set(items["source"]) else pd.Series(dtype=np.int64)
        validation = {
            (int(repeat), size): genuine.reindex(group["review_id"]).dropna().astype(np.int64).to_numpy()
            for (repeat, size), group in folds[folds["fold"] == VALIDATION].groupby(["repeat", "data_size"], sort=False)
        }
        configs = configs.sort_values("training_set_id").reset_index(drop=True)
        cross_validation = cross_validation_folds(folds, genuine, seed)
        return cls(
            items[ITEM_COLUMNS], configs, grouped, validation, weights=weights, cross_validation=cross_validation
        )


class _Builder:
    def __init__(
        self,
        training,
        folds,
        synthetic,
        reference,
        config: EvaluationConfig,
        progress,
        candidate_sizes=None,
        generative_teacher: dict | None = None,
    ):
        self.config = config
        self.generative_teacher = generative_teacher or {}
        self.progress = progress
        self.training = training.reset_index(drop=True)
        self.folds = folds
        self.grid = Grid.from_config(config.vectorizer_grid, config.nb_alphas, config.lr_cs)
        self.synthetic = synthetic
        self.reference = reference
        self.reference_pool: pd.DataFrame | None = None
        self.candidate_sizes = None if candidate_sizes is None else set(candidate_sizes)
        self.item_parts: list[pd.DataFrame] = []
        self.n_items = 0
        self.configs: list[dict] = []
        self.members: dict[int, np.ndarray] = {}
        self.weights: dict[int, np.ndarray] = {}
        self.warnings: list[str] = []

    def add_items(self, frame: pd.DataFrame, source: str, id_column: str) -> np.ndarray:
        part = pd.DataFrame(
            {
                "source": source,
                "item_id": frame[id_column].astype(str).to_numpy(),
                "sentiment": frame["sentiment"].astype(str).to_numpy(),
                "text": frame["text"].astype(str).to_numpy(),
            }
        )
        self.item_parts.append(part)
        index = np.arange(self.n_items, self.n_items + len(part))
        self.n_items += len(part)
        return index

    def add_set(self, members: np.ndarray, config: dict, weights: np.ndarray | None = None) -> None:
        set_id = len(self.configs)
        self.members[set_id] = np.asarray(members, dtype=np.int64)
        if weights is not None:
            self.weights[set_id] = np.asarray(weights, dtype=np.float64)
        self.configs.append({"training_set_id": set_id, "n_rows": len(members), "seed": self.config.seed, **config})

    def build(self) -> TrainingSets:
        c = self.config
        genuine_items = self.add_items(self.training, "genuine", "review_id")
        self.genuine_index = pd.Series(genuine_items, index=self.training["review_id"].astype(str).to_numpy())
        # Perturbed copies of every training review, per share and draw: a review's copy depends on
        # its own id only, so the copies of a fold are the fold's rows of these.
        self.perturbed = {}
        for share in c.perturbation_shares:
            for draw in range(c.draws):
                copies = perturb(self.training, share, c.perturbation_copies, c.seed, draw)
                copies = copies.assign(
                    item_id=[f"{rid}~p{share:g}~d{draw}~c{k}" for rid, k in zip(copies["review_id"], copies["copy"])]
                )
                index = self.add_items(copies, "perturbed", "item_id")
                self.perturbed[(share, draw)] = pd.Series(index, index=copies["review_id"].astype(str).to_numpy())
        pools = self.synthetic_pools()
        if self.reference is not None and len(self.reference):
            index = self.add_items(self.reference, "reference", "synthetic_id")
            self.reference_pool = self.reference.assign(_item=index, temperature=np.nan)
        self.items = pd.concat(self.item_parts, ignore_index=True)
        self.cache = FitCache(self.grid.vec_options)
        self.item_rows = self.cache.register(self.items["text"].tolist())
        self.item_labels = encode_labels(self.items["sentiment"])
        self.cache.freeze()
        validation = {}
        folds = self.folds if "repeat" in self.folds else self.folds.assign(repeat=1)
        for (repeat, size), group in folds.groupby(["repeat", "data_size"], sort=False):
            repeat = int(repeat)
            cell = (repeat, size)
            per_class = group["genuine_per_class"].iloc[0]
            fit_ids = group.loc[group["fold"] == FIT, "review_id"].astype(str)
            val_ids = group.loc[group["fold"] == VALIDATION, "review_id"].astype(str)
            fit = np.sort(self.genuine_index.loc[fit_ids].to_numpy())
            validation[cell] = np.sort(self.genuine_index.loc[val_ids].to_numpy())
            pool = np.sort(np.concatenate([fit, validation[cell]]))
            self.cache.add_eval(validation_name(cell), rows=self.item_rows[validation[cell]])
            self.progress(
                f"training sets of data size {size}, repeat {repeat}: fit {len(fit)}, validation {len(validation[cell])}"
            )
            context = {
                "repeat": repeat,
                "data_size": size,
                "genuine_per_class": None if pd.isna(per_class) else int(per_class),
            }
            candidates = self.candidate_sizes is None or size in self.candidate_sizes
            synthetic_pool = pools.get(cell) if candidates else None
            if candidates and (synthetic_pool is None or synthetic_pool.empty):
                self.warnings.append(
                    f"{size} data, repeat {repeat}: no synthetic reviews from generators of this data size and repeat; "
                    "synthetic candidates skipped"
                )
            teachers = self.teachers(cell, fit, validation[cell], pool, synthetic_pool)
            for phase, genuine in (("select", fit), ("refit", pool)):
                self.sets_for(phase, genuine, synthetic_pool, teachers, context, with_reference=candidates)
        configs = pd.DataFrame(self.configs)
        for column in CONFIG_COLUMNS:
            if column not in configs:
                configs[column] = None
        configs["genuine_per_class"] = configs["genuine_per_class"].astype("Int64")
        cross_validation = cross_validation_folds(folds, self.genuine_index, c.seed)
        return TrainingSets(
            self.items,
            configs[CONFIG_COLUMNS],
            self.members,
            validation,
            self.warnings,
            self.weights,
            cross_validation,
        )

    def synthetic_pools(self) -> dict[tuple[int, str], pd.DataFrame]:
        """Each (repeat, data size)'s synthetic reviews, duplicates across partitions removed (first synthetic_id kept)."""
        if self.synthetic is None or self.synthetic.empty:
            return {}
        synthetic = self.synthetic if "repeat" in self.synthetic else self.synthetic.assign(repeat=1)
        pools = {}
        for (repeat, size), group in synthetic.sort_values("synthetic_id").groupby(["repeat", "data_size"], sort=False):
            group = group[~group["text"].map(text_key).duplicated()]
            pool = group.assign(_item=self.add_items(group, "synthetic", "synthetic_id")).reset_index(drop=True)
            pools[(int(repeat), size)] = self.with_teacher_labels((int(repeat), size), pool)
        return pools

    def with_teacher_labels(self, cell, pool: pd.DataFrame) -> pd.DataFrame:
        """The pool with the generative teacher's P(positive) and, per review, the item that carries the
        teacher's label (itself, or a `relabelled` copy where the teacher disagrees with its generator)."""
        teacher = self.generative_teacher.get(cell)
        if teacher is None:
            return pool
        p_positive = teacher.p_positive.reindex(pool["synthetic_id"].astype(str)).to_numpy(dtype=float)
        if np.isnan(p_positive).any():
            raise ValueError(
                f"{cell}: the generative teacher has no score for {int(np.isnan(p_positive).sum())} synthetic reviews"
            )
        label = np.where(p_positive >= 0.5, LABELS[1], LABELS[0])
        flipped = pool[label != pool["sentiment"].to_numpy()]
        relabelled = flipped.assign(
            sentiment=label[label != pool["sentiment"].to_numpy()],
            item_id=flipped["synthetic_id"].astype(str) + "~relabelled",
        )
        item = pool["_item"].to_numpy().copy()
        item[np.flatnonzero(label != pool["sentiment"].to_numpy())] = self.add_items(
            relabelled, "relabelled", "item_id"
        )
        return pool.assign(_p_positive=p_positive, _relabelled_item=item)

    def teachers(self, cell, fit, validation, pool, synthetic_pool) -> dict:
        """Per (phase, teacher): P(intended label) of every synthetic review of this size, by each student's
        tuned self (chosen on the validation fold, fit on the phase's genuine rows) and by the generative
        classifier where its labels are given (its generators saw the fit fold only, in both phases)."""
        if synthetic_pool is None or synthetic_pool.empty:
            return {}
        teachers = {}
        if "_p_positive" in synthetic_pool:  # the generative teacher: the same generators for both phases
            p_positive = synthetic_pool["_p_positive"].to_numpy()
            intended = np.where(synthetic_pool["sentiment"].to_numpy() == LABELS[1], p_positive, 1 - p_positive)
            for phase in PHASES:
                teachers[(phase, GENERATIVE)] = (intended, self.generative_teacher[cell].hyperparameters)
        selecting = any(t != GENERATIVE for t in self.config.selection_teachers) and self.config.selection_shares
        weighting = any(t != GENERATIVE for t in self.config.weighting_teachers)
        if not self.config.filter_thresholds and not selecting and not weighting:
            return teachers
        val_labels = self.item_labels[validation]
        synthetic_name = f"synthetic:{cell[0]}:{cell[1]}"
        self.cache.add_eval(synthetic_name, rows=self.item_rows[synthetic_pool["_item"].to_numpy()])
        intended_positive = synthetic_pool["sentiment"].to_numpy() == LABELS[1]
        for clf in students(self.config.classifiers):
            gridpoint, _, _ = select(
                self.cache,
                self.item_rows[fit],
                self.item_labels[fit],
                self.grid.gridpoints(clf, True),
                validation_name(cell),
                val_labels,
            )
            for phase, genuine in (("select", fit), ("refit", pool)):
                p_positive = self.cache.predict(
                    self.item_rows[genuine], self.item_labels[genuine], [gridpoint], [synthetic_name], proba=True
                )[gridpoint][synthetic_name]
                teachers[(phase, clf)] = (
                    np.where(intended_positive, p_positive, 1 - p_positive),
                    self.grid.hyperparameters(gridpoint),
                )
        return teachers

    def sets_for(self, phase, genuine, synthetic_pool, teachers, context, with_reference: bool = True) -> None:
        c = self.config
        base = {
            **context,
            "phase": phase,
            "n_genuine": len(genuine),
            "n_synthetic": 0,
            "requested_synthetic": 0,
            "capped": False,
            "ratio": 0.0,
            "draw": 0,
        }
        genuine_ids = self.items["item_id"].to_numpy()[genuine]
        for kind in TRAINING_DATA.values():
            options = kind.options(c)
            if kind.pool is None:
                for option in options:
                    for draw in range(c.draws if kind.random else 1):
                        members = kind.baseline(genuine, option, self.perturbed_copies(genuine_ids, draw))
                        self.add_set(
                            members, {**base, "draw": draw, "training_data": kind.name, "option": option_key(option)}
                        )
                continue
            pool = synthetic_pool if kind.pool == "synthetic" else (self.reference_pool if with_reference else None)
            if pool is None or pool.empty or not [r for r in c.ratios if float(r) > 0]:
                continue
            for clf in dict.fromkeys(kind.teacher_of(student) for student in students(c.classifiers)):
                if kind.teacher and (phase, clf) not in teachers:
                    continue
                for option in options:
                    p_intended, ranked, teacher = None, None, None
                    if "teacher" in option:  # select or weight: the teacher is in the option
                        scored = selection_scores(teachers, phase, option["teacher"])
                        if scored is None:  # e.g. no generative teacher at this size: no sets
                            message = (
                                f"{context['data_size']} data, repeat {context['repeat']}: {kind.name} with teacher "
                                f"{option['teacher']} skipped: that teacher is not available here"
                            )
                            if message not in self.warnings:
                                self.warnings.append(message)
                            continue
                        ranked, teacher = scored
                    if kind.teacher:
                        p_intended, teacher = teachers[(phase, clf)]
                    chosen = kind.recipe(pool, option, p_intended, ranked)
                    selections = temperature_selections(pool) if kind.pool == "synthetic" else ["all"]
                    for draw in range(c.draws):
                        self.sampled_sets(kind.name, option, clf, teacher, chosen, selections, genuine, draw, base)

    def perturbed_copies(self, genuine_ids, draw):
        """share -> the item rows of the perturbed copies of these genuine reviews at this draw."""

        def copies(share: float) -> np.ndarray:
            by_review = self.perturbed[(share, draw)]  # review_id -> item index
            return by_review[by_review.index.isin(genuine_ids)].to_numpy()

        return copies

    def sampled_sets(self, kind, option, clf, teacher, pool, selections, genuine, draw, base) -> None:
        ratios = [float(r) for r in self.config.ratios if float(r) > 0]
        samples = synthetic_samples(pool, len(genuine), ratios, self.config.seed, draw, selections)
        for (ratio, selection), sample in samples.items():
            if sample.rows.empty:
                continue  # e.g. a filter threshold that leaves no synthetic review of this selection
            weights = None
            if "_weight" in sample.rows:
                weights = np.concatenate([np.ones(len(genuine)), sample.rows["_weight"].to_numpy(dtype=np.float64)])
            self.add_set(
                np.concatenate([genuine, sample.rows["_item"].to_numpy()]),
                {
                    **base,
                    "draw": draw,
                    "training_data": kind,
                    "option": option_key(option),
                    "classifier": clf,
                    "ratio": ratio,
                    "temperature_selection": selection,
                    "n_synthetic": len(sample.rows),
                    "requested_synthetic": sample.requested,
                    "capped": sample.capped,
                    "teacher_hyperparameters": teacher,
                },
                weights,
            )


def build_training_sets(
    training: pd.DataFrame,
    folds: pd.DataFrame,
    synthetic: pd.DataFrame | None,
    reference: pd.DataFrame | None = None,
    config: EvaluationConfig = EvaluationConfig(),
    progress: Callable[[str], None] | None = None,
    candidate_sizes: list[str] | None = None,
    generative_teacher: dict[tuple[int, str], TeacherLabels] | None = None,
) -> TrainingSets:
    """Every training set of every repeat, data size and phase (see the module docstring).

    `synthetic` needs `synthetic_id`, `sentiment`, `temperature`, `text`, `data_size`
    and `repeat` (the data size and repeat of the generator that wrote it, from the
    generator registry); `reference` needs `synthetic_id`, `sentiment`, `text`.
    `candidate_sizes`: the data sizes with generators, which get synthetic and
    reference sets (None: every size); the others get the baselines only.
    `generative_teacher[(repeat, data size)]`: the generative classifier's labels of that cell's
    synthetic reviews, for the sets it filters or relabels (none without it).
    """
    return _Builder(
        training,
        folds,
        synthetic,
        reference,
        config,
        progress or (lambda message: None),
        candidate_sizes,
        generative_teacher,
    ).build()
