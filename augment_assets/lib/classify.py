"""TF-IDF text classifiers, their hyperparameter grid, metrics and bootstrap intervals.

The study's classifier is `TfidfVectorizer()` + `MultinomialNB()`; its evaluation
skipped the TF-IDF transform at predict time. Here one fitted vocabulary and idf
transform the training texts *and* every text scored against them.

Speed: the evaluation fits hundreds of training variants (draws x ratios x
filters) that are sub-multisets of one fixed corpus of training-side texts
(genuine, synthetic, reference, perturbed copies). `TextCounts` tokenizes that
corpus once per n-gram range; `FittedTfidf` then fits a TF-IDF on any
sub-multiset by column selection + sklearn's `TfidfTransformer`. That is exactly
`TfidfVectorizer(**options).fit(texts)` (same tokenizer, same vocabulary, same
idf, same column order; tested against a sklearn Pipeline) at a fraction of the
cost. Holdout texts are never part of that corpus: they are only *transformed*
with its counter, and every term outside a variant's training vocabulary is
dropped, as `TfidfVectorizer.transform` would.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from sklearn.pipeline import Pipeline

from .classifiers import CLASSIFIER_SPECS, DEFAULT_VECTORIZER_GRID  # noqa: F401 - re-exported
from .reviews import SENTIMENTS

LABELS = SENTIMENTS  # label 0, label 1
# The TF-IDF students, each classifier's hyperparameter and the grids: declared once, in lib/classifiers.py.
CLASSIFIERS = tuple(name for name, spec in CLASSIFIER_SPECS.items() if spec.tfidf)
PARAM_NAME = {name: spec.param for name, spec in CLASSIFIER_SPECS.items()}
DEFAULT_NB_ALPHAS: tuple[float, ...] = CLASSIFIER_SPECS["nb"].grid
DEFAULT_LR_CS: tuple[float, ...] = CLASSIFIER_SPECS["lr"].grid
DEFAULT_EMBEDDING_CS: tuple[float, ...] = CLASSIFIER_SPECS["embedding"].grid


def encode_labels(sentiments) -> np.ndarray:
    """negative -> 0, positive -> 1 (anything else is a programming error upstream)."""
    values = np.asarray(sentiments, dtype=object)
    encoded = np.where(values == LABELS[1], 1, 0)
    if not np.isin(values, LABELS).all():
        raise ValueError(f"sentiments must be one of {LABELS}")
    return encoded.astype(np.int8)


def make_vectorizer(options: dict | None = None) -> TfidfVectorizer:
    """The study's vectorizer, `TfidfVectorizer()`, with the searched options applied."""
    opts = dict(options or {})
    if "ngram_range" in opts:
        opts["ngram_range"] = tuple(opts["ngram_range"])
    return TfidfVectorizer(**opts)


def make_classifier(name: str, param: float | None = None):
    """The TF-IDF student's classifier step (on TF-IDF features already computed), as its estimator builds it
    (`classifiers.TfidfNaiveBayes` / `TfidfLogisticRegression`); `param=None` gives the library defaults."""
    if name not in CLASSIFIERS:
        raise ValueError(f"unknown classifier {name!r}; expected one of {CLASSIFIERS}")
    return CLASSIFIER_SPECS[name].make(param).classifier_step()


def make_pipeline(name: str, param: float | None = None, options: dict | None = None) -> Pipeline:
    """The reference implementation FittedTfidf + classifier must equal (and the plain way to use it)."""
    return Pipeline([("tfidf", make_vectorizer(options)), ("clf", make_classifier(name, param))])


class TextCounts:
    """Term counts of a fixed corpus of training-side texts, one tokenization per n-gram range.

    Uses CountVectorizer with TfidfVectorizer's default tokenizer and lowercasing,
    so a column subset of these counts is what TfidfVectorizer would count.
    """

    def __init__(self, texts: Sequence[str], ngram_ranges: Sequence[tuple[int, int]] = ((1, 1),)):
        self.n_texts = len(texts)
        self._counters: dict[tuple[int, int], CountVectorizer] = {}
        self._matrices: dict[tuple[int, int], sparse.csr_matrix] = {}
        for ngram_range in dict.fromkeys(tuple(r) for r in ngram_ranges):
            counter = CountVectorizer(ngram_range=ngram_range, dtype=np.float64)
            self._matrices[ngram_range] = counter.fit_transform(list(texts)).tocsr()
            self._counters[ngram_range] = counter

    def rows(self, ngram_range, rows: np.ndarray) -> sparse.csr_matrix:
        return self._matrices[tuple(ngram_range)][np.asarray(rows)]

    def transform(self, ngram_range, texts: Sequence[str]) -> sparse.csr_matrix:
        """Counts of texts outside the corpus (holdouts): transform only, never fit."""
        return self._counters[tuple(ngram_range)].transform(list(texts)).tocsr()


class FittedTfidf:
    """`TfidfVectorizer(**options)` fit on the corpus texts at `rows` (a multiset: repeats count).

    The vocabulary is the terms that occur in those texts; the idf is fit on them;
    the same vocabulary and idf transform the training matrix and every scored text.
    """

    def __init__(self, counts: TextCounts, rows: np.ndarray, options: dict | None = None):
        options = dict(options or {})
        self.ngram_range = tuple(options.get("ngram_range", (1, 1)))
        self._counts = counts
        train = counts.rows(self.ngram_range, rows)
        self.columns = np.flatnonzero(train.getnnz(axis=0))
        self._tfidf = TfidfTransformer(sublinear_tf=bool(options.get("sublinear_tf", False)))
        train = train[:, self.columns]
        self.train_matrix = self._tfidf.fit_transform(train)

    def transform_counts(self, counts_matrix: sparse.csr_matrix) -> sparse.csr_matrix:
        return self._tfidf.transform(counts_matrix[:, self.columns])

    def transform_rows(self, rows: np.ndarray) -> sparse.csr_matrix:
        return self.transform_counts(self._counts.rows(self.ngram_range, rows))


# ---------------------------------------------------------------- metrics


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """accuracy, weighted precision / recall / F1 and macro F1 of 0/1 labels."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    p_w, r_w, f_w, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=[0, 1], average="weighted", zero_division=0
    )
    _, _, f_m, _ = precision_recall_fscore_support(y_true, y_pred, labels=[0, 1], average="macro", zero_division=0)
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "precision_weighted": float(p_w),
        "recall_weighted": float(r_w),
        "f1_weighted": float(f_w),
        "f1_macro": float(f_m),
    }


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """2x2 counts, rows = true (negative, positive), columns = predicted."""
    return confusion_matrix(y_true, y_pred, labels=[0, 1])


def bootstrap_indices(n: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """(n_boot, n) review indices drawn with replacement; share one matrix to pair comparisons."""
    return np.random.default_rng([seed, n, 7919]).integers(0, n, size=(n_boot, n))


def _percentiles(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_interval(correct: np.ndarray, indices: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of accuracy over resampled reviews.

    `correct` is per-review correctness, 0/1 or (with draws) the share of draws
    that got the review right; its mean is the draw-averaged accuracy.
    """
    return _percentiles(np.asarray(correct, dtype=float)[indices].mean(axis=1), level)


def paired_bootstrap_gain(
    correct_a: np.ndarray, correct_b: np.ndarray, indices: np.ndarray, level: float = 0.95
) -> tuple[float, float, float]:
    """(gain, low, high) of accuracy(a) - accuracy(b), both scored on the *same* resampled reviews."""
    diff = np.asarray(correct_a, dtype=float) - np.asarray(correct_b, dtype=float)
    low, high = _percentiles(diff[indices].mean(axis=1), level)
    return float(diff.mean()), low, high


def repeat_indices(n_repeats: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """(n_boot, n_repeats) repeat indices drawn with replacement, for `two_level_bootstrap`."""
    return np.random.default_rng([seed, n_repeats, 15485863]).integers(0, n_repeats, size=(n_boot, n_repeats))


def two_level_bootstrap(
    per_repeat: list[np.ndarray], indices: np.ndarray, repeats: np.ndarray, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean, low, high) over repeats of a per-review quantity, resampling repeats *and* holdout reviews.

    `per_repeat[r]` is per-review correctness (or a paired difference of two
    correctness vectors) of repeat r on the one holdout. Resample b draws repeats
    `repeats[b]` with replacement and holdout reviews `indices[b]` (shared by every
    repeat: the holdout is one sample), and averages; the interval is the percentile
    interval of those averages. With one repeat this is `paired_bootstrap_gain`'s
    interval (or `bootstrap_interval`'s) exactly.
    """
    values = np.asarray(per_repeat, dtype=float)  # (R, n)
    boot = np.stack([v[indices].mean(axis=1) for v in values])  # (R, B): each repeat on each holdout resample
    stats = boot[repeats, np.arange(indices.shape[0])[:, None]].mean(axis=1)  # (B,)
    low, high = _percentiles(stats, level)
    return float(values.mean()), low, high


def unpaired_bootstrap_gain(
    correct_a: np.ndarray, correct_b: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """The naive interval (independent resamples for a and b), for comparison only."""
    a, b = np.asarray(correct_a, dtype=float), np.asarray(correct_b, dtype=float)
    rng = np.random.default_rng([seed, 104729])
    ia = rng.integers(0, len(a), size=(n_boot, len(a)))
    ib = rng.integers(0, len(b), size=(n_boot, len(b)))
    low, high = _percentiles(a[ia].mean(axis=1) - b[ib].mean(axis=1), level)
    return float(a.mean() - b.mean()), low, high
