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
- ``topic`` rows: the domain's own frequent content words (`domain_words`): words that
  many reviews of *every* sentiment mention, so they name what the reviews are about
  (pizza and crust, or room and breakfast) rather than how they feel about it. They are
  the on-topic word list (`topic_words`) that synthetic reviews are measured against.

Generation samples from ``prefix`` + ``user`` rows (`prompts_for_generation`);
n-gram and topic rows are the inspectable aid and never reach the model.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from augment_assets.lib.errors import InputError
from augment_assets.lib.text import normalize_text, words

COLUMNS = ["sentiment", "kind", "text", "count", "rank"]
# Negations carry sentiment; keep them out of the stop list.
_NEGATIONS = frozenset({"not", "no", "nor", "never", "nothing", "none"})
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) - _NEGATIONS

# Content words that reviews of any domain use (verbs of experience, evaluations, degree,
# time, quantity): frequent in both sentiments whatever is reviewed, so without this list
# "just", "like" and "good" would top every domain's topic words and make any text look
# on-topic. Domain-neutral on purpose: no word here names a thing that is reviewed.
GENERIC_WORDS = frozenset(
    """ok okay good great nice fine bad best better worst worse awesome amazing excellent terrible
    awful horrible pretty love loved like liked just really actually definitely probably maybe
    got get gets getting go goes going went gone come comes coming came try tried trying think
    thought know knew say said says make made want wanted wants took take taking told ask asked
    give gave gives keep kept arrive arrived second extra
    did does doing use used using need needed look looked looking feel felt way thing things
    sure lot lots bit little right new old big small large long away time times day days night
    today year years week minutes minute hour hours people guy guys star stars review reviews
    overall experience recommend recommended worth""".split()
)
DOMAIN_WORDS = 30  # topic words kept per table: enough for a domain's nouns, few enough to read

_RAW_WORD = re.compile(r"\S+")


def content_words(text: str) -> list[str]:
    """Normalized words of a text with stop words removed."""
    return [w for w in words(text) if w not in STOP_WORDS]


def domain_words(texts_by_sentiment: Mapping[str, Iterable[str]], n: int = DOMAIN_WORDS) -> list[tuple[str, int]]:
    """The domain's `n` topic words with the number of reviews mentioning each, best first.

    A word's score is the smallest, over the sentiments given, share of that sentiment's
    reviews that mention it (a word only one sentiment uses scores 0 and is left out): the
    domain's nouns score high in both, sentiment words in one only. Stop words, negations,
    `GENERIC_WORDS`, contractions, numbers and words under 3 letters are not candidates.
    Ties are broken by the total count, then alphabetically. With one sentiment, its own
    frequent content words.
    """
    shares: list[Counter] = []
    total: Counter = Counter()
    for texts in texts_by_sentiment.values():
        texts = [t for t in texts if isinstance(t, str) and t.strip()]
        if not texts:
            continue
        seen = Counter(w for t in texts for w in set(content_words(t)) if _candidate(w))
        total.update(seen)
        shares.append(Counter({w: c / len(texts) for w, c in seen.items()}))
    if not shares:
        return []
    score = {w: min(share[w] for share in shares) for w in total}
    ranked = sorted((w for w in score if score[w] > 0), key=lambda w: (-score[w], -total[w], w))
    return [(w, int(total[w])) for w in ranked[:n]]


def _candidate(word: str) -> bool:
    return len(word) >= 3 and word.isalpha() and word not in GENERIC_WORDS and word not in _NEGATIONS


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
        {
            "sentiment": sentiment,
            "kind": kind,
            "text": joiner.join(k) if isinstance(k, tuple) else k,
            "count": int(c),
            "rank": i + 1,
        }
        for i, (k, c) in enumerate(items)
    ]


def build_prompt_table(
    texts: list[str],
    sentiment: str,
    top_k: int = 50,
    prefix_words: int = 4,
    n_prefixes: int = 200,
    extra_prompts: Iterable[str] = (),
    domain_texts: Mapping[str, Iterable[str]] | None = None,
) -> pd.DataFrame:
    """The ranked prompt table of one sentiment; see the module docstring.

    `domain_texts` ({sentiment: texts}, e.g. both sentiments of the same fit fold) supply
    the ``topic`` rows; without it they come from `texts` alone.
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
        + [{"sentiment": sentiment, "kind": "user", "text": p, "count": 0, "rank": i + 1} for i, p in enumerate(extra)]
        + [
            {"sentiment": sentiment, "kind": "topic", "text": w, "count": c, "rank": i + 1}
            for i, (w, c) in enumerate(domain_words(domain_texts if domain_texts is not None else {sentiment: texts}))
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


def topic_words(table: pd.DataFrame, n: int = DOMAIN_WORDS) -> list[str]:
    """The on-topic word list of a prompt table: its first `n` ``topic`` rows, in rank order
    (empty when the reviews share no content word; see `domain_words`)."""
    rows = table[table["kind"] == "topic"].sort_values("rank").head(n)
    return rows["text"].tolist()
