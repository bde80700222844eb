"""The nested folds of `training_reviews`: which data sizes a review belongs to, and its role in each.

A *data size* is how many genuine reviews per class a generator and a classifier may
learn from: `None` ("all": the whole training pool) or a number per class (a low-data
experiment). Each size's pool is split into a `fit` and a `validation` fold:

- generators, prompt tables and every classifier configuration train on `fit` only;
- every choice (hyperparameters, ratio, temperature, filter) is scored on `validation`;
- the chosen configuration is refit on the whole pool (`fit` + `validation`).

Sizes nest: each smaller size's pool is drawn from the `fit` fold of the next larger
one. So a generator of any size never saw a validation review of its own size or of any
larger size, and no candidate is chosen on a review its generator learned from.

A *repeat* is one independent draw of the whole nest (its own validation folds and
low-data subsets, from its own seeded order): repeat 1 uses the experiment's seed as it
is, repeat r > 1 salts every order with r. Generators, synthetic reviews and training
sets are made per repeat, so the spread of a gain over repeats is the spread over
which reviews happened to be drawn.

Each size's whole pool is also split into `CV_FOLDS` stratified cross-validation folds
(`cv_fold`), fewer where a class has fewer reviews: the configurations that need no generator
(a classifier on the genuine reviews alone) are chosen on every labelled review of the size, not
on the `validation` fold alone (lib/selection.py).

The folds are computed once (`build_folds`, materialized as `review_folds`) and read by
everything after; nothing downstream re-derives them. Orders come from a seeded hash of
review ids, so the same reviews, sizes, repeats and seed give the same folds in every process.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from augment_assets.lib.errors import InputError
from augment_assets.lib.reviews import SENTIMENTS

ALL = "all"
FIT, VALIDATION = "fit", "validation"
FOLD_COLUMNS = ["repeat", "review_id", "sentiment", "data_size", "genuine_per_class", "fold", "cv_fold"]
# Cross-validation folds of each size's whole pool (`cv_fold`): every configuration that needs no generator is
# chosen on all of a size's labelled reviews, each scored once by a fit on the other folds (lib/selection.py).
CV_FOLDS = 5
MIN_PER_CLASS = 5  # smallest generator data size: at least one validation and four fit reviews per class
MIN_CURVE_PER_CLASS = 2  # smallest learning-curve size: one fit and one validation review per class


def size_label(per_class: int | None) -> str:
    """ "all" for the whole pool, else the per-class count as text ("50")."""
    return ALL if per_class is None else str(int(per_class))


def parse_data_sizes(raw: str, variable: str = "DATA_SIZES", minimum: int = MIN_PER_CLASS) -> list[int | None]:
    """Data sizes from a comma-separated list such as "all,50" or "25,50,all": largest first, "all" always included."""
    sizes: set[int] = set()
    for item in (part.strip().lower() for part in raw.split(",")):
        if item in ("", ALL):
            continue
        try:
            value = int(item)
        except ValueError:
            raise InputError(
                f"{variable}={raw!r}: {item!r} is not a whole number or 'all'; give a list such as 'all,50' or '25,50,all'"
            ) from None
        if value < minimum:
            raise InputError(
                f"{variable}={raw!r}: data size {value} is below the minimum of {minimum} reviews per class"
            )
        sizes.add(value)
    return [None, *sorted(sizes, reverse=True)]


def parse_repeats(raw: str, variable: str = "REPEATS") -> int:
    """The number of repeats (independent draws of the folds), at least 1."""
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise InputError(
            f"{variable}={raw!r} is not a whole number; give the number of repeats, e.g. {variable}=3"
        ) from None
    if value < 1:
        raise InputError(f"{variable}={raw!r}: repeats must be at least 1 (one draw of the folds), got {value}")
    return value


def repeat_salt(repeat: int) -> str:
    """Salt of every seeded order of one repeat: none for repeat 1, so one repeat is the plain seeded draw."""
    return "" if repeat == 1 else f"|repeat{repeat}"


def _seeded_order(frame: pd.DataFrame, seed: int, salt: str) -> pd.DataFrame:
    """Rows in an order that depends only on their review_id and the seed, not on input order."""
    keys = frame["review_id"].astype(str) + f"|{salt}|{seed}"
    order = pd.util.hash_pandas_object(keys, index=False).to_numpy()
    return frame.iloc[np.argsort(order, kind="stable")]


def _split_pool(pool: pd.DataFrame, share: float, seed: int, salt: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, validation): a stratified `share` of each sentiment, at least one review, for validation."""
    ordered = _seeded_order(pool, seed, "validation" + salt)
    fit, validation = [], []
    for _, group in ordered.groupby("sentiment", sort=True):
        n_val = max(1, int(round(len(group) * share))) if len(group) > 1 else 0
        validation.append(group.iloc[:n_val])
        fit.append(group.iloc[n_val:])
    return pd.concat(fit), pd.concat(validation)


def build_folds(
    training: pd.DataFrame,
    sizes: list[int | None],
    validation_share: float = 0.2,
    seed: int = 0,
    repeats: int = 1,
) -> pd.DataFrame:
    """The `review_folds` table: one row per (repeat, review, data size it belongs to), with its fold.

    `sizes` as `parse_data_sizes` returns them (None first, then decreasing). Raises
    `InputError` when a size asks for more reviews per class than the next larger size's
    `fit` fold holds (in any repeat).
    """
    if not 0 < validation_share < 1:
        raise InputError(f"validation_share must be in (0, 1), got {validation_share}")
    if repeats < 1:
        raise InputError(f"repeats must be at least 1, got {repeats}")
    if sizes[:1] != [None] or any(b >= a for a, b in zip(sizes[1:], sizes[2:])):
        raise ValueError(f"sizes must start with None and decrease, got {sizes}")
    parts = [
        _nest(training[["review_id", "sentiment"]], sizes, validation_share, seed, r) for r in range(1, repeats + 1)
    ]
    folds = with_cv_folds(pd.concat(parts, ignore_index=True), seed)
    folds["genuine_per_class"] = folds["genuine_per_class"].astype("Int64")
    return folds.sort_values(["repeat", "genuine_per_class", "fold", "review_id"], na_position="first", kind="stable")[
        FOLD_COLUMNS
    ].reset_index(drop=True)


def _nest(pool: pd.DataFrame, sizes: list[int | None], validation_share: float, seed: int, repeat: int) -> pd.DataFrame:
    """One repeat's nest of folds."""
    salt = repeat_salt(repeat)
    parts = []
    larger = ALL
    for per_class in sizes:
        if per_class is not None:
            have = pool["sentiment"].value_counts()
            short = {s: int(have.get(s, 0)) for s in SENTIMENTS if have.get(s, 0) < per_class}
            if short:
                raise InputError(
                    f"Data size {per_class} per class is larger than the pool it is drawn from: the fit fold of data "
                    f"size {larger} holds {', '.join(f'{n} {s}' for s, n in short.items())} reviews. Lower the size in "
                    "DATA_SIZES or LEARNING_CURVE_SIZES, or use more training reviews."
                )
            pool = _seeded_order(pool, seed, f"size-{per_class}{salt}").groupby("sentiment", sort=True).head(per_class)
        fit, validation = _split_pool(pool, validation_share, seed, salt)
        for fold, rows in ((FIT, fit), (VALIDATION, validation)):
            parts.append(
                rows.assign(repeat=repeat, data_size=size_label(per_class), genuine_per_class=per_class, fold=fold)
            )
        pool, larger = fit, size_label(per_class)
    return pd.concat(parts, ignore_index=True)


def with_cv_folds(folds: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """`folds` with `cv_fold`: each (repeat, data size)'s whole pool dealt round-robin, per sentiment in its seeded
    order, into `CV_FOLDS` folds (as many as the smaller class has reviews, where that is fewer). Depends only on
    the review ids, the sentiments and the seed, so a table stored without the column gets the same folds."""
    folds = folds if "repeat" in folds else folds.assign(repeat=1)
    parts = []
    for (repeat, size), pool in folds.groupby(["repeat", "data_size"], sort=False):
        k = max(1, min(CV_FOLDS, int(pool["sentiment"].value_counts().min())))
        ordered = _seeded_order(pool, seed, f"cv-{size}{repeat_salt(int(repeat))}")
        position = ordered.groupby("sentiment", sort=True).cumcount()
        parts.append(ordered.assign(cv_fold=(position % k).astype(np.int64)))
    return pd.concat(parts).loc[folds.index] if parts else folds.assign(cv_fold=pd.Series(dtype=np.int64))


def cross_validation_folds(folds: pd.DataFrame, genuine: pd.Series, seed: int) -> dict:
    """{(repeat, data size): (item indices of its whole pool, their `cv_fold`)}; `genuine` maps a review id to its
    item index. A `review_folds` stored before `cv_fold` existed gets the same folds (`with_cv_folds`)."""
    if "cv_fold" not in folds or "repeat" not in folds:
        folds = with_cv_folds(folds, seed)
    out = {}
    for (repeat, size), group in folds.groupby(["repeat", "data_size"], sort=False):
        rows = genuine.reindex(group["review_id"].astype(str)).to_numpy()
        known = ~pd.isna(rows)
        order = np.argsort(rows[known].astype(np.int64), kind="stable")
        out[(int(repeat), size)] = (
            rows[known].astype(np.int64)[order],
            group["cv_fold"].to_numpy(dtype=np.int64)[known][order],
        )
    return out


def fold_reviews(
    training: pd.DataFrame, folds: pd.DataFrame, data_size: str, fold: str | None = None, repeat: int = 1
) -> pd.DataFrame:
    """The training reviews of one data size of one repeat (its whole pool, or one fold of it), in review_id order."""
    chosen = folds[(folds["data_size"] == data_size) & (folds["repeat"] == repeat)]
    if fold is not None:
        chosen = chosen[chosen["fold"] == fold]
    if chosen.empty:
        raise InputError(
            f"review_folds has no rows for data size {data_size!r}{'' if fold is None else f' ({fold})'} in repeat "
            f"{repeat}: re-materialize the ingest assets with the current DATA_SIZES and REPEATS."
        )
    return training[training["review_id"].isin(chosen["review_id"])].sort_values("review_id").reset_index(drop=True)
