"""How each kind of training data makes its members (lib/variants.py `TRAINING_DATA` names one recipe per kind).

A *baseline recipe* builds a set from a phase's genuine rows alone: `(genuine, option, copies) -> member rows`,
where `copies(share)` gives the rows of the perturbed copies of those genuine reviews at this draw. A *pool
recipe* narrows or weighs a pool of synthetic (or reference) reviews before the sets sample from it:
`(pool, option, p_intended, ranked) -> pool`, where `p_intended` is the kind's teacher's P(intended label) of
each pool review and `ranked` the option's teacher's (for the kinds whose option names a teacher). The builder
(lib/training_sets.py) only calls them: adding a kind is one declaration.

Then each pool is sampled at every ratio and temperature selection (`synthetic_samples`), the same draws for
every kind, so two kinds differ only by their recipe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .classify import LABELS


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


def _selection_label(temperature: float) -> str:
    return repr(float(temperature))


def temperature_selections(synthetic: pd.DataFrame | None) -> list[str]:
    """Each temperature alone ("0.7", "0.9", ...) and "all" together; just the one when there is one."""
    if synthetic is None or len(synthetic) == 0:
        return []
    temps = sorted(set(float(t) for t in synthetic["temperature"].dropna()))
    labels = [_selection_label(t) for t in temps]
    return labels + ["all"] if len(labels) > 1 else labels or ["all"]


def _selection_pool(synthetic: pd.DataFrame, selection: str) -> pd.DataFrame:
    if selection == "all":
        return synthetic
    return synthetic[np.isclose(synthetic["temperature"].astype(float), float(selection))]


def _draw_order(pool: pd.DataFrame, seed: int, draw: int) -> pd.DataFrame:
    """Pool rows in an order depending only on (synthetic_id, seed, draw).

    Prefixes are the samples, so a larger ratio's sample contains a smaller one's,
    and a filtered or single-temperature pool is sampled consistently with "all".
    """
    keys = pool["synthetic_id"].astype(str) + f"|draw|{seed}|{draw}"
    order = pd.util.hash_pandas_object(keys, index=False).to_numpy()
    return pool.iloc[np.argsort(order, kind="stable")]


@dataclass
class SyntheticSample:
    rows: pd.DataFrame  # the chosen synthetic reviews, balanced per sentiment
    requested: int  # synthetic reviews the ratio asked for (both sentiments)
    capped: bool  # fewer exist than asked for


def synthetic_samples(
    synthetic: pd.DataFrame | None,
    n_genuine: int,
    ratios,
    seed: int = 0,
    draw: int = 0,
    selections: list[str] | None = None,
) -> dict[tuple[float, str], SyntheticSample]:
    """{(ratio, temperature selection): sample} of one draw: synthetic reviews to add to `n_genuine` genuine ones.

    A ratio asks for `round(ratio * n_genuine / 2)` synthetic reviews per sentiment
    (balanced). A request beyond what a sentiment has is capped to the smaller
    sentiment's supply (still balanced) and flagged `capped`; it is not an error.
    Samples are prefixes of one seeded order per (selection, draw), so a larger ratio's
    sample contains a smaller one's.
    """
    has_synthetic = synthetic is not None and len(synthetic) > 0
    if selections is None:
        selections = temperature_selections(synthetic) if has_synthetic else []
    samples = {}
    empty = synthetic.iloc[:0] if has_synthetic else pd.DataFrame()
    for selection in selections:
        ordered = {}
        if has_synthetic:
            pool = _draw_order(_selection_pool(synthetic, selection), seed, draw)
            ordered = {s: pool[pool["sentiment"] == s] for s in LABELS}
        supply = min((len(ordered.get(s, ())) for s in LABELS), default=0)
        for ratio in ratios:
            per_class = int(round(float(ratio) * n_genuine / len(LABELS)))
            take = min(per_class, supply)
            rows = pd.concat([ordered[s].iloc[:take] for s in LABELS]) if take else empty
            samples[(float(ratio), selection)] = SyntheticSample(rows, per_class * len(LABELS), take < per_class)
    return samples


@dataclass
class TeacherLabels:
    """The generative classifier as a teacher of one (repeat, data size)'s synthetic reviews."""

    p_positive: pd.Series  # P(positive) of each synthetic review, by synthetic_id (the calibrated margin)
    hyperparameters: str  # how it was made (JSON: its threshold, calibration and scoring length)
