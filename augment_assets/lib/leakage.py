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

Near duplicates. The similarity is the Jaccard index of word 3-shingle sets,
verified exactly. Candidate pairs come from *prefix filtering* (the AllPairs
set-similarity join, Bayardo et al. 2007): order shingles rarest-first by their
holdout document frequency; two sets with Jaccard >= t must share a shingle
within the first |X| - ceil(t|X|) + 1 shingles of each. This is exact (no
missed pair), and stock phrases ("the pizza was", "highly recommend this
place") sort last, so they rarely generate candidates. MinHash LSH
(`method="minhash"`, datasketch) is kept for comparison on small inputs: on the
200-review pizza holdout against the study's 11,426 GPT-2 reviews it took 4.4 s
and found 99.0% of the 1,107 pairs, prefix filtering 0.8 s and all of them. At
the low threshold real data calls for (0.3, see below) LSH needs bands of 2-3
rows, which over 1e11 pairs sharing stock phrases let through many unrelated
candidates (an estimate, not measured at that size).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import pandas as pd

from augment_assets.lib.errors import InputError
from augment_assets.lib.text import copy_rate, distinct_n, normalize_text, text_key, word_ngrams, words

# Chosen on the 2020 study's Yelp pizza reviews (606 genuine reviews; docs/results.md, "The near-duplicate threshold"),
# Jaccard of word 3-shingle sets (exact, not estimated):
#   - distinct genuine reviews, max over the other 605 per review:
#     median 0.017, 99th pct 0.059, max 0.114 (only 2 reviews above 0.08);
#   - planted copies with 10% of words edited (half deleted, half replaced by a
#     random vocabulary word), Jaccard to their source: median 0.60,
#     1st pct 0.48, min 0.37 -> all 606 caught at 0.3;
#     5% edited: min 0.375; 20% edited: median 0.38, 5th pct 0.30 (~95% caught);
#     30% edited: median 0.25 (mostly missed: no longer a "light" edit);
#   - the study's GPT-2 synthetic reviews (11,426) against the same 606, max per
#     synthetic review: median 0.10, 90th pct 0.49, 99th 0.86, max 0.945;
#     2,832 reach 0.3. That is not "unrelated" text: these 606 reviews contain
#     the study's training reviews (85% of the synthetic reviews copy an 8-word
#     span of them), and the distribution has no gap -- memorization comes in
#     every degree. Whatever of it lands on a holdout review is leakage.
# 0.3 sits 2.6x above the closest pair of distinct genuine reviews and below
# every 10%-edited copy. 1-shingles separate worse (genuine max 0.35 vs edited
# 1st pct 0.78, but two short reviews with common words collide), 5-shingles
# lose edited copies (10% edited: 1st pct 0.26).
DEFAULT_NEAR_DUP_THRESHOLD: float = 0.3
DEFAULT_SHINGLE = 3
DEFAULT_SPAN = 8
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


# --------------------------------------------------------------------------- near duplicates


def _shingle_sets(corpus: Corpus, shingle: int, lo: int, hi: int):
    """Unique shingle hashes per text lo..hi: (hash, doc, set-size per doc, start of each doc's rows)."""
    hashes, docs, _ = _windows(corpus, shingle, lo, hi, short=True)
    dup = pd.Series(hashes ^ _mix(docs.astype(_U64))).duplicated().to_numpy()
    hashes, docs = hashes[~dup], docs[~dup]
    sizes = np.bincount(docs - lo, minlength=hi - lo)
    starts = np.zeros(hi - lo + 1, np.int64)
    np.cumsum(sizes, out=starts[1:])
    return hashes, docs, sizes, starts


def _prefix_len(sizes: np.ndarray, threshold: float) -> np.ndarray:
    """|X| - ceil(t|X|) + 1: a pair with Jaccard >= t shares a token in both prefixes."""
    need = np.ceil(threshold * sizes - 1e-9).astype(np.int64)
    return sizes - np.maximum(need, 1) + 1


def _rank_within(docs: np.ndarray) -> np.ndarray:
    """0, 1, 2... within each run of equal (sorted) doc values."""
    if not len(docs):
        return np.zeros(0, np.int64)
    first = np.r_[True, docs[1:] != docs[:-1]]
    idx = np.arange(len(docs))
    return idx - np.maximum.accumulate(np.where(first, idx, 0))


def near_duplicate_leaks(
    holdout: pd.DataFrame | Corpus,
    others: dict[str, pd.DataFrame | Sequence[str] | Corpus],
    threshold: float = DEFAULT_NEAR_DUP_THRESHOLD,
    num_perm: int = 128,
    shingle: int = DEFAULT_SHINGLE,
    method: str = "prefix",
) -> pd.DataFrame:
    """Holdout reviews within `threshold` Jaccard (word `shingle`-shingle sets) of a row of a named corpus.

    Columns: holdout_review_id, corpus, other_id, jaccard (exact, verified),
    other_preview. Exact copies are reported too (jaccard 1.0). `method`:
    "prefix" (default; exact candidate generation, scales to millions) or
    "minhash" (datasketch MinHash LSH with `num_perm` permutations, then the
    same exact verification; for small inputs and comparison).
    """
    if not 0 < threshold <= 1:
        raise InputError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
    if method not in ("prefix", "minhash"):
        raise InputError(f"method must be 'prefix' or 'minhash', got {method!r}")
    columns = ["holdout_review_id", "corpus", "other_id", "jaccard", "other_preview"]
    hold = _as_corpus(holdout, "holdout", _ID_COLUMNS)
    h_hash, h_docs, h_sizes, h_starts = _shingle_sets(hold, shingle, 0, len(hold))
    parts = []
    for name, other in others.items():
        oc = _as_corpus(other, name, _ID_COLUMNS)
        if method == "minhash":
            pairs = _minhash_pairs(h_hash, h_starts, oc, shingle, threshold, num_perm)
        else:
            pairs = _prefix_pairs(h_hash, h_docs, h_sizes, h_starts, oc, shingle, threshold)
        if len(pairs):
            pairs.insert(1, "corpus", name)
            parts.append(
                pairs.assign(
                    holdout_review_id=hold.ids[pairs["hdoc"].to_numpy()],
                    other_id=oc.ids[pairs["odoc"].to_numpy()],
                    other_preview=[_preview(oc.texts[i]) for i in pairs["odoc"]],
                )
            )
    if not parts:
        return pd.DataFrame(columns=columns)
    found = pd.concat(parts, ignore_index=True)[columns]
    return found.sort_values(["corpus", "jaccard"], ascending=[True, False], kind="stable").reset_index(drop=True)


def near_duplicate_pairs(
    texts: Sequence[str] | Corpus,
    threshold: float = DEFAULT_NEAR_DUP_THRESHOLD,
    shingle: int = DEFAULT_SHINGLE,
) -> list[tuple[int, int]]:
    """Index pairs (i < j) of `texts` whose word `shingle`-shingle sets have Jaccard >= `threshold`.

    The self-join twin of `near_duplicate_leaks` (the project's one near-duplicate
    definition: the same shingles, prefix-filtered candidates and exact verification),
    used by the split so that no pair it keeps apart can fail `no_holdout_near_duplicate`.
    Exact: no false negatives, no false positives. Empty texts pair with nothing;
    exact copies pair at 1.0. Sorted.
    """
    if not 0 < threshold <= 1:
        raise InputError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
    corpus = texts if isinstance(texts, Corpus) else _as_corpus(texts, "texts", _ID_COLUMNS)
    if len(corpus) < 2:
        return []
    hashes, docs, sizes, starts = _shingle_sets(corpus, shingle, 0, len(corpus))
    found = _prefix_pairs(hashes, docs, sizes, starts, corpus, shingle, threshold)
    if found.empty:
        return []
    i, j = found["hdoc"].to_numpy(np.int64), found["odoc"].to_numpy(np.int64)
    keep = i < j  # each unordered pair is found both ways, and every text pairs with itself
    return sorted(zip(i[keep].tolist(), j[keep].tolist()))


def _verify(pairs: np.ndarray, h_hash, h_starts, o_hash, o_starts, o_lo: int, threshold: float) -> pd.DataFrame:
    """Exact Jaccard of the shingle sets of candidate (hdoc, odoc) pairs; keep those >= threshold."""
    keep = []
    for hdoc, odoc in pairs:
        a = h_hash[h_starts[hdoc] : h_starts[hdoc + 1]]
        b = o_hash[o_starts[odoc - o_lo] : o_starts[odoc - o_lo + 1]]
        inter = len(np.intersect1d(a, b, assume_unique=True))
        jac = inter / (len(a) + len(b) - inter)
        if jac >= threshold - 1e-12:
            keep.append((int(hdoc), int(odoc), round(jac, 4)))
    return pd.DataFrame(keep, columns=["hdoc", "odoc", "jaccard"])


def _prefix_pairs(h_hash, h_docs, h_sizes, h_starts, oc: Corpus, shingle: int, threshold: float) -> pd.DataFrame:
    # Global order: (document frequency in the holdout, hash); absent shingles first.
    h_index = pd.Index(h_hash).unique()
    h_df = np.bincount(h_index.get_indexer(h_hash), minlength=len(h_index))
    order = np.lexsort((h_hash, h_df[h_index.get_indexer(h_hash)], h_docs))
    rank = _rank_within(h_docs[order])
    in_prefix = order[rank < _prefix_len(h_sizes, threshold)[h_docs[order]]]
    post = np.argsort(h_hash[in_prefix], kind="stable")
    post_hash, post_doc = h_hash[in_prefix][post], h_docs[in_prefix][post]
    found = []
    for lo in range(0, len(oc), _BATCH_DOCS):
        hi = min(lo + _BATCH_DOCS, len(oc))
        o_hash, o_docs, o_sizes, o_starts = _shingle_sets(oc, shingle, lo, hi)
        code = h_index.get_indexer(o_hash)
        present = code >= 0
        absent_per_doc = np.bincount(o_docs[~present] - lo, minlength=hi - lo)
        budget = _prefix_len(o_sizes, threshold) - absent_per_doc  # prefix slots left for holdout shingles
        rows = np.flatnonzero(present & (budget[o_docs - lo] > 0))
        if not len(rows):
            continue
        rows = rows[np.lexsort((o_hash[rows], h_df[code[rows]], o_docs[rows]))]
        rows = rows[_rank_within(o_docs[rows]) < budget[o_docs[rows] - lo]]
        left = np.searchsorted(post_hash, o_hash[rows], "left")
        right = np.searchsorted(post_hash, o_hash[rows], "right")
        counts = right - left
        cand_o = np.repeat(o_docs[rows], counts)
        starts_rep = np.repeat(left - np.cumsum(counts) + counts, counts)
        cand_h = post_doc[np.arange(counts.sum()) + starts_rep]
        cand = np.unique(np.stack([cand_h, cand_o], axis=1), axis=0) if len(cand_o) else np.zeros((0, 2), np.int64)
        if not len(cand):
            continue
        # Size filter: Jaccard >= t needs t <= |o| / |h| <= 1 / t.
        hs, os_ = h_sizes[cand[:, 0]], o_sizes[cand[:, 1] - lo]
        cand = cand[(os_ >= threshold * hs - 1e-9) & (hs >= threshold * os_ - 1e-9)]
        found.append(_verify(cand, h_hash, h_starts, o_hash, o_starts, lo, threshold))
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=["hdoc", "odoc", "jaccard"])


def _minhash_pairs(h_hash, h_starts, oc: Corpus, shingle: int, threshold: float, num_perm: int) -> pd.DataFrame:
    from datasketch import MinHash, MinHashLSH

    def sketches(hashes, starts):
        # datasketch hashes the values it is given with its own 32-bit hash; feed our 64-bit shingle hashes
        groups = [hashes[starts[i] : starts[i + 1]] for i in range(len(starts) - 1)]
        return MinHash.bulk(groups, num_perm=num_perm, hashfunc=lambda x: int(x) & 0xFFFFFFFF)

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(0.1, 0.9))
    for i, m in enumerate(sketches(h_hash, h_starts)):
        if h_starts[i + 1] > h_starts[i]:
            lsh.insert(i, m)
    o_hash, _, _, o_starts = _shingle_sets(oc, shingle, 0, len(oc))
    cand = [
        (h, o) for o, m in enumerate(sketches(o_hash, o_starts)) if o_starts[o + 1] > o_starts[o] for h in lsh.query(m)
    ]
    return _verify(np.array(cand, dtype=np.int64).reshape(-1, 2), h_hash, h_starts, o_hash, o_starts, 0, threshold)


# --------------------------------------------------------------------------- copied spans


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
    (min_n=2); measured on the 606 pizza reviews split 406 training / 200
    holdout: prompts made of the holdout's 2-word openings are flagged 58 of 176
    with n >= 2 and the same 58 with n >= 1 (single words add no detection); on
    2-word snippets of the study's GPT-2 reviews single words add 6 flags (49 vs
    43 of 454) -- rare words the 406 training reviews happen to lack. Bigrams
    stay on because a 2-word prompt can only be caught by them, at a price: 3-word
    openings of the GPT-2 reviews are flagged 33 of 207 with n >= 2 ("gross
    pizza" is in no training review) against 4 with trigrams only, while holdout
    3-word openings are flagged 133 of 195 either way. Columns: prompt,
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
