"""Deterministic slices of `training_reviews` that generation and evaluation must agree on.

- `validation_split`: the validation reviews every choice is made on (classifier
  hyperparameters, ratio, temperature, filter threshold). The generators are
  fine-tuned on the *fit* part only, so a synthetic review can never copy a
  validation review and flatter the candidate it is chosen for.
- `cap_per_class`: the low-data subset. A generator meant for the low-data
  comparison is fine-tuned on exactly this subset (minus its validation part);
  one that saw more would smuggle extra genuine reviews into the classifier.

Both are pure functions of (reviews, parameters, seed): the same call gives the
same rows in every process.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _seeded_order(frame: pd.DataFrame, seed: int, salt: str) -> pd.DataFrame:
    """Rows in an order that depends only on their review_id and the seed, not on input order."""
    keys = frame["review_id"].astype(str) + f"|{salt}|{seed}"
    order = pd.util.hash_pandas_object(keys, index=False).to_numpy()
    return frame.iloc[np.argsort(order, kind="stable")]


def cap_per_class(reviews: pd.DataFrame, per_class: int | None, seed: int = 0) -> pd.DataFrame:
    """At most `per_class` reviews of each sentiment (all of them when `per_class` is None)."""
    if per_class is None:
        return reviews
    ordered = _seeded_order(reviews, seed, "cap")
    capped = ordered.groupby("sentiment", group_keys=False, sort=True).head(per_class)
    return capped.sort_values("review_id").reset_index(drop=True)


def validation_split(
    reviews: pd.DataFrame, share: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, validation): a stratified `share` of each sentiment held out for model selection."""
    if not 0 < share < 1:
        raise ValueError(f"validation share must be in (0, 1), got {share}")
    ordered = _seeded_order(reviews, seed, "validation")
    parts_fit, parts_val = [], []
    for _, group in ordered.groupby("sentiment", sort=True):
        n_val = max(1, int(round(len(group) * share))) if len(group) > 1 else 0
        parts_val.append(group.iloc[:n_val])
        parts_fit.append(group.iloc[n_val:])
    fit = pd.concat(parts_fit).sort_values("review_id").reset_index(drop=True)
    val = pd.concat(parts_val).sort_values("review_id").reset_index(drop=True)
    return fit, val
