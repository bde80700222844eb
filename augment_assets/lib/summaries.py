"""Over repeats: one function per summary table (`headline`, `candidate_gains`, `learning_curve`,
`recommendation`) on one shared interval helper.

Intervals are a two-level percentile bootstrap (`classify.two_level_bootstrap`): each resample draws repeats
and holdout reviews with replacement and averages over the drawn repeats. A verdict is `gain` or `loss` only
when the interval excludes zero; the minimum detectable gain is the interval's half-width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .classifiers import tie_rounded
from .classify import repeat_indices, two_level_bootstrap
from .evaluation_tables import VS_TEACHER
from .fitting import Grid
from .selection import ScoredRow, best_row
from .selection_rule import Choice, one_standard_error, pooled_accuracy
from .variants import EMBEDDING, GENERATIVE, TRAINING_DATA, VARIANTS, EvaluationConfig, Variant

# What the recommendation may choose, and its declared order of preference (lib/selection_rule.py moves away from
# the first only to an option better by more than a standard error of their paired difference). Declared before
# any run: a pretrained encoder with logistic regression is the few-label default of the literature (e.g. SetFit,
# Tunstall et al. 2022), the TF-IDF students follow (LR before NB: it has no smoothing to set), and the generator
# pair last (it costs two fine-tuned models). Each
# classifier's library defaults come before its tuned grid, and both before any synthetic candidate. The
# duplicated and perturbed baselines are left out: duplicating is nearly NB's alpha / k, already in the grid, and
# both would need their own cross-validation folds.
RECOMMENDATION_ORDER = (EMBEDDING, "lr", "nb", GENERATIVE)
RECOMMENDED_BASELINES = ("genuine", "genuine_tuned")


def describe_choices(values) -> str | None:
    """One value when every repeat chose the same, else each with its count ("a x2; b x1")."""
    values = [None if v is None else (f"{v:g}" if isinstance(v, float) else str(v)) for v in values]
    if not values or all(v is None for v in values):
        return None
    counts: dict = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    if len(counts) == 1:
        return values[0]
    return "; ".join(f"{v} x{n}" for v, n in counts.items())


def verdict_of(low: float, high: float) -> str:
    """ "gain" / "loss" only when the interval excludes zero; else "no gain"."""
    if np.isnan(low) or np.isnan(high):
        return "n/a"
    return "gain" if low > 0 else "loss" if high < 0 else "no gain"


@dataclass
class RepeatCell:
    """One data size x classifier of one repeat: its rows and its choices."""

    repeat: int
    pool_per_class: float
    rows: list[ScoredRow]
    baseline: ScoredRow | None
    selected: ScoredRow | None
    reference: ScoredRow | None


class Summaries:
    """Over repeats: the headline, the learning curve, worth and the recommendation.

    Intervals are a two-level percentile bootstrap (`classify.two_level_bootstrap`):
    each resample draws repeats with replacement and holdout reviews with replacement
    (one draw of reviews shared by all repeats, the holdout being one sample), and
    averages over the drawn repeats. With one repeat it is the paired bootstrap over
    holdout reviews. The minimum detectable gain is that interval's half-width: a gain
    of this design must exceed it for its interval to exclude zero.
    """

    def __init__(
        self,
        cells: dict,
        correct: dict,
        boot,
        grid: Grid,
        config: EvaluationConfig,
        reference_status: str | None = None,
    ):
        self.cells, self.grid, self.config, self.boot = cells, grid, config, boot
        self.reference_status = reference_status  # why the reference has no rows, when it has none
        self.correct = correct  # (id(row), eval_set) -> per-review correctness, draw-averaged

    def interval(self, vectors: list[np.ndarray], name: str) -> tuple[float, float, float]:
        idx = self.boot[name]
        repeats = repeat_indices(len(vectors), idx.shape[0], self.config.seed)
        return two_level_bootstrap(vectors, idx, repeats, self.config.confidence)

    def accuracy(self, rows: list[ScoredRow], name: str) -> tuple[float, float, float]:
        return self.interval([self.correct[(id(r), name)] for r in rows], name)

    def gain(self, rows: list[ScoredRow], baselines: list[ScoredRow], name: str) -> tuple[float, float, float]:
        return self.interval(
            [self.correct[(id(r), name)] - self.correct[(id(b), name)] for r, b in zip(rows, baselines)], name
        )

    def _choice(self, prefix: str, rows: list[ScoredRow]) -> dict:
        return {
            f"{prefix}_variant": describe_choices([r.variant.name for r in rows]),
            f"{prefix}_temperature_selection": describe_choices([r.selection for r in rows]),
            f"{prefix}_ratio": describe_choices([float(r.ratio) for r in rows]),
            f"{prefix}_hyperparameters": describe_choices(
                [self.grid.hyperparameters(r.gridpoint, r.option) for r in rows]
            ),
            f"{prefix}_validation_accuracy": float(np.mean([np.mean(r.validation) for r in rows])),
        }

    def headline(self, name: str, context: dict, entries: list[RepeatCell]) -> dict:
        baselines = [c.baseline for c in entries]
        genuine = [next((r for r in c.rows if r.variant.name == "genuine"), None) for c in entries]
        head = {**context, "repeats": len(entries)}
        head["genuine_accuracy"] = self.accuracy(genuine, name)[0] if all(genuine) else np.nan
        head.update(self._choice("baseline", baselines))
        head["baseline_accuracy"] = self.accuracy(baselines, name)[0]
        for prefix in ("selected", "reference"):
            picks = [getattr(c, prefix) for c in entries]
            gain_key = "" if prefix == "selected" else "reference_"
            if any(p is None for p in picks):
                head.update(
                    {f"{prefix}_{k}": None for k in ("variant", "temperature_selection", "ratio", "hyperparameters")}
                )
                head.update({f"{prefix}_validation_accuracy": np.nan, f"{prefix}_accuracy": np.nan})
                gain = (np.nan, np.nan, np.nan)
            else:
                head.update(self._choice(prefix, picks))
                head[f"{prefix}_accuracy"] = self.accuracy(picks, name)[0]
                gain = self.gain(picks, baselines, name)
            head.update(
                {
                    f"{gain_key}gain_vs_baseline": gain[0],
                    f"{gain_key}gain_ci_low": gain[1],
                    f"{gain_key}gain_ci_high": gain[2],
                }
            )
            if prefix == "selected":
                head["min_detectable_gain"] = (gain[2] - gain[1]) / 2
                head["verdict"] = verdict_of(gain[1], gain[2])
        teachers = [c.selected.teacher if c.selected is not None else None for c in entries]
        taught = all(t is not None for t in teachers)
        head["selected_teacher"] = describe_choices([c.selected.teacher_name for c in entries]) if taught else None
        head["selected_teacher_accuracy"] = self.accuracy(teachers, name)[0] if taught else np.nan
        head.update(self._against_teacher(name, [c.selected for c in entries]))
        head.update(self._against_reference(name, entries))
        head.update(self._against_best_baseline(name, context, entries))
        return head

    def candidate_gains(self, name: str, context: dict, entries: list[RepeatCell]) -> list[dict]:
        """Per candidate (and reference) variant present at every repeat: its own validation pick per repeat
        against that repeat's selected baseline, over repeats and holdout reviews."""
        out = []
        baselines = [c.baseline for c in entries]
        if any(b is None for b in baselines):
            return out
        for variant in VARIANTS:
            if variant.role == "baseline":
                continue
            picks = [best_row([r for r in c.rows if r.variant.name == variant.name]) for c in entries]
            if any(p is None for p in picks):
                continue
            gain, low, high = self.gain(picks, baselines, name)
            choice = self._choice("x", picks)
            taught = all(p.teacher is not None for p in picks)
            out.append(
                {
                    **context,
                    "variant": variant.name,
                    "role": variant.role,
                    "repeats": len(entries),
                    "temperature_selection": choice["x_temperature_selection"],
                    "ratio": choice["x_ratio"],
                    "hyperparameters": choice["x_hyperparameters"],
                    "validation_accuracy": choice["x_validation_accuracy"],
                    "teacher": describe_choices([p.teacher_name for p in picks]) if taught else None,
                    "teacher_accuracy": self.accuracy([p.teacher for p in picks], name)[0] if taught else np.nan,
                    "accuracy": self.accuracy(picks, name)[0],
                    "baseline_accuracy": self.accuracy(baselines, name)[0],
                    "gain_vs_baseline": gain,
                    "gain_ci_low": low,
                    "gain_ci_high": high,
                    "verdict": verdict_of(low, high),
                    "selected_by_validation": sum(c.selected is p for c, p in zip(entries, picks)),
                    **self._against_teacher(name, picks),
                }
            )
        return out

    def _against_teacher(self, name: str, picks: list) -> dict:
        """A taught pick (one teacher row per repeat) minus its teacher, paired; n/a where a repeat has no pick
        or its teacher is a pair (no one row to compare with)."""
        if not picks or any(p is None or p.teacher is None for p in picks):
            return dict(zip(VS_TEACHER, (np.nan, np.nan, np.nan, "n/a")))
        gain, low, high = self.gain(picks, [p.teacher for p in picks], name)
        return dict(zip(VS_TEACHER, (gain, low, high, verdict_of(low, high))))

    def _against_reference(self, name: str, entries: list[RepeatCell]) -> dict:
        """Our selected candidate next to the reference's best configuration (each chosen on validation), paired
        over the same holdout reviews and repeats; where the reference is not scored, why not."""
        out = {
            "selected_minus_reference": np.nan,
            "selected_minus_reference_ci_low": np.nan,
            "selected_minus_reference_ci_high": np.nan,
        }
        picks, references = [c.selected for c in entries], [c.reference for c in entries]
        if all(r is not None for r in references):
            out["reference_status"] = "scored"
            if all(p is not None for p in picks):
                gain, low, high = self.gain(picks, references, name)
                out.update(
                    selected_minus_reference=gain,
                    selected_minus_reference_ci_low=low,
                    selected_minus_reference_ci_high=high,
                )
        elif any(r is not None for r in references):
            out["reference_status"] = "not at every repeat"
        else:
            out["reference_status"] = self.reference_status or "not scored for this classifier"
        return out

    def best_baseline(self, data_size: str, cap, repeats: list[int]) -> tuple[str, list[ScoredRow]] | None:
        """(classifier, its selected baseline per repeat) with the best mean validation accuracy over these
        repeats among every classifier's selected baselines at this size (ties: classifiers in configured order)."""
        best = None
        for clf in self.config.classifiers:
            by_repeat = {c.repeat: c.baseline for c in self.cells.get((data_size, cap, clf), [])}
            picks = [by_repeat.get(r) for r in repeats]
            if any(p is None for p in picks):
                continue  # not at every repeat of this row: not comparable
            score = tie_rounded(np.mean([np.mean(p.validation) for p in picks]))
            if best is None or score > best[0]:
                best = (score, clf, picks)
        return None if best is None else (best[1], best[2])

    def _against_best_baseline(self, name: str, context: dict, entries: list[RepeatCell]) -> dict:
        """The selected candidate against the best baseline of any classifier, paired over the same reviews."""
        best = self.best_baseline(context["data_size"], context["genuine_per_class"], [c.repeat for c in entries])
        picks = [c.selected for c in entries]
        out = {
            "best_baseline_classifier": None,
            "best_baseline_variant": None,
            "best_baseline_validation_accuracy": np.nan,
            "best_baseline_accuracy": np.nan,
            "gain_vs_best_baseline": np.nan,
            "gain_vs_best_baseline_ci_low": np.nan,
            "gain_vs_best_baseline_ci_high": np.nan,
            "verdict_vs_best_baseline": "n/a",
        }
        if best is None:
            return out
        clf, baselines = best
        out.update(
            best_baseline_classifier=clf,
            best_baseline_variant=describe_choices([b.variant.name for b in baselines]),
            best_baseline_validation_accuracy=float(np.mean([np.mean(b.validation) for b in baselines])),
            best_baseline_accuracy=self.accuracy(baselines, name)[0],
        )
        if all(p is not None for p in picks):
            gain, low, high = self.gain(picks, baselines, name)
            out.update(
                gain_vs_best_baseline=gain,
                gain_vs_best_baseline_ci_low=low,
                gain_vs_best_baseline_ci_high=high,
                verdict_vs_best_baseline=verdict_of(low, high),
            )
        return out

    def learning_curve(self, name: str, clf: str) -> list[dict]:
        """Holdout accuracy of the selected baseline (every size) and the selected candidate (sizes with
        generators) against genuine reviews per class, averaged over repeats."""
        out = []
        for (data_size, cap, classifier), entries in self.cells.items():
            if classifier != clf:
                continue
            for role, attribute in (("baseline", "baseline"), ("candidate", "selected")):
                picks = [getattr(c, attribute) for c in entries]
                if any(p is None for p in picks):
                    continue
                accuracy, low, high = self.accuracy(picks, name)
                out.append(
                    {
                        "eval_set": name,
                        "classifier": clf,
                        "data_size": data_size,
                        "genuine_per_class": cap,
                        "pool_per_class": float(np.mean([c.pool_per_class for c in entries])),
                        "role": role,
                        "variant": describe_choices([p.variant.name for p in picks]),
                        "repeats": len(entries),
                        "validation_accuracy": float(np.mean([np.mean(p.validation) for p in picks])),
                        "accuracy": accuracy,
                        "accuracy_ci_low": low,
                        "accuracy_ci_high": high,
                    }
                )
        return out

    def recommendable(self) -> list[tuple[str, Variant]]:
        """(classifier, variant) the recommendation may pick, in its declared order of preference
        (`RECOMMENDATION_ORDER`): each classifier's library defaults, then its tuned grid, then the generators'
        candidates (and the reference where it is selected)."""
        roles = {"candidate", "reference"} if self.config.select_reference else {"candidate"}
        variants = [v for v in VARIANTS if v.name in RECOMMENDED_BASELINES] + [v for v in VARIANTS if v.role in roles]
        classifiers = [c for c in RECOMMENDATION_ORDER if c in self.config.classifiers]
        return [(clf, variant) for variant in variants for clf in classifiers]

    def recommended(self, data_size: str, cap) -> Recommended | None:
        """The configuration the one-standard-error rule keeps at this data size (lib/selection_rule.py), over
        every repeat's evidence, or None where nothing was scored."""
        options = []
        for clf, variant in self.recommendable():
            entries = self.cells.get((data_size, cap, clf))
            if not entries:
                continue
            picks = [best_row([r for r in c.rows if r.variant.name == variant.name]) for c in entries]
            if any(p is None or p.evidence is None for p in picks):
                continue
            options.append((clf, variant, picks, entries))
        if not options:
            return None
        # what each option was itself chosen among, in the first repeat: its rows' grids and options
        compared = [
            sum(r.compared for r in entries[0].rows if r.variant == variant) for _, variant, _, entries in options
        ]
        choice = one_standard_error([[p.evidence for p in picks] for _, _, picks, _ in options], compared)
        clf, variant, picks, entries = options[choice.chosen]
        best_clf, best_variant, best_picks, _ = options[choice.best]
        return Recommended(
            pooled_accuracy([p.evidence for p in picks]),
            clf,
            variant,
            picks,
            entries,
            highest=f"{best_clf} {best_variant.name}",
            highest_accuracy=pooled_accuracy([p.evidence for p in best_picks]),
            choice=choice,
            compared=sum(compared),
        )

    def recommendation(self, name: str, data_size: str, cap, labels=None) -> dict | None:
        """The one classifier and training data the selection rule keeps at this data size, and what
        sentiment_classifier saves of it: the first repeat's pick on its first draw's set, with that fit's accuracy
        on this holdout (`labels`), read here so that the saved classifier never needs the holdout."""
        rec = self.recommended(data_size, cap)
        if rec is None:
            return None
        picks, entries = rec.picks, rec.entries
        accuracy, low, high = self.accuracy(picks, name)
        return {
            "eval_set": name,
            "data_size": data_size,
            "genuine_per_class": cap,
            "classifier": rec.classifier,
            "variant": rec.variant.name,
            "role": rec.variant.role,
            "repeats": len(entries),
            "temperature_selection": describe_choices([p.selection for p in picks]),
            "synthetic_per_genuine": describe_choices([float(p.ratio) for p in picks]),
            "hyperparameters": describe_choices([self.grid.hyperparameters(p.gridpoint, p.option) for p in picks]),
            "validation_accuracy": rec.score,
            "accuracy": accuracy,
            "accuracy_ci_low": low,
            "accuracy_ci_high": high,
            "deploy_repeat": entries[0].repeat,
            "deploy_training_set_id": picks[0].refit_sets[0] if picks[0].refit_sets else None,
            "deploy_hyperparameters": self.grid.hyperparameters(picks[0].gridpoint, picks[0].option),
            "deploy_accuracy": float(np.mean(np.asarray(picks[0].predictions[name][0]) == labels))
            if labels is not None
            else np.nan,
            # how much choosing there was, per repeat: every configuration scored at this size (each eligible row's
            # grid and options, over every classifier), and the reviews the kept one was chosen on
            "configurations_compared": rec.compared,
            "validation_reviews": picks[0].validation_reviews,
            "chosen_by": "cross-validation" if picks[0].cross_validated else "validation fold",
            "highest_scoring": rec.highest,
            "highest_scoring_accuracy": rec.highest_accuracy,
            "highest_minus_chosen": rec.choice.margin,
            "highest_minus_chosen_se": rec.choice.standard_error,
            "compared_on_reviews": rec.choice.reviews,
        }


@dataclass
class Recommended:
    """What the selection rule kept at one data size: its selection accuracy (pooled over repeats), classifier,
    variant, each repeat's pick and cell; the best-scoring option and the paired comparison with it; and how many
    configurations were compared in one repeat (the first)."""

    score: float
    classifier: str
    variant: Variant
    picks: list[ScoredRow]
    entries: list[RepeatCell]
    highest: str
    highest_accuracy: float
    choice: Choice
    compared: int


def worth(curve: pd.DataFrame, target: float) -> tuple[float, str]:
    """(genuine reviews per class the baseline needs to reach `target`, how it was found).

    Linear interpolation of the baseline's learning curve (`pool_per_class` against
    accuracy), taking the first size at which it reaches the target. ("at most", n)
    when its smallest size already does; (nan, "more than all") when no size does.
    """
    points = curve.sort_values("pool_per_class")[["pool_per_class", "accuracy"]].to_numpy(dtype=float)
    if not len(points) or np.isnan(target):
        return np.nan, "n/a"
    if points[0, 1] >= target:
        return float(points[0, 0]), "at most"
    for (n0, a0), (n1, a1) in zip(points, points[1:]):
        if a1 >= target:
            return float(n0 + (target - a0) / (a1 - a0) * (n1 - n0)), "interpolated"
    return np.nan, "more than all"


def worth_columns(head: dict, curve: pd.DataFrame) -> dict:
    baseline = curve[
        (curve["eval_set"] == head["eval_set"])
        & (curve["classifier"] == head["classifier"])
        & (curve["role"] == "baseline")
    ]
    own = curve[
        (curve["eval_set"] == head["eval_set"])
        & (curve["classifier"] == head["classifier"])
        & (curve["data_size"] == head["data_size"])
    ]
    if np.isnan(head.get("selected_accuracy", np.nan)) or own.empty:
        return {"worth_genuine_per_class": np.nan, "worth_extra_per_class": np.nan, "worth": "n/a"}
    have = float(own["pool_per_class"].iloc[0])
    needed, how = worth(baseline, float(head["selected_accuracy"]))
    if how == "more than all":
        text = f"more than all: no size of the baseline (up to {baseline['pool_per_class'].max():.0f} per class) reaches it"
        return {"worth_genuine_per_class": np.nan, "worth_extra_per_class": np.nan, "worth": text}
    extra = needed - have
    text = (
        f"{'at most ' if how == 'at most' else ''}{extra:+.0f} labelled reviews per class "
        f"(the baseline needs {needed:.0f} per class to match; this size has {have:.0f})"
    )
    if head["verdict"] == "no gain":
        text = f"no gain (interval crosses zero); point estimate {text}"
    elif head["verdict"] == "loss":
        text = f"loss; point estimate {text}"
    return {"worth_genuine_per_class": needed, "worth_extra_per_class": extra, "worth": text}


def attach_teachers(results: dict) -> None:
    """Give each row whose synthetic reviews a teacher filtered or relabelled that teacher's row: the student's own
    `genuine_tuned` row (the tuned classifier fit on the same genuine rows), or the generative classifier's."""
    tuned = {
        (key[0], key[1], key[3]): r for key, rows in results.items() for r in rows if r.variant.name == "genuine_tuned"
    }
    for (repeat, data_size, _, clf, _), rows in results.items():
        for r in rows:
            # a selected candidate's teacher is in its option (a pair of teachers has no one row)
            teacher = r.option.get("teacher") or TRAINING_DATA[r.variant.data].teacher_of(clf)
            r.teacher = tuned.get((repeat, data_size, teacher)) if teacher is not None else None
            r.teacher_name = teacher if r.teacher is not None else None


def mark_baselines_that_beat_every_candidate(rows: list[dict]) -> None:
    """Per evaluation set and data size, whether the best baseline of any classifier (chosen on validation) beats
    the selected synthetic candidate of *every* classifier there: `yes, shown` when each paired interval against
    it lies below 0, `yes, point estimate only` when each gain is below 0 but some interval reaches 0, `no`
    when some candidate is at least as good, `n/a` when no candidate could be compared."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["eval_set"], row["data_size"]), []).append(row)
    for group in groups.values():
        compared = [
            r for r in group if not np.isnan(r["gain_vs_best_baseline"])
        ]  # a classifier without a candidate has none to beat
        if not compared:
            answer = "n/a"
        elif all(r["gain_vs_best_baseline"] < 0 for r in compared):
            answer = (
                "yes, shown"
                if all(r["verdict_vs_best_baseline"] == "loss" for r in compared)
                else "yes, point estimate only"
            )
        else:
            answer = "no"
        for row in group:
            row["best_baseline_beats_every_candidate"] = answer
