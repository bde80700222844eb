"""Copied-span detection: synthetic reviews that share a word window with a holdout review only.

Part of `augment_assets.lib.leakage`, which re-exports it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

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
