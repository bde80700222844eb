"""The generative classifier's decisions on margins, without a model: its threshold, its calibration, its
labels as a teacher, and the scoring settings.

A margin is `mean log p(x | negative generator) - mean log p(x | positive generator)` (lib/generative.py
computes it with the models); everything here works on those numbers alone, so the evaluation and its
statistics use it without loading torch.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from .errors import InputError
from .recipes import TeacherLabels
from .settings import setting

SCORE_COLUMNS = [
    "repeat",
    "data_size",
    "scored_set",
    "review_id",
    "negative_generator_version",
    "positive_generator_version",
    "log_likelihood_negative",
    "log_likelihood_positive",
    "margin",
    "n_tokens",
    "max_review_tokens",
    "dtype",
]


@dataclass(frozen=True)
class ScoringConfig:
    # Review tokens scored (after the conditioning prefix): long enough to read most reviews' endings, where
    # validation accuracy kept rising (docs/results.md, "How many review tokens the generative classifier reads").
    max_review_tokens: int = setting(
        256,
        description=(
            "Review tokens the generators read to score a review, as a classifier and as a teacher (one run-wide "
            "length, so a taught student is compared with its very teacher)."
        ),
        ge=8,
    )
    # Reviews per forward pass, length-sorted so padding stays small; the fastest of 8 / 16 / 32 in
    # bench/generative.py (docs/results.md): each batch holds vocabulary-wide logits, so larger ones cost memory.
    batch_size: int = setting(16, description="Reviews per forward pass of the generative scoring.", ge=1)

    def __post_init__(self):
        if self.max_review_tokens < 8 or self.batch_size < 1:
            raise InputError(
                f"generative scoring: max_review_tokens must be >= 8 and batch_size >= 1, got "
                f"{self.max_review_tokens} and {self.batch_size}"
            )


@dataclass
class ScoringStats:
    texts: int = 0  # (generator, text) pairs asked for
    scored: int = 0  # of them computed now (the rest came from the cache)
    tokens: int = 0  # review tokens scored now
    seconds: float = 0.0  # model loading and scoring
    loads: int = 0

    @property
    def reviews_per_s(self) -> float:
        """Reviews scored by both generators of a pair per second (a review is two forward passes)."""
        return self.scored / 2 / self.seconds if self.seconds else float("nan")


@dataclass
class GenerativeScores:
    """Margins of the texts a data size's evaluation scores, per (repeat, data size) and set name.

    `margins[(cell, name)]` is aligned with the texts it was given (`name` is "validation" or
    "holdout:<eval set>"); `table` is the `generative_scores` table; `skipped` says why a cell has none.
    """

    margins: dict[tuple, np.ndarray] = field(default_factory=dict)
    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SCORE_COLUMNS))
    skipped: dict[tuple, str] = field(default_factory=dict)
    stats: ScoringStats = field(default_factory=ScoringStats)
    config: ScoringConfig = field(default_factory=ScoringConfig)

    def cells(self) -> set[tuple]:
        return {cell for cell, _ in self.margins}


def evaluation_texts(sets, holdouts: dict[str, pd.DataFrame]) -> dict[tuple, dict[str, pd.DataFrame]]:
    """What the evaluation scores, per (repeat, data size): its validation fold, in the order of
    `sets.validation` (`TrainingSets`), as "validation", and each holdout as "holdout:<name>"."""
    out = {}
    for cell, index in sets.validation.items():
        fold = sets.items.iloc[index]
        named = {"validation": pd.DataFrame({"review_id": fold["item_id"].to_numpy(), "text": fold["text"].to_numpy()})}
        named.update({f"holdout:{name}": frame[["review_id", "text"]] for name, frame in holdouts.items()})
        out[cell] = named
    return out


def predict(margins: np.ndarray, threshold: float) -> np.ndarray:
    """0 (negative) where the negative generator explains the review better by more than the threshold, else 1."""
    return np.where(np.asarray(margins) > threshold, 0, 1).astype(np.int8)


@dataclass(frozen=True)
class Calibration:
    """P(positive | margin) = sigmoid(slope * margin / spread + intercept), fit on validation reviews (Platt scaling)."""

    slope: float = -1.0
    intercept: float = 0.0
    spread: float = 1.0

    @property
    def threshold(self) -> float:
        """The margin where P(positive) = 1/2."""
        return -self.intercept / self.slope * self.spread

    def p_positive(self, margins: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(self.slope * np.asarray(margins, dtype=float) / self.spread + self.intercept)))


def calibrate(margins: np.ndarray, labels: np.ndarray) -> Calibration | None:
    """A logistic regression of the label (1 = positive) on the margin; None when it cannot place a boundary:
    a single class, no spread, or a margin that does not fall with P(positive) (generators that disagree with
    the labels: no threshold fixes that)."""
    margins, labels = np.asarray(margins, dtype=float), np.asarray(labels)
    spread = float(np.std(margins))
    if len(np.unique(labels)) < 2 or spread == 0:
        return None
    fit = LogisticRegression().fit((margins / spread).reshape(-1, 1), labels)
    slope, intercept = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    return Calibration(slope, intercept, spread) if slope < 0 else None


def choose_threshold(margins: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(threshold, its accuracy on these reviews), fit on these (validation) reviews by `calibrate`: the
    margin where P(positive) = 1/2; 0 when no boundary can be fit.

    Why not the threshold with the best accuracy on them: on a validation fold of 20 reviews that
    argmax rests on the one or two reviews nearest the boundary; leave-one-out on validation folds put the
    logistic fit ahead of both the argmax and threshold 0 (docs/results.md, "The generative threshold").
    """
    calibration = calibrate(margins, labels)
    threshold = 0.0 if calibration is None else calibration.threshold
    return threshold, float(np.mean(predict(margins, threshold) == np.asarray(labels)))


def teacher_labels(
    validation_margins, validation_labels, synthetic_ids, synthetic_margins, config: ScoringConfig
) -> TeacherLabels | None:
    """The generative classifier as a teacher: P(positive) of each synthetic review, its margin calibrated on the
    validation fold (`calibrate`); None where no boundary can be fit (then it teaches nothing)."""
    calibration = calibrate(validation_margins, validation_labels)
    if calibration is None:
        return None
    hyperparameters = {
        "threshold": calibration.threshold,
        **dataclasses.asdict(calibration),
        "max_review_tokens": config.max_review_tokens,
    }
    return TeacherLabels(
        pd.Series(calibration.p_positive(synthetic_margins), index=pd.Index(synthetic_ids, dtype=str).astype(str)),
        json.dumps(hyperparameters, sort_keys=True),
    )


def teacher_review_tokens(teacher_hyperparameters) -> int | None:
    """The review tokens the generative teacher of the stored training sets read (`max_review_tokens` of their
    `teacher_hyperparameters` JSON); None where no set was taught by it."""

    def found(value) -> list[int]:  # a pair of teachers nests each teacher's JSON as a string
        if isinstance(value, str) and value.strip().startswith("{"):
            return found(json.loads(value))
        if isinstance(value, dict):
            if "max_review_tokens" in value:
                return [int(value["max_review_tokens"])]
            return [length for v in value.values() for length in found(v)]
        return []

    lengths = {length for raw in teacher_hyperparameters for length in found(raw)}
    if len(lengths) > 1:
        raise InputError(
            f"training_set: its generative teacher read {sorted(lengths)} review tokens in different sets; "
            "re-materialize training_set"
        )
    return lengths.pop() if lengths else None


def classifier_review_tokens(setting: int, teacher_tokens: int | None) -> int:
    """The review tokens the generative classifier reads: the run-wide setting (GENERATIVE_MAX_REVIEW_TOKENS), which
    the generative teacher of the stored training sets must have read too (the very classifier that taught a
    student is the one it is compared with). Training sets taught at another length are refused before any
    scoring: they were built before the setting changed."""
    if teacher_tokens is not None and setting != teacher_tokens:
        raise InputError(
            f"classifier_metrics: GENERATIVE_MAX_REVIEW_TOKENS={setting} differs from the {teacher_tokens} review tokens "
            "the generative teacher of training_set read, so a taught student would be compared with another classifier "
            f"than its teacher. Re-materialize training_set with GENERATIVE_MAX_REVIEW_TOKENS={setting}, or set it back "
            f"to {teacher_tokens}."
        )
    return setting
