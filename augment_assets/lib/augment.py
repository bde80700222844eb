"""Training data for the cheap baselines a synthetic-data gain must beat.

- `duplicate`: the training reviews repeated k times. For Multinomial NB this is
  nearly the same as dividing the smoothing by k (its count statistics scale by k), which is the point:
  a gain that a copy of the data gives for free is not a gain.
- `perturb`: EDA-style copies (Wei & Zou 2019): each copy deletes a `share` of
  its words at random and swaps round(share x length) random word pairs.

Both are pure functions of (reviews, parameters, seed, draw). A review's
perturbation depends only on its own review_id, so the copies of a subset (the
fit part, the low-data cap) are the subset of the copies.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from .text import words


def duplicate(reviews: pd.DataFrame, k: int) -> pd.DataFrame:
    """The reviews repeated `k` times (k >= 1), with a `copy` column 0..k-1."""
    if k < 1:
        raise ValueError(f"duplicate k must be >= 1, got {k}")
    copies = [reviews.assign(copy=i) for i in range(k)]
    return pd.concat(copies, ignore_index=True)


def perturb_text(text: str, share: float, rng: np.random.Generator) -> str:
    """Delete each word with probability `share` (keeping at least one), then swap round(share x n) pairs."""
    tokens = words(text)
    if not tokens or share <= 0:
        return " ".join(tokens)
    keep = rng.random(len(tokens)) >= share
    if not keep.any():
        keep[rng.integers(len(tokens))] = True
    tokens = [t for t, k in zip(tokens, keep) if k]
    for _ in range(int(round(share * len(tokens)))):
        i, j = rng.integers(0, len(tokens), size=2)
        tokens[i], tokens[j] = tokens[j], tokens[i]
    return " ".join(tokens)


def perturb(reviews: pd.DataFrame, share: float, copies: int = 1, seed: int = 0, draw: int = 0) -> pd.DataFrame:
    """Perturbed copies only (the caller adds them to the genuine reviews).

    Same columns as `reviews` (review_id and sentiment kept, text replaced, in the
    project's normalized word form) plus `copy` (1..copies) and `perturb_share`.
    """
    if not 0 <= share < 1:
        raise ValueError(f"perturbation share must be in [0, 1), got {share}")
    share_key = int(round(share * 1_000_000))
    parts = []
    for copy in range(1, copies + 1):
        texts = []
        for review_id, text in zip(reviews["review_id"], reviews["text"]):
            id_key = zlib.crc32(str(review_id).encode("utf-8"))
            rng = np.random.default_rng([seed, draw, copy, share_key, id_key])
            texts.append(perturb_text(text, share, rng))
        parts.append(reviews.assign(text=texts, copy=copy, perturb_share=share))
    if not parts:
        return reviews.iloc[:0].assign(copy=pd.Series(dtype=int), perturb_share=pd.Series(dtype=float))
    return pd.concat(parts, ignore_index=True)
