"""Copied-span detection: synthetic reviews that share a word window with a holdout review only, judged against
how often honest reviews of the same data do.

A review of a domain meets the holdout in stock phrases ("brought my vehicle in for service the day after") even
when its writer never saw the holdout, and the more holdout reviews there are, the more such phrases the holdout
holds that a small training pool lacks. So a share of copying reviews means nothing on its own: `copy_control`
measures it on the genuine training reviews (each against the holdout windows no *other* training review has,
the windows a generator could not have learned from the rest of the pool), and `copying_excess_p_value` asks
whether the synthetic reviews copy more often than that (one-sided Fisher exact test).

Part of `augment_assets.lib.leakage`, which re-exports it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact

from augment_assets.lib.leakage_corpus import _BATCH_DOCS, _ID_COLUMNS, Corpus, _as_corpus, _isin, _windows

DEFAULT_SPAN = 8


def copied_span_leaks(
    synthetic: pd.DataFrame | Corpus,
    holdout: pd.DataFrame | Corpus,
    training_texts: Sequence[str] | Corpus,
    span: int = DEFAULT_SPAN,
) -> pd.DataFrame:
    """Synthetic reviews sharing a `span`-word window with a holdout review that no training review contains.

    A window that also occurs in the training reviews is a phrase the generator
    could have learned legitimately ("i would give zero stars if i could") and is
    exempt. One row per (synthetic review, holdout review): synthetic_id,
    holdout_review_id, span_text (the longest run of consecutive shared windows,
    as words), span_words (its length), n_windows (shared windows in all).
    """
    columns = ["synthetic_id", "holdout_review_id", "span_text", "span_words", "n_windows"]
    syn = _as_corpus(synthetic, "synthetic", ("synthetic_id",) + _ID_COLUMNS)
    hold = _as_corpus(holdout, "holdout", _ID_COLUMNS)
    train = _as_corpus(training_texts, "training_texts", _ID_COLUMNS)
    h_hash, h_doc, h_pos = _windows(hold, span)
    t_hash, _, _ = _windows(train, span)
    holdout_only = ~_isin(h_hash, t_hash)
    h_hash, h_doc, h_pos = h_hash[holdout_only], h_doc[holdout_only], h_pos[holdout_only]
    h_index = pd.Index(h_hash).unique()
    hits = []
    for lo in range(0, len(syn), _BATCH_DOCS):
        hi = min(lo + _BATCH_DOCS, len(syn))
        s_hash, s_doc, s_pos = _windows(syn, span, lo, hi)
        hit = h_index.get_indexer(s_hash) >= 0
        if hit.any():
            hits.append(pd.DataFrame({"hash": s_hash[hit], "sdoc": s_doc[hit], "spos": s_pos[hit]}))
    if not hits:
        return pd.DataFrame(columns=columns)
    pairs = pd.concat(hits).merge(pd.DataFrame({"hash": h_hash, "hdoc": h_doc, "hpos": h_pos}), on="hash")
    # Verify on the words (hash collisions cost time, never a false finding).
    same = [
        np.array_equal(
            syn.word_hash[syn.codes[syn.offsets[s] + sp : syn.offsets[s] + sp + span]],
            hold.word_hash[hold.codes[hold.offsets[h] + hp : hold.offsets[h] + hp + span]],
        )
        for s, sp, h, hp in zip(pairs["sdoc"], pairs["spos"], pairs["hdoc"], pairs["hpos"])
    ]
    pairs = pairs[np.array(same, dtype=bool)]
    if pairs.empty:
        return pd.DataFrame(columns=columns)
    pairs = pairs.drop_duplicates(["sdoc", "hdoc", "spos"]).sort_values(["sdoc", "hdoc", "spos"])
    new_run = (pairs["sdoc"].diff().ne(0) | pairs["hdoc"].diff().ne(0) | pairs["spos"].diff().ne(1)).to_numpy()
    pairs["run"] = np.cumsum(new_run)
    runs = pairs.groupby("run").agg(
        sdoc=("sdoc", "first"), hdoc=("hdoc", "first"), start=("spos", "first"), n=("spos", "size")
    )
    runs = runs.sort_values(["sdoc", "hdoc", "n", "start"], ascending=[True, True, False, True])
    best = runs.drop_duplicates(["sdoc", "hdoc"])
    n_windows = pairs.groupby(["sdoc", "hdoc"]).size()
    rows = []
    for s, h, start, n in zip(best["sdoc"], best["hdoc"], best["start"], best["n"]):
        length = int(n) + span - 1
        rows.append(
            (syn.ids[s], hold.ids[h], " ".join(syn.tokens(s, start, start + length)), length, int(n_windows[(s, h)]))
        )
    return pd.DataFrame(rows, columns=columns)


def copy_control(
    holdout: pd.DataFrame | Corpus, training_texts: Sequence[str] | Corpus, span: int = DEFAULT_SPAN
) -> tuple[int, int]:
    """The negative control of the copied-span check: (genuine training reviews that share a `span`-word window with
    a holdout review that no other training review contains, training reviews).

    Leave-one-out: each training review is held to the holdout windows absent from the rest of the pool, as a
    synthetic review is held to the windows absent from all of it. Its writer never saw the holdout, so its rate
    is how often honest text of this data meets the holdout in a phrase the pool does not teach. (Windows are
    compared by their 64-bit hashes; a collision would only raise the control.)"""
    hold = _as_corpus(holdout, "holdout", _ID_COLUMNS)
    train = _as_corpus(training_texts, "training_texts", _ID_COLUMNS)
    if len(train) == 0:
        return 0, 0
    h_hash, _, _ = _windows(hold, span)
    t_hash, t_doc, _ = _windows(train, span)
    pairs = pd.DataFrame({"hash": t_hash, "doc": t_doc}).drop_duplicates()
    docs_with = pairs.groupby("hash")["doc"].transform("size").to_numpy()
    # a window of one training review only, which the holdout has too
    own = (docs_with == 1) & _isin(pairs["hash"].to_numpy(), h_hash)
    return int(pairs.loc[own, "doc"].nunique()), len(train)


def copied_spans_and_control(
    synthetic: pd.DataFrame | Corpus,
    holdout: pd.DataFrame | Corpus,
    training_texts: Sequence[str] | Corpus,
    span: int = DEFAULT_SPAN,
) -> tuple[pd.DataFrame, tuple[int, int]]:
    """`copied_span_leaks` and `copy_control` of the same holdout and training reviews, each tokenized once."""
    hold = _as_corpus(holdout, "holdout", _ID_COLUMNS)
    train = _as_corpus(training_texts, "training_texts", _ID_COLUMNS)
    return copied_span_leaks(synthetic, hold, train, span), copy_control(hold, train, span)


def copying_excess_p_value(copied: int, reviews: int, control_copied: int, control_reviews: int) -> float:
    """One-sided Fisher exact test that the synthetic reviews share holdout-only spans more often than the control:
    the probability of at least this many copying synthetic reviews if both came from the same rate."""
    if reviews == 0 or control_reviews == 0:
        return 1.0
    table = [[copied, reviews - copied], [control_copied, control_reviews - control_copied]]
    return float(fisher_exact(table, alternative="greater").pvalue)
