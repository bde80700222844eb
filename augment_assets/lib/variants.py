"""What the evaluation compares, declared once: its settings, the kinds of training data, the variants.

A *variant* is a row family of `classifier_metrics`: a kind of training data plus a
hyperparameter grid (the library defaults, or the tuned grid). A *kind of training
data* says how its training sets are built from a data size's genuine rows:

| kind | sets | options searched on validation | repeated over draws |
| --- | --- | --- | --- |
| `genuine` | the genuine rows | - | no |
| `duplicates` | the genuine rows k times (for Multinomial NB nearly alpha / k) | k | no |
| `perturbed` | genuine + EDA-style copies (`augment.perturb`) | share | yes |
| `synthetic` | genuine + synthetic reviews of this data size's generators at each ratio and temperature selection | - | yes |
| `synthetic_filtered` | the same, keeping reviews a teacher (the tuned classifier fit on the genuine rows) gives their intended label with probability >= threshold (LAMBADA) | threshold | yes |
| `synthetic_filtered_generative` | the same with the generative classifier as the teacher (its probability: the margin calibrated on the validation fold) | threshold | yes |
| `synthetic_relabelled` | the synthetic reviews of `synthetic`, each labelled by the generative classifier instead of its generator's sentiment | - | yes |
| `synthetic_selected` | the same, keeping the top share of each synthetic partition (sentiment x temperature) by a teacher's P(intended label): the generators' own calibrated margin, a tuned student, or their mean (over-generate and select) | teacher, kept share | yes |
| `synthetic_weighted` | the synthetic reviews of `synthetic`, each weighed (`sample_weight`) by a teacher's P(intended label), genuine reviews weighing 1 | teacher | yes |
| `reference` | genuine + the reference generator's reviews at each ratio | - | yes |

*Classifiers*: the TF-IDF *students* `nb` and `lr` (lib/classify.py) are fit on every
training set; `embedding` (lib/embedding.py: mean-pooled hidden states of the base model +
logistic regression) on the sets of the kinds marked `embedded` below, so it has baselines
and synthetic candidates but teaches nothing; `generative` (lib/generative.py: the data size's two fine-tuned generators,
scoring a review by its log-likelihood ratio) is fit on no training set and has the
baseline rows `genuine` (threshold 0) and `genuine_tuned` (threshold fit on the validation fold)
only, at the data sizes with generators.

Ties on validation accuracy keep the earlier entry: library defaults before tuned
values, smaller k / share / ratio / threshold first, baselines in the order below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import recipes
from .classifiers import CLASSIFIER_SPECS
from .classify import CLASSIFIERS as STUDENTS
from .classify import DEFAULT_EMBEDDING_CS, DEFAULT_LR_CS, DEFAULT_NB_ALPHAS, DEFAULT_VECTORIZER_GRID
from .errors import InputError
from .settings import setting

GENERATIVE = "generative"
EMBEDDING = "embedding"
# every name the `classifiers` setting accepts, in the order ties keep (lib/classifiers.py declares each)
CLASSIFIERS = (*STUDENTS, GENERATIVE, EMBEDDING)
assert set(CLASSIFIERS) == set(CLASSIFIER_SPECS), "a classifier is declared in lib/classifiers.py and nowhere else"


def check_classifiers(names) -> tuple[str, ...]:
    """The `classifiers` setting, if every name is known and none repeats; else an error naming the accepted values."""
    names = tuple(names)
    unknown = [n for n in names if n not in CLASSIFIERS]
    if unknown or not names or len(set(names)) < len(names):
        what = f"unknown {unknown}" if unknown else "empty" if not names else f"repeated names in {list(names)}"
        raise InputError(f"classifiers: {what}; accepted values are {', '.join(CLASSIFIERS)} (each at most once)")
    return names


# Who ranks a pool for `synthetic_selected`: the generator pair's calibrated margin, a tuned student (fit on
# the phase's genuine rows, as for `synthetic_filtered`), or the generators and a student together (the
# mean of their P(intended label)).
SELECTION_TEACHERS = (GENERATIVE, *STUDENTS, *(f"{GENERATIVE}+{s}" for s in STUDENTS))


def check_teachers(setting: str, teachers) -> tuple[str, ...]:
    """A list of teacher names (`selection_teachers`, `weighting_teachers`), if each is known and none repeats;
    else an error naming the setting and the accepted values."""
    teachers = tuple(teachers)
    unknown = [t for t in teachers if t not in SELECTION_TEACHERS]
    if unknown or len(set(teachers)) < len(teachers):
        what = f"unknown {unknown}" if unknown else f"repeated names in {list(teachers)}"
        raise InputError(f"{setting}: {what}; accepted values are {', '.join(SELECTION_TEACHERS)} (each at most once)")
    return teachers


def check_selection(teachers, shares) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The `selection_teachers` and `selection_shares` settings, if valid; else an error naming the setting and
    the accepted values. Both empty (or either) leaves the `genuine+synthetic_selected` candidate out."""
    teachers, shares = check_teachers("selection_teachers", teachers), tuple(shares)
    bad = [s for s in shares if not isinstance(s, (int, float)) or not 0 < s <= 1]
    if bad or len(set(shares)) < len(shares):
        what = f"{bad} outside (0, 1]" if bad else f"repeated values in {list(shares)}"
        raise InputError(
            f"selection_shares: {what}; each is the share of a synthetic partition kept, in (0, 1], at most once"
        )
    return teachers, tuple(float(s) for s in shares)


def students(classifiers) -> tuple[str, ...]:
    """The TF-IDF classifiers: fit on every training set, and each its own teacher (`synthetic_filtered`)."""
    return tuple(c for c in classifiers if CLASSIFIER_SPECS[c].teaches)


def with_candidates(classifiers) -> tuple[str, ...]:
    """The classifiers fit on training sets, so with synthetic candidates and a headline row: the students and
    the embedding classifier."""
    return tuple(c for c in classifiers if CLASSIFIER_SPECS[c].fit_on_training_sets)


@dataclass
class EvaluationConfig:
    ratios: tuple[float, ...] = setting(
        (0, 1, 2, 5, 10, 25), description="Synthetic reviews per genuine review to try (capped by what exists).", ge=0
    )
    draws: int = setting(5, description="Repeats of every random training set.", ge=1)
    bootstrap: int = setting(1000, description="Bootstrap resamples of the holdout.", ge=100)
    seed: int = 0
    classifiers: tuple[str, ...] = setting(
        CLASSIFIERS,
        description=(
            f"Classifiers to score, any of {', '.join(CLASSIFIERS)} ({GENERATIVE}: the generator pairs themselves; "
            f"{EMBEDDING}: the base model's mean-pooled hidden states + logistic regression)."
        ),
    )
    nb_alphas: tuple[float, ...] = DEFAULT_NB_ALPHAS
    lr_cs: tuple[float, ...] = DEFAULT_LR_CS
    embedding_cs: tuple[float, ...] = DEFAULT_EMBEDDING_CS
    vectorizer_grid: tuple[dict, ...] = DEFAULT_VECTORIZER_GRID
    duplicate_ks: tuple[int, ...] = (2, 3, 5)
    perturbation_shares: tuple[float, ...] = (0.1, 0.2)
    perturbation_copies: int = 1
    filter_thresholds: tuple[float, ...] = (0.5, 0.7, 0.9)
    # over-generate and select: the kept shares and the teachers searched on validation (a share of
    # 1/over_generation keeps what a partition was asked for). Two teachers x three shares: as many
    # fits per student as the two threshold filters together (6 options at each ratio and selection).
    selection_shares: tuple[float, ...] = setting(
        (1 / 3, 0.5, 0.75),
        description=(
            "genuine+synthetic_selected: shares of each synthetic partition to keep, by its teacher, searched on "
            "validation (1/over_generation keeps the n asked for). Empty: no selected candidate."
        ),
        gt=0,
        le=1,
    )
    selection_teachers: tuple[str, ...] = setting(
        (GENERATIVE, f"{GENERATIVE}+lr"),
        description=(
            "genuine+synthetic_selected: teachers that rank the pool, searched on validation; any of "
            f"{', '.join(SELECTION_TEACHERS)}."
        ),
    )
    # teacher-weighted synthetic reviews (sample_weight = the teacher's P(intended label)); empty: no such candidate
    weighting_teachers: tuple[str, ...] = setting(
        (GENERATIVE, "lr", f"{GENERATIVE}+lr"),
        description=(
            "genuine+synthetic_weighted: teachers whose P(intended label) weighs each synthetic review "
            f"(sample_weight), searched on validation; any of {', '.join(SELECTION_TEACHERS)}. Empty: no weighted "
            "candidate."
        ),
    )
    # The headline is about *our* generators: the reference is reported (and gets its own
    # paired gain in `headline`) but is not a candidate for `selected` unless this is set.
    select_reference: bool = False
    confidence: float = 0.95
    workers: int | None = setting(
        None,
        description=(
            "Processes that fit the classifiers, each (data size, classifier) on one: null is one per CPU "
            "core; 1 fits them all in the step's own process."
        ),
        ge=1,
    )

    def __post_init__(self):
        if self.draws < 1 or self.bootstrap < 100 or any(r < 0 for r in self.ratios):
            raise InputError(
                f"evaluation: draws must be >= 1, bootstrap >= 100 and every ratio >= 0, got {self.draws}, "
                f"{self.bootstrap} and {list(self.ratios)}"
            )
        if self.workers is not None and self.workers < 1:
            raise InputError(f"evaluation: workers must be >= 1 (or null: one per CPU core), got {self.workers}")
        self.classifiers = check_classifiers(self.classifiers)
        self.selection_teachers, self.selection_shares = check_selection(self.selection_teachers, self.selection_shares)
        self.weighting_teachers = check_teachers("weighting_teachers", self.weighting_teachers)


@dataclass(frozen=True)
class TrainingData:
    name: str
    options: Callable[[EvaluationConfig], list[dict]]
    random: bool  # one set per draw
    pool: str | None = None  # "synthetic" or "reference": the pool sampled at each ratio
    # who judges the pool's labels: "student" (each classifier's own tuned self, fit on the genuine
    # rows), GENERATIVE (the generator pair), or None
    teacher: str | None = None
    # whether the embedding classifier is fit on these sets: their items are genuine or synthetic reviews, each
    # embedded once. Perturbed copies and the reference's reviews would each add texts to embed (a real run's
    # reference: 11,424 reviews, about 20 minutes on 2 cores), and `synthetic_filtered` would need the embedding
    # classifier as its own teacher inside `training_set`.
    embedded: bool = False
    # how its members are made (lib/recipes.py): from the genuine rows alone (kinds without a pool), or by
    # narrowing or weighing the pool (kinds with one)
    baseline: Callable | None = None
    recipe: Callable = recipes.whole_pool

    def __post_init__(self):
        if (self.pool is None) == (self.baseline is None):
            raise ValueError(f"training data {self.name!r}: a baseline recipe exactly when it has no pool")

    def teacher_of(self, student: str) -> str | None:
        """The teacher's name for this student (the `classifier` column of its training sets)."""
        return student if self.teacher == "student" else self.teacher


TRAINING_DATA = {
    kind.name: kind
    for kind in (
        TrainingData("genuine", lambda c: [{}], random=False, embedded=True, baseline=recipes.genuine_only),
        TrainingData(
            "duplicates",
            lambda c: [{"duplicate_k": int(k)} for k in c.duplicate_ks],
            random=False,
            embedded=True,
            baseline=recipes.duplicated,
        ),
        TrainingData(
            "perturbed",
            lambda c: [{"perturb_share": float(s)} for s in c.perturbation_shares],
            random=True,
            baseline=recipes.with_perturbed_copies,
        ),
        TrainingData("synthetic", lambda c: [{}], random=True, pool="synthetic", embedded=True),
        TrainingData(
            "synthetic_filtered",
            lambda c: [{"filter_threshold": float(t)} for t in c.filter_thresholds],
            random=True,
            pool="synthetic",
            teacher="student",
            recipe=recipes.filtered,
        ),
        TrainingData(
            "synthetic_filtered_generative",
            lambda c: [{"filter_threshold": float(t)} for t in c.filter_thresholds],
            random=True,
            pool="synthetic",
            teacher=GENERATIVE,
            embedded=True,
            recipe=recipes.filtered,
        ),
        TrainingData(
            "synthetic_relabelled",
            lambda c: [{}],
            random=True,
            pool="synthetic",
            teacher=GENERATIVE,
            embedded=True,
            recipe=recipes.relabelled,
        ),
        # its teacher is part of the option (searched on validation), so its sets serve every student
        TrainingData(
            "synthetic_selected",
            lambda c: [
                {"teacher": t, "keep_share": round(s, 4)} for t in c.selection_teachers for s in c.selection_shares
            ],
            random=True,
            pool="synthetic",
            embedded=True,
            recipe=recipes.selected,
        ),
        TrainingData(
            "synthetic_weighted",
            lambda c: [{"teacher": t} for t in c.weighting_teachers],
            random=True,
            pool="synthetic",
            embedded=True,
            recipe=recipes.weighted,
        ),
        TrainingData("reference", lambda c: [{}], random=True, pool="reference"),
    )
}


@dataclass(frozen=True)
class Variant:
    name: str
    role: str  # "baseline", "candidate" or "reference"
    data: str  # a TRAINING_DATA key
    tuned: bool  # search the hyperparameter grid (else the library defaults only)


VARIANTS = (
    Variant("genuine", "baseline", "genuine", tuned=False),
    Variant("genuine_tuned", "baseline", "genuine", tuned=True),
    Variant("genuine+duplicates", "baseline", "duplicates", tuned=True),
    Variant("genuine+perturbed", "baseline", "perturbed", tuned=True),
    Variant("genuine+synthetic", "candidate", "synthetic", tuned=True),
    Variant("genuine+synthetic_filtered", "candidate", "synthetic_filtered", tuned=True),
    Variant("genuine+synthetic_filtered_generative", "candidate", "synthetic_filtered_generative", tuned=True),
    Variant("genuine+synthetic_relabelled", "candidate", "synthetic_relabelled", tuned=True),
    Variant("genuine+synthetic_selected", "candidate", "synthetic_selected", tuned=True),
    Variant("genuine+synthetic_weighted", "candidate", "synthetic_weighted", tuned=True),
    Variant("genuine+reference", "reference", "reference", tuned=True),
)
BASELINES = tuple(v.name for v in VARIANTS if v.role == "baseline")
CANDIDATES = tuple(v.name for v in VARIANTS if v.role != "baseline")
