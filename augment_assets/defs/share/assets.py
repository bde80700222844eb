"""Share: what other teams read without knowing the pipeline — DuckDB views for the common
questions, and the synthetic reviews with their lineage as a Parquet file.

The views live in the warehouse file itself (one publish: a reader sees them with the tables
they select from); the Parquet file is written beside a temporary name and renamed, so a
reader never opens half a file.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb

from augment_assets.defs.metadata import preview, table_metadata
from augment_assets.defs.resources import WarehouseResource, env_or


@dataclass(frozen=True)
class View:
    what: str  # the question it answers
    tables: tuple[str, ...]  # what it selects from: each a declared dependency below
    select: str


VIEWS = {
    "synthetic_reviews_with_lineage": View(
        "Every kept synthetic review with the generator that wrote it: data size, repeat, base model, "
        "fine-tuning method and epochs, the reviews it learned from, and its sampling temperature and prompt.",
        ("synthetic_reviews", "sentiment_generator"),
        "SELECT s.synthetic_id, s.generator, g.sentiment, g.data_size, g.repeat, s.temperature, s.prompt, s.text, "
        "s.generator_version, g.base_model, g.method, g.epochs, g.n_train AS generator_training_reviews, "
        "g.perplexity_after AS generator_perplexity, s.seed, s.created_at "
        "FROM synthetic_reviews s JOIN sentiment_generator g USING (generator_version)",
    ),
    "generator_registry": View(
        "The current generators, one row each, with how many reviews their fine-tuning corpus holds.",
        ("sentiment_generator", "fine_tuning_corpus"),
        "SELECT g.*, count(c.review_id) AS corpus_reviews FROM sentiment_generator g "
        "LEFT JOIN fine_tuning_corpus c USING (generator, generator_version) GROUP BY ALL",
    ),
    "latest_headline": View(
        "Per evaluation set, classifier and data size: the selected baseline and candidate, the gain over "
        "repeats with its interval, the minimum detectable gain, the verdict, the candidate against the best "
        "baseline of any classifier, a taught candidate against its own teacher, the candidate against the reference (or why "
        "the reference is not scored), and the worth.",
        ("headline",),
        "SELECT eval_set, data_size, classifier, repeats, baseline_variant, baseline_accuracy, selected_variant, "
        "selected_ratio, selected_temperature_selection, selected_accuracy, gain_vs_baseline, gain_ci_low, "
        "gain_ci_high, min_detectable_gain, verdict, best_baseline_classifier, best_baseline_variant, "
        "best_baseline_accuracy, gain_vs_best_baseline, verdict_vs_best_baseline, best_baseline_beats_every_candidate, "
        "selected_teacher, selected_teacher_accuracy, student_minus_teacher, verdict_vs_teacher, "
        "reference_status, reference_accuracy, selected_minus_reference, selected_minus_reference_ci_low, "
        "selected_minus_reference_ci_high, worth FROM headline",
    ),
    "selected_metrics": View(
        "The classifier_metrics rows validation chose, per repeat: the selected candidate and the selected baseline.",
        ("classifier_metrics",),
        "SELECT * FROM classifier_metrics WHERE selected OR baseline_selected",
    ),
}


@dg.asset(
    deps=["synthetic_reviews", "sentiment_generator", "headline", "classifier_metrics"],
    group_name="share",
    kinds={"duckdb"},
    pool="warehouse",
    description="DuckDB views for downstream teams: "
    + ", ".join(VIEWS)
    + " (docs/tables.md, 'Views and the Parquet export').",
)
def warehouse_views(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    store = warehouse.get()
    # A view is made once the tables it selects from exist (a graph evaluated before any generator
    # ran has no synthetic_reviews yet); the others say so.
    ready = {name for name, view in VIEWS.items() if all(store.has_table(t) for t in view.tables)}
    with store.publish() as con:
        for name in ready:
            con.execute(f"CREATE OR REPLACE VIEW {name} AS {VIEWS[name].select}")
    counts = {name: int(store.read(f"SELECT count(*) AS n FROM {name}")["n"].iloc[0]) for name in ready}
    for name in sorted(set(VIEWS) - ready):
        context.log.warning(
            f"view {name} not made: its tables {', '.join(VIEWS[name].tables)} are not all in the warehouse yet"
        )
    lines = [
        f"- `{name}` ({counts[name]} rows): {view.what}"
        if name in ready
        else f"- `{name}`: not made yet (needs {', '.join(view.tables)})"
        for name, view in VIEWS.items()
    ]
    return dg.MaterializeResult(
        metadata={"views": dg.MetadataValue.md("\n".join(lines)), **{f"rows_{name}": n for name, n in counts.items()}}
    )


class ExportResource(dg.ConfigurableResource):
    """Where exports for other tools go (`AUGMENT_EXPORT_DIR`)."""

    export_dir: str = "data/exports"


def export_resource() -> ExportResource:
    return ExportResource(export_dir=env_or("AUGMENT_EXPORT_DIR", "data/exports"))


@dg.asset(
    deps=["synthetic_reviews", "sentiment_generator"],
    group_name="share",
    kinds={"parquet"},
    description=(
        "The synthetic reviews with their lineage (the synthetic_reviews_with_lineage view's columns) as one "
        "Parquet file, AUGMENT_EXPORT_DIR/synthetic_reviews.parquet, for tools that do not read DuckDB."
    ),
)
def synthetic_reviews_parquet(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, exports: ExportResource
) -> dg.MaterializeResult:
    store = warehouse.get()
    lineage = VIEWS["synthetic_reviews_with_lineage"]
    if not all(store.has_table(t) for t in lineage.tables):
        context.log.warning(
            "no synthetic reviews yet: materialize the generators and synthetic_reviews first; nothing exported"
        )
        return dg.MaterializeResult(metadata={"exported": False})
    frame = store.read(lineage.select)
    path = Path(exports.export_dir) / "synthetic_reviews.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".tmp-{os.getpid()}")
    with duckdb.connect() as con:
        con.register("frame", frame)
        quoted = partial.as_posix().replace("'", "''")
        con.execute(f"COPY frame TO '{quoted}' (FORMAT parquet)")
    os.replace(partial, path)
    return dg.MaterializeResult(
        metadata={
            **table_metadata("synthetic_reviews_with_lineage", frame),
            "path": dg.MetadataValue.path(str(path.resolve())),
            "bytes": path.stat().st_size,
            "preview": preview(frame),
        }
    )
