"""Every classifier is a scikit-learn estimator, and the evaluation's fast path is that estimator.

The evaluation fits its thousands of configurations through caches (`FitCache`, `EmbeddingFits`, cached
generator margins); these tests hold each cache to the plain estimator of lib/classifiers.py, and the
selection to scikit-learn's own `GridSearchCV` with a predefined split.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, PredefinedSplit

from augment_assets.lib.classifiers import (
    CLASSIFIER_SPECS,
    DEFAULT_VECTORIZER_GRID,
    EmbeddingLogisticRegression,
    GenerativeThreshold,
    best_index,
)
from augment_assets.lib.embedding_fits import EmbeddingFits, Embeddings
from augment_assets.lib.fitting import FitCache, Grid, select
from augment_assets.lib.generative_margins import choose_threshold, predict

from .test_classify import toy_corpus


@pytest.fixture(scope="module")
def data():
    train, y = toy_corpus(60, seed=11)
    test, test_y = toy_corpus(40, seed=12)
    return train, y, test, test_y


def _embed(text: str) -> np.ndarray:
    """A stand-in for the base model: counts of a few words, and the length (deterministic per text)."""
    words = text.lower().split()
    return np.array([words.count(w) for w in ("great", "cold", "rude", "love", "soggy", "best")] + [len(words)], float)


def _margin(texts) -> np.ndarray:
    """A stand-in for the generator pair: negative words minus positive words, with a bias."""
    from .test_classify import NEGATIVE, POSITIVE

    return np.array(
        [
            sum(w in NEGATIVE for w in t.lower().split()) - sum(w in POSITIVE for w in t.lower().split()) + 0.3
            for t in texts
        ]
    )


def _estimators(texts):
    embeddings = Embeddings.of(texts, _embed)
    return [
        CLASSIFIER_SPECS["nb"].make(0.3, {"ngram_range": (1, 2), "sublinear_tf": True}),
        CLASSIFIER_SPECS["lr"].make(3.0),
        CLASSIFIER_SPECS["embedding"].make(0.1, embeddings=embeddings),
        CLASSIFIER_SPECS["generative"].make(None, margins=_margin),
    ]


def test_every_classifier_meets_the_estimator_protocol(data):
    train, y, test, _ = data
    for estimator in _estimators(train + test):
        params = estimator.get_params()
        spec = next(s for s in CLASSIFIER_SPECS.values() if isinstance(estimator, s.estimator))
        assert spec.param in params
        copy = clone(estimator)
        assert copy.get_params().keys() == params.keys() and not hasattr(copy, "classes_")
        assert copy.get_params()[spec.param] == params[spec.param]
        assert estimator.fit(train, y) is estimator
        proba = estimator.predict_proba(test)
        assert proba.shape == (len(test), 2) and np.allclose(proba.sum(axis=1), 1)
        assert list(estimator.classes_) == [0, 1]
        # predict is the side of 1/2 that predict_proba puts a review on
        assert np.array_equal(estimator.predict(test), (proba[:, 1] > 0.5).astype(np.int8)), spec.name
        assert np.mean(estimator.predict(test) == data[3]) > 0.6, spec.name  # learned something
        estimator.set_params(**{spec.param: params[spec.param]})


@pytest.mark.parametrize("clf", ["nb", "lr"])
def test_the_tfidf_fast_path_is_the_estimator(data, clf):
    train, y, test, _ = data
    cache = FitCache(DEFAULT_VECTORIZER_GRID)
    rows = cache.register(train)
    cache.freeze()
    cache.add_eval("test", texts=test)
    weights = np.linspace(0.5, 1.5, len(train))
    gridpoints = [
        (v, clf, p) for v in range(len(DEFAULT_VECTORIZER_GRID)) for p in (None, *CLASSIFIER_SPECS[clf].grid[1:3])
    ]
    fast = cache.predict(rows, y, gridpoints, ["test"], proba=True, weights=weights)
    for gp in gridpoints:
        estimator = CLASSIFIER_SPECS[clf].make(gp[2], DEFAULT_VECTORIZER_GRID[gp[0]])
        plain = estimator.fit(train, y, sample_weight=weights).predict_proba(test)[:, 1]
        np.testing.assert_allclose(fast[gp]["test"], plain, rtol=1e-9, atol=1e-12)


def test_the_embedding_fast_path_is_the_estimator(data):
    train, y, test, _ = data
    embeddings = Embeddings.of(train + test, _embed)
    fits = EmbeddingFits(train, embeddings)
    fits.add_eval("test", texts=test)
    rows = np.arange(len(train))
    gridpoints = [(None, "embedding", p) for p in (None, *CLASSIFIER_SPECS["embedding"].grid[1:])]
    fast = fits.predict(rows, y, gridpoints, ["test"])
    for gp in gridpoints:
        plain = EmbeddingLogisticRegression(C=gp[2], embeddings=embeddings).fit(train, y).predict(test)
        assert np.array_equal(fast[gp]["test"], plain)


def test_the_generative_threshold_is_the_margins_rule(data):
    train, y, test, _ = data
    fixed = GenerativeThreshold(threshold=0.0, margins=_margin).fit(train, y)
    assert np.array_equal(fixed.predict(test), predict(_margin(test), 0.0))
    tuned = GenerativeThreshold(threshold=None, margins=_margin).fit(train, y)
    assert tuned.threshold_ == choose_threshold(_margin(train), y)[0] != 0.0
    assert np.array_equal(tuned.predict(test), predict(_margin(test), tuned.threshold_))


def test_selection_is_grid_search_on_a_predefined_split_with_the_first_best_kept(data):
    train, y, test, test_y = data
    texts = train + test
    labels = np.concatenate([y, test_y])
    cache = FitCache(DEFAULT_VECTORIZER_GRID)
    rows = cache.register(train)
    cache.freeze()
    cache.add_eval("validation", texts=test)
    grid = Grid.from_config(DEFAULT_VECTORIZER_GRID, CLASSIFIER_SPECS["nb"].grid, CLASSIFIER_SPECS["lr"].grid)
    for clf in ("nb", "lr"):
        gridpoints = grid.gridpoints(clf, tuned=True)
        chosen, accuracy, _ = select(cache, rows, y, gridpoints, "validation", test_y)
        spec = CLASSIFIER_SPECS[clf]
        search = GridSearchCV(
            spec.make(),
            [
                {
                    spec.param: [gp[2]],
                    "ngram_range": [DEFAULT_VECTORIZER_GRID[gp[0]]["ngram_range"]],
                    "sublinear_tf": [DEFAULT_VECTORIZER_GRID[gp[0]]["sublinear_tf"]],
                }
                for gp in gridpoints
            ],
            cv=PredefinedSplit(np.r_[np.full(len(train), -1), np.zeros(len(test))]),
            refit=False,
        ).fit(texts, labels)
        assert gridpoints[search.best_index_] == chosen
        assert search.best_score_ == pytest.approx(accuracy)


def test_ties_keep_the_earlier_entry_after_rounding():
    assert best_index([0.5, 0.7, 0.7]) == 1
    # the same correct counts summed in another order differ in the last bits: still a tie
    assert best_index([0.5, 0.7, 0.7 + 1e-13]) == 1
    assert best_index([0.5, 0.7, 0.7 + 1e-6]) == 2
