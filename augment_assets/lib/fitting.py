"""Fitting many TF-IDF classifiers fast: one tokenized corpus, cached predictions, and the grid.

The evaluation fits thousands of (training set, TF-IDF options, classifier, parameter)
combinations whose training sets are multisets of one fixed corpus of training-side
texts. `FitCache` tokenizes that corpus once (`classify.TextCounts`), fits TF-IDF on any
multiset by column selection (`classify.FittedTfidf`, tested equal to
`TfidfVectorizer().fit`), and computes each prediction once. `Grid` is the searched
hyperparameter space; `select` is scikit-learn's select-on-validation step
(`GridSearchCV` with a `PredefinedSplit`: training rows only ever train, the validation
rows only ever score), ties keeping the earlier gridpoint (library defaults first).
"""

from __future__ import annotations

import hashlib
import json
import warnings as pywarnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .classifiers import best_index
from .classify import PARAM_NAME, FittedTfidf, TextCounts, make_classifier


def _canonical(options: dict) -> tuple:
    return tuple(options.get("ngram_range", (1, 1))), bool(options.get("sublinear_tf", False))


@dataclass(frozen=True)
class Grid:
    """TF-IDF options by index (0 = `TfidfVectorizer()`'s defaults) and classifier parameters.

    A gridpoint is `(vectorizer index, classifier, parameter)`; parameter None is the
    library default (the study's setting, the `genuine` baseline's only point).
    """

    vec_options: tuple[dict, ...]
    tuning_vecs: tuple[int, ...]
    params: dict

    @classmethod
    def from_config(cls, vectorizer_grid, nb_alphas, lr_cs, embedding_cs=()) -> Grid:
        options = [{"ngram_range": (1, 1), "sublinear_tf": False}]
        for o in vectorizer_grid:
            if _canonical(o) not in [_canonical(x) for x in options]:
                options.append({"ngram_range": _canonical(o)[0], "sublinear_tf": _canonical(o)[1]})
        canon = [_canonical(x) for x in options]
        tuning = tuple(dict.fromkeys(canon.index(_canonical(o)) for o in vectorizer_grid))
        return cls(
            tuple(options), tuning, {"nb": tuple(nb_alphas), "lr": tuple(lr_cs), "embedding": tuple(embedding_cs)}
        )

    def gridpoints(self, clf: str, tuned: bool, search_vectorizer: bool = True) -> list[tuple]:
        """Library defaults first. `search_vectorizer=False`: the classifier's parameter alone, at the
        vectorizer's defaults."""
        if clf == "embedding":  # no TF-IDF: its features are the base model's hidden states
            return [(None, clf, p) for p in self.params[clf]] if tuned else [(None, clf, None)]
        if not tuned:
            return [(0, clf, None)]
        vecs = self.tuning_vecs if search_vectorizer else (0,)
        return [(v, clf, p) for v in vecs for p in self.params[clf]]

    def hyperparameters(self, gridpoint, option: dict | None = None) -> str:
        """The gridpoint (and the training data's option) as the JSON the tables show."""
        vec, clf, param = gridpoint
        if vec is None:  # no TF-IDF: the generative classifier (its threshold) or the embedding one (its C)
            return json.dumps(
                {PARAM_NAME[clf]: "default" if param is None else param, **(option or {})}, sort_keys=True
            )
        opts = self.vec_options[vec]
        out = {
            "ngram_range": list(opts.get("ngram_range", (1, 1))),
            "sublinear_tf": bool(opts.get("sublinear_tf", False)),
            PARAM_NAME[clf]: "default" if param is None else param,
        }
        out.update(option or {})
        return json.dumps(out, sort_keys=True)


class FitCache:
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
    def train_key(rows: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> str:
        pairs = rows.astype(np.int64) * 2 + labels.astype(np.int64)
        if weights is None:
            return hashlib.blake2b(np.sort(pairs).tobytes(), digest_size=16).hexdigest()
        order = np.lexsort((weights, pairs))  # the same multiset of (row, label, weight) gives the same key
        digest = hashlib.blake2b(pairs[order].tobytes(), digest_size=16)
        digest.update(np.asarray(weights, dtype=np.float64)[order].tobytes())
        return "w" + digest.hexdigest()

    @staticmethod
    def fit_order(rows: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, dict]:
        """The order to fit a training set's rows in (independent of the input order, as `train_key` is) and the
        fit's keyword arguments: `sample_weight` in that order, when the set is weighted."""
        if weights is None:
            return np.argsort(rows, kind="stable"), {}
        order = np.lexsort((weights, rows))
        return order, {"sample_weight": np.asarray(weights, dtype=np.float64)[order]}

    def predict(
        self, rows, labels, gridpoints, eval_names, proba: bool = False, weights: np.ndarray | None = None
    ) -> dict:
        """{gridpoint: {eval_name: predicted 0/1 (or P(positive) with proba)}}; gridpoint = (vec, clf, param).
        `weights`: each training row's sample weight (None: 1 each); TF-IDF is fit on the rows unweighted."""
        key = self.train_key(rows, labels, weights)
        kind = "proba" if proba else "pred"
        missing = [gp for gp in gridpoints if any((key, gp, e, kind) not in self._cache for e in eval_names)]
        if missing:
            order, fit_kwargs = self.fit_order(rows, weights)
            rows, labels = rows[order], labels[order]
            for vec in dict.fromkeys(gp[0] for gp in missing):
                options = self.vectorizer_grid[vec]
                fitted = FittedTfidf(self.counts, rows, options)
                evals = {e: fitted.transform_counts(self._eval_matrix(e, fitted.ngram_range)) for e in eval_names}
                for gp in (g for g in missing if g[0] == vec):
                    model = make_classifier(gp[1], gp[2])
                    with pywarnings.catch_warnings():
                        pywarnings.simplefilter("ignore", ConvergenceWarning)
                        model.fit(fitted.train_matrix, labels, **fit_kwargs)
                    self.fits += 1
                    for e, X in evals.items():
                        if proba:
                            self._cache[(key, gp, e, kind)] = model.predict_proba(X)[:, 1]
                        else:
                            self._cache[(key, gp, e, kind)] = model.predict(X).astype(np.int8)
        return {gp: {e: self._cache[(key, gp, e, kind)] for e in eval_names} for gp in gridpoints}


def select(cache: FitCache, rows, labels, gridpoints, val_name: str, val_labels) -> tuple[tuple, float, list[float]]:
    """(best gridpoint, its validation accuracy, every gridpoint's accuracy) of one training set."""
    preds = cache.predict(rows, labels, gridpoints, [val_name])
    accuracies = [float(np.mean(preds[gp][val_name] == val_labels)) for gp in gridpoints]
    best = best_index(accuracies)
    return gridpoints[best], accuracies[best], accuracies
