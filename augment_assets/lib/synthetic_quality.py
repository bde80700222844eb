"""Post-filters for synthetic reviews and the generator quality measures.

Filters (`filter_synthetic`), applied in this order, each drop counted once under
the first reason that applies:

- ``empty``: no words at all.
- ``too_short``: fewer than `min_words` normalized words.
- ``prompt_echo``: the review adds fewer than `min_new_words` words beyond its prompt
  (the text normalizes to the prompt, or the prompt plus a couple of words).
- ``degenerate``: repetition dominates: one n-gram (`repeat_n` words, default 3)
  covers at least `max_repeat_share` of the text's n-gram positions, or fewer than
  `min_unique_ratio` of its words are distinct (loops like "the pizza the pizza ...").
- ``duplicate``: its `text_key` was already kept earlier in this frame. (Duplicates across
  partitions are removed where the partitions are united, `lib/training_sets.py`, so a
  partition's rows never depend on what other partitions hold.)

Quality measures (`quality_report`): label fidelity (TF-IDF + Multinomial NB fit on the
training reviews), on-topic rate (share mentioning one of the domain's topic words: the
frequent content words of the training reviews, `augment_assets.lib.prompts.domain_words`,
so the measure follows whatever domain the reviews are from), distinct-1/2, 8-word copy
rate against the training reviews, mean words.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np
import pandas as pd

from augment_assets.lib.prompts import domain_words
from augment_assets.lib.text import copy_rate, distinct_n, normalize_text, text_key, word_ngrams, words

REASONS = ("empty", "too_short", "prompt_echo", "degenerate", "duplicate")


def _degenerate(tokens: list[str], repeat_n: int, max_repeat_share: float, min_unique_ratio: float) -> bool:
    if len(tokens) < 2 * repeat_n:
        return False
    if len(set(tokens)) / len(tokens) < min_unique_ratio:
        return True
    grams = word_ngrams(tokens, repeat_n)
    top = Counter(grams).most_common(1)[0][1]
    # positions covered by the most frequent n-gram (its occurrences may overlap)
    return top * repeat_n / len(tokens) >= max_repeat_share and top >= 3


def filter_reasons(
    text: str,
    prompt: str | None = None,
    min_words: int = 8,
    min_new_words: int = 3,
    repeat_n: int = 3,
    max_repeat_share: float = 0.3,
    min_unique_ratio: float = 0.3,
) -> str | None:
    """The first content reason (not duplicate) a text is dropped for, or None."""
    toks = words(text)
    if not toks:
        return "empty"
    if len(toks) < min_words:
        return "too_short"
    if prompt:
        ptoks = words(prompt)
        rest = toks[len(ptoks) :] if toks[: len(ptoks)] == ptoks else toks
        if len(rest) < min_new_words or normalize_text(" ".join(rest)) == normalize_text(prompt):
            return "prompt_echo"
    if _degenerate(toks, repeat_n, max_repeat_share, min_unique_ratio):
        return "degenerate"
    return None


def filter_synthetic(
    frame: pd.DataFrame,
    min_words: int = 8,
    min_new_words: int = 3,
    repeat_n: int = 3,
    max_repeat_share: float = 0.3,
    min_unique_ratio: float = 0.3,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """(kept rows with a `text_key` column added, {reason: count dropped} for every reason).

    Deterministic: rows are examined in `synthetic_id` order when that column exists.
    """
    counts = {r: 0 for r in REASONS}
    if frame is None or len(frame) == 0:
        out = (frame if frame is not None else pd.DataFrame()).copy()
        out["text_key"] = pd.Series(dtype="object")
        return out, counts
    ordered = frame.sort_values("synthetic_id") if "synthetic_id" in frame.columns else frame
    has_prompt = "prompt" in ordered.columns
    seen: set[str] = set()
    keep_idx, keys = [], []
    for idx, row in ordered.iterrows():
        text = row["text"] if isinstance(row["text"], str) else ""
        reason = filter_reasons(
            text,
            row["prompt"] if has_prompt else None,
            min_words,
            min_new_words,
            repeat_n,
            max_repeat_share,
            min_unique_ratio,
        )
        key = text_key(text)
        if reason is None and key in seen:
            reason = "duplicate"
        if reason is not None:
            counts[reason] += 1
            continue
        seen.add(key)
        keep_idx.append(idx)
        keys.append(key)
    kept = ordered.loc[keep_idx].copy()
    kept["text_key"] = keys
    return kept.reset_index(drop=True), counts


def judge_pipeline():
    """The unfitted TF-IDF (project normalization) + MultinomialNB that judges label fidelity."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(preprocessor=normalize_text), MultinomialNB())


def _fit_classifier(train_texts: list[str], train_sentiments: list[str]):
    clf = judge_pipeline()
    clf.fit(list(train_texts), list(train_sentiments))
    return clf


def label_fidelity(
    texts: list[str], sentiment: str, train_texts: list[str], train_sentiments: list[str], _clf=None
) -> float:
    """Share of `texts` that a TF-IDF + MultinomialNB fit on the training reviews labels `sentiment`."""
    texts = list(texts)
    if not texts:
        return 0.0
    clf = _clf if _clf is not None else _fit_classifier(train_texts, train_sentiments)
    return float(np.mean(clf.predict(texts) == sentiment))


def on_topic_rate(texts: list[str], topic_words: Iterable[str]) -> float:
    """Share of texts mentioning at least one topic word (normalized-word match).

    The topic words are the domain's (a prompt table's, `augment_assets.lib.prompts.topic_words`,
    or `domain_words` of the training reviews); there is no default list, so no domain is assumed.
    """
    topic = {normalize_text(w) for w in topic_words} - {""}
    if not topic:
        raise ValueError("on_topic_rate needs at least one topic word (none given)")
    texts = list(texts)
    if not texts:
        return 0.0
    return float(np.mean([bool(topic.intersection(words(t))) for t in texts]))


def quality_report(
    texts: list[str],
    sentiment: str,
    train_texts: list[str],
    train_sentiments: list[str],
    topic_words: Iterable[str] | None = None,
    _clf=None,
) -> dict:
    """label_fidelity, on_topic, distinct_1, distinct_2, copy_rate_8 (vs train_texts), mean_words, n.

    `topic_words` default: `domain_words` of the training reviews by sentiment. `on_topic` is
    left out when there are no topic words (training reviews that share no content word):
    a rate against an empty list would read as "off-topic", which nothing measured.
    """
    texts = [t for t in texts if isinstance(t, str)]
    if topic_words is None:
        by_sentiment: dict[str, list[str]] = {}
        for text, label in zip(train_texts, train_sentiments):
            by_sentiment.setdefault(str(label), []).append(text)
        topic_words = [w for w, _ in domain_words(by_sentiment)]
    topic_words = list(topic_words)
    on_topic = {"on_topic": round(on_topic_rate(texts, topic_words), 4)} if topic_words else {}
    return {
        "n": len(texts),
        "label_fidelity": round(label_fidelity(texts, sentiment, train_texts, train_sentiments, _clf), 4),
        **on_topic,
        "distinct_1": round(distinct_n(texts, 1), 4),
        "distinct_2": round(distinct_n(texts, 2), 4),
        "copy_rate_8": round(copy_rate(texts, train_texts, 8), 4),
        "mean_words": round(float(np.mean([len(words(t)) for t in texts])) if texts else 0.0, 2),
    }
