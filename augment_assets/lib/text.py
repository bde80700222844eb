"""The one text normalizer of the project, and the small measures built on it.

Dedup, the train/holdout split, the leakage checks, the prompt table and the
synthetic-review filters all compare texts through `normalize_text` / `words`,
so "the same review" means one thing everywhere.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

# Words are runs of letters/digits, with inner apostrophes kept ("don't", "joe's").
_WORD_RE = re.compile(r"[0-9a-z]+(?:'[0-9a-z]+)*")
_APOSTROPHES = ("\u2019", "\u2018", "`", "\u00b4")


def words(text: str | None) -> list[str]:
    """Normalized word tokens: NFKC, typographic apostrophes unified, case-folded, punctuation dropped."""
    if not text:
        return []
    text = str(text)
    # Hot path of ingestion and the leakage checks (millions of reviews): on ASCII text NFKC
    # is the identity and casefold() is lower(); one str.replace per apostrophe beats
    # str.translate, which is per character.
    if text.isascii():
        folded = text.lower().replace("`", "'")
    else:
        folded = unicodedata.normalize("NFKC", text)
        for apostrophe in _APOSTROPHES:
            folded = folded.replace(apostrophe, "'")
        folded = folded.casefold()
    return _WORD_RE.findall(folded)


def normalize_text(text: str | None) -> str:
    """The comparison form of a text: its normalized words joined by single spaces.

    Two reviews that differ only in case, punctuation, whitespace or Unicode form
    normalize to the same string.
    """
    return " ".join(words(text))


def text_key(text: str | None) -> str:
    """A short stable hash of the normalized text: the exact-match key used for dedup and leakage."""
    return hashlib.sha1(normalize_text(text).encode("utf-8")).hexdigest()[:16]


def word_ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    """Contiguous n-word spans of a token list (empty when the list is shorter than n)."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct-n diversity: unique n-grams over all n-grams across the texts (0 when there are none)."""
    total = 0
    unique: set[tuple[str, ...]] = set()
    for text in texts:
        grams = word_ngrams(words(text), n)
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def span_set(texts: Iterable[str], span: int) -> set[int]:
    """Hashes of every `span`-word window in the texts: a compact index for copy detection."""
    index: set[int] = set()
    for text in texts:
        index.update(hash(g) for g in word_ngrams(words(text), span))
    return index


def copies_span(text: str, index: set[int], span: int) -> bool:
    """True when the text shares at least one `span`-word window with the indexed texts."""
    return any(hash(g) in index for g in word_ngrams(words(text), span))


def copy_rate(texts: list[str], reference_texts: Iterable[str], span: int = 8) -> float:
    """Share of `texts` that copy at least one `span`-word window of the reference texts."""
    if not texts:
        return 0.0
    index = span_set(reference_texts, span)
    return sum(copies_span(t, index, span) for t in texts) / len(texts)


def text_hash(text: str) -> str:
    """The cache key of a text: the whitespace-normalised text the model reads (case kept: the model sees case)."""
    return hashlib.sha1(" ".join(str(text).split()).encode("utf-8")).hexdigest()[:20]
