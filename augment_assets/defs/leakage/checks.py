"""Asset checks that guard the holdout: every corpus a generator, prompt, reference or classifier
learns from is compared against `holdout_reviews` and `gold_holdout`, and every generator's
corpus against the folds it must stay inside.

Blocking checks stop the downstream steps of the same run (the checked table is already
written: Dagster runs a check after its asset); the CLI stops the whole graph on a failed
blocking check, except the reference's (training_set then leaves the reference out).
Every table a check reads is declared (`additional_deps`). Thin wiring over
augment_assets.lib.leakage.
"""

from collections.abc import Callable

import dagster as dg
import pandas as pd

from augment_assets.defs.evaluate.assets import training_set_items
from augment_assets.defs.leakage.check_names import NO_COPIED_HOLDOUT_SPANS, NO_HOLDOUT_NEAR_DUPLICATE, NO_HOLDOUT_TEXT
from augment_assets.defs.metadata import preview
from augment_assets.defs.resources import WarehouseResource
from augment_assets.lib.folds import FIT, VALIDATION
from augment_assets.lib.leakage import (
    DEFAULT_NEAR_DUP_THRESHOLD,
    DEFAULT_SHINGLE,
    business_overlap,
    copied_spans_and_control,
    copying_excess_p_value,
    exact_leaks,
    memorization,
    near_duplicate_leaks,
    prompt_leaks,
)
from augment_assets.lib.prompts import PROMPT_KINDS
from augment_assets.lib.warehouse import Warehouse

Loader = Callable[[Warehouse], pd.DataFrame]
HOLDOUTS = ["holdout_reviews", "gold_holdout"]


def holdouts(store: Warehouse) -> pd.DataFrame:
    """Every review that must stay unseen: the holdout and, when configured, the gold set."""
    frames = [store.read_table("holdout_reviews")]
    if store.has_table("gold_holdout"):
        frames.append(store.read_table("gold_holdout"))
    return pd.concat(frames, ignore_index=True)


def _table(name: str) -> Loader:
    return lambda store: store.read_table(name) if store.has_table(name) else pd.DataFrame(columns=["text"])


def _training_texts(store: Warehouse) -> list[str]:
    return store.read_table("training_reviews")["text"].tolist()


def _result(findings: pd.DataFrame, what: str, *, blocking_severity=dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=findings.empty,
        severity=blocking_severity,
        description=f"{len(findings)} {what}" if len(findings) else f"no {what}",
        metadata={"findings": len(findings), "examples": preview(findings, rows=20) if len(findings) else "none"},
    )


def _holdout_comparison_check(
    asset: str, corpus: Loader, corpus_name: str, name: str, find, what: str, description: str, reads=()
):
    """A blocking check comparing every holdout/gold review with one corpus through `find`."""

    @dg.asset_check(asset=asset, name=name, blocking=True, description=description, additional_deps=[*HOLDOUTS, *reads])
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        store = warehouse.get()
        return _result(find(holdouts(store), {corpus_name: corpus(store)}), what)

    return _check


def exact_leak_check(asset: str, corpus: Loader, corpus_name: str, reads=()) -> dg.AssetChecksDefinition:
    return _holdout_comparison_check(
        asset,
        corpus,
        corpus_name,
        NO_HOLDOUT_TEXT,
        exact_leaks,
        f"holdout reviews found verbatim in {corpus_name}",
        f"No holdout or gold review (normalized text) appears in {corpus_name}.",
        reads,
    )


def near_duplicate_check(asset: str, corpus: Loader, corpus_name: str, reads=()) -> dg.AssetChecksDefinition:
    return _holdout_comparison_check(
        asset,
        corpus,
        corpus_name,
        NO_HOLDOUT_NEAR_DUPLICATE,
        near_duplicate_leaks,
        f"near-duplicates of holdout reviews in {corpus_name}",
        f"No holdout or gold review is a near-duplicate (Jaccard of word {DEFAULT_SHINGLE}-shingles >= "
        f"{DEFAULT_NEAR_DUP_THRESHOLD:g}, exact) of a review in {corpus_name}.",
        reads,
    )


@dg.asset_check(
    asset="training_reviews",
    name="no_business_overlap",
    blocking=True,
    additional_deps=HOLDOUTS,
    description="No business has reviews on both sides of the split (when business ids exist).",
)
def no_business_overlap(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    store = warehouse.get()
    findings = business_overlap(store.read_table("training_reviews"), holdouts(store))
    return _result(findings, "businesses on both sides of the split")


@dg.asset_check(
    asset="prompt_table",
    name="no_holdout_only_ngrams",
    blocking=True,
    additional_deps=[*HOLDOUTS, "training_reviews"],
    description=(
        "No prompt (prefix or user row) contains a 2-3-word n-gram that occurs in holdout reviews "
        "but never in the training reviews."
    ),
)
def no_holdout_only_ngrams(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    store = warehouse.get()
    table = store.read_table("prompt_table")
    prompts = table[table["kind"].isin(PROMPT_KINDS)]  # what generation is actually prompted with
    findings = prompt_leaks(prompts, holdouts(store), _training_texts(store))
    return _result(findings, "prompts with holdout-only n-grams")


# A generator that never saw the holdout still meets it in stock phrases ("this is one of my go to places"), and
# a larger holdout holds more of them: a fixed share (the former 1%) blocked honest output at a 1,000-review
# holdout, where genuine training reviews met the holdout that way five times as often as the synthetic ones.
# A generator that saw the holdout copies it far more often and in long runs (docs/results.md, "The copied-span
# check's limits"). So the check compares the synthetic reviews' copying share with the genuine reviews' own
# (`copy_control`) and blocks when it is higher beyond chance (one-sided Fisher exact test, p below
# COPYING_ALPHA: small, because a run checks dozens of partitions and an honest one must not fail by chance),
# or on any run of 16+ words; it lists every shorter match in its metadata.
COPYING_ALPHA = 0.001
LONG_COPY_WORDS = 16


def copied_span_check(asset: str, corpus: Loader) -> dg.AssetChecksDefinition:
    """Blocking: generated reviews must not copy holdout-only 8-word spans (see COPYING_ALPHA)."""

    @dg.asset_check(
        asset=asset,
        name=NO_COPIED_HOLDOUT_SPANS,
        blocking=True,
        additional_deps=[*HOLDOUTS, "training_reviews"],
        description=(
            f"Reviews of {asset} sharing an 8-word span with a holdout review that no training review has: fails "
            f"when they are more of them than of the genuine training reviews (the control, each against the "
            f"windows of no other training review; one-sided Fisher exact test, p < {COPYING_ALPHA}) or on any "
            f"copied run of {LONG_COPY_WORDS}+ words."
        ),
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        store = warehouse.get()
        generated, holdout, training = corpus(store), holdouts(store), _training_texts(store)
        findings, (control_copied, control_reviews) = copied_spans_and_control(generated, holdout, training)
        copied = findings["synthetic_id"].nunique()
        share = copied / len(generated) if len(generated) else 0.0
        control_share = control_copied / control_reviews if control_reviews else 0.0
        p_value = copying_excess_p_value(copied, len(generated), control_copied, control_reviews)
        longest = int(findings["span_words"].max()) if len(findings) else 0
        return dg.AssetCheckResult(
            passed=p_value >= COPYING_ALPHA and longest < LONG_COPY_WORDS,
            severity=dg.AssetCheckSeverity.ERROR,
            description=(
                f"{copied} of {len(generated)} reviews ({share:.2%}) share a holdout-only 8-word span, against "
                f"{control_copied} of {control_reviews} genuine training reviews ({control_share:.2%}; one-sided "
                f"Fisher p = {p_value:.2g}, blocks below {COPYING_ALPHA}); longest copied run {longest} words "
                f"(blocks at {LONG_COPY_WORDS})"
            ),
            metadata={
                "findings": len(findings),
                "copied_share": round(share, 4),
                "control_share": round(control_share, 4),
                "control_reviews": control_reviews,
                "excess_p_value": float(f"{p_value:.3g}"),
                "longest_copied_run": longest,
                "examples": preview(findings, rows=20) if len(findings) else "none",
            },
        )

    return _check


@dg.asset_check(
    asset="sentiment_generator",
    name="corpus_inside_own_fit_fold",
    blocking=True,
    additional_deps=["review_folds"],  # fine_tuning_corpus is written by sentiment_generator itself
    description=(
        "Every generator's fine-tuning corpus lies in the fit fold of its own data size and holds no validation "
        "review of its own or any larger data size (so no candidate is chosen on a review its generator saw)."
    ),
)
def corpus_inside_own_fit_fold(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    store = warehouse.get()
    findings = generator_fold_violations(
        store.read_table("fine_tuning_corpus"),
        store.read_table("sentiment_generator"),
        store.read_table("review_folds"),
    )
    return _result(findings, "fine-tuning reviews outside their generator's fit fold, or in a validation fold")


def sizes_largest_first(folds: pd.DataFrame) -> list[str]:
    """The data size labels of `review_folds`, "all" first, then by decreasing reviews per class."""
    return list(folds.sort_values("genuine_per_class", ascending=False, na_position="first")["data_size"].unique())


def generator_fold_violations(corpus: pd.DataFrame, registry: pd.DataFrame, folds: pd.DataFrame) -> pd.DataFrame:
    """Rows of the fine-tuning corpus outside the fit fold of their generator's data size (in its
    repeat), or in the validation fold of that size or a larger one: review_id, generator, data_size, problem."""
    current = corpus.merge(
        registry[["generator", "generator_version", "data_size", "repeat"]], on=["generator", "generator_version"]
    )
    order = {size: i for i, size in enumerate(sizes_largest_first(folds))}
    is_fit = folds["fold"] == FIT
    fit = set(zip(folds.loc[is_fit, "repeat"], folds.loc[is_fit, "data_size"], folds.loc[is_fit, "review_id"]))
    validation = folds[folds["fold"] == VALIDATION]
    problems = []
    for row in current.itertuples(index=False):
        if (row.repeat, row.data_size, row.review_id) not in fit:
            problems.append(
                (row.review_id, row.generator, row.data_size, f"not in the fit fold of data size {row.data_size}")
            )
        seen_in = validation.loc[
            (validation["review_id"] == row.review_id)
            & (validation["repeat"] == row.repeat)
            & (validation["data_size"].map(order) <= order.get(row.data_size, -1)),
            "data_size",
        ]
        for size in seen_in:
            problems.append(
                (row.review_id, row.generator, row.data_size, f"in the validation fold of data size {size}")
            )
    return pd.DataFrame(problems, columns=["review_id", "generator", "data_size", "problem"])


@dg.asset_check(
    asset="review_folds",
    name="folds_nest",
    blocking=True,
    description=(
        "In every repeat, each data size's pool lies inside the fit fold of the next larger size, and no review "
        "is both fit and validation."
    ),
)
def folds_nest(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return _result(
        fold_nesting_violations(warehouse.get().read_table("review_folds")), "fold rows that break the nesting"
    )


def fold_nesting_violations(folds: pd.DataFrame) -> pd.DataFrame:
    """review_id, repeat, data_size, problem of every fold row that breaks the nesting."""
    sizes = sizes_largest_first(folds)
    problems = []
    for repeat, rows in folds.groupby("repeat", sort=True):
        for larger, smaller in zip(sizes, sizes[1:]):
            fit = set(rows.loc[(rows["data_size"] == larger) & (rows["fold"] == FIT), "review_id"])
            outside = set(rows.loc[rows["data_size"] == smaller, "review_id"]) - fit
            problems += [(r, repeat, smaller, f"not in the fit fold of {larger}") for r in sorted(outside)]
    twice = folds[folds.duplicated(["repeat", "review_id", "data_size"], keep=False)]
    problems += [(r, k, s, "listed twice") for r, k, s in zip(twice["review_id"], twice["repeat"], twice["data_size"])]
    return pd.DataFrame(problems, columns=["review_id", "repeat", "data_size", "problem"])


@dg.asset_check(
    asset="synthetic_reviews",
    name="memorization",
    blocking=False,
    additional_deps=["training_reviews"],
    description="Warning only: share of synthetic reviews copying an 8-word span of the training reviews, and distinct-1/2, per partition.",
)
def synthetic_memorization(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    store = warehouse.get()
    synthetic, training = store.read_table("synthetic_reviews"), _training_texts(store)
    parts = [memorization(group, training).assign(generator=key) for key, group in synthetic.groupby("generator")]
    table = pd.concat(parts, ignore_index=True) if parts else memorization(synthetic, training).assign(generator=None)
    table = table[["generator", *[c for c in table.columns if c != "generator"]]]
    worst = float(table["copy_rate"].max()) if len(table) else 0.0
    return dg.AssetCheckResult(
        passed=worst <= 0.5,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"highest copy rate of a partition: {worst:.1%}",
        metadata={
            "max_copy_rate": worst,
            "by_partition": dg.MetadataValue.md(table.to_markdown(index=False, floatfmt=".3f")),
        },
    )


def _training_set_texts(store: Warehouse) -> pd.DataFrame:
    return training_set_items(store) if store.has_table("training_set") else pd.DataFrame(columns=["text"])


# perturbed_reviews is written by training_set itself
FROM_TRAINING_SET = ["training_reviews", "synthetic_reviews", "reference_synthetic"]

leakage_checks = [
    exact_leak_check("training_reviews", _table("training_reviews"), "training_reviews"),
    near_duplicate_check("training_reviews", _table("training_reviews"), "training_reviews"),
    no_business_overlap,
    folds_nest,
    exact_leak_check("prompt_table", _table("prompt_table"), "prompt_table"),
    no_holdout_only_ngrams,
    exact_leak_check("sentiment_generator", _table("fine_tuning_corpus"), "fine_tuning_corpus"),
    near_duplicate_check("sentiment_generator", _table("fine_tuning_corpus"), "fine_tuning_corpus"),
    corpus_inside_own_fit_fold,
    near_duplicate_check("synthetic_reviews", _table("synthetic_reviews"), "synthetic_reviews"),
    copied_span_check("synthetic_reviews", _table("synthetic_reviews")),
    synthetic_memorization,
    exact_leak_check("reference_synthetic", _table("reference_synthetic"), "reference_synthetic"),
    near_duplicate_check("reference_synthetic", _table("reference_synthetic"), "reference_synthetic"),
    copied_span_check("reference_synthetic", _table("reference_synthetic")),
    exact_leak_check("training_set", _training_set_texts, "training_set", FROM_TRAINING_SET),
    near_duplicate_check("training_set", _training_set_texts, "training_set", FROM_TRAINING_SET),
]
