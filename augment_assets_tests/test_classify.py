"""Vectorizer, classifiers, metrics and bootstrap intervals (augment_assets.lib.classify)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from augment_assets.lib.classify import (
    DEFAULT_VECTORIZER_GRID,
    FittedTfidf,
    TextCounts,
    bootstrap_indices,
    bootstrap_interval,
    classification_scores,
    confusion,
    encode_labels,
    make_classifier,
    make_pipeline,
    make_vectorizer,
    paired_bootstrap_gain,
    unpaired_bootstrap_gain,
)

POSITIVE = "great delicious amazing friendly fresh hot crispy perfect love best".split()
NEGATIVE = "cold soggy rude late bland burnt awful worst slow greasy".split()
NEUTRAL = "pizza crust cheese sauce slice order delivery table service place night pepperoni we the a it".split()


def toy_corpus(n: int, seed: int, noise: float = 0.25) -> tuple[list[str], np.ndarray]:
    """Reviews of neutral words plus a few sentiment words; `noise` of them carry the other side's words."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        label = i % 2
        own, other = (POSITIVE, NEGATIVE) if label else (NEGATIVE, POSITIVE)
        tokens = list(rng.choice(NEUTRAL, size=rng.integers(12, 30)))
        tokens += list(rng.choice(own, size=rng.integers(1, 4)))
        if rng.random() < noise:
            tokens += list(rng.choice(other, size=rng.integers(1, 4)))
        rng.shuffle(tokens)
        # Mixed case and punctuation: the vectorizer's own lowercasing/tokenizing must match.
        texts.append(" ".join(tokens).capitalize() + "!")
        labels.append(label)
    return texts, np.asarray(labels, dtype=np.int8)


@pytest.fixture(scope="module")
def corpus():
    train_texts, train_y = toy_corpus(80, seed=1)
    test_texts, test_y = toy_corpus(60, seed=2)
    return train_texts, train_y, test_texts + ["Unseen words only: zebra xylophone."], np.append(test_y, 1)


@pytest.mark.parametrize("options", DEFAULT_VECTORIZER_GRID)
def test_fitted_tfidf_equals_tfidf_vectorizer(corpus, options):
    """Column selection over shared counts is exactly TfidfVectorizer fit on the training texts."""
    train_texts, _, test_texts, _ = corpus
    # A multiset: the first 10 reviews twice (duplicates must count twice in the idf).
    rows = np.concatenate([np.arange(len(train_texts)), np.arange(10)])
    pool = train_texts + ["an extra corpus text with words outside the training rows zzz"]
    counts = TextCounts(pool, [options["ngram_range"]])
    fitted = FittedTfidf(counts, rows, options)
    reference = make_vectorizer(options)
    expected_train = reference.fit_transform([pool[r] for r in rows])
    assert fitted.train_matrix.shape == expected_train.shape
    np.testing.assert_allclose(fitted.train_matrix.toarray(), expected_train.toarray(), atol=1e-12)
    got = fitted.transform_counts(counts.transform(options["ngram_range"], test_texts))
    np.testing.assert_allclose(got.toarray(), reference.transform(test_texts).toarray(), atol=1e-12)
    # The last test text has no training term: an all-zero row, as TfidfVectorizer gives.
    assert got[len(test_texts) - 1].nnz == 0


@pytest.mark.parametrize("name,param", [("nb", None), ("nb", 0.3), ("lr", None), ("lr", 10.0)])
def test_predictions_equal_a_sklearn_pipeline(corpus, name, param):
    train_texts, train_y, test_texts, _ = corpus
    options = {"ngram_range": (1, 2), "sublinear_tf": True}
    counts = TextCounts(train_texts, [(1, 2)])
    fitted = FittedTfidf(counts, np.arange(len(train_texts)), options)
    ours = make_classifier(name, param).fit(fitted.train_matrix, train_y)
    ours_pred = ours.predict(fitted.transform_counts(counts.transform((1, 2), test_texts)))
    pipeline = make_pipeline(name, param, options).fit(train_texts, train_y)
    np.testing.assert_array_equal(ours_pred, pipeline.predict(test_texts))


def test_the_studys_predict_time_bug_changes_predictions(corpus):
    """The study trained on TF-IDF but predicted on raw counts; that is not what we compute."""
    train_texts, train_y, test_texts, test_y = corpus
    counts = TextCounts(train_texts, [(1, 1)])
    fitted = FittedTfidf(counts, np.arange(len(train_texts)))
    model = make_classifier("nb").fit(fitted.train_matrix, train_y)
    ours = model.predict(fitted.transform_counts(counts.transform((1, 1), test_texts)))
    vectorizer = make_vectorizer().fit(train_texts)
    raw_counts = CountVectorizer(vocabulary=vectorizer.vocabulary_).transform(test_texts)
    buggy = model.predict(raw_counts)  # same vocabulary, TF-IDF transform skipped
    assert (buggy != ours).any()
    np.testing.assert_array_equal(ours, make_pipeline("nb").fit(train_texts, train_y).predict(test_texts))


def test_library_defaults_are_the_studys_setting():
    assert make_classifier("nb").get_params()["alpha"] == 1.0
    assert make_classifier("lr").get_params() == type(make_classifier("lr"))().get_params()
    assert make_vectorizer().get_params() == type(make_vectorizer())().get_params()
    with pytest.raises(ValueError):
        make_classifier("svm")


def test_encode_labels_and_scores():
    np.testing.assert_array_equal(encode_labels(["negative", "positive", "positive"]), [0, 1, 1])
    with pytest.raises(ValueError):
        encode_labels(["negative", "neutral"])
    y_true = np.array([0, 0, 1, 1, 1])
    y_pred = np.array([0, 1, 1, 1, 0])
    scores = classification_scores(y_true, y_pred)
    assert scores["accuracy"] == pytest.approx(0.6)
    assert scores["recall_weighted"] == pytest.approx(0.6)  # weighted recall is accuracy
    assert 0 < scores["f1_macro"] < 1
    assert confusion(y_true, y_pred).tolist() == [[1, 1], [1, 2]]


def test_bootstrap_interval_brackets_accuracy_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = (rng.random(100) < 0.8).astype(float)
    large = (rng.random(2000) < 0.8).astype(float)
    low_s, high_s = bootstrap_interval(small, bootstrap_indices(len(small), 1000, 0))
    low_l, high_l = bootstrap_interval(large, bootstrap_indices(len(large), 1000, 0))
    assert low_s <= small.mean() <= high_s
    assert low_l <= large.mean() <= high_l
    assert (high_l - low_l) < (high_s - low_s) / 2
    # 95% interval of a ~0.8 accuracy on 100 reviews is about +-8 points.
    assert 0.1 < high_s - low_s < 0.22


def test_paired_bootstrap_brackets_gain_and_beats_unpaired_on_correlated_predictions():
    rng = np.random.default_rng(3)
    n = 200
    base = (rng.random(n) < 0.85).astype(float)
    # Candidate = baseline with a few reviews flipped: strongly correlated correctness.
    candidate = base.copy()
    flips = rng.choice(n, size=12, replace=False)
    candidate[flips[:9]] = 1.0
    candidate[flips[9:]] = 0.0
    idx = bootstrap_indices(n, 2000, 0)
    gain, low, high = paired_bootstrap_gain(candidate, base, idx)
    assert gain == pytest.approx(candidate.mean() - base.mean())
    assert low <= gain <= high
    u_gain, u_low, u_high = unpaired_bootstrap_gain(candidate, base, 2000, 0)
    assert u_gain == pytest.approx(gain)
    assert (high - low) < 0.5 * (u_high - u_low)
    # Identical predictions: the paired interval is exactly zero.
    assert paired_bootstrap_gain(base, base, idx) == (0.0, 0.0, 0.0)
    # Draw-averaged correctness (fractions) works the same way.
    frac = (base + candidate) / 2
    g, lo, hi = paired_bootstrap_gain(frac, base, idx)
    assert lo <= g <= hi


def test_two_level_bootstrap_is_the_paired_bootstrap_for_one_repeat_and_widens_with_repeat_spread():
    from augment_assets.lib.classify import paired_bootstrap_gain, repeat_indices, two_level_bootstrap

    rng = np.random.default_rng(3)
    n = 200
    baseline = (rng.random(n) < 0.8).astype(float)
    candidate = baseline.copy()
    candidate[rng.choice(n, 10, replace=False)] = 1.0
    idx = bootstrap_indices(n, 500, seed=1)
    one = two_level_bootstrap([candidate - baseline], idx, repeat_indices(1, 500))
    assert one == pytest.approx(paired_bootstrap_gain(candidate, baseline, idx))
    # Three repeats whose gains differ a lot: the interval must hold the repeat-to-repeat spread too.
    worse = baseline.copy()
    worse[np.flatnonzero(baseline == 1)[:12]] = 0.0
    vectors = [candidate - baseline, worse - baseline, candidate - baseline]
    mean, low, high = two_level_bootstrap(vectors, idx, repeat_indices(3, 500))
    assert mean == pytest.approx(np.mean([v.mean() for v in vectors]))
    holdout_only = paired_bootstrap_gain(np.mean([candidate, worse, candidate], axis=0), baseline, idx)
    assert high - low > 1.5 * (holdout_only[2] - holdout_only[1])


@pytest.mark.parametrize("clf,param", [("nb", 0.5), ("lr", 3.0)])
def test_sample_weights_fit_as_sklearn_does(clf, param):
    """FitCache.predict with `weights` is scikit-learn's pipeline fit with that sample_weight (TF-IDF unweighted);
    weights of 1 are no weights, and other weights change the fit."""
    from augment_assets.lib.classify import make_pipeline
    from augment_assets.lib.fitting import FitCache

    texts, y = toy_corpus(80, 5)
    evals, _ = toy_corpus(30, 6)
    weights = np.random.default_rng(1).uniform(0.05, 1.0, len(texts))
    options = {"ngram_range": (1, 2), "sublinear_tf": True}
    cache = FitCache((options,))
    rows = cache.register(texts)
    cache.freeze()
    cache.add_eval("e", texts=evals)
    gridpoint = (0, clf, param)
    ours = cache.predict(rows, y, [gridpoint], ["e"], proba=True, weights=weights)[gridpoint]["e"]
    reference = make_pipeline(clf, param, options).fit(texts, y, clf__sample_weight=weights).predict_proba(evals)[:, 1]
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-8)
    unweighted = cache.predict(rows, y, [gridpoint], ["e"], proba=True)[gridpoint]["e"]
    ones = cache.predict(rows, y, [gridpoint], ["e"], proba=True, weights=np.ones(len(texts)))[gridpoint]["e"]
    np.testing.assert_allclose(ones, unweighted, rtol=1e-6, atol=1e-8)
    assert np.abs(ours - unweighted).max() > 1e-3
    # the key is the multiset of (row, label, weight): reordering the set is the same fit
    order = np.random.default_rng(2).permutation(len(texts))
    assert FitCache.train_key(rows[order], y[order], weights[order]) == FitCache.train_key(rows, y, weights)
    assert FitCache.train_key(rows, y, weights) != FitCache.train_key(rows, y, weights * 2)
