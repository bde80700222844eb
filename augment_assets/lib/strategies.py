"""What trusting the recommendation costs: its holdout accuracy beside strategies fixed before any run
(`FIXED_STRATEGIES`), paired per repeat and holdout review, on the summaries' interval (`strategy_comparison`)."""

from __future__ import annotations

from dataclasses import dataclass

from .selection import ScoredRow, best_row
from .summaries import Summaries, describe_choices, verdict_of


@dataclass(frozen=True)
class FixedStrategy:
    """A configuration chosen before any data: the yardstick a recommendation must not fall below."""

    classifier: str
    variant: str  # a VARIANTS name
    ratio: float | None = None  # synthetic reviews per genuine one (candidates)
    selection: str | None = None  # temperature selection (candidates): "all" where there are several

    @property
    def name(self) -> str:
        ratio = f" at ratio {self.ratio:g}" if self.ratio is not None else ""
        return f"{self.classifier} {self.variant}{ratio}"

    def row_of(self, rows: list[ScoredRow]) -> ScoredRow | None:
        """This strategy's row among one repeat's rows (its hyperparameters as the variant chose them on
        validation: a tuned baseline's grid is part of the strategy), or None where it has none."""
        found = [r for r in rows if r.variant.name == self.variant and (self.ratio is None or r.ratio == self.ratio)]
        if self.selection is not None and len({r.selection for r in found}) > 1:
            found = [r for r in found if r.selection == self.selection]
        return found[0] if len(found) == 1 else best_row(found)


# Declared here, before any run, and never chosen on a holdout: each classifier's library defaults on the genuine
# reviews (the generators: the Bayes rule, threshold 0), each classifier's tuned baseline, and TF-IDF NB and LR with
# all synthetic reviews at ratio 1.
FIXED_STRATEGIES = (
    *(FixedStrategy(clf, "genuine") for clf in ("nb", "lr", "embedding", "generative")),
    *(FixedStrategy(clf, "genuine_tuned") for clf in ("nb", "lr", "embedding", "generative")),
    *(FixedStrategy(clf, "genuine+synthetic", 1.0, "all") for clf in ("nb", "lr")),
)


def strategy_comparison(summaries: Summaries, name: str, data_size: str, cap) -> list[dict]:
    """The recommendation's holdout accuracy beside each fixed strategy (`FIXED_STRATEGIES`, declared before any
    run), paired per repeat and holdout review: what trusting the recommendation costs, or gains."""
    rec = summaries.recommended(data_size, cap)
    if rec is None:
        return []
    rec_clf, rec_variant, rec_picks = rec.classifier, rec.variant, rec.picks
    rec_accuracy = summaries.accuracy(rec_picks, name)[0]
    out = []
    for strategy in FIXED_STRATEGIES:
        entries = summaries.cells.get((data_size, cap, strategy.classifier))
        if not entries:
            continue
        picks = [strategy.row_of(c.rows) for c in entries]
        if any(p is None for p in picks):
            continue  # e.g. no synthetic reviews at a learning-curve size
        difference, low, high = summaries.gain(rec_picks, picks, name)
        out.append(
            {
                "eval_set": name,
                "data_size": data_size,
                "genuine_per_class": cap,
                "strategy": strategy.name,
                "classifier": strategy.classifier,
                "variant": strategy.variant,
                "hyperparameters": describe_choices(
                    [summaries.grid.hyperparameters(p.gridpoint, p.option) for p in picks]
                ),
                "repeats": len(entries),
                "strategy_accuracy": summaries.accuracy(picks, name)[0],
                "recommended_classifier": rec_clf,
                "recommended_variant": rec_variant.name,
                "recommended_accuracy": rec_accuracy,
                "recommended_minus_strategy": difference,
                "difference_ci_low": low,
                "difference_ci_high": high,
                "verdict": {"gain": "recommendation better", "loss": "strategy better"}.get(
                    verdict_of(low, high), "no difference shown"
                ),
            }
        )
    return out
