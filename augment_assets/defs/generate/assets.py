"""Generate: `prompt_table[sentiment]`, `sentiment_generator[sentiment]`, `synthetic_reviews[sentiment x temperature]`.

Thin wiring over augment_assets.lib.{prompts,finetune,generate,synthetic_quality}.
"""


import dataclasses
import hashlib
import json
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from augment_assets.defs.generate.partitions import (
    sentiment_partitions,
    same_sentiment,
    synthetic_partitions,
)
from augment_assets.defs.generate.resources import LanguageModelResource
from augment_assets.defs.metadata import counts_table, png_markdown, preview
from augment_assets.defs.resources import ExperimentResource, WarehouseResource
from augment_assets.lib.errors import InputError
from augment_assets.lib.finetune import FinetuneConfig, finetune
from augment_assets.lib.generate import GenerationConfig, generate_reviews
from augment_assets.lib.plots import line_plot_png
from augment_assets.lib.prompts import build_prompt_table, prompts_for_generation
from augment_assets.lib.synthetic_quality import filter_synthetic, quality_report
from augment_assets.lib.text import text_key
from augment_assets.lib.validation import cap_per_class, validation_split

# Bump when a change to fine-tuning or generation code should invalidate saved models.
GENERATOR_CODE_VERSION = "1"


def generator_corpus(
    training: pd.DataFrame, sentiment: str, experiment: ExperimentResource
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fine-tuning reviews, perplexity-validation reviews) of one sentiment.

    Only the *fit* part of the evaluation's validation split: a generator never sees a
    review the evaluation later chooses hyperparameters, ratios or temperatures on.
    """
    pool = cap_per_class(training, experiment.generator_train_per_class(), experiment.seed)
    fit, validation = validation_split(pool, experiment.validation_share, experiment.seed)
    return fit[fit["sentiment"] == sentiment], validation[validation["sentiment"] == sentiment]


class PromptTableConfig(dg.Config):
    top_k: int = Field(default=50, ge=1, description="How many words, bigrams and trigrams to rank.")
    prefix_words: int = Field(default=4, ge=1, description="Words in each prefix prompt (real review openings).")
    extra_prompts: list[str] = Field(default_factory=list, description="Your own prompts, added to both sentiments.")


@dg.asset(
    partitions_def=sentiment_partitions,
    deps=["training_reviews"],
    group_name="generate",
    kinds={"duckdb"},
    pool="warehouse",
    description="Ranked words, bigrams, trigrams (stop words out) and prefix prompts from the training reviews of one sentiment.",
)
def prompt_table(
    context: dg.AssetExecutionContext,
    config: PromptTableConfig,
    experiment: ExperimentResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    sentiment = context.partition_key
    store = warehouse.get()
    corpus, _ = generator_corpus(store.read_table("training_reviews"), sentiment, experiment)
    if corpus.empty:
        raise InputError(f"No {sentiment} training reviews to build prompts from: materialize training_reviews first.")
    table = build_prompt_table(
        corpus["text"].tolist(),
        sentiment,
        top_k=config.top_k,
        prefix_words=config.prefix_words,
        extra_prompts=tuple(config.extra_prompts),
    )
    store.replace_rows("prompt_table", table, {"sentiment": sentiment})
    counts = table["kind"].value_counts().to_dict()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(table),
            "rows_by_kind": counts_table({str(k): int(v) for k, v in counts.items()}, key="kind"),
            "top_bigrams": preview(table[table["kind"] == "bigram"], rows=10),
            "prefix_prompts": preview(table[table["kind"] == "prefix"], rows=10),
            "training_reviews_used": len(corpus),
        }
    )


class FinetuneSettings(dg.Config):
    """Overrides of the fine-tuning defaults (null keeps the measured default of lib/finetune.py)."""

    method: str | None = Field(default=None, description="'lora' or 'full'")
    epochs: float | None = Field(default=None, gt=0)
    learning_rate: float | None = Field(default=None, gt=0)
    batch_size: int | None = Field(default=None, ge=1)
    max_length: int | None = Field(default=None, ge=16)

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
    partitions_def=sentiment_partitions,
    deps=["training_reviews"],
    group_name="generate",
    kinds={"pytorch"},
    pool="language_model",
    description="The base model fine-tuned on one sentiment's training reviews (fit part only), saved under data/models/.",
)
def sentiment_generator(
    context: dg.AssetExecutionContext,
    config: FinetuneSettings,
    language_model: LanguageModelResource,
    experiment: ExperimentResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    sentiment = context.partition_key
    store = warehouse.get()
    corpus, validation = generator_corpus(store.read_table("training_reviews"), sentiment, experiment)
    finetune_config = config.finetune_config(experiment.seed)
    if len(corpus) < finetune_config.min_train_reviews:
        raise InputError(
            f"Only {len(corpus)} {sentiment} training reviews to fine-tune on; at least {finetune_config.min_train_reviews} are needed. "
            "Point REVIEWS_CSV or YELP_DATASET_DIR at more data, or lower the split's holdout_size."
        )
    base_path, base_info = language_model.resolve()
    version = generator_version(base_info, corpus["text"].tolist(), finetune_config)
    out_dir = Path(language_model.models_dir) / sentiment / version
    report_path = out_dir / "finetune_report.json"
    if report_path.exists():
        report = json.loads(report_path.read_text())
        reused = True
        context.log.info(f"Reusing {out_dir}: same base model, training reviews and settings")
    else:
        context.log.info(f"Fine-tuning {base_info['base_model']} on {len(corpus)} {sentiment} reviews -> {out_dir}")

        def log_progress(update: dict) -> None:
            context.log.info("fine-tuning " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in update.items()))

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
                "sentiment": sentiment,
                "generator_version": version,
                "path": str(out_dir),
                "base_model": str(base_info.get("base_model")),
                "method": report.get("method"),
                "epochs": report.get("epochs"),
                "n_train": len(corpus),
                "train_per_class_cap": experiment.generator_train_per_class(),
                "perplexity_before": report.get("perplexity_before"),
                "perplexity_after": report.get("perplexity_after"),
                "device": report.get("device"),
                "dtype": str(report.get("dtype")),
                "created_at": pd.Timestamp.now(tz="UTC"),
            }
        ]
    )
    fine_tuning_corpus = corpus[["review_id", "sentiment", "text"]].assign(generator_version=version)
    store.replace_rows_in(
        {"sentiment_generator": registry, "fine_tuning_corpus": fine_tuning_corpus}, {"sentiment": sentiment}
    )
    losses = report.get("losses") or []
    return dg.MaterializeResult(
        metadata={
            "generator_version": version,
            "path": dg.MetadataValue.path(str(out_dir)),
            "base_model": str(base_info.get("base_model")),
            "reused_saved_model": reused,
            "method": str(report.get("method")),
            "n_train_reviews": len(corpus),
            "n_validation_reviews": len(validation),
            "perplexity_before": float(report.get("perplexity_before") or 0.0),
            "perplexity_after": float(report.get("perplexity_after") or 0.0),
            "tokens_per_s": float(report.get("tokens_per_s") or 0.0),
            "wall_s": float(report.get("wall_s") or 0.0),
            "trainable_params": int(report.get("trainable_params") or 0),
            "total_params": int(report.get("total_params") or 0),
            "device": str(report.get("device")),
            "dtype": str(report.get("dtype")),
            "loss_curve": png_markdown(line_plot_png(losses, f"{sentiment} fine-tuning loss", "step", "loss"), "training loss")
            if losses
            else dg.MetadataValue.md("no steps"),
        }
    )


_GENERATION_DEFAULTS = GenerationConfig()  # lib/generate.py is the one place the defaults live


class GenerationSettings(dg.Config):
    """Sampling settings; out-of-range values are rejected before the run starts any work."""

    n: int = Field(default=_GENERATION_DEFAULTS.n, ge=1, description="Synthetic reviews per partition (before filters).")
    max_new_tokens: int = Field(default=_GENERATION_DEFAULTS.max_new_tokens, ge=8)
    top_p: float = Field(default=_GENERATION_DEFAULTS.top_p, gt=0, le=1)
    top_k: int = Field(default=_GENERATION_DEFAULTS.top_k, ge=0, description="0 disables top-k")
    repetition_penalty: float = Field(default=_GENERATION_DEFAULTS.repetition_penalty, gt=0)
    batch_size: int = Field(default=_GENERATION_DEFAULTS.batch_size, ge=1)


@dg.asset(
    partitions_def=synthetic_partitions,
    deps=[
        dg.AssetDep("sentiment_generator", partition_mapping=same_sentiment),
        dg.AssetDep("prompt_table", partition_mapping=same_sentiment),
    ],
    group_name="generate",
    kinds={"pytorch", "duckdb"},
    pool="language_model",
    description="Synthetic reviews from the sentiment's fine-tuned generator at the partition's temperature, filtered.",
)
def synthetic_reviews(
    context: dg.AssetExecutionContext,
    config: GenerationSettings,
    language_model: LanguageModelResource,
    experiment: ExperimentResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    keys = context.partition_key.keys_by_dimension
    sentiment, temperature_key = keys["sentiment"], keys["temperature"]
    temperature = float(temperature_key)
    store = warehouse.get()
    generators = store.read("SELECT * FROM sentiment_generator WHERE sentiment = ?", [sentiment])
    if generators.empty:
        raise InputError(f"No fine-tuned {sentiment} generator: materialize sentiment_generator[{sentiment}] first.")
    generator = generators.iloc[0]
    prompts = prompts_for_generation(store.read("SELECT * FROM prompt_table WHERE sentiment = ?", [sentiment]))
    if not prompts:
        raise InputError(f"The prompt table has no prompts for {sentiment}: materialize prompt_table[{sentiment}] first.")
    generation_config = GenerationConfig(
        n=config.n,
        temperature=temperature,
        max_new_tokens=config.max_new_tokens,
        top_p=config.top_p,
        top_k=config.top_k,
        repetition_penalty=config.repetition_penalty,
        batch_size=config.batch_size,
        seed=experiment.seed,
    )
    # Chunk files are named by a fingerprint of every setting that shapes the output, so a
    # stopped run resumes and a larger `n` extends what exists; changed settings start afresh.
    chunk_dir = Path(language_model.work_dir) / "synthetic" / generator["generator_version"]

    def log_progress(update: dict) -> None:
        context.log.info(
            f"{sentiment}|{temperature_key}: {update.get('done')}/{update.get('total')} reviews, "
            f"{update.get('reviews_per_s') or 0:.2f} reviews/s, ETA {update.get('eta_s') or 0:.0f} s"
        )

    generated = generate_reviews(
        generator["path"],
        prompts,
        sentiment,
        generation_config,
        chunk_dir,
        generator_version=generator["generator_version"],
        progress=log_progress,
    )
    others = (
        store.read(
            "SELECT text FROM synthetic_reviews WHERE NOT (sentiment = ? AND temperature = ?)", [sentiment, temperature]
        )
        if store.has_table("synthetic_reviews")
        else pd.DataFrame(columns=["text"])
    )
    kept, filtered = filter_synthetic(generated, existing_keys={text_key(t) for t in others["text"]})
    fit, _ = validation_split(store.read_table("training_reviews"), experiment.validation_share, experiment.seed)
    # Label fidelity is judged by a classifier fit on the fit part only; on-topic uses the
    # documented domain noun list of lib/synthetic_quality.py.
    quality = (
        quality_report(kept["text"].tolist(), sentiment, fit["text"].tolist(), fit["sentiment"].tolist())
        if len(kept)
        else {}
    )
    store.replace_rows("synthetic_reviews", kept, {"sentiment": sentiment, "temperature": temperature})
    samples = "\n\n".join(f"> {t[:400]}" for t in kept["text"].head(3))
    stats = generated.attrs.get("stats", {})
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(kept),
            "generated": len(generated),
            "filtered_out": counts_table(filtered),
            **{f"quality_{k}": float(v) for k, v in quality.items()},
            "generator_version": str(generator["generator_version"]),
            "training_reviews_of_generator": int(generator["n_train"]),
            "reviews_per_s": float(stats.get("reviews_per_s") or 0.0),
            "tokens_per_s": float(stats.get("tokens_per_s") or 0.0),
            "generation_seconds": float(stats.get("seconds") or 0.0),
            "resumed_reviews": int(stats.get("resumed") or 0),
            "device": str(stats.get("device")),
            "dtype": str(stats.get("dtype")),
            "samples": dg.MetadataValue.md(samples or "none kept"),
        }
    )
