"""How each kind of training data makes its members (lib/variants.py `TRAINING_DATA` names one recipe per kind).

A *baseline recipe* builds a set from a phase's genuine rows alone: `(genuine, option, copies) -> member rows`,
where `copies(share)` gives the rows of the perturbed copies of those genuine reviews at this draw. A *pool
recipe* narrows or weighs a pool of synthetic (or reference) reviews before the sets sample from it:
`(pool, option, p_intended, ranked) -> pool`, where `p_intended` is the kind's teacher's P(intended label) of
each pool review and `ranked` the option's teacher's (for the kinds whose option names a teacher). The builder
(lib/training_sets.py) only calls them: adding a kind is one declaration.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def genuine_only(genuine: np.ndarray, option: dict, copies) -> np.ndarray:
    return genuine


def duplicated(genuine: np.ndarray, option: dict, copies) -> np.ndarray:
    """The genuine rows k times (for Multinomial NB nearly alpha / k)."""
    return np.tile(genuine, option["duplicate_k"])


def with_perturbed_copies(genuine: np.ndarray, option: dict, copies) -> np.ndarray:
    """The genuine rows and their EDA-style copies (`augment.perturb`) at the option's share."""
    return np.concatenate([genuine, copies(option["perturb_share"])])


def whole_pool(pool: pd.DataFrame, option: dict, p_intended, ranked) -> pd.DataFrame:
    return pool


def filtered(pool: pd.DataFrame, option: dict, p_intended, ranked) -> pd.DataFrame:
    """The reviews the teacher gives their intended label with probability >= the option's threshold (LAMBADA)."""
    return pool[p_intended >= option["filter_threshold"]]


def relabelled(pool: pd.DataFrame, option: dict, p_intended, ranked) -> pd.DataFrame:
    """Each review under the label its teacher gives it (its relabelled item), not its generator's sentiment."""
    return pool.assign(_item=pool["_relabelled_item"])


def selected(pool: pd.DataFrame, option: dict, p_intended, ranked) -> pd.DataFrame:
    """Over-generate and select: the top share of each partition by the option's teacher."""
    return top_share(pool, ranked, option["keep_share"])


def weighted(pool: pd.DataFrame, option: dict, p_intended, ranked) -> pd.DataFrame:
    """Every review, weighed (`sample_weight`) by the option's teacher's P(intended label)."""
    return pool.assign(_weight=ranked)


def top_share(pool: pd.DataFrame, p_intended: np.ndarray, share: float) -> pd.DataFrame:
    """The `share` of each synthetic partition (sentiment x temperature) of `pool` that its teacher gives the
    intended label with the highest probability (round(share x partition size) reviews; ties by synthetic_id)."""
    ranked = pool.assign(_p=np.asarray(p_intended, dtype=float), _position=np.arange(len(pool)))
    ranked = ranked.sort_values(["_p", "synthetic_id"], ascending=[False, True], kind="stable")
    rank = ranked.groupby(["sentiment", "temperature"], sort=False, dropna=False).cumcount().to_numpy()
    size = ranked.groupby(["sentiment", "temperature"], sort=False, dropna=False)["_p"].transform("size").to_numpy()
    keep = np.sort(ranked["_position"].to_numpy()[rank < np.floor(share * size + 0.5)])
    return pool.iloc[keep]
