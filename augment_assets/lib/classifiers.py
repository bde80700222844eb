"""Every classifier as an object: scikit-learn's estimator protocol, its grid declared beside it, and the one
tie-break of selection.

Four classifiers read a review's text and say P(positive):

| name | estimator | its hyperparameter (grid declared here) | features |
| --- | --- | --- | --- |
| `nb` | `TfidfNaiveBayes` | `alpha` | TF-IDF (`TfidfVectorizer` options searched too) |
| `lr` | `TfidfLogisticRegression` | `C` | TF-IDF |
| `embedding` | `EmbeddingLogisticRegression` | `C` | the base model's mean-pooled hidden states |
| `generative` | `GenerativeThreshold` | `threshold` | the generator pair's margin |

Each meets scikit-learn's protocol: parameters in `__init__`, `fit(X, y, sample_weight=None)` returning self,
`predict_proba`, `get_params`/`set_params` (so `clone`, `GridSearchCV` and a saved model work on it). `X` is a
list of review texts; the embedding and generative classifiers look their numbers up through an object they
are given (`Embeddings`, a margin function), so this module needs no model and no torch.

The evaluation fits thousands of configurations; it does so through the fast path (`fitting.FitCache`: one
tokenization, cached predictions; `embedding_fits.EmbeddingFits`; cached generator margins), which is tested
equal to these estimators (`test_classifiers.py`). `CLASSIFIER_SPECS` is the one declaration of each
classifier's name, hyperparameter and grid that both read.
"""

from __future__ import annotations

import warnings as pywarnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# ---------------------------------------------------------------- selection's tie-break, in one place


def tie_rounded(accuracy) -> float:
    """A validation accuracy as selection compares it: rounded to 10 decimals, so two means of the same correct
    counts summed in another order tie (and the earlier entry keeps the tie)."""
    return round(float(accuracy), 10)


def best_index(accuracies: Sequence[float]) -> int:
    """The first of the best validation accuracies. Ties keep the earlier entry, and every list selection reads
    is ordered so that earlier means simpler: library defaults first, smaller options and ratios first,
    variants and classifiers in their declared order."""
    return int(np.argmax([tie_rounded(a) for a in accuracies]))


# ---------------------------------------------------------------- the estimators


def _fit_quietly(model, X, y, **fit_kwargs):
    with pywarnings.catch_warnings():  # a grid's weakest C may not converge in max_iter: still a valid fit
        pywarnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y, **fit_kwargs)


class _TextClassifier(ClassifierMixin, BaseEstimator):
    """Labels 0 (negative) and 1 (positive); `predict` is P(positive) > 1/2 as the fitted model decides it."""

    def predict(self, X) -> np.ndarray:
        return self.model_.predict(self._features(X)).astype(np.int8)

    def predict_proba(self, X) -> np.ndarray:
        return self.model_.predict_proba(self._features(X))

    def _features(self, X):
        return list(X)


class _Tfidf(_TextClassifier):
    def _vectorizer(self) -> TfidfVectorizer:
        return TfidfVectorizer(ngram_range=tuple(self.ngram_range), sublinear_tf=bool(self.sublinear_tf))

    def fit(self, X, y, sample_weight=None):
        self.model_ = make_pipeline(self._vectorizer(), self.classifier_step())
        weights = {} if sample_weight is None else {self.model_.steps[-1][0] + "__sample_weight": sample_weight}
        _fit_quietly(self.model_, list(X), np.asarray(y), **weights)
        self.classes_ = self.model_.classes_
        return self


class TfidfNaiveBayes(_Tfidf):
    """The study's classifier: `TfidfVectorizer()` + `MultinomialNB()`; `alpha=None` is the library default."""

    def __init__(self, alpha: float | None = None, ngram_range=(1, 1), sublinear_tf: bool = False):
        self.alpha, self.ngram_range, self.sublinear_tf = alpha, ngram_range, sublinear_tf

    def classifier_step(self):
        """The classifier on TF-IDF features (the evaluation's fast path fits it on its cached TF-IDF)."""
        return MultinomialNB() if self.alpha is None else MultinomialNB(alpha=self.alpha)


class TfidfLogisticRegression(_Tfidf):
    """`TfidfVectorizer()` + `LogisticRegression()`; `C=None` is the library default (and its max_iter)."""

    def __init__(self, C: float | None = None, ngram_range=(1, 1), sublinear_tf: bool = False):
        self.C, self.ngram_range, self.sublinear_tf = C, ngram_range, sublinear_tf

    def classifier_step(self):
        return LogisticRegression() if self.C is None else LogisticRegression(C=self.C, max_iter=1000)


class EmbeddingLogisticRegression(_TextClassifier):
    """The base model's mean-pooled hidden states, standardised on the training set (a few dimensions of a
    language model's hidden states are orders of magnitude larger than the rest), then logistic regression.

    `embeddings`: any object whose `matrix(texts)` gives one vector per text (`embedding_fits.Embeddings`, read
    from the cache the `embedding` step filled, or computed by `embedding.embed_texts`)."""

    def __init__(self, C: float | None = None, embeddings=None):
        self.C, self.embeddings = C, embeddings

    def _features(self, X):
        if self.embeddings is None:
            raise ValueError("EmbeddingLogisticRegression needs embeddings= (the vectors of the texts it reads)")
        return self.embeddings.matrix(list(X))

    def fit_pipeline(self):
        """The unfitted scaler + logistic regression on vectors (the fast path fits it on cached vectors)."""
        lr = LogisticRegression(max_iter=1000) if self.C is None else LogisticRegression(C=self.C, max_iter=1000)
        return make_pipeline(StandardScaler(), lr)

    def fit(self, X, y, sample_weight=None):
        self.model_ = self.fit_pipeline()
        weights = {} if sample_weight is None else {"logisticregression__sample_weight": sample_weight}
        _fit_quietly(self.model_, self._features(X), np.asarray(y), **weights)
        self.classes_ = self.model_.classes_
        return self


class GenerativeThreshold(_TextClassifier):
    """The generator pair as a classifier: a review's margin (mean log-likelihood under the negative generator
    minus under the positive one) above the threshold means negative.

    `margins`: a function of texts giving their margins (`generative.score_pairs` computes them with the
    models). `threshold=None` fits it on the training reviews (`generative_margins.choose_threshold`: Platt
    scaling of the margin, P(positive) = 1/2); a number keeps it (0: the plain Bayes rule of equal priors).
    It learns no weights: its generators were fine-tuned on genuine reviews before it sees any."""

    def __init__(self, threshold: float | None = 0.0, margins: Callable[[list[str]], np.ndarray] | None = None):
        self.threshold, self.margins = threshold, margins

    def _features(self, X):
        if self.margins is None:
            raise ValueError("GenerativeThreshold needs margins= (the generator pair's margin of each text)")
        return np.asarray(self.margins(list(X)), dtype=float)

    def fit(self, X, y, sample_weight=None):
        from .generative_margins import Calibration, calibrate, choose_threshold

        margins, labels = self._features(X), np.asarray(y)
        self.threshold_ = float(self.threshold) if self.threshold is not None else choose_threshold(margins, labels)[0]
        # P(positive): the calibration's slope and spread fit on these reviews (a unit logistic where none can be
        # fit), its intercept placed so that P(positive) = 1/2 falls on the threshold, as `predict` decides.
        fitted = calibrate(margins, labels) or Calibration()
        self.calibration_ = Calibration(fitted.slope, -fitted.slope * self.threshold_ / fitted.spread, fitted.spread)
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X) -> np.ndarray:
        from .generative_margins import predict

        return predict(self._features(X), self.threshold_)

    def predict_proba(self, X) -> np.ndarray:
        p = self.calibration_.p_positive(self._features(X))
        return np.column_stack([1 - p, p])


# ---------------------------------------------------------------- each classifier declared once

# TF-IDF options searched on validation. The first entry is TfidfVectorizer()'s defaults.
DEFAULT_VECTORIZER_GRID: tuple[dict, ...] = (
    {"ngram_range": (1, 1), "sublinear_tf": False},
    {"ngram_range": (1, 2), "sublinear_tf": False},
    {"ngram_range": (1, 1), "sublinear_tf": True},
    {"ngram_range": (1, 2), "sublinear_tf": True},
)


@dataclass(frozen=True)
class ClassifierSpec:
    """A classifier's name in the tables and settings, its estimator, its hyperparameter and that parameter's
    grid (library default first, so ties keep it), and how the evaluation fits it."""

    name: str
    estimator: type[_TextClassifier]
    param: str
    grid: tuple[float, ...]
    tfidf: bool  # its features are TF-IDF (the vectorizer grid is searched with it)
    fit_on_training_sets: bool  # fit on the stored training sets (so it has synthetic candidates)
    teaches: bool  # a student: its own tuned self filters, selects and weighs synthetic reviews

    def make(self, param: float | None = None, vectorizer_options: dict | None = None, **resources) -> _TextClassifier:
        """The estimator at one gridpoint (`param=None`: the library default)."""
        params = {self.param: param, **resources}
        if self.tfidf:
            options = dict(vectorizer_options or {})
            params["ngram_range"] = tuple(options.get("ngram_range", (1, 1)))
            params["sublinear_tf"] = bool(options.get("sublinear_tf", False))
        return self.estimator(**params)


CLASSIFIER_SPECS: dict[str, ClassifierSpec] = {
    spec.name: spec
    for spec in (
        ClassifierSpec(
            "nb",
            TfidfNaiveBayes,
            "alpha",
            (1.0, 0.5, 0.3, 0.1, 0.03),
            tfidf=True,
            fit_on_training_sets=True,
            teaches=True,
        ),
        ClassifierSpec(
            "lr",
            TfidfLogisticRegression,
            "C",
            (1.0, 0.3, 3.0, 10.0, 30.0, 100.0),
            tfidf=True,
            fit_on_training_sets=True,
            teaches=True,
        ),
        # Log-spaced and reaching far below 1: on a few hundred standardised 576-dimensional vectors little
        # regularisation overfits, so the useful values lie below the default.
        ClassifierSpec(
            "embedding",
            EmbeddingLogisticRegression,
            "C",
            (1.0, 0.001, 0.01, 0.1, 10.0),
            tfidf=False,
            fit_on_training_sets=True,
            teaches=False,
        ),
        # Its grid is two points, not a list: 0 (the Bayes rule) and a threshold fit on the validation fold.
        ClassifierSpec(
            "generative",
            GenerativeThreshold,
            "threshold",
            (0.0,),
            tfidf=False,
            fit_on_training_sets=False,
            teaches=False,
        ),
    )
}
