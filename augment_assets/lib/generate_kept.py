"""Counting reviews *kept* by a filter: `generate_kept` draws further review slots (i = n, n+1, ...)
until n are kept or an attempt bound is reached, and says how many were attempted, dropped and why it fell
short; `generate_kept_together` does so for several temperatures of one generator, decoded together.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from augment_assets.lib.errors import InputError
from augment_assets.lib.generate import GenerationConfig, generate_reviews_together, temperature_key, with_rates
from augment_assets.lib.model import choose_device_dtype, load_model

log = logging.getLogger(__name__)


def default_max_attempts(target: int) -> int:
    """The attempt bound when none is given: 3 x the reviews to keep.

    The quality filters drop few reviews of a working generator (the real run kept nearly all:
    docs/results.md, "The real run: 3 repeats at all, 50 and 25 per class"; the demo's tiny
    partitions lose a few to duplicates), so a generator that needs more than three attempts per
    kept review is broken (looping, echoing its prompt), and drawing on would spend the
    partition's hour on more of the same: it stops and says so instead.
    """
    return 3 * int(target)


def check_attempts(target: int, max_attempts: int | None) -> int:
    """`max_attempts` (or its default), if it can reach `target`; else an error naming the setting."""
    if max_attempts is None:
        return default_max_attempts(target)
    if not isinstance(max_attempts, (int, np.integer)) or max_attempts < target:
        raise InputError(
            f"max_attempts must be an integer >= the {target} reviews to keep (n x over_generation), got {max_attempts!r}; "
            f"leave it unset for {default_max_attempts(target)} (3 x {target})"
        )
    return int(max_attempts)


@dataclass
class KeptReviews:
    """What `generate_kept` made: the kept reviews (slot order) and the account of the attempts behind them."""

    kept: pd.DataFrame  # COLUMNS: the first `target` review slots the filters kept, in slot order
    target: int  # reviews asked to keep
    attempted: int  # review slots generated (0 .. attempted-1)
    max_attempts: int
    dropped: dict[str, int]  # slots the filters dropped, by reason
    stats: dict  # generate_reviews' stats, summed over the rounds (`resumed`: of the first round)

    @property
    def short_by(self) -> int:
        return max(0, self.target - len(self.kept))

    @property
    def surplus(self) -> int:
        """Kept by the filters but beyond the target (the last round's overshoot): generated, not stored."""
        return self.attempted - len(self.kept) - sum(self.dropped.values())

    def shortfall(self) -> str | None:
        """Why fewer than `target` were kept, or None when the target was met."""
        if not self.short_by:
            return None
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items(), key=lambda kv: -kv[1]) if v) or "none"
        return (
            f"kept {len(self.kept)} of the {self.target} reviews asked for: stopped at max_attempts={self.max_attempts} "
            f"attempts; the quality filters dropped {sum(self.dropped.values())} ({reasons}). Raise max_attempts, or "
            "look at the generator (a generator that loops or echoes its prompt keeps few reviews)"
        )


def _next_attempts(attempted: int, kept: int, target: int, max_attempts: int) -> int:
    """Slots to have after this round: enough for the missing reviews at the keep rate seen so far (x 1.25,
    doubling while none was kept), at most `max_attempts`. Not rounded up to whole chunks: a partition of
    32 that lost 3 reviews draws 5 more, not another chunk of 32 (a short last chunk is remade if a later
    round grows past it, with the same text: each slot has its own seed)."""
    more = attempted if kept == 0 else int(np.ceil((target - kept) * attempted / kept * 1.25))
    return min(int(max_attempts), attempted + max(1, more))


def generate_kept(
    model_dir: Path | str,
    prompts: list[str],
    sentiment: str,
    config: GenerationConfig,
    chunk_dir: Path,
    generator_version: str,
    keep: Callable[[pd.DataFrame], tuple[pd.DataFrame, dict[str, int]]],
    target: int | None = None,
    max_attempts: int | None = None,
    **generate_kwargs,
) -> KeptReviews:
    """`target` (default `config.n`) reviews that `keep` (the quality filters: frame -> (kept rows, dropped
    by reason)) keeps, drawing new review slots i = target, target+1, ... (their ids and seeds as ever) until
    that many are kept or `max_attempts` slots were generated (default `default_max_attempts`).

    Deterministic: each round is `generate_reviews` with a larger `n` (its finished chunks reused, so a rerun
    makes only what is missing), `keep` sees every slot made so far, and the kept reviews are the first
    `target` kept slots in slot order. An attempt bound below `target` is an error before any work.
    """
    return generate_kept_together(
        model_dir,
        prompts,
        sentiment,
        [config],
        chunk_dir,
        generator_version,
        keep,
        target,
        max_attempts,
        **generate_kwargs,
    )[0]


def generate_kept_together(
    model_dir: Path | str,
    prompts: list[str],
    sentiment: str,
    configs: list[GenerationConfig],
    chunk_dir: Path,
    generator_version: str,
    keep: Callable[[pd.DataFrame], tuple[pd.DataFrame, dict[str, int]]],
    target: int | None = None,
    max_attempts: int | None = None,
    **generate_kwargs,
) -> list[KeptReviews]:
    """`generate_kept` for several temperatures of one generator (`configs`, differing in `n` and `temperature`
    only), each round's missing slots of every temperature decoded together (`generate_reviews_together`).
    Each temperature keeps and stops on its own, as it would alone. -> one `KeptReviews` per config, in order."""
    targets = [int(c.n if target is None else target) for c in configs]
    bounds = [check_attempts(t, max_attempts) for t in targets]
    attempted, rounds, totals = list(targets), [0] * len(configs), [{} for _ in configs]
    results: list[tuple[pd.DataFrame, pd.DataFrame, dict] | None] = [None] * len(configs)
    active = list(range(len(configs)))
    while active:
        frames = generate_reviews_together(
            model_dir,
            prompts,
            sentiment,
            [dataclasses.replace(configs[j], n=attempted[j]) for j in active],
            chunk_dir,
            generator_version,
            **generate_kwargs,
        )
        following = []
        for j, frame in zip(active, frames):
            rounds[j] += 1
            stats = frame.attrs.get("stats", {})
            for key in ("generated", "new_tokens", "finished_eos", "seconds"):
                totals[j][key] = totals[j].get(key, 0) + stats.get(key, 0)
            totals[j].setdefault("resumed", stats.get("resumed", 0))
            kept, dropped = keep(frame)
            results[j] = (frame, kept, dropped)
            if len(kept) >= targets[j] or attempted[j] >= bounds[j]:
                continue
            more = _next_attempts(attempted[j], len(kept), targets[j], bounds[j])
            log.info(
                "%s T=%s: %d of %d kept after %d attempts; drawing up to %d",
                sentiment,
                temperature_key(configs[j].temperature),
                len(kept),
                targets[j],
                attempted[j],
                more,
            )
            attempted[j] = more
            following.append(j)
        active = following
        if active and generate_kwargs.get("model_and_tokenizer") is None:  # load once for the further rounds
            device, dtype = generate_kwargs.get("device"), generate_kwargs.get("dtype")
            if device is None or dtype is None:
                auto_device, auto_dtype = choose_device_dtype()
                device, dtype = device or auto_device, dtype or auto_dtype
            generate_kwargs["model_and_tokenizer"] = load_model(model_dir, device, dtype)
    made = []
    for j, (frame, kept, dropped) in enumerate(results):
        slot = pd.Series(np.arange(len(frame)), index=frame["synthetic_id"].to_numpy())
        order = np.argsort(slot.loc[kept["synthetic_id"].to_numpy()].to_numpy(), kind="stable")
        kept = kept.iloc[order[: targets[j]]].reset_index(drop=True)
        stats = with_rates({**frame.attrs.get("stats", {}), **totals[j], "rounds": rounds[j]})
        made.append(KeptReviews(kept, targets[j], attempted[j], bounds[j], dict(dropped), stats))
    return made
