"""The prompt table: the study's n-gram prompt aid, done from the training reviews only.

Per sentiment:

- ``word``/``bigram``/``trigram`` rows: the `top_k` most frequent n-grams over the
  normalized words (`augment_assets.lib.text.words`) with English stop words removed
  *before* forming n-grams (scikit-learn's ENGLISH_STOP_WORDS, minus negations such
  as "not"/"no" that carry sentiment). Ties are broken alphabetically.
- ``prefix`` rows: the `n_prefixes` most frequent openings of real reviews: the first
  `prefix_words` words of each review, in the review's own casing and punctuation
  (from the original text, so a generation reads naturally), counted by their
  normalized form. Reviews shorter than `prefix_words` words are skipped.
- ``user`` rows: prompts a user adds through configuration, appended as given.

Generation samples from ``prefix`` + ``user`` rows (`prompts_for_generation`);
n-gram rows are the inspectable aid and supply the on-topic word list
(`topic_words`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from augment_assets.lib.errors import InputError
from augment_assets.lib.text import normalize_text, words

COLUMNS = ["sentiment", "kind", "text", "count", "rank"]
# Negations carry sentiment; keep them out of the stop list.
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) - {"not", "no", "nor", "never", "nothing", "none"}

_RAW_WORD = re.compile(r"\S+")


def content_words(text: str) -> list[str]:
    """Normalized words of a text with stop words removed."""
    return [w for w in words(text) if w not in STOP_WORDS]


def opening(text: str, n_words: int) -> str | None:
    """The first `n_words` words of a review in its own spelling (None when it is shorter).

    Whitespace-separated raw tokens are taken until they contain `n_words` normalized
    words; trailing punctuation of the last token is kept only if it is inside a word.
    """
    if not isinstance(text, str):
        return None
    taken: list[str] = []
    count = 0
    for match in _RAW_WORD.finditer(text):
        token = match.group(0)
        n = len(words(token))
        if n == 0:
            taken.append(token)
            continue
        if count + n > n_words:
            break
        taken.append(token)
        count += n
        if count == n_words:
            break
    if count < n_words:
        return None
    prefix = " ".join(taken).rstrip(" ,;:-")
    return prefix or None


def _ranked(counter: Counter, kind: str, sentiment: str, top_k: int, joiner=" ") -> list[dict]:
    items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:top_k]
    return [
        {"sentiment": sentiment, "kind": kind, "text": joiner.join(k) if isinstance(k, tuple) else k,
         "count": int(c), "rank": i + 1}
        for i, (k, c) in enumerate(items)
    ]


def build_prompt_table(
    texts: list[str],
    sentiment: str,
    top_k: int = 50,
    prefix_words: int = 4,
    n_prefixes: int = 200,
    extra_prompts: Iterable[str] = (),
) -> pd.DataFrame:
    """The ranked prompt table of one sentiment; see the module docstring.

    Raises InputError when there are no texts and no user prompts.
    """
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    extra = [p.strip() for p in extra_prompts if isinstance(p, str) and p.strip()]
    if not texts and not extra:
        raise InputError(f"no training reviews and no user prompts for sentiment '{sentiment}'")
    if prefix_words < 1:
        raise ValueError(f"prefix_words must be >= 1, got {prefix_words}")

    unigrams: Counter = Counter()
    bigrams: Counter = Counter()
    trigrams: Counter = Counter()
    for text in texts:
        toks = content_words(text)
        unigrams.update(toks)
        bigrams.update(zip(toks, toks[1:]))
        trigrams.update(zip(toks, toks[1:], toks[2:]))

    # Openings: counted by normalized form; shown in the spelling seen first in rank order.
    opening_count: Counter = Counter()
    opening_form: dict[str, str] = {}
    for text in texts:
        op = opening(text, prefix_words)
        if op is None:
            continue
        key = normalize_text(op)
        opening_count[key] += 1
        opening_form.setdefault(key, op)
    prefixes = sorted(opening_count.items(), key=lambda kv: (-kv[1], kv[0]))[:n_prefixes]

    rows = (
        _ranked(unigrams, "word", sentiment, top_k)
        + _ranked(bigrams, "bigram", sentiment, top_k)
        + _ranked(trigrams, "trigram", sentiment, top_k)
        + [
            {"sentiment": sentiment, "kind": "prefix", "text": opening_form[k], "count": int(c), "rank": i + 1}
            for i, (k, c) in enumerate(prefixes)
        ]
        + [
            {"sentiment": sentiment, "kind": "user", "text": p, "count": 0, "rank": i + 1}
            for i, p in enumerate(extra)
        ]
    )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["count"] = frame["count"].astype("int64")
    frame["rank"] = frame["rank"].astype("int64")
    return frame


# The kinds of rows generation is prompted with; word/bigram/trigram rows are statistics
# (counted with stop words removed, so not contiguous text) and never reach the model.
PROMPT_KINDS = ("prefix", "user")


def prompts_for_generation(table: pd.DataFrame) -> list[str]:
    """The prompts generation samples from: prefix rows then user rows, in rank order."""
    if table is None or len(table) == 0:
        raise InputError("the prompt table is empty: no prompts to generate from")
    rows = table[table["kind"].isin(PROMPT_KINDS)]
    rows = rows.assign(_k=rows["kind"].map({"prefix": 0, "user": 1})).sort_values(["_k", "rank"])
    prompts = [p for p in rows["text"].tolist() if isinstance(p, str) and p.strip()]
    if not prompts:
        sentiments = sorted(set(table["sentiment"].astype(str)))
        raise InputError(
            f"no prefix or user prompts for sentiment {', '.join(sentiments)}: the training reviews are "
            "shorter than prefix_words and no user prompts were given"
        )
    return prompts


def topic_words(table: pd.DataFrame, n: int = 30) -> set[str]:
    """The on-topic word list: the `n` most frequent content words of the table."""
    rows = table[table["kind"] == "word"].sort_values("rank").head(n)
    return set(rows["text"].tolist())
