"""Texts tokenized once into a `Corpus`, and the hashing every leakage check shares.

Words map to stable 64-bit word hashes in flat numpy arrays, and word windows are
hashed with numpy, so the checks in `augment_assets.lib.leakage` (and the
near-duplicate and copied-span detection in `leakage_near` and `leakage_spans`) match
by hash tables and sorted arrays instead of pairs. Tokenization is `text.words`, the
project's one definition of a text's words.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd

from augment_assets.lib.errors import InputError
from augment_assets.lib.text import words

PREVIEW_CHARS = 120

_BATCH_DOCS = 100_000
_MASK64 = (1 << 64) - 1
_U64 = np.uint64


# --------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class Corpus:
    """Texts tokenized once with `text.words`, as flat arrays that the checks share.

    `codes[offsets[i]:offsets[i + 1]]` are the word codes of text i; `vocab[code]`
    is the word and `word_hash[code]` its stable 64-bit hash (pandas' SipHash
    with a fixed key: the same in every process), so corpora tokenized
    separately compare by hash.
    """

    ids: np.ndarray  # one id per text (review_id, synthetic_id, or the position)
    texts: Sequence[str]
    codes: np.ndarray  # int32, all texts' words back to back
    offsets: np.ndarray  # int64, len(texts) + 1
    vocab: np.ndarray  # object array of words
    word_hash: np.ndarray  # uint64, aligned with vocab

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def token_hashes(self, lo: int = 0, hi: int | None = None) -> np.ndarray:
        hi = len(self) if hi is None else hi
        return self.word_hash[self.codes[self.offsets[lo] : self.offsets[hi]]]

    def tokens(self, i: int, start: int = 0, stop: int | None = None) -> list[str]:
        begin, end = self.offsets[i], self.offsets[i + 1]
        stop = end - begin if stop is None else stop
        return list(self.vocab[self.codes[begin + start : begin + stop]])


def tokenize(texts: Iterable[str | None], ids: Iterable | None = None) -> Corpus:
    """A `Corpus` of the texts (None/NaN read as empty); ids default to positions."""
    text_list = [t if isinstance(t, str) else "" for t in texts]
    vocab: defaultdict[str, int] = defaultdict()
    vocab.default_factory = vocab.__len__  # unseen word -> next code
    code_of = vocab.__getitem__
    code_parts, length_parts = [], []
    for lo in range(0, len(text_list), _BATCH_DOCS):
        token_lists = [words(t) for t in text_list[lo : lo + _BATCH_DOCS]]
        length_parts.append(np.fromiter(map(len, token_lists), np.int64, len(token_lists)))
        code_parts.append(np.fromiter(map(code_of, chain.from_iterable(token_lists)), np.int32))
    lengths = np.concatenate(length_parts) if length_parts else np.zeros(0, np.int64)
    offsets = np.zeros(len(text_list) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    words_arr = np.array(list(vocab), dtype=object)
    word_hash = pd.util.hash_array(words_arr) if len(words_arr) else np.zeros(0, _U64)
    id_arr = np.arange(len(text_list)) if ids is None else np.asarray(list(ids), dtype=object)
    if len(id_arr) != len(text_list):
        raise InputError(f"{len(id_arr)} ids for {len(text_list)} texts")
    codes = np.concatenate(code_parts) if code_parts else np.zeros(0, np.int32)
    return Corpus(id_arr, text_list, codes, offsets, words_arr, word_hash.astype(_U64))


def _as_corpus(obj: pd.DataFrame | Sequence[str] | Corpus, name: str, id_columns: Sequence[str]) -> Corpus:
    """Corpus from a frame (ids from the first id column it has, else its index), a list of texts, or a Corpus."""
    if isinstance(obj, Corpus):
        return obj
    if isinstance(obj, pd.DataFrame):
        if "text" not in obj.columns:
            raise InputError(f"{name}: expected a 'text' column, got columns {list(obj.columns)}")
        id_col = next((c for c in id_columns if c in obj.columns), None)
        ids = obj[id_col].to_numpy() if id_col else obj.index.to_numpy()
        return tokenize(obj["text"].tolist(), ids)
    if isinstance(obj, str):
        raise InputError(f"{name}: expected a list of texts, got a single string")
    return tokenize(list(obj))


_ID_COLUMNS = ("review_id", "synthetic_id", "id")


# --------------------------------------------------------------------------- hashing


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a bijective avalanche on uint64 (wrapping arithmetic)."""
    x = x.astype(_U64, copy=True)
    x ^= x >> _U64(30)
    x *= _U64(0xBF58476D1CE4E5B9)
    x ^= x >> _U64(27)
    x *= _U64(0x94D049BB133111EB)
    x ^= x >> _U64(31)
    return x


_POLY = _U64(0x9E3779B97F4A7C15)


def _windows(corpus: Corpus, n: int, lo: int = 0, hi: int | None = None, short: bool = False):
    """Hashes of every n-word window of texts lo..hi: (hash, doc, start-within-doc).

    With `short`, a non-empty text shorter than n contributes one window: all its
    words (so a two-word review still has a shingle set).
    """
    hi = len(corpus) if hi is None else hi
    th = corpus.token_hashes(lo, hi)
    lengths = corpus.lengths[lo:hi]
    doc_of_token = np.repeat(np.arange(lo, hi, dtype=np.int64), lengths)
    base = corpus.offsets[lo]
    n_starts = max(len(th) - n + 1, 0)
    acc = np.zeros(n_starts, _U64)
    for j in range(n):
        acc *= _POLY
        acc += th[j : j + n_starts]
    hashes = _mix(acc)
    end_of_token = np.repeat(corpus.offsets[lo + 1 : hi + 1], lengths)
    starts = np.arange(n_starts, dtype=np.int64)
    valid = starts + n <= (end_of_token[:n_starts] - base)
    hashes, docs = hashes[valid], doc_of_token[:n_starts][valid]
    pos = starts[valid] + base - corpus.offsets[docs]
    if short:
        short_docs = np.flatnonzero((lengths > 0) & (lengths < n)) + lo
        if len(short_docs):
            extra = np.empty(len(short_docs), _U64)
            for k, d in enumerate(short_docs):
                a = n  # salt: never equal to a full window of the same words
                for h in corpus.word_hash[corpus.codes[corpus.offsets[d] : corpus.offsets[d + 1]]].tolist():
                    a = (a * int(_POLY) + h) & _MASK64
                extra[k] = a
            hashes = np.concatenate([hashes, _mix(extra)])
            docs = np.concatenate([docs, short_docs])
            pos = np.concatenate([pos, np.zeros(len(short_docs), np.int64)])
            order = np.argsort(docs, kind="stable")
            hashes, docs, pos = hashes[order], docs[order], pos[order]
    return hashes, docs, pos


def _doc_hashes(corpus: Corpus) -> np.ndarray:
    """One order-sensitive 64-bit hash per text over its normalized words (text_key's equality, hashed)."""
    out = np.zeros(len(corpus), _U64)
    for lo in range(0, len(corpus), _BATCH_DOCS):
        hi = min(lo + _BATCH_DOCS, len(corpus))
        th = corpus.token_hashes(lo, hi)
        lengths = corpus.lengths[lo:hi]
        pos = np.arange(len(th), dtype=np.int64) - np.repeat(corpus.offsets[lo:hi] - corpus.offsets[lo], lengths)
        mixed = _mix(th ^ _mix(pos.astype(_U64) + _U64(1)))
        sums = np.zeros(hi - lo, _U64)
        nonempty = lengths > 0
        if nonempty.any():
            starts = (corpus.offsets[lo:hi] - corpus.offsets[lo])[nonempty]
            sums[nonempty] = np.add.reduceat(mixed, starts)
        out[lo:hi] = _mix(sums ^ lengths.astype(_U64))
    return out


def _isin(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """values in reference, by hash table (faster than np.isin's sort at millions)."""
    return pd.Index(pd.unique(reference)).get_indexer(values) >= 0


def _preview(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "\u2026"
