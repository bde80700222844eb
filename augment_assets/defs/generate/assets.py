"""Generate: `prompt_table[generator]`, `sentiment_generator[generator]`, `synthetic_reviews[generator x temperature]`.

A generator is one (sentiment, data size) pair (defs/partitions.py). It learns from the
`fit` fold of its own data size only, read from `review_folds`; nothing here re-derives
a split. Thin wiring over augment_assets.lib.{prompts,finetune,generate,synthetic_quality}.
"""

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import dagster as dg
import pandas as pd
import pydantic
from pydantic import Field

from augment_assets.defs.automation.retries import MODEL_STEP_RETRIES, user_errors_not_retried
from augment_assets.defs.generate.resources import LanguageModelResource, holds_model_lock
from augment_assets.defs.metadata import counts_table, for_people, markdown_cell, png_markdown, preview, table_metadata
from augment_assets.defs.partitions import (
    generator_partitions,
    parse_generator_key,
    same_generator,
    synthetic_partitions,
    temperatures_by_generator,
)
from augment_assets.defs.resources import ExperimentResource, WarehouseResource
from augment_assets.defs.settings import config_field
from augment_assets.lib.errors import InputError
from augment_assets.lib.finetune import FinetuneConfig, finetune, template_problem
from augment_assets.lib.folds import FIT, VALIDATION, fold_reviews
from augment_assets.lib.generate import GenerationConfig
from augment_assets.lib.generate_kept import KeptReviews, check_attempts, generate_kept_together
from augment_assets.lib.plots import line_plot_png
from augment_assets.lib.prompts import build_prompt_table, prompts_for_generation, topic_words
from augment_assets.lib.synthetic_quality import filter_synthetic, quality_report
from augment_assets.lib.text import text_key
from augment_assets.lib.warehouse import Warehouse

# Bump when a change to fine-tuning or generation code should invalidate saved models.
GENERATOR_CODE_VERSION = "1"


def generator_folds(store: Warehouse, generator: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, validation) folds, both sentiments, of one generator's data size in its repeat,
    as stored in `review_folds`."""
    _, data_size, repeat = parse_generator_key(generator)
    training, folds = store.read_table("training_reviews"), store.read_table("review_folds")
    fit, validation = (fold_reviews(training, folds, data_size, fold, repeat) for fold in (FIT, VALIDATION))
    return fit, validation


def generator_corpus(store: Warehouse, generator: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fine-tuning reviews, perplexity-validation reviews) of one generator: its sentiment's
    `fit` and `validation` folds of its data size in its repeat."""
    sentiment = parse_generator_key(generator)[0]
    fit, validation = generator_folds(store, generator)
    return fit[fit["sentiment"] == sentiment], validation[validation["sentiment"] == sentiment]


class PromptTableConfig(dg.Config):
    top_k: int = Field(default=50, ge=1, description="How many words, bigrams and trigrams to rank.")
    prefix_words: int = Field(default=4, ge=1, description="Words in each prefix prompt (real review openings).")
    extra_prompts: list[str] = Field(default_factory=list, description="Your own prompts, added to both sentiments.")


@dg.asset(
    partitions_def=generator_partitions,
    deps=["training_reviews", "review_folds"],
    group_name="generate",
    kinds={"duckdb"},
    pool="warehouse",
    description=(
        "Ranked words, bigrams, trigrams (stop words out) and prefix prompts from one generator's reviews: "
        "its sentiment in the fit fold of its data size; and the domain's topic words (frequent in the reviews "
        "of both sentiments of that fit fold), which the synthetic reviews' on-topic rate is measured against."
    ),
)
def prompt_table(
    context: dg.AssetExecutionContext,
    config: PromptTableConfig,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    key = context.partition_key
    sentiment, data_size, repeat = parse_generator_key(key)
    store = warehouse.get()
    fit, _ = generator_folds(store, key)
    corpus = fit[fit["sentiment"] == sentiment]
    if corpus.empty:
        raise InputError(f"No {sentiment} training reviews to build prompts from: materialize training_reviews first.")
    table = build_prompt_table(
        corpus["text"].tolist(),
        sentiment,
        top_k=config.top_k,
        prefix_words=config.prefix_words,
        extra_prompts=tuple(config.extra_prompts),
        # the topic words come from both sentiments of the same fit fold (what the reviews are about,
        # not how they feel), so a size's two prompt tables carry the same list
        domain_texts={s: group["text"].tolist() for s, group in fit.groupby("sentiment")},
    )
    table = table.assign(generator=key, data_size=data_size, repeat=repeat)
    store.replace_rows("prompt_table", table, {"generator": key})
    counts = table["kind"].value_counts().to_dict()
    return dg.MaterializeResult(
        metadata={
            **table_metadata("prompt_table", table, partitioned=True),
            "rows_by_kind": counts_table({str(k): int(v) for k, v in counts.items()}, key="kind"),
            "top_bigrams": preview(table[table["kind"] == "bigram"], rows=10),
            "prefix_prompts": preview(table[table["kind"] == "prefix"], rows=10),
            "topic_words": ", ".join(topic_words(table)) or "none (the two sentiments share no content word)",
            "training_reviews_used": len(corpus),
        }
    )


class FinetuneSettings(dg.Config):
    """Overrides of the fine-tuning defaults (null keeps the library's measured default, lib/finetune_config.py)."""

    method: str | None = config_field(FinetuneConfig, "method", nullable=True)
    epochs: float | None = config_field(FinetuneConfig, "epochs", nullable=True)
    learning_rate: float | None = config_field(FinetuneConfig, "learning_rate", nullable=True)
    batch_size: int | None = config_field(FinetuneConfig, "batch_size", nullable=True)
    max_length: int | None = config_field(FinetuneConfig, "max_length", nullable=True)
    length_quantile: float | None = config_field(FinetuneConfig, "length_quantile", nullable=True)
    max_length_cap: int | None = config_field(FinetuneConfig, "max_length_cap", nullable=True)
    prefix_template: str | None = config_field(FinetuneConfig, "prefix_template", nullable=True)

    # Checked when the config is built, so `augment-assets materialize --config` refuses it before any run.
    @pydantic.field_validator("prefix_template")
    @classmethod
    def _usable_template(cls, template: str | None) -> str | None:
        problem = template_problem(template) if template is not None else None
        if problem:
            # pydantic names the setting (and the CLI the op) in front of this
            raise ValueError(f"{problem}; e.g. 'Hotel review, {{stars}} stars:'")
        return template

    def finetune_config(self, seed: int) -> FinetuneConfig:
        overrides = {k: v for k, v in self.model_dump().items() if v is not None}
        return dataclasses.replace(FinetuneConfig(), seed=seed, **overrides)


def generator_version(base_info: dict, texts: list[str], config: FinetuneConfig) -> str:
    """A key over everything that determines the fine-tuned weights: an unchanged input is not retrained."""
    digest = hashlib.sha256()
    digest.update(json.dumps(base_info, sort_keys=True, default=str).encode())
    digest.update(json.dumps(dataclasses.asdict(config), sort_keys=True, default=str).encode())
    digest.update(GENERATOR_CODE_VERSION.encode())
    for key in sorted(text_key(t) for t in texts):
        digest.update(key.encode())
    return digest.hexdigest()[:12]


@dg.asset(
    partitions_def=generator_partitions,
    code_version=GENERATOR_CODE_VERSION,  # also hashed into each generator_version
    deps=["training_reviews", "review_folds"],
    group_name="generate",
    kinds={"pytorch"},
    pool="language_model",
    retry_policy=MODEL_STEP_RETRIES,
    description=(
        "The base model fine-tuned on one generator's reviews (its sentiment in the fit fold of its data size), "
        "saved under data/models/<generator>/<version>/."
    ),
)
@user_errors_not_retried
@holds_model_lock
def sentiment_generator(
    context: dg.AssetExecutionContext,
    config: FinetuneSettings,
    language_model: LanguageModelResource,
    experiment: ExperimentResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    key = context.partition_key
    sentiment, data_size, repeat = parse_generator_key(key)
    store = warehouse.get()
    corpus, validation = generator_corpus(store, key)
    finetune_config = config.finetune_config(experiment.seed)
    if len(corpus) < finetune_config.min_train_reviews:
        raise InputError(
            f"Generator {key}: only {len(corpus)} {sentiment} reviews in the fit fold of data size {data_size} to fine-tune "
            f"on; at least {finetune_config.min_train_reviews} are needed. Raise the size in DATA_SIZES, point "
            "REVIEWS_CSV or YELP_DATASET_DIR at more data, or lower the split's holdout_size."
        )
    base_path, base_info = language_model.resolve()
    version = generator_version(base_info, corpus["text"].tolist(), finetune_config)
    out_dir = Path(language_model.models_dir) / key / version
    report_path = out_dir / "finetune_report.json"
    if report_path.exists():
        report = json.loads(report_path.read_text())
        reused = True
        context.log.info(f"Reusing {out_dir}: same base model, training reviews and settings")
    else:
        context.log.info(f"Fine-tuning {base_info['base_model']} on {len(corpus)} {sentiment} reviews -> {out_dir}")

        def log_progress(update: dict) -> None:
            context.log.info(
                "fine-tuning "
                + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in update.items())
            )

        report = finetune(
            base_path,
            corpus["text"].tolist(),
            sentiment,
            out_dir,
            finetune_config,
            validation_texts=validation["text"].tolist(),
            progress=log_progress,
        )
        report_path.write_text(json.dumps(report, default=str))
        reused = False
    registry = pd.DataFrame(
        [
            {
                "generator": key,
                "sentiment": sentiment,
                "data_size": data_size,
                "repeat": repeat,
                "generator_version": version,
                "path": str(out_dir),
                "base_model": str(base_info.get("base_model")),
                "method": report.get("method"),
                "epochs": report.get("epochs"),
                "max_length": report.get("max_length"),
                "n_train": len(corpus),
                "genuine_per_class": None if data_size == "all" else int(data_size),
                "perplexity_before": report.get("perplexity_before"),
                "perplexity_after": report.get("perplexity_after"),
                "device": report.get("device"),
                "dtype": str(report.get("dtype")),
                "created_at": pd.Timestamp.now(tz="UTC"),
            }
        ]
    )
    registry["genuine_per_class"] = registry["genuine_per_class"].astype("Int64")
    registry["max_length"] = registry["max_length"].astype("Int64")
    fine_tuning_corpus = corpus[["review_id", "sentiment", "text"]].assign(generator=key, generator_version=version)
    store.replace_rows_in(
        {"sentiment_generator": registry, "fine_tuning_corpus": fine_tuning_corpus}, {"generator": key}
    )
    losses = report.get("losses") or []
    return dg.MaterializeResult(
        data_version=dg.DataVersion(version),
        metadata=for_people(
            {
                **table_metadata("sentiment_generator", registry, partitioned=True),
                "generator_version": version,
                "data_size": data_size,
                "repeat": repeat,
                "path": dg.MetadataValue.path(str(out_dir)),
                "base_model": str(base_info.get("base_model")),
                "reused_saved_model": reused,
                "method": str(report.get("method")),
                "n_train_reviews": len(corpus),
                "n_validation_reviews": len(validation),
                "max_length": int(report.get("max_length") or 0),
                "reviews_cut_share": float(report.get("reviews_cut_share") or 0.0),
                "perplexity_before": float(report.get("perplexity_before") or 0.0),
                "perplexity_after": float(report.get("perplexity_after") or 0.0),
                "tokens_per_s": float(report.get("tokens_per_s") or 0.0),
                "wall_s": float(report.get("wall_s") or 0.0),
                "trainable_params": int(report.get("trainable_params") or 0),
                "total_params": int(report.get("total_params") or 0),
                "device": str(report.get("device")),
                "dtype": str(report.get("dtype")),
                "loss_curve": png_markdown(
                    line_plot_png(losses, f"{sentiment} fine-tuning loss", "step", "loss"), "training loss"
                )
                if losses
                else dg.MetadataValue.md("no steps"),
            }
        ),
    )


class GenerationSettings(dg.Config):
    """Sampling settings; out-of-range values are rejected before the run starts any work."""

    n: int = config_field(GenerationConfig, "n")
    over_generation: float = Field(
        default=1.0,
        ge=1,
        description=(
            "Keep a pool of over_generation x n reviews (rounded up); the evaluation's genuine+synthetic_selected "
            "candidate keeps the top share of it by its teacher (a share of 1/over_generation keeps n). 1: no pool."
        ),
    )
    max_attempts: int | None = Field(
        default=None,
        ge=1,
        description="Review slots generated at most to fill the pool; null: 3 x the reviews to keep. At least n x over_generation.",
    )
    max_new_tokens: int | None = config_field(GenerationConfig, "max_new_tokens")
    top_p: float = config_field(GenerationConfig, "top_p")
    top_k: int = config_field(GenerationConfig, "top_k")
    repetition_penalty: float = config_field(GenerationConfig, "repetition_penalty")
    batch_size: int = config_field(GenerationConfig, "batch_size")

    @property
    def keep_target(self) -> int:
        """Reviews this partition keeps: n x over_generation, rounded up."""
        return math.ceil(self.n * self.over_generation - 1e-9)

    @pydantic.field_validator("max_attempts")
    @classmethod
    def _reaches_the_target(cls, value: int | None, info: pydantic.ValidationInfo) -> int | None:
        n, factor = info.data.get("n"), info.data.get("over_generation")
        if value is None or n is None or factor is None:  # n or over_generation already refused
            return value
        try:
            check_attempts(math.ceil(n * factor - 1e-9), value)
        except InputError as error:  # pydantic reports a ValueError with the setting's name
            raise ValueError(str(error)) from None
        return value


@dataclasses.dataclass
class SyntheticPartition:
    """What one synthetic partition made and stored."""

    key: str  # generator|temperature
    generator: pd.Series  # its sentiment_generator row
    made: KeptReviews
    kept: pd.DataFrame
    quality: dict
    topic_words: list[str]

    @property
    def data_version(self) -> str:
        # What shapes these rows: the generator, every generation setting, the number kept and the attempt
        # bound (the filters are the generator code version's). Unchanged inputs give the same version.
        return f"{self.made.stats.get('fingerprint')}-a{self.made.max_attempts}-n{self.made.target}"


def generate_partitions(
    context: dg.AssetExecutionContext,
    config: GenerationSettings,
    language_model: LanguageModelResource,
    seed: int,
    store: Warehouse,
    key: str,
    temperature_keys: list[str],
) -> list[SyntheticPartition]:
    """The synthetic partitions of generator `key` at `temperature_keys`, decoded together, each filtered,
    judged and stored under its own (generator, temperature)."""
    sentiment, data_size, repeat = parse_generator_key(key)
    generators = (
        store.read("SELECT * FROM sentiment_generator WHERE generator = ?", [key])
        if store.has_table("sentiment_generator")
        else pd.DataFrame()
    )
    if generators.empty:
        raise InputError(
            f"No fine-tuned generator {key}: materialize the generators first (sentiment_generator[{key}])."
        )
    generator = generators.iloc[0]
    table = (
        store.read("SELECT * FROM prompt_table WHERE generator = ?", [key]) if store.has_table("prompt_table") else None
    )
    prompts = prompts_for_generation(table) if table is not None else []
    if not prompts:
        raise InputError(f"No prompts for generator {key}: materialize the generators first (prompt_table[{key}]).")
    configs = [
        GenerationConfig(
            n=config.n,
            temperature=float(temperature_key),
            max_new_tokens=config.max_new_tokens,
            top_p=config.top_p,
            top_k=config.top_k,
            repetition_penalty=config.repetition_penalty,
            batch_size=config.batch_size,
            seed=seed,
        )
        for temperature_key in temperature_keys
    ]
    # Chunk files are named by a fingerprint of every setting that shapes the output, so a
    # stopped run resumes and a larger `n` extends what exists; changed settings start afresh.
    chunk_dir = Path(language_model.work_dir) / "synthetic" / generator["generator_version"]

    def log_progress(update: dict) -> None:
        context.log.info(
            f"{key}|{update.get('temperature')}: {update.get('done')}/{update.get('total')} reviews, "
            f"{update.get('reviews_per_s') or 0:.2f} reviews/s, ETA {update.get('eta_s') or 0:.0f} s"
        )

    # `n` counts kept reviews: generation draws further review slots until the filters kept
    # n x over_generation of them or max_attempts slots were made. Dedup is within the partition
    # only: what other partitions hold must not change this one's rows. The temperatures of one
    # generator share the decode's batch: each row draws at its own temperature from its own seed.
    made_by_temperature = generate_kept_together(
        generator["path"],
        prompts,
        sentiment,
        configs,
        chunk_dir,
        generator_version=generator["generator_version"],
        keep=filter_synthetic,
        target=config.keep_target,
        max_attempts=config.max_attempts,
        progress=log_progress,
    )
    judge = fold_reviews(store.read_table("training_reviews"), store.read_table("review_folds"), data_size, FIT, repeat)
    # Label fidelity is judged by a classifier fit on the generator's own fit fold (both
    # sentiments); on-topic counts reviews naming one of the domain's topic words, read from the
    # generator's prompt table (made once there from the same fit fold), whatever the domain.
    domain = topic_words(table)
    partitions = []
    for temperature_key, made in zip(temperature_keys, made_by_temperature):
        shortfall = made.shortfall()
        if shortfall:
            context.log.warning(f"{key}|{temperature_key}: {shortfall}")
        kept = made.kept
        quality = (
            quality_report(
                kept["text"].tolist(),
                sentiment,
                judge["text"].tolist(),
                judge["sentiment"].tolist(),
                topic_words=domain,
            )
            if len(kept)
            else {}
        )
        partitions.append(
            SyntheticPartition(f"{key}|{temperature_key}", generator, made, kept.assign(generator=key), quality, domain)
        )
    # written once every partition's rows are judged: a failure above leaves all of them as they were
    for part in partitions:
        temperature = float(part.key.split("|")[1])
        store.replace_rows("synthetic_reviews", part.kept, {"generator": key, "temperature": temperature})
    return partitions


def partition_metadata(part: SyntheticPartition, config: GenerationSettings) -> dict:
    """The metadata of one synthetic partition's materialization."""
    made, kept, stats = part.made, part.kept, part.made.stats
    shortfall = made.shortfall()
    samples = "\n\n".join(f"> {markdown_cell(t, 400)}" for t in kept["text"].head(3))
    return {
        **table_metadata("synthetic_reviews", kept, partitioned=True),
        "asked": config.n,
        "over_generation": float(config.over_generation),
        "keep_target": made.target,
        "kept": len(kept),
        "attempted": made.attempted,
        "max_attempts": made.max_attempts,
        "generated": made.attempted,
        "dropped_by_filters": sum(made.dropped.values()),
        "kept_beyond_target": made.surplus,
        "short_by": made.short_by,
        "why_short": dg.MetadataValue.md(shortfall or "not short: every review asked for was kept"),
        "filtered_out": counts_table(made.dropped),
        **{f"quality_{k}": float(v) for k, v in part.quality.items()},
        "quality_topic_words": ", ".join(part.topic_words) or "none (the two sentiments share no content word)",
        "generator_version": str(part.generator["generator_version"]),
        "training_reviews_of_generator": int(part.generator["n_train"]),
        "reviews_per_s": float(stats.get("reviews_per_s") or 0.0),
        "tokens_per_s": float(stats.get("tokens_per_s") or 0.0),
        "generation_seconds": float(stats.get("seconds") or 0.0),
        "temperatures_decoded_together": int(stats.get("together") or 1),
        "resumed_reviews": int(stats.get("resumed") or 0),
        "device": str(stats.get("device")),
        "dtype": str(stats.get("dtype")),
        "samples": dg.MetadataValue.md(samples or "none kept"),
    }


def run_metadata(parts: list[SyntheticPartition]) -> dict:
    """What a run of several synthetic partitions adds to each one's own metadata: the partitions it made
    together and their figures side by side."""
    rows = [
        {
            "partition": part.key,
            "kept": len(part.kept),
            "attempted": part.made.attempted,
            "dropped": sum(part.made.dropped.values()),
            "short_by": part.made.short_by,
            **{k: round(float(v), 3) for k, v in part.quality.items()},
            "resumed": int(part.made.stats.get("resumed") or 0),
        }
        for part in parts
    ]
    return {
        "partitions_in_run": len(parts),
        "run_by_partition": dg.MetadataValue.md(pd.DataFrame(rows).to_markdown(index=False)),
    }


@dg.asset(
    partitions_def=synthetic_partitions,
    code_version=GENERATOR_CODE_VERSION,  # a generator code change regenerates its reviews
    deps=[
        dg.AssetDep("sentiment_generator", partition_mapping=same_generator),
        dg.AssetDep("prompt_table", partition_mapping=same_generator),
        # the label-fidelity judge learns from the generator's own fit fold
        "training_reviews",
        "review_folds",
    ],
    group_name="generate",
    kinds={"pytorch", "duckdb"},
    pool="language_model",
    retry_policy=MODEL_STEP_RETRIES,
    description=(
        "Synthetic reviews from one generator (sentiment x data size x repeat) at the partition's temperature, filtered: "
        "n x over_generation reviews kept, drawing more review slots up to max_attempts (metadata: attempted, kept, why short). "
        "A partition depends on its own generator and settings only; duplicates across partitions are removed "
        "where the union is formed (training_set). A run of a partition range (`augment-assets materialize` runs "
        "each generator's temperatures as one) decodes each generator's temperatures in one batch."
    ),
)
@user_errors_not_retried
@holds_model_lock
def synthetic_reviews(
    context: dg.AssetExecutionContext,
    config: GenerationSettings,
    language_model: LanguageModelResource,
    experiment: ExperimentResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    store = warehouse.get()
    parts = [
        part
        for key, temperature_keys in temperatures_by_generator(context.partition_keys).items()
        for part in generate_partitions(context, config, language_model, experiment.seed, store, key, temperature_keys)
    ]
    if len(parts) == 1:
        return dg.MaterializeResult(
            metadata=for_people(partition_metadata(parts[0], config)),
            data_version=dg.DataVersion(parts[0].data_version),
        )
    # A run of a range: each partition's materialization carries its own figures (partition-scoped metadata),
    # and all of them one data version, over theirs (Dagster records one data version per run)
    for part in parts:
        context.add_asset_metadata(for_people(partition_metadata(part, config)), partition_key=part.key)
    together = hashlib.sha256("|".join(f"{p.key}={p.data_version}" for p in parts).encode()).hexdigest()[:16]
    return dg.MaterializeResult(metadata=run_metadata(parts), data_version=dg.DataVersion(f"range-{together}"))
