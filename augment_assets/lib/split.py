"""The independent split: `training_reviews` and `holdout_reviews`, and the gold exclusion.

Rules:
- stratified by sentiment, deterministic for a seed and independent of input row order
  (every order comes from a seeded hash of ids, never from row positions);
- grouped: reviews of one business stay on one side (when business ids exist), and
  near-duplicates - the same review posted twice, lightly edited - never straddle the
  split. "Near-duplicate" is the project's one definition, `augment_assets.lib.leakage`
  (Jaccard of word 3-shingle sets >= `DEFAULT_NEAR_DUP_THRESHOLD`, exact), the same
  one the blocking check `no_holdout_near_duplicate` applies to `training_reviews`:
  with the default threshold a split can never fail that check;
- the holdout is taken first (balanced, at most `holdout_size`, leaving at least
  `min_train_per_class` of each sentiment), then a balanced training pool of
  `min(train_per_class, what the smaller class has left)` per class.

How. Groups (a business's reviews; reviews with equal normalized text) are walked in a
seeded order. The holdout takes groups while it still needs their sentiments, at most
`max_holdout_per_business` reviews from any one group, so a few large businesses
cannot make up the whole holdout (on full Yelp a pizza place can have thousands of
reviews; the default cap, a tenth of the holdout, spreads it over at least ten
businesses per class-half). The rest of a holdout group's reviews are used by neither
side. Every other group is training-eligible: the training pool is picked from them in
the same seeded order, and a candidate that is a near-duplicate of a holdout review is
withheld (counted as `near_duplicates_excluded`) and replaced by the next one. Only
the picked candidates are compared with the holdout (a prefix-filtered join, cheap even
on the full Yelp pizza subset), until a round withholds nothing new.

Why withhold rather than merge groups. Merging near-duplicate groups into one side
collapses into a single giant group when many reviews share sentences (an earlier
embedded sample, written from sentence templates, had 453 pairs at Jaccard >= 0.3
among its 498 labelled reviews, and merging left the training side empty). Withholding
keeps the holdout an unbiased draw of businesses and costs the training pool only the
near-duplicates of the holdout reviews: none on the 606 real pizza reviews
(the 2020 study's data), where no two distinct reviews reach 0.3.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np
import pandas as pd

from augment_assets.lib.errors import InputError
from augment_assets.lib.leakage import DEFAULT_NEAR_DUP_THRESHOLD, near_duplicate_leaks, tokenize
from augment_assets.lib.reviews import SENTIMENTS
from augment_assets.lib.text import text_key

HOLDOUT_SHARE_PER_BUSINESS = 0.1  # default cap: a tenth of the holdout from any one business


# ---- grouping helpers --------------------------------------------------------------


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        if rb < ra:
            ra, rb = rb, ra
        self.parent[rb] = ra
        return True


def _seeded_hash(keys: Iterable[str], seed: int, salt: str) -> np.ndarray:
    series = pd.Series([f"{k}|{salt}|{seed}" for k in keys], dtype=object)
    return pd.util.hash_pandas_object(series, index=False).to_numpy()


def _holdout_targets(available: dict[str, int], holdout_size: int, min_train_per_class: int) -> dict[str, int]:
    """Balanced holdout per class, as far as each class can spare after min_train_per_class."""
    spare = {s: max(0, available[s] - min_train_per_class) for s in SENTIMENTS}
    first, second = SENTIMENTS
    target = {first: min(spare[first], math.ceil(holdout_size / 2))}
    target[second] = min(spare[second], holdout_size - target[first])
    target[first] = min(spare[first], holdout_size - target[second])
    return target


def _take_holdout(
    ordered_groups: list[list[int]], sentiment: np.ndarray, target: dict[str, int], cap: int
) -> tuple[list[int], set[int]]:
    """Holdout rows and the indexes of the groups they came from (at most `cap` rows per group)."""
    have: Counter = Counter()
    rows: list[int] = []
    used: set[int] = set()
    for g, members in enumerate(ordered_groups):
        if all(have[s] >= target[s] for s in SENTIMENTS):
            break
        taken = 0
        for row in members:
            s = sentiment[row]
            if taken < cap and have[s] < target[s]:
                have[s] += 1
                taken += 1
                rows.append(row)
        if taken:
            used.add(g)
    return rows, used


def _near_duplicates_of(holdout_corpus, texts: list[str], threshold: float) -> set[int]:
    """Positions in `texts` that are near-duplicates (>= threshold) of a holdout review."""
    if not texts:
        return set()
    found = near_duplicate_leaks(holdout_corpus, {"candidates": texts}, threshold=threshold)
    return {int(i) for i in found["other_id"]}


# ---- the split ---------------------------------------------------------------------


def split_reviews(
    reviews: pd.DataFrame,
    train_per_class: int = 225,
    holdout_size: int = 200,
    seed: int = 0,
    min_train_per_class: int = 20,
    near_duplicate_threshold: float = DEFAULT_NEAR_DUP_THRESHOLD,
    *,
    min_holdout_per_class: int = 10,
    max_holdout_per_business: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(training_reviews, holdout_reviews, report): an independent, grouped, stratified split.

    `reviews` needs `review_id`, `sentiment` (negative/positive) and `text`;
    `business_id` groups reviews when present. No training review is a near-duplicate
    (Jaccard >= `near_duplicate_threshold`, `leakage.near_duplicate_leaks`) of a holdout
    review. At most `max_holdout_per_business` holdout reviews come from one business
    (default: a tenth of `holdout_size`, at least 1). Raises `InputError` when either
    sentiment has fewer than `min_train_per_class + min_holdout_per_class` reviews,
    or when grouping leaves either side short.
    """
    frame = _sorted_reviews(reviews, near_duplicate_threshold)
    sentiment = _sentiments(frame)
    available = {s: int((sentiment == s).sum()) for s in SENTIMENTS}
    holdout_target, cap = _plan_holdout(
        available, holdout_size, min_train_per_class, min_holdout_per_class, max_holdout_per_business
    )
    texts = frame["text"].tolist()
    ordered_groups, group_of = _ordered_groups(frame, texts, seed)

    holdout_rows, holdout_groups = _take_holdout(ordered_groups, sentiment, holdout_target, cap)
    holdout_corpus = tokenize([texts[r] for r in holdout_rows])
    eligible = [row for g, rows in enumerate(ordered_groups) if g not in holdout_groups for row in rows]
    training_rows, excluded = _pick_training(
        eligible, sentiment, texts, holdout_corpus, train_per_class, near_duplicate_threshold
    )

    training = frame.iloc[training_rows]
    holdout = frame.iloc[holdout_rows]
    train_counts = training["sentiment"].value_counts().to_dict()
    holdout_counts = holdout["sentiment"].value_counts().to_dict()
    _require_both_sides(
        train_counts, holdout_counts, available, min_train_per_class, min_holdout_per_class, len(excluded), cap
    )
    report = {
        "seed": seed,
        "available": available,
        "training": {s: int(train_counts.get(s, 0)) for s in SENTIMENTS},
        "holdout": {s: int(holdout_counts.get(s, 0)) for s in SENTIMENTS},
        "holdout_target": holdout_target,
        "training_size": int(len(training)),
        "holdout_size": int(len(holdout)),
        "grouped_by_business": _has_business(frame),
        "groups": {
            "total": len(ordered_groups),
            "holdout": len({int(group_of[r]) for r in holdout_rows}),
            "training": len({int(group_of[r]) for r in training_rows}),
        },
        "businesses": {"holdout": _businesses(holdout), "training": _businesses(training)},
        "max_holdout_per_business": cap,
        "near_duplicates_excluded": len(excluded),
        "near_duplicate_threshold": near_duplicate_threshold,
    }
    training = training.sort_values("review_id", kind="stable").reset_index(drop=True)
    holdout = holdout.sort_values("review_id", kind="stable").reset_index(drop=True)
    return training, holdout, report


# ---- the split's steps -------------------------------------------------------------


def _sorted_reviews(reviews: pd.DataFrame, near_duplicate_threshold: float) -> pd.DataFrame:
    """The reviews sorted by review_id, after checking the columns and the threshold."""
    missing = [c for c in ("review_id", "sentiment", "text") if c not in reviews.columns]
    if missing:
        raise InputError(
            f"split_reviews needs columns review_id, sentiment, text; missing {missing} (found: {', '.join(map(str, reviews.columns))})"
        )
    if not 0 < near_duplicate_threshold <= 1:
        raise InputError(f"near_duplicate_threshold must be in (0, 1], got {near_duplicate_threshold}")
    return reviews.sort_values("review_id", kind="stable").reset_index(drop=True)  # input order never matters


def _sentiments(frame: pd.DataFrame) -> np.ndarray:
    """The sentiment of each row, as strings; each must be one of `SENTIMENTS`."""
    sentiment = frame["sentiment"].astype(str).to_numpy()
    unknown = sorted(set(sentiment) - set(SENTIMENTS))
    if unknown:
        raise InputError(f"split_reviews: unknown sentiment values {unknown}; expected negative or positive.")
    return sentiment


def _plan_holdout(
    available: dict[str, int],
    holdout_size: int,
    min_train_per_class: int,
    min_holdout_per_class: int,
    max_holdout_per_business: int | None,
) -> tuple[dict[str, int], int]:
    """(holdout target per class, holdout cap per group), or `InputError` when the data cannot supply them."""
    needed = min_train_per_class + min_holdout_per_class
    if any(available[s] < needed for s in SENTIMENTS):
        raise InputError(
            f"Too few reviews to split: found {available['negative']} negative and {available['positive']} positive; "
            f"need at least {needed} of each ({min_train_per_class} for training, min_train_per_class, plus "
            f"{min_holdout_per_class} for the holdout). Use a larger source or another category filter, or lower "
            f"min_train_per_class."
        )
    if holdout_size < 2 * min_holdout_per_class:
        raise InputError(
            f"holdout_size={holdout_size} is below the minimum of {2 * min_holdout_per_class} "
            f"({min_holdout_per_class} per class); raise holdout_size."
        )
    holdout_target = _holdout_targets(available, holdout_size, min_train_per_class)
    if sum(holdout_target.values()) < holdout_size:
        spare = {s: max(0, available[s] - min_train_per_class) for s in SENTIMENTS}
        raise InputError(
            f"holdout_size={holdout_size} is more than the data can supply: it has {available['negative']} negative "
            f"and {available['positive']} positive reviews, and {min_train_per_class} of each (min_train_per_class) "
            f"must stay for training, so at most {spare['negative']} negative + {spare['positive']} positive = "
            f"{sum(holdout_target.values())} can be held out. Lower holdout_size, or min_train_per_class."
        )
    cap = max_holdout_per_business
    if cap is None:
        cap = max(1, math.ceil(HOLDOUT_SHARE_PER_BUSINESS * holdout_size))
    if cap < 1:
        raise InputError(f"max_holdout_per_business must be at least 1, got {cap}")
    return holdout_target, cap


def _has_business(frame: pd.DataFrame) -> bool:
    return bool("business_id" in frame.columns and frame["business_id"].notna().any())


def _ordered_groups(frame: pd.DataFrame, texts: list[str], seed: int) -> tuple[list[list[int]], np.ndarray]:
    """(the groups' rows, in the seeded group order, each in the seeded row order; the group of each row).

    A group is a business's reviews (rows without one stand alone), merged with the
    rows of equal normalized text. Orders come from seeded hashes of ids, never row positions.
    """
    n = len(frame)
    review_ids = frame["review_id"].astype(str).tolist()
    row_rank = _seeded_hash(review_ids, seed, "row")
    business = frame["business_id"].tolist() if "business_id" in frame.columns else [None] * n

    # groups: one per business (rows without one stand alone), merged with equal normalized texts
    uf = _UnionFind(n)
    first_row: dict[tuple[str, str], int] = {}
    for row in range(n):
        for key in (
            ("business", str(business[row])) if pd.notna(business[row]) else None,
            ("text", text_key(texts[row])),
        ):
            if key is None:
                continue
            if key in first_row:
                uf.union(first_row[key], row)
            else:
                first_row[key] = row
    group_key = [
        ("business:" + str(business[r]))
        if business[r] is not None and business[r] == business[r]
        else "review:" + review_ids[r]
        for r in range(n)
    ]
    key_rank = _seeded_hash(group_key, seed, "group")
    group_of = np.array([uf.find(r) for r in range(n)])
    group_order: dict[int, int] = {}
    for r in range(n):
        g = int(group_of[r])
        group_order[g] = min(group_order.get(g, key_rank[r]), key_rank[r])
    members: dict[int, list[int]] = defaultdict(list)
    for row in np.argsort(row_rank, kind="stable"):
        members[int(group_of[row])].append(int(row))
    ordered_groups = [members[g] for g in sorted(members, key=lambda g: (group_order[g], g))]
    return ordered_groups, group_of


def _pick_training(
    eligible: list[int],
    sentiment: np.ndarray,
    texts: list[str],
    holdout_corpus,
    train_per_class: int,
    near_duplicate_threshold: float,
) -> tuple[list[int], set[int]]:
    """(training rows, balanced per class; the rows withheld as near-duplicates of the holdout)."""
    # training: pick in order, withhold near-duplicates of the holdout, refill, until nothing new is withheld
    excluded: set[int] = set()
    checked: set[int] = set()
    while True:
        picked: dict[str, list[int]] = {s: [] for s in SENTIMENTS}
        for row in eligible:
            s = sentiment[row]
            if row not in excluded and len(picked[s]) < train_per_class:
                picked[s].append(row)
        new = [row for s in SENTIMENTS for row in picked[s] if row not in checked]
        if not new:
            break
        checked.update(new)
        hits = _near_duplicates_of(holdout_corpus, [texts[r] for r in new], near_duplicate_threshold)
        excluded.update(new[i] for i in hits)
    per_class_train = min(train_per_class, *(len(picked[s]) for s in SENTIMENTS))
    training_rows = [row for s in SENTIMENTS for row in picked[s][:per_class_train]]
    return training_rows, excluded


def _require_both_sides(
    train_counts: dict,
    holdout_counts: dict,
    available: dict[str, int],
    min_train_per_class: int,
    min_holdout_per_class: int,
    n_excluded: int,
    cap: int,
) -> None:
    """`InputError` when the training side or the holdout came out short of its minimum per class."""
    if any(train_counts.get(s, 0) < min_train_per_class for s in SENTIMENTS):
        raise InputError(
            f"Too few reviews left for training after the holdout: training side has "
            f"{train_counts.get('negative', 0)} negative and {train_counts.get('positive', 0)} positive (need "
            f"{min_train_per_class} each; found {available['negative']} negative and {available['positive']} positive "
            f"in all, grouped by business, {n_excluded} withheld as near-duplicates of holdout reviews). Lower "
            f"holdout_size or min_train_per_class, or use more data."
        )
    if any(holdout_counts.get(s, 0) < min_holdout_per_class for s in SENTIMENTS):
        raise InputError(
            f"Too few reviews for the holdout: it got {holdout_counts.get('negative', 0)} negative and "
            f"{holdout_counts.get('positive', 0)} positive (need {min_holdout_per_class} each) out of "
            f"{available['negative']} negative and {available['positive']} positive "
            f"(at most {cap} per business)."
        )


def _businesses(part: pd.DataFrame) -> int:
    return int(part["business_id"].dropna().nunique()) if "business_id" in part.columns else 0


def exclude_texts(
    training: pd.DataFrame,
    texts: Iterable[str],
    near_duplicate_threshold: float | None = DEFAULT_NEAR_DUP_THRESHOLD,
) -> tuple[pd.DataFrame, int]:
    """Drop training rows whose normalized text equals one of `texts` (the gold holdout), or is a near-duplicate.

    With `near_duplicate_threshold` (default: the leakage checks'), a training row within
    that Jaccard of a gold text is dropped too, so the gold set can never fail
    `no_holdout_near_duplicate`; None drops exact (normalized-text) matches only.
    Returns (kept rows, rows dropped).
    """
    gold = [t for t in texts if isinstance(t, str)]
    keys = {text_key(t) for t in gold}
    if not keys or training.empty:
        return training.reset_index(drop=True), 0
    train_texts = training["text"].tolist()
    hit = training["text"].map(text_key).isin(keys).to_numpy()
    if near_duplicate_threshold is not None:
        near = _near_duplicates_of(tokenize(gold), train_texts, near_duplicate_threshold)
        hit[list(near)] = True
    return training[~hit].reset_index(drop=True), int(hit.sum())
