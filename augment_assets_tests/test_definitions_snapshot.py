"""A snapshot of the definitions: every asset with its group, dependencies and partitions, every
check with its blocking flag and the tables it reads. A lost check, a dropped dependency or an
undeclared read (see test_dagster_graph's read log) shows up here as a diff to review."""

import dagster as dg

# classifier_metrics makes headline, learning_curve and recommendation in the same step, from the same reads
SCORES = (
    "evaluate",
    [
        "gold_holdout",
        "holdout_reviews",
        "reference_synthetic",
        "review_folds",
        "sentiment_generator",
        "synthetic_reviews",
        "training_reviews",
        "training_set",
    ],
    None,
)
ASSETS = {
    "classifier_metrics": SCORES,
    "headline": SCORES,
    "learning_curve": SCORES,
    "recommendation": SCORES,
    "gold_holdout": ("ingest", [], None),
    "holdout_reviews": ("ingest", ["pizza_reviews"], None),
    "pizza_reviews": ("ingest", ["review_source"], None),
    "prompt_table": ("generate", ["review_folds", "training_reviews"], "generator"),
    "reference_synthetic": ("evaluate", [], None),
    "review_folds": ("ingest", ["training_reviews"], None),
    "review_source": ("ingest", [], None),
    "sentiment_generator": ("generate", ["review_folds", "training_reviews"], "generator"),
    "synthetic_reviews": (
        "generate",
        ["prompt_table", "review_folds", "sentiment_generator", "training_reviews"],
        "generator x temperature",
    ),
    "training_reviews": ("ingest", ["gold_holdout", "pizza_reviews"], None),
    "unlabelled_reviews": ("ingest", ["pizza_reviews", "review_source"], None),
    "sentiment_classifier": (
        "deploy",
        [
            "classifier_metrics",
            "headline",
            "recommendation",
            "reference_synthetic",
            "sentiment_generator",
            "synthetic_reviews",
            "training_reviews",
            "training_set",
        ],
        None,
    ),
    "report": (
        "deploy",
        [
            "headline",
            "learning_curve",
            "pizza_reviews",
            "recommendation",
            "sentiment_classifier",
            "sentiment_generator",
            "training_reviews",
        ],
        None,
    ),
    "review_predictions": ("predict", ["sentiment_classifier", "unlabelled_reviews"], "dynamic prediction_batches"),
    "warehouse_views": ("share", ["classifier_metrics", "headline", "sentiment_generator", "synthetic_reviews"], None),
    "synthetic_reviews_parquet": ("share", ["sentiment_generator", "synthetic_reviews"], None),
    "training_set": (
        "evaluate",
        ["reference_synthetic", "review_folds", "sentiment_generator", "synthetic_reviews", "training_reviews"],
        None,
    ),
}
HOLDOUTS = ["gold_holdout", "holdout_reviews"]
CHECKS = {
    "prompt_table:no_holdout_only_ngrams": (True, [*HOLDOUTS, "training_reviews"]),
    "prompt_table:no_holdout_text": (True, HOLDOUTS),
    "reference_synthetic:no_copied_holdout_spans": (True, [*HOLDOUTS, "training_reviews"]),
    "reference_synthetic:no_holdout_near_duplicate": (True, HOLDOUTS),
    "reference_synthetic:no_holdout_text": (True, HOLDOUTS),
    "review_folds:folds_nest": (True, []),
    "sentiment_generator:corpus_inside_own_fit_fold": (True, ["review_folds"]),
    "sentiment_generator:no_holdout_near_duplicate": (True, HOLDOUTS),
    "sentiment_generator:no_holdout_text": (True, HOLDOUTS),
    "synthetic_reviews:memorization": (False, ["training_reviews"]),
    "synthetic_reviews:no_copied_holdout_spans": (True, [*HOLDOUTS, "training_reviews"]),
    "synthetic_reviews:no_holdout_near_duplicate": (True, HOLDOUTS),
    "training_reviews:no_business_overlap": (True, HOLDOUTS),
    "training_reviews:no_holdout_near_duplicate": (True, HOLDOUTS),
    "training_reviews:no_holdout_text": (True, HOLDOUTS),
    "training_set:no_holdout_near_duplicate": (
        True,
        [*HOLDOUTS, "reference_synthetic", "synthetic_reviews", "training_reviews"],
    ),
    "training_set:no_holdout_text": (True, [*HOLDOUTS, "reference_synthetic", "synthetic_reviews", "training_reviews"]),
}


def _partitions(partitions_def) -> str | None:
    if partitions_def is None:
        return None
    if isinstance(partitions_def, dg.DynamicPartitionsDefinition):
        return f"dynamic {partitions_def.name}"
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return " x ".join(partitions_def.partition_dimension_names)
    return "generator" if all("_" in k for k in partitions_def.get_partition_keys()) else "?"


def test_definitions_match_the_snapshot():
    from augment_assets.definitions import build_definitions

    graph = build_definitions().resolve_asset_graph()
    assets = {
        key.to_user_string(): (
            graph.get(key).group_name,
            sorted(p.to_user_string() for p in graph.get(key).parent_keys),
            _partitions(graph.get(key).partitions_def),
        )
        for key in graph.get_all_asset_keys()
    }
    checks = {
        key.to_user_string(): (
            graph.get_check_spec(key).blocking,
            sorted(d.asset_key.to_user_string() for d in graph.get_check_spec(key).additional_deps),
        )
        for key in graph.asset_check_keys
    }
    assert assets == ASSETS
    assert checks == {k: (blocking, sorted(deps)) for k, (blocking, deps) in CHECKS.items()}


def test_every_asset_has_an_owner_a_domain_tag_and_a_description():
    from augment_assets.definitions import OWNER, build_definitions
    from augment_assets.defs.generate.assets import GENERATOR_CODE_VERSION

    graph = build_definitions().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == [OWNER] and node.tags.get("domain") == (node.group_name or "external"), key
        assert node.description, key
    for name in ("sentiment_generator", "synthetic_reviews"):
        assert graph.get(dg.AssetKey(name)).code_version == GENERATOR_CODE_VERSION
