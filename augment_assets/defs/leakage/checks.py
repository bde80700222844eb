"""Asset checks that guard the holdout: every corpus a generator, prompt or classifier learns from
is compared against `holdout_reviews` and `gold_holdout`.

Blocking checks stop the downstream steps of the same run (the checked table is already
written — design.md); the CLI stops the whole graph on a failed blocking check.
Thin wiring over augment_assets.lib.leakage.
"""


from collections.abc import Callable

import dagster as dg
import pandas as pd

from augment_assets.defs.metadata import preview
from augment_assets.defs.resources import WarehouseResource
from augment_assets.lib.leakage import (
    business_overlap,
    copied_span_leaks,
    exact_leaks,
    memorization,
    near_duplicate_leaks,
    prompt_leaks,
)
from augment_assets.lib.prompts import PROMPT_KINDS
from augment_assets.lib.warehouse import Warehouse

Loader = Callable[[Warehouse], pd.DataFrame]


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


def _holdout_comparison_check(asset: str, corpus: Loader, corpus_name: str, name: str, find, what: str, description: str):
    """A blocking check comparing every holdout/gold review with one corpus through `find`."""

    @dg.asset_check(asset=asset, name=name, blocking=True, description=description)
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        store = warehouse.get()
        return _result(find(holdouts(store), {corpus_name: corpus(store)}), what)

    return _check


def exact_leak_check(asset: str, corpus: Loader, corpus_name: str) -> dg.AssetChecksDefinition:
    return _holdout_comparison_check(
        asset, corpus, corpus_name, "no_holdout_text", exact_leaks,
        f"holdout reviews found verbatim in {corpus_name}",
        f"No holdout or gold review (normalized text) appears in {corpus_name}.",
    )


def near_duplicate_check(asset: str, corpus: Loader, corpus_name: str) -> dg.AssetChecksDefinition:
    return _holdout_comparison_check(
        asset, corpus, corpus_name, "no_holdout_near_duplicate", near_duplicate_leaks,
        f"near-duplicates of holdout reviews in {corpus_name}",
        f"No holdout or gold review is a near-duplicate (Jaccard of word 3-shingles >= 0.3, exact) of a review in {corpus_name}.",
    )


@dg.asset_check(
    asset="training_reviews",
    name="no_business_overlap",
    blocking=True,
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


# A generator that never saw the holdout still meets it in stock phrases ("this is one of my
# go to places"): the study's honest GPT-2 output shares an 8-word span with 0.6% of its
# reviews (findings.md), while a generator that saw the holdout copies it far more often
# (its output vs a holdout cut from its own training data: 43% of reviews) and in long runs
# (up to 127 words). So the check blocks on a share above 1% or on any run of 16+ words,
# and lists every shorter match in its metadata.
MAX_COPIED_SHARE = 0.01
LONG_COPY_WORDS = 16


@dg.asset_check(
    asset="synthetic_reviews",
    name="no_copied_holdout_spans",
    blocking=True,
    description=(
        "Synthetic reviews sharing an 8-word span with a holdout review that no training review has: "
        f"fails above {MAX_COPIED_SHARE:.0%} of synthetic reviews or on any copied run of {LONG_COPY_WORDS}+ words."
    ),
)
def no_copied_holdout_spans(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    store = warehouse.get()
    synthetic = store.read_table("synthetic_reviews")
    findings = copied_span_leaks(synthetic, holdouts(store), _training_texts(store))
    share = findings["synthetic_id"].nunique() / len(synthetic) if len(synthetic) else 0.0
    longest = int(findings["span_words"].max()) if len(findings) else 0
    return dg.AssetCheckResult(
        passed=share <= MAX_COPIED_SHARE and longest < LONG_COPY_WORDS,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{findings['synthetic_id'].nunique()} synthetic reviews ({share:.2%}) share a holdout-only "
            f"8-word span; longest copied run {longest} words"
        ),
        metadata={
            "findings": len(findings),
            "copied_share": share,
            "longest_copied_run": longest,
            "examples": preview(findings, rows=20) if len(findings) else "none",
        },
    )


@dg.asset_check(
    asset="synthetic_reviews",
    name="memorization",
    blocking=False,
    description="Warning only: share of synthetic reviews copying an 8-word span of the training reviews, and distinct-1/2, per partition.",
)
def synthetic_memorization(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    store = warehouse.get()
    table = memorization(store.read_table("synthetic_reviews"), _training_texts(store))
    worst = float(table["copy_rate"].max()) if len(table) else 0.0
    return dg.AssetCheckResult(
        passed=worst <= 0.5,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"highest copy rate of a partition: {worst:.1%}",
        metadata={"max_copy_rate": worst, "by_partition": dg.MetadataValue.md(table.to_markdown(index=False, floatfmt=".3f"))},
    )


leakage_checks = [
    exact_leak_check("training_reviews", _table("training_reviews"), "training_reviews"),
    near_duplicate_check("training_reviews", _table("training_reviews"), "training_reviews"),
    no_business_overlap,
    exact_leak_check("prompt_table", _table("prompt_table"), "prompt_table"),
    no_holdout_only_ngrams,
    exact_leak_check("sentiment_generator", _table("fine_tuning_corpus"), "fine_tuning_corpus"),
    near_duplicate_check("sentiment_generator", _table("fine_tuning_corpus"), "fine_tuning_corpus"),
    near_duplicate_check("synthetic_reviews", _table("synthetic_reviews"), "synthetic_reviews"),
    no_copied_holdout_spans,
    synthetic_memorization,
    exact_leak_check("training_set", _table("training_set"), "training_set"),
    near_duplicate_check("training_set", _table("training_set"), "training_set"),
]
