"""Near-duplicate detection: holdout reviews within a Jaccard threshold of another corpus's rows.

The similarity is the Jaccard index of word 3-shingle sets,
verified exactly. Candidate pairs come from *prefix filtering* (the AllPairs
set-similarity join, Bayardo et al. 2007): order shingles rarest-first by their
holdout document frequency; two sets with Jaccard >= t must share a shingle
within the first |X| - ceil(t|X|) + 1 shingles of each. This is exact (no
missed pair), and stock phrases ("the pizza was", "highly recommend this
place") sort last, so they rarely generate candidates. MinHash LSH
(`method="minhash"`, datasketch) is kept for comparison on small inputs: on the
pizza holdout against the study's GPT-2 reviews it was slower than prefix filtering
and missed some of the pairs prefix filtering found (docs/results.md, "Near-duplicate
detection: prefix filtering or MinHash"). At the low threshold real data calls for
(0.3, see below) LSH needs bands of 2-3 rows, which over 1e11 pairs sharing stock
phrases let through many unrelated candidates (an estimate, not measured at that size).

Part of `augment_assets.lib.leakage`, which re-exports it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from augment_assets.lib.errors import InputError
from augment_assets.lib.leakage_corpus import (
    _BATCH_DOCS,
    _ID_COLUMNS,
    _U64,
    Corpus,
    _as_corpus,
    _mix,
    _preview,
    _windows,
)

# Chosen on the 2020 study's Yelp pizza reviews (606 genuine reviews; docs/results.md, "The near-duplicate threshold"),
# Jaccard of word 3-shingle sets (exact, not estimated). 0.3 sits well above the closest pair of
# distinct genuine reviews and below every planted copy with 10% of its words edited, so lightly
# edited copies are caught and distinct reviews are not; much heavier edits slip through (no longer
# a "light" edit). The study's GPT-2 synthetic reviews against the same 606 are not "unrelated" text:
# these reviews contain the study's training reviews, and the similarities have no gap --
# memorization comes in every degree. Whatever of it lands on a holdout review is leakage.
# 1-shingles separate worse (two short reviews with common words collide), 5-shingles lose edited
# copies.
DEFAULT_NEAR_DUP_THRESHOLD: float = 0.3
DEFAULT_SHINGLE = 3


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
