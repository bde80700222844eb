"""The honest evaluation: tuned baselines vs synthetic candidates, every choice made on validation.

Flow of `evaluate`, per data size (full, and low data = `cap_per_class`):

1. **Select** on `validation_split(genuine, validation_share, seed)`: every
   configuration (classifier hyperparameters, TF-IDF options, duplicate k,
   perturbation share, synthetic ratio and temperature selection, filter
   threshold) is fit on the *fit* part and scored on the validation part;
   random variants are repeated over `draws` draws and compared by their mean.
   Each row of the table (a variant at a ratio and temperature selection) keeps
   its best configuration; then the one baseline and the one candidate with the
   best validation accuracy are marked `baseline_selected` / `selected`.
2. **Refit** each row's chosen configuration on *all* genuine reviews of that
   data size (+ synthetic at the chosen ratio relative to the full genuine count,
   one sample per draw) and score every holdout. A holdout never takes part in a
   choice: its labels are read only after step 1 is finished.
3. **Intervals**: 95% percentile bootstrap over holdout reviews. With draws, a
   review's correctness is the share of draws that got it right, so the
   bootstrap mean is the draw-averaged accuracy reported in `accuracy`. The
   headline gain is paired: one matrix of resampled review indices, both the
   candidate's and the baseline's draw-averaged correctness on the same resample.

Ties on validation accuracy keep the earlier entry: library defaults before
tuned values, smaller k / share / ratio / threshold first, `genuine` before
`genuine_tuned` before duplicates before perturbation, synthetic before filtered.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings as pywarnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from .augment import perturb
from .classify import (
    DEFAULT_LR_CS,
    DEFAULT_NB_ALPHAS,
    DEFAULT_VECTORIZER_GRID,
    LABELS,
    PARAM_NAME,
    FittedTfidf,
    TextCounts,
    bootstrap_indices,
    bootstrap_interval,
    classification_scores,
    confusion,
    encode_labels,
    make_classifier,
    paired_bootstrap_gain,
)
from .errors import InputError
from .validation import cap_per_class, validation_split

BASELINES = ("genuine", "genuine_tuned", "genuine+duplicates", "genuine+perturbed")
CANDIDATES = ("genuine+synthetic", "genuine+synthetic_filtered", "genuine+reference")

METRIC_COLUMNS = [
    "eval_set", "classifier", "variant", "data_size", "genuine_per_class", "synthetic_per_genuine",
    "temperature_selection", "hyperparameters", "n_train", "n_synthetic", "synthetic_capped", "draws",
    "accuracy", "accuracy_std", "accuracy_ci_low", "accuracy_ci_high", "precision_weighted",
    "recall_weighted", "f1_weighted", "f1_macro", "validation_accuracy", "selected",
    "baseline_selected", "gain_vs_baseline", "gain_ci_low", "gain_ci_high",
]


@dataclass
class EvaluationConfig:
    ratios: tuple[float, ...] = (0, 1, 2, 5, 10, 25)  # synthetic reviews per genuine review
    validation_share: float = 0.2
    draws: int = 5  # repeats of every random variant (synthetic sampling, perturbation)
    bootstrap: int = 1000
    seed: int = 0
    low_data_per_class: int | None = 50
    classifiers: tuple[str, ...] = ("nb", "lr")
    nb_alphas: tuple[float, ...] = DEFAULT_NB_ALPHAS
    lr_cs: tuple[float, ...] = DEFAULT_LR_CS
    vectorizer_grid: tuple[dict, ...] = DEFAULT_VECTORIZER_GRID
    duplicate_ks: tuple[int, ...] = (2, 3, 5)
    perturbation_shares: tuple[float, ...] = (0.1, 0.2)
    perturbation_copies: int = 1
    filter_thresholds: tuple[float, ...] = (0.5, 0.7, 0.9)
    # The headline is about *our* generator: the reference is reported (and gets its own
    # paired gain in `headline`) but is not a candidate for `selected` unless this is set.
    select_reference: bool = False
    confidence: float = 0.95


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


def _check_labelled(frame: pd.DataFrame | None, name: str, *, two_classes: bool, notes: list | None = None):
    """The frame if usable; empty texts are an error, or (with `notes`) dropped and noted."""
    if frame is None or len(frame) == 0:
        raise InputError(f"{name} is empty: nothing to score or train on")
    _require_columns(frame, ("sentiment", "text"), name)
    bad = sorted(set(frame["sentiment"].dropna().astype(str)) - set(LABELS))
    if bad or frame["sentiment"].isna().any():
        raise InputError(
            f"{name}: sentiment must be 'negative' or 'positive'; found {bad or ['<null>']}"
        )
    empty = frame["text"].isna() | (frame["text"].astype(str).str.strip() == "")
    if empty.any():
        if notes is None:
            raise InputError(f"{name}: {int(empty.sum())} null or empty texts; drop them first")
        notes.append(f"{name}: dropped {int(empty.sum())} null or empty texts")
        frame = frame[~empty]
        if len(frame) == 0:
            raise InputError(f"{name} has no non-empty text")
    if two_classes and frame["sentiment"].nunique() < 2:
        raise InputError(
            f"{name} has a single class ({frame['sentiment'].iloc[0]!r}, {len(frame)} rows): "
            "accuracy on it says nothing about a sentiment classifier"
        )
    return frame


def _reference_as_synthetic(reference: pd.DataFrame, notes: list) -> pd.DataFrame:
    """The reference frame (sentiment, text) in the synthetic frame's shape, after checking it."""
    reference = _check_labelled(reference, "reference synthetic", two_classes=True, notes=notes)
    return pd.DataFrame(
        {
            "synthetic_id": [f"reference-{i:06d}" for i in range(len(reference))],
            "sentiment": reference["sentiment"].astype(str).to_numpy(),
            "temperature": np.nan,
            "text": reference["text"].astype(str).to_numpy(),
        }
    )


# ------------------------------------------------------------------ training set


def _selection_label(temperature: float) -> str:
    return repr(float(temperature))


def temperature_selections(synthetic: pd.DataFrame | None) -> list[str]:
    """Each temperature alone ("0.7", "0.9", ...) and "all" together; just the one when there is one."""
    if synthetic is None or len(synthetic) == 0:
        return []
    temps = sorted(set(float(t) for t in synthetic["temperature"].dropna()))
    labels = [_selection_label(t) for t in temps]
    return labels + ["all"] if len(labels) > 1 else labels or ["all"]


def _selection_pool(synthetic: pd.DataFrame, selection: str) -> pd.DataFrame:
    if selection == "all":
        return synthetic
    return synthetic[np.isclose(synthetic["temperature"].astype(float), float(selection))]


def _draw_order(pool: pd.DataFrame, seed: int, draw: int) -> pd.DataFrame:
    """Pool rows in an order depending only on (synthetic_id, seed, draw).

    Prefixes are the samples, so a larger ratio's sample contains a smaller one's,
    and a filtered or single-temperature pool is sampled consistently with "all".
    """
    keys = pool["synthetic_id"].astype(str) + f"|draw|{seed}|{draw}"
    order = pd.util.hash_pandas_object(keys, index=False).to_numpy()
    return pool.iloc[np.argsort(order, kind="stable")]


def build_training_set(
    training_reviews: pd.DataFrame,
    synthetic: pd.DataFrame | None,
    ratios,
    seed: int = 0,
    draw: int = 0,
    selections: list[str] | None = None,
) -> pd.DataFrame:
    """Genuine reviews + synthetic at each ratio and temperature selection, one row per review.

    A ratio asks for `round(ratio * n_genuine / 2)` synthetic reviews per sentiment
    (balanced). A request beyond what a sentiment has is capped to the smaller
    sentiment's supply (still balanced) and flagged `capped`; it is not an error.
    """
    genuine = training_reviews
    n_genuine = len(genuine)
    has_synthetic = synthetic is not None and len(synthetic) > 0
    if selections is None:
        selections = temperature_selections(synthetic) if has_synthetic else [None]
    genuine_part = pd.DataFrame(
        {
            "source": "genuine",
            "review_id": genuine["review_id"].astype(object).to_numpy(),
            "synthetic_id": None,
            "temperature": np.nan,
            "sentiment": genuine["sentiment"].astype(str).to_numpy(),
            "text": genuine["text"].astype(str).to_numpy(),
        }
    )
    parts = []
    for selection in selections:
        ordered = {}
        if has_synthetic and selection is not None:
            pool = _draw_order(_selection_pool(synthetic, selection), seed, draw)
            ordered = {s: pool[pool["sentiment"] == s] for s in LABELS}
        supply = min((len(ordered.get(s, ())) for s in LABELS), default=0)
        for ratio in ratios:
            per_class = int(round(float(ratio) * n_genuine / len(LABELS)))
            take = min(per_class, supply)
            meta = {
                "ratio": float(ratio),
                "temperature_selection": selection,
                "requested_synthetic": per_class * len(LABELS),
                "n_synthetic": take * len(LABELS),
                "capped": take < per_class,
                "draw": draw,
                "seed": seed,
            }
            parts.append(genuine_part.assign(**meta))
            if take:
                chosen = pd.concat([ordered[s].iloc[:take] for s in LABELS])
                parts.append(
                    pd.DataFrame(
                        {
                            "source": "synthetic",
                            "review_id": None,
                            "synthetic_id": chosen["synthetic_id"].astype(str).to_numpy(),
                            "temperature": chosen["temperature"].astype(float).to_numpy(),
                            "sentiment": chosen["sentiment"].astype(str).to_numpy(),
                            "text": chosen["text"].astype(str).to_numpy(),
                        }
                    ).assign(**meta)
                )
    columns = [
        "ratio", "temperature_selection", "source", "review_id", "synthetic_id", "temperature",
        "sentiment", "text", "requested_synthetic", "n_synthetic", "capped", "draw", "seed",
    ]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


# ------------------------------------------------------------------ fitting bench


class _Bench:
    """One corpus of training-side texts, its counts, and a cache of fitted predictions.

    A training set is a multiset of corpus rows with labels; its predictions for a
    (TF-IDF options, classifier, parameter) and an evaluation set are computed once.
    """

    def __init__(self, vectorizer_grid: tuple[dict, ...]):
        self.vectorizer_grid = vectorizer_grid
        self.texts: list[str] = []
        self.index: dict[str, int] = {}
        self.counts: TextCounts | None = None
        self._eval_sources: dict[str, tuple[str, object]] = {}
        self._eval_counts: dict[tuple, object] = {}
        self._cache: dict[tuple, np.ndarray] = {}
        self.fits = 0

    def register(self, texts) -> np.ndarray:
        if self.counts is not None:
            raise RuntimeError("corpus is frozen")
        rows = np.empty(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            text = str(text)
            row = self.index.get(text)
            if row is None:
                row = self.index[text] = len(self.texts)
                self.texts.append(text)
            rows[i] = row
        return rows

    def rows(self, texts) -> np.ndarray:
        return np.fromiter((self.index[str(t)] for t in texts), dtype=np.int64, count=len(texts))

    def freeze(self) -> None:
        ngrams = [tuple(o.get("ngram_range", (1, 1))) for o in self.vectorizer_grid]
        self.counts = TextCounts(self.texts, ngrams)

    def add_eval(self, name: str, *, rows: np.ndarray | None = None, texts=None) -> None:
        self._eval_sources[name] = ("rows", rows) if rows is not None else ("texts", list(texts))

    def _eval_matrix(self, name: str, ngram_range):
        key = (name, tuple(ngram_range))
        if key not in self._eval_counts:
            kind, value = self._eval_sources[name]
            self._eval_counts[key] = (
                self.counts.rows(ngram_range, value) if kind == "rows" else self.counts.transform(ngram_range, value)
            )
        return self._eval_counts[key]

    @staticmethod
    def train_key(rows: np.ndarray, labels: np.ndarray) -> str:
        pairs = np.sort(rows.astype(np.int64) * 2 + labels.astype(np.int64))
        return hashlib.blake2b(pairs.tobytes(), digest_size=16).hexdigest()

    def predict(self, rows, labels, gridpoints, eval_names, proba: bool = False) -> dict:
        """{gridpoint: {eval_name: predicted 0/1 (or P(positive) with proba)}}; gridpoint = (vec, clf, param)."""
        key = self.train_key(rows, labels)
        kind = "proba" if proba else "pred"
        missing = [
            gp for gp in gridpoints if any((key, gp, e, kind) not in self._cache for e in eval_names)
        ]
        if missing:
            order = np.argsort(rows, kind="stable")  # fit order independent of input order
            rows, labels = rows[order], labels[order]
            for vec in dict.fromkeys(gp[0] for gp in missing):
                options = self.vectorizer_grid[vec]
                fitted = FittedTfidf(self.counts, rows, options)
                evals = {e: fitted.transform_counts(self._eval_matrix(e, fitted.ngram_range)) for e in eval_names}
                for gp in (g for g in missing if g[0] == vec):
                    model = make_classifier(gp[1], gp[2])
                    with pywarnings.catch_warnings():
                        pywarnings.simplefilter("ignore", ConvergenceWarning)
                        model.fit(fitted.train_matrix, labels)
                    self.fits += 1
                    for e, X in evals.items():
                        if proba:
                            self._cache[(key, gp, e, kind)] = model.predict_proba(X)[:, 1]
                        else:
                            self._cache[(key, gp, e, kind)] = model.predict(X).astype(np.int8)
        return {gp: {e: self._cache[(key, gp, e, kind)] for e in eval_names} for gp in gridpoints}


# ------------------------------------------------------------------ the evaluation


@dataclass
class _Spec:
    """One row of the table before its configuration is chosen."""

    variant: str
    options: list[dict]  # variant-specific choices searched on validation (k, share, threshold)
    draws: int
    ratio: float = 0.0
    selection: str | None = None


@dataclass
class _TrainingSet:
    rows: np.ndarray
    labels: np.ndarray
    n_synthetic: int = 0
    requested: int = 0
    capped: bool = False


@dataclass
class _Row:
    spec: _Spec
    option: dict
    gridpoint: tuple
    validation: list[float]  # per draw, at the chosen configuration
    n_train: list[int] = field(default_factory=list)
    n_synthetic: list[int] = field(default_factory=list)
    capped: bool = False
    predictions: dict = field(default_factory=dict)  # eval_set -> [per-draw predictions]


def _fmt_selection(selection) -> str:
    return "reference" if selection is None else f"temperature {selection}"


class _Evaluation:
    def __init__(self, training_reviews, synthetic, holdouts, reference, config, generator_train_per_class, progress, notes=()):
        self.config = config
        self.progress = progress or (lambda message: None)
        self.warnings: list[str] = list(notes)
        self.training_reviews = training_reviews.reset_index(drop=True)
        self.synthetic = synthetic
        self.reference = reference
        self.holdouts = holdouts
        self.generator_train_per_class = generator_train_per_class
        self.selections = temperature_selections(synthetic)
        # Vectorizer options by index: 0 is TfidfVectorizer()'s defaults (the `genuine` baseline).
        canon = lambda o: (tuple(o.get("ngram_range", (1, 1))), bool(o.get("sublinear_tf", False)))
        options = [{"ngram_range": (1, 1), "sublinear_tf": False}]
        for o in config.vectorizer_grid:
            if canon(o) not in [canon(x) for x in options]:
                options.append({"ngram_range": canon(o)[0], "sublinear_tf": canon(o)[1]})
        self.vec_options = tuple(options)
        self.tuning_vecs = list(dict.fromkeys([canon(x) for x in options].index(canon(o)) for o in config.vectorizer_grid))
        self.bench = _Bench(self.vec_options)
        self.ratios = [float(r) for r in config.ratios if float(r) > 0]
        self._synthetic_tables: dict[tuple, dict] = {}
        self._filter_pools: dict[tuple, pd.DataFrame] = {}
        self.tuned: dict[tuple, tuple] = {}
        self.cap_events: dict[tuple, list] = {}

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            self.progress(f"warning: {message}")

    # -- corpus ------------------------------------------------------------
    def prepare(self) -> None:
        c = self.config
        bench = self.bench
        self.genuine_rows_all = bench.register(self.training_reviews["text"].astype(str).tolist())
        self.labels_all = encode_labels(self.training_reviews["sentiment"])
        self.perturbed: dict[tuple, dict] = {}
        for share in c.perturbation_shares:
            for draw in range(c.draws):
                copies = perturb(self.training_reviews, share, c.perturbation_copies, c.seed, draw)
                copy_rows = bench.register(copies["text"].tolist())
                by_id: dict = {}
                for rid, row in zip(copies["review_id"], copy_rows):
                    by_id.setdefault(rid, []).append(row)
                self.perturbed[(share, draw)] = by_id
        if self.synthetic is not None and len(self.synthetic):
            self.synthetic_rows = bench.register(self.synthetic["text"].astype(str).tolist())
        if self.reference is not None:
            bench.register(self.reference["text"].tolist())
        self.progress(f"tokenizing {len(bench.texts)} training-side texts")
        bench.freeze()
        if self.synthetic is not None and len(self.synthetic):
            bench.add_eval("synthetic", rows=self.synthetic_rows)
        self.holdout_labels = {}
        for name, frame in self.holdouts.items():
            bench.add_eval(f"holdout:{name}", texts=frame["text"].astype(str).tolist())
            self.holdout_labels[name] = encode_labels(frame["sentiment"])

    # -- grids ------------------------------------------------------------
    def grid(self, clf: str) -> list[tuple]:
        params = self.config.nb_alphas if clf == "nb" else self.config.lr_cs
        return [(v, clf, p) for v in self.tuning_vecs for p in params]

    def hyperparameters(self, gridpoint, option: dict) -> str:
        vec, clf, param = gridpoint
        opts = self.vec_options[vec]
        out = {
            "ngram_range": list(opts.get("ngram_range", (1, 1))),
            "sublinear_tf": bool(opts.get("sublinear_tf", False)),
            PARAM_NAME[clf]: "default" if param is None else param,
        }
        out.update(option)
        return json.dumps(out, sort_keys=True)

    def specs(self, data_size: str, cap: int | None) -> list[_Spec]:
        c = self.config
        specs = [
            _Spec("genuine", [{}], 1),
            _Spec("genuine_tuned", [{}], 1),
            _Spec("genuine+duplicates", [{"duplicate_k": int(k)} for k in c.duplicate_ks], 1),
            _Spec("genuine+perturbed", [{"perturb_share": float(s)} for s in c.perturbation_shares], c.draws),
        ]
        if not c.duplicate_ks:
            specs = [s for s in specs if s.variant != "genuine+duplicates"]
        if not c.perturbation_shares:
            specs = [s for s in specs if s.variant != "genuine+perturbed"]
        our_synthetic = bool(self.selections)
        if not our_synthetic:
            self.warn(f"{data_size} data: no synthetic reviews; genuine+synthetic candidates skipped, baselines still reported")
        elif cap is not None and (self.generator_train_per_class is None or self.generator_train_per_class > cap):
            saw = "an unknown number of" if self.generator_train_per_class is None else f"{self.generator_train_per_class}"
            self.warn(
                f"low data ({cap} genuine per class): synthetic candidates skipped; the generator was fine-tuned on "
                f"{saw} reviews per class, more than the classifier may see, and would smuggle them in"
            )
            our_synthetic = False
        if our_synthetic and self.ratios:
            for selection in self.selections:
                for ratio in self.ratios:
                    specs.append(_Spec("genuine+synthetic", [{}], c.draws, ratio, selection))
            for selection in self.selections:
                for ratio in self.ratios:
                    options = [{"filter_threshold": float(t)} for t in c.filter_thresholds]
                    specs.append(_Spec("genuine+synthetic_filtered", options, c.draws, ratio, selection))
        if self.reference is not None and self.ratios:
            if cap is not None:
                self.warn(
                    f"low data ({cap} genuine per class): genuine+reference reported, but the reference generator saw "
                    "more genuine reviews than this classifier (the study's GPT-2 saw 450) — not a fair low-data comparison"
                )
            for ratio in self.ratios:
                specs.append(_Spec("genuine+reference", [{}], c.draws, ratio, None))
        return specs

    # -- training sets ----------------------------------------------------
    def _synthetic_samples(self, data_size, phase, genuine, source_key, pool, selections, draw) -> dict:
        key = (data_size, phase, source_key, draw)
        if key not in self._synthetic_tables:
            table = build_training_set(genuine, pool, self.ratios, self.config.seed, draw, selections=selections)
            samples = {}
            for (ratio, selection), group in table.groupby(["ratio", "temperature_selection"], sort=False, dropna=False):
                synth = group[group["source"] == "synthetic"]
                samples[(float(ratio), selection)] = _TrainingSet(
                    self.bench.rows(synth["text"].tolist()) if len(synth) else np.empty(0, dtype=np.int64),
                    encode_labels(synth["sentiment"]) if len(synth) else np.empty(0, dtype=np.int8),
                    len(synth),
                    int(group["requested_synthetic"].iloc[0]),
                    bool(group["capped"].iloc[0]),
                )
            self._synthetic_tables[key] = samples
        return self._synthetic_tables[key]

    def _filter_pool(self, data_size, phase, genuine_rows, genuine_labels, clf, threshold) -> pd.DataFrame:
        """LAMBADA: synthetic reviews the genuine-trained classifier (genuine_tuned's configuration) gives
        their intended sentiment with probability >= threshold."""
        key = (data_size, phase, clf)
        if key not in self._filter_pools:
            gridpoint = self.tuned[(data_size, clf)]
            p_positive = self.bench.predict(genuine_rows, genuine_labels, [gridpoint], ["synthetic"], proba=True)[
                gridpoint
            ]["synthetic"]
            intended = np.where(self.synthetic["sentiment"].to_numpy() == LABELS[1], p_positive, 1 - p_positive)
            self._filter_pools[key] = self.synthetic.assign(_p_intended=intended)
        pool = self._filter_pools[key]
        return pool[pool["_p_intended"] >= threshold]

    def training(self, data_size, phase, genuine, spec: _Spec, option: dict, draw: int, clf: str) -> _TrainingSet | None:
        rows = self.genuine_rows_all[genuine.index.to_numpy()]
        labels = self.labels_all[genuine.index.to_numpy()]
        if spec.variant in ("genuine", "genuine_tuned"):
            return _TrainingSet(rows, labels)
        if spec.variant == "genuine+duplicates":
            k = option["duplicate_k"]
            return _TrainingSet(np.tile(rows, k), np.tile(labels, k))
        if spec.variant == "genuine+perturbed":
            by_id = self.perturbed[(option["perturb_share"], draw)]
            extra_rows, extra_labels = [], []
            for rid, label in zip(genuine["review_id"], labels):
                for row in by_id.get(rid, ()):
                    extra_rows.append(row)
                    extra_labels.append(label)
            return _TrainingSet(
                np.concatenate([rows, np.asarray(extra_rows, dtype=np.int64)]),
                np.concatenate([labels, np.asarray(extra_labels, dtype=np.int8)]),
            )
        if spec.variant == "genuine+synthetic":
            samples = self._synthetic_samples(data_size, phase, genuine, "synthetic", self.synthetic, self.selections, draw)
        elif spec.variant == "genuine+synthetic_filtered":
            threshold = option["filter_threshold"]
            pool = self._filter_pool(data_size, phase, rows, labels, clf, threshold)
            samples = self._synthetic_samples(
                data_size, phase, genuine, ("filtered", clf, threshold), pool, self.selections, draw
            )
        elif spec.variant == "genuine+reference":
            samples = self._synthetic_samples(data_size, phase, genuine, "reference", self.reference, ["all"], draw)
        else:
            raise AssertionError(spec.variant)
        sample = samples[(spec.ratio, spec.selection if spec.variant != "genuine+reference" else "all")]
        if sample.capped and draw == 0:
            key = (data_size, spec.variant, spec.selection)
            self.cap_events.setdefault(key, []).append((phase, spec.ratio, sample.requested, sample.n_synthetic))
        if sample.n_synthetic == 0:
            return None
        return _TrainingSet(
            np.concatenate([rows, sample.rows]),
            np.concatenate([labels, sample.labels]),
            sample.n_synthetic,
            sample.requested,
            sample.capped,
        )

    # -- select and refit -------------------------------------------------
    def run_row(self, data_size, fit, val_name, genuine, spec: _Spec, clf: str) -> _Row | None:
        gridpoints = [(0, clf, None)] if spec.variant == "genuine" else self.grid(clf)
        best = None  # (mean validation accuracy, option, gridpoint, per-draw accuracies)
        val_labels = self.val_labels[data_size]
        for option in spec.options:
            per_draw = []
            for draw in range(spec.draws):
                ts = self.training(data_size, "select", fit, spec, option, draw, clf)
                if ts is None:
                    break
                preds = self.bench.predict(ts.rows, ts.labels, gridpoints, [val_name])
                per_draw.append([np.mean(preds[gp][val_name] == val_labels) for gp in gridpoints])
            if len(per_draw) < spec.draws:
                continue  # e.g. a filter threshold that leaves no synthetic review
            accs = np.asarray(per_draw)
            means = np.round(accs.mean(axis=0), 10)
            i = int(np.argmax(means))
            if best is None or means[i] > best[0]:
                best = (means[i], option, gridpoints[i], accs[:, i].tolist())
        if best is None:
            self.warn(
                f"{data_size} data, {clf}: {spec.variant} at ratio {spec.ratio:g} ({_fmt_selection(spec.selection)}) "
                "skipped: no configuration left any synthetic review to add"
            )
            return None
        _, option, gridpoint, validation = best
        row = _Row(spec, option, gridpoint, validation)
        holdout_names = [f"holdout:{n}" for n in self.holdouts]
        for draw in range(spec.draws):
            ts = self.training(data_size, "final", genuine, spec, option, draw, clf)
            if ts is None:
                self.warn(
                    f"{data_size} data, {clf}: {spec.variant} at ratio {spec.ratio:g} chose {option} on validation, "
                    "which leaves no synthetic review on the full training set; row skipped"
                )
                return None
            preds = self.bench.predict(ts.rows, ts.labels, [gridpoint], holdout_names)[gridpoint]
            for name in self.holdouts:
                row.predictions.setdefault(name, []).append(preds[f"holdout:{name}"])
            row.n_train.append(len(ts.rows))
            row.n_synthetic.append(ts.n_synthetic)
            row.capped = row.capped or ts.capped
        return row

    def run(self) -> EvaluationResult:
        started = time.perf_counter()
        c = self.config
        self.prepare()
        sizes = [("full", None)]
        if c.low_data_per_class is not None:
            sizes.append(("low", int(c.low_data_per_class)))
        self.val_labels = {}
        results: dict[tuple, list[_Row]] = {}
        for data_size, cap in sizes:
            genuine = cap_per_class(self.training_reviews.assign(_i=self.training_reviews.index), cap, c.seed)
            genuine = genuine.set_index("_i", drop=True)
            fit, val = validation_split(genuine.reset_index(), c.validation_share, c.seed)
            fit, val = fit.set_index("_i"), val.set_index("_i")
            if fit["sentiment"].nunique() < 2 or len(val) == 0:
                raise InputError(f"{data_size} data: too few training reviews per class for a validation split")
            val_name = f"validation:{data_size}"
            self.bench.add_eval(val_name, rows=self.genuine_rows_all[val.index.to_numpy()])
            self.val_labels[data_size] = self.labels_all[val.index.to_numpy()]
            specs = self.specs(data_size, cap)
            for clf in c.classifiers:
                self.progress(f"{data_size} data, {clf}: {len(specs)} rows to select and refit")
                rows = []
                for spec in specs:
                    row = self.run_row(data_size, fit, val_name, genuine, spec, clf)
                    if row is None:
                        continue
                    if spec.variant == "genuine_tuned":
                        self.tuned[(data_size, clf)] = row.gridpoint
                    rows.append(row)
                results[(data_size, cap, clf)] = rows
        for (data_size, variant, selection), events in self.cap_events.items():
            ratios = sorted({e[1] for e in events})
            phase, ratio, requested, got = max(events, key=lambda e: e[2])
            self.warn(
                f"{data_size} data, {variant} ({_fmt_selection(selection)}): ratio(s) {', '.join(f'{r:g}' for r in ratios)} "
                f"ask for more synthetic reviews than exist; capped, balanced per sentiment (largest request: "
                f"{requested} at ratio {ratio:g} on the {'full' if phase == 'final' else 'fit-part'} training set, "
                f"got {got}). Capped ratios can be identical training sets."
            )
        result = self.assemble(results)
        result.seconds = time.perf_counter() - started
        result.extras["fits"] = self.bench.fits
        self.progress(f"evaluation done in {result.seconds:.1f} s ({self.bench.fits} classifier fits)")
        return result

    # -- the tables ---------------------------------------------------------
    def assemble(self, results) -> EvaluationResult:
        c = self.config
        metric_rows, curve_rows, headline_rows = [], [], []
        confusions = {}
        boot = {name: bootstrap_indices(len(frame), c.bootstrap, c.seed) for name, frame in self.holdouts.items()}
        for (data_size, cap, clf), rows in results.items():
            baselines = [r for r in rows if r.spec.variant in BASELINES]
            eligible = ("genuine+synthetic", "genuine+synthetic_filtered") + (
                ("genuine+reference",) if c.select_reference else ()
            )
            candidates = [r for r in rows if r.spec.variant in eligible]
            references = [r for r in rows if r.spec.variant == "genuine+reference"]

            def best(group):
                if not group:
                    return None
                scores = [round(float(np.mean(r.validation)), 10) for r in group]
                return group[int(np.argmax(scores))]

            baseline, selected, reference = best(baselines), best(candidates), best(references)
            if selected is None:
                self.warn(f"{data_size} data, {clf}: no candidate to select; no headline gain")
            for name, frame in self.holdouts.items():
                y = self.holdout_labels[name]
                idx = boot[name]
                correct = {id(r): (np.asarray(r.predictions[name]) == y).mean(axis=0) for r in rows}
                for r in rows:
                    preds = r.predictions[name]
                    scores = [classification_scores(y, p) for p in preds]
                    accs = [s["accuracy"] for s in scores]
                    low, high = bootstrap_interval(correct[id(r)], idx, c.confidence)
                    record = {
                        "eval_set": name,
                        "classifier": clf,
                        "variant": r.spec.variant,
                        "data_size": data_size,
                        "genuine_per_class": cap,
                        "synthetic_per_genuine": r.spec.ratio,
                        "temperature_selection": r.spec.selection,
                        "hyperparameters": self.hyperparameters(r.gridpoint, r.option),
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
                        "selected": r is selected,
                        "baseline_selected": r is baseline,
                        "gain_vs_baseline": np.nan,
                        "gain_ci_low": np.nan,
                        "gain_ci_high": np.nan,
                    }
                    if r is selected:
                        gain, g_low, g_high = paired_bootstrap_gain(correct[id(r)], correct[id(baseline)], idx, c.confidence)
                        record.update(gain_vs_baseline=gain, gain_ci_low=g_low, gain_ci_high=g_high)
                    metric_rows.append(record)
                    if r.spec.variant in CANDIDATES or r.spec.variant == "genuine_tuned":
                        curve_variants = (
                            [(r.spec.variant, r.spec.selection)]
                            if r.spec.variant != "genuine_tuned"
                            else sorted(
                                {(o.spec.variant, o.spec.selection) for o in rows if o.spec.variant in CANDIDATES},
                                key=lambda vs: (CANDIDATES.index(vs[0]), str(vs[1])),
                            )
                        )
                        for variant, selection in curve_variants:
                            curve_rows.append(
                                {
                                    "eval_set": name, "classifier": clf, "data_size": data_size, "variant": variant,
                                    "temperature_selection": selection, "ratio": r.spec.ratio,
                                    "hyperparameters": record["hyperparameters"],
                                    "validation_accuracy": float(np.mean(r.validation)),
                                    "validation_low": float(np.min(r.validation)),
                                    "validation_high": float(np.max(r.validation)),
                                    "accuracy": record["accuracy"],
                                    "accuracy_low": float(np.min(accs)), "accuracy_high": float(np.max(accs)),
                                    "accuracy_ci_low": low, "accuracy_ci_high": high,
                                    "n_synthetic": record["n_synthetic"],
                                }
                            )

                def mean_confusion(r):
                    if r is None:
                        return None
                    return (np.mean([confusion(y, p) for p in r.predictions[name]], axis=0)).round(2).tolist()

                confusions[(clf, name, data_size)] = {"selected": mean_confusion(selected), "baseline": mean_confusion(baseline)}
                genuine_row = next((r for r in rows if r.spec.variant == "genuine"), None)
                head = {
                    "classifier": clf, "eval_set": name, "data_size": data_size, "genuine_per_class": cap,
                    "genuine_accuracy": float(correct[id(genuine_row)].mean()) if genuine_row else np.nan,
                    "baseline_variant": baseline.spec.variant,
                    "baseline_hyperparameters": self.hyperparameters(baseline.gridpoint, baseline.option),
                    "baseline_validation_accuracy": float(np.mean(baseline.validation)),
                    "baseline_accuracy": float(correct[id(baseline)].mean()),
                }
                for prefix, r in (("selected", selected), ("reference", reference)):
                    if r is None:
                        head.update({f"{prefix}_{k}": None for k in ("variant", "temperature_selection", "ratio", "hyperparameters")})
                        head.update({f"{prefix}_validation_accuracy": np.nan, f"{prefix}_accuracy": np.nan})
                        gain = (np.nan, np.nan, np.nan)
                    else:
                        head.update(
                            {
                                f"{prefix}_variant": r.spec.variant,
                                f"{prefix}_temperature_selection": r.spec.selection,
                                f"{prefix}_ratio": r.spec.ratio,
                                f"{prefix}_hyperparameters": self.hyperparameters(r.gridpoint, r.option),
                                f"{prefix}_validation_accuracy": float(np.mean(r.validation)),
                                f"{prefix}_accuracy": float(correct[id(r)].mean()),
                            }
                        )
                        gain = paired_bootstrap_gain(correct[id(r)], correct[id(baseline)], idx, c.confidence)
                    key = "" if prefix == "selected" else "reference_"
                    head.update({f"{key}gain_vs_baseline": gain[0], f"{key}gain_ci_low": gain[1], f"{key}gain_ci_high": gain[2]})
                headline_rows.append(head)
        metrics = pd.DataFrame(metric_rows)
        metrics = metrics[METRIC_COLUMNS + [col for col in metrics.columns if col not in METRIC_COLUMNS]]
        metrics["genuine_per_class"] = metrics["genuine_per_class"].astype("Int64")
        return EvaluationResult(
            metrics=metrics,
            curve=pd.DataFrame(curve_rows),
            confusion=confusions,
            warnings=list(self.warnings),
            headline=pd.DataFrame(headline_rows),
        )


def evaluate(
    training_reviews: pd.DataFrame,
    synthetic: pd.DataFrame | None,
    holdouts: dict[str, pd.DataFrame],
    reference: pd.DataFrame | None = None,
    config: EvaluationConfig = EvaluationConfig(),
    generator_train_per_class: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """The classifier_metrics table, the curve, confusion matrices and the headline (see module docstring).

    `generator_train_per_class`: how many genuine reviews per class the generators
    behind `synthetic` were fine-tuned on; low-data synthetic candidates run only
    when it is known and at most `config.low_data_per_class`.
    """
    _check_labelled(training_reviews, "training_reviews", two_classes=True)
    _require_columns(training_reviews, ("review_id",), "training_reviews")
    if not holdouts:
        raise InputError("no holdout given: evaluate needs at least one labelled holdout (e.g. {'holdout': frame})")
    for name, frame in holdouts.items():
        _check_labelled(frame, f"holdout {name!r}", two_classes=True)
    notes: list[str] = []
    if synthetic is not None and len(synthetic):
        _require_columns(synthetic, ("synthetic_id", "sentiment", "temperature", "text"), "synthetic")
        synthetic = _check_labelled(synthetic, "synthetic", two_classes=False, notes=notes).reset_index(drop=True)
    if reference is not None:
        reference = _reference_as_synthetic(reference, notes)
    if config.draws < 1 or config.bootstrap < 1:
        raise InputError(f"draws and bootstrap must be >= 1, got {config.draws} and {config.bootstrap}")
    # Thousands of small fits: BLAS threads only add contention (measured 25x slower
    # L-BFGS on a busy 2-core machine with OpenBLAS threading on).
    with threadpool_limits(limits=1):
        return _Evaluation(
            training_reviews, synthetic, holdouts, reference, config, generator_train_per_class, progress, notes
        ).run()
