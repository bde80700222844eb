"""Leakage detection between a holdout and everything upstream of a classifier or generator.

Dagster-free: the asset checks call these functions and turn their findings into
check results. Every function returns a DataFrame of findings; an empty frame
means clean. Texts are compared only through `augment_assets.lib.text`
(`words`, `normalize_text`, `text_key`, `copy_rate`, `distinct_n`): "the same
review" means the same thing here as in dedup and the split.

Scale. The checks must run on 1,000,000 synthetic reviews against 100,000
holdout reviews in under two minutes on two cores (`bench/leakage.py`). So texts
are tokenized once into a `Corpus` (words -> stable 64-bit word hashes, flat
numpy arrays), word windows are hashed with numpy, and matching is done with
hash tables (`pandas.Index.get_indexer`) and sorted arrays instead of pairs.
Every hash match is verified on the words themselves before it is reported, so a
hash collision can cost time but never produce a false finding.

Near duplicates: `augment_assets.lib.leakage_near` (Jaccard of word 3-shingle sets,
prefix-filtered, exact). Copied spans: `augment_assets.lib.leakage_spans`. The `Corpus`
and the hashing they share: `augment_assets.lib.leakage_corpus`. All re-exported here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import pandas as pd

from augment_assets.lib.errors import InputError
from augment_assets.lib.leakage_corpus import (  # noqa: F401 - re-exported
    _ID_COLUMNS,
    PREVIEW_CHARS,
    Corpus,
    _as_corpus,
    _doc_hashes,
    _preview,
    tokenize,
)
from augment_assets.lib.leakage_near import (  # noqa: F401 - re-exported
    DEFAULT_NEAR_DUP_THRESHOLD,
    DEFAULT_SHINGLE,
    near_duplicate_leaks,
    near_duplicate_pairs,
)
from augment_assets.lib.leakage_spans import (  # noqa: F401 - re-exported
    DEFAULT_SPAN,
    copied_span_leaks,
    copied_spans_and_control,
    copy_control,
    copying_excess_p_value,
)
from augment_assets.lib.text import copy_rate, distinct_n, normalize_text, text_key, word_ngrams, words

# --------------------------------------------------------------------------- exact


def exact_leaks(
    holdout: pd.DataFrame | Corpus, others: dict[str, pd.DataFrame | Sequence[str] | Corpus]
) -> pd.DataFrame:
    """Holdout reviews whose normalized text (`text_key`) occurs in a named corpus.

    One row per (holdout review, corpus, matching row): holdout_review_id,
    corpus, other_id (the row's review_id / synthetic_id, its index for frames
    without one, its position for lists), text_key, text_preview. Empty holdout
    texts are ignored (an empty review is not a leak).
    """
    columns = ["holdout_review_id", "corpus", "other_id", "text_key", "text_preview"]
    hold = _as_corpus(holdout, "holdout", _ID_COLUMNS)
    h_hash = _doc_hashes(hold)
    nonempty = np.flatnonzero(hold.lengths > 0)
    h_index = pd.DataFrame({"h": h_hash[nonempty], "hdoc": nonempty})
    rows = []
    for name, other in others.items():
        oc = _as_corpus(other, name, _ID_COLUMNS)
        o_frame = pd.DataFrame({"h": _doc_hashes(oc), "odoc": np.arange(len(oc))})
        o_frame = o_frame[o_frame["h"].isin(h_index["h"])]
        pairs = h_index.merge(o_frame, on="h")
        for hdoc, odoc in zip(pairs["hdoc"], pairs["odoc"]):
            normalized = normalize_text(hold.texts[hdoc])
            if normalized != normalize_text(oc.texts[odoc]):
                continue  # a 64-bit collision, not a copy
            rows.append((hold.ids[hdoc], name, oc.ids[odoc], text_key(hold.texts[hdoc]), _preview(hold.texts[hdoc])))
    found = pd.DataFrame(rows, columns=columns)
    return found.sort_values(["corpus", "holdout_review_id", "other_id"], key=_sort_key).reset_index(drop=True)


def _sort_key(col: pd.Series) -> pd.Series:
    return col.astype(str) if col.dtype == object else col


# --------------------------------------------------------------------------- business, prompts, memorization


def business_overlap(training: pd.DataFrame, holdout: pd.DataFrame) -> pd.DataFrame:
    """Business ids with reviews on both sides of the split (nulls ignored): business_id, n_training, n_holdout."""
    columns = ["business_id", "n_training", "n_holdout"]
    for name, frame in (("training", training), ("holdout", holdout)):
        if "business_id" not in frame.columns:
            raise InputError(f"{name}: expected a 'business_id' column (null when unknown)")
    n_train = training["business_id"].dropna().value_counts()
    n_hold = holdout["business_id"].dropna().value_counts()
    both = n_train.index.intersection(n_hold.index)
    found = pd.DataFrame(
        {"business_id": both, "n_training": n_train.loc[both].to_numpy(), "n_holdout": n_hold.loc[both].to_numpy()}
    )
    return found.sort_values(["n_holdout", "business_id"], ascending=[False, True], key=_sort_key).reset_index(
        drop=True
    )[columns]


def prompt_leaks(
    prompts: pd.DataFrame,
    holdout: pd.DataFrame,
    training_texts: Sequence[str],
    max_n: int = 3,
    min_n: int = 2,
) -> pd.DataFrame:
    """Prompts containing a holdout-only n-gram (min_n <= n <= max_n words).

    A holdout-only n-gram occurs in at least one holdout review and in no training
    review. Prompts are meant to come from the training reviews, so such an
    n-gram can only have come from the holdout. Single words are off by default
    (min_n=2): on the pizza reviews they added no detection of the holdout's
    openings, only flags on rare words the training reviews happen to lack.
    Bigrams stay on because a 2-word prompt can only be caught by them, at a
    price: they flag more 3-word openings of other text (the study's GPT-2
    reviews) than trigrams alone, while holdout openings are flagged as often
    either way (docs/results.md,
    "Holdout-only n-grams in prompts"). Columns: prompt,
    sentiment, kind, ngram, holdout_review_id (one row per holdout review
    containing the n-gram).
    """
    columns = ["prompt", "sentiment", "kind", "ngram", "holdout_review_id"]
    if not 1 <= min_n <= max_n:
        raise InputError(f"need 1 <= min_n <= max_n, got min_n={min_n}, max_n={max_n}")
    if "text" not in prompts.columns:
        raise InputError(f"prompts: expected a 'text' column, got {list(prompts.columns)}")
    ns = range(min_n, max_n + 1)
    training_grams = {g for t in training_texts for n in ns for g in word_ngrams(words(t), n)}
    prompt_grams: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, text in enumerate(prompts["text"].tolist()):
        for n in ns:
            for g in set(word_ngrams(words(text), n)):
                if g not in training_grams:
                    prompt_grams[g].append(i)
    if not prompt_grams:
        return pd.DataFrame(columns=columns)
    hold_ids = holdout["review_id"].to_numpy() if "review_id" in holdout.columns else holdout.index.to_numpy()
    rows = []
    for j, text in enumerate(holdout["text"].tolist()):
        toks = words(text)
        for n in ns:
            for g in set(word_ngrams(toks, n)):
                for i in prompt_grams.get(g, ()):
                    rows.append((i, " ".join(g), hold_ids[j]))
    if not rows:
        return pd.DataFrame(columns=columns)
    found = pd.DataFrame(rows, columns=["i", "ngram", "holdout_review_id"])
    get = lambda col: prompts[col].to_numpy()[found["i"].to_numpy()] if col in prompts.columns else None  # noqa: E731
    found = found.assign(prompt=get("text"), sentiment=get("sentiment"), kind=get("kind"))[columns]
    return found.sort_values(["prompt", "ngram", "holdout_review_id"], key=_sort_key).reset_index(drop=True)


def memorization(synthetic: pd.DataFrame, training_texts: Sequence[str], span: int = DEFAULT_SPAN) -> pd.DataFrame:
    """Per (sentiment, temperature): n, copy_rate (share copying a `span`-word window of the training reviews), distinct_1, distinct_2.

    A missing temperature column (e.g. a reference generator's output) gives one
    row per sentiment with a null temperature.
    """
    columns = ["sentiment", "temperature", "n", "copy_rate", "distinct_1", "distinct_2"]
    frame = synthetic.assign(text=synthetic["text"].fillna("").astype(str))
    if "temperature" not in frame.columns:
        frame = frame.assign(temperature=np.nan)
    training = list(training_texts)
    rows = []
    for (sentiment, temperature), group in frame.groupby(["sentiment", "temperature"], dropna=False, sort=True):
        texts = group["text"].tolist()
        rows.append(
            (
                sentiment,
                temperature,
                len(texts),
                copy_rate(texts, training, span),
                distinct_n(texts, 1),
                distinct_n(texts, 2),
            )
        )
    return pd.DataFrame(rows, columns=columns)
