"""The generators as a classifier: a review's score under the negative generator minus its score under the positive one.

Each (repeat, data size) has a pair of fine-tuned generators (`sentiment_generator`).
The `generative` classifier scores a review by the length-normalised log-likelihood
ratio

    margin(x) = mean log p(x | negative generator) - mean log p(x | positive generator)

(the mean is over the review's tokens, the end-of-text token included when the review
fits in `max_review_tokens`), each generator conditioned on the very prefix it was
fine-tuned behind ("Review, 1-2 stars:" / "Review, 4-5 stars:" by default, read from the
model folder's own config), so a review is scored exactly as the generator learned
reviews. A margin above the threshold means negative. The threshold is the classifier's
one hyperparameter: 0 (equal priors, the plain Bayes rule) for the `genuine` row, fit on
the data size's validation fold for `genuine_tuned` (`choose_threshold`); lib/evaluation.py
then chooses between the two on validation accuracy, as for every other classifier.

It learns from genuine reviews only (the generators' `fit` fold), so it is a baseline.
Its generators are not refit on the whole pool: re-fine-tuning two language models to
refit one threshold is minutes of both cores, so its holdout score comes from the
generators fit on the `fit` fold alone (it sees fewer genuine reviews than the TF-IDF
baselines refit on the whole pool, never more).

Speed: a forward pass of two models per review. Texts are sorted by length and
batched (little padding), the models run in the generation dtype of
`model.choose_device_dtype` (bfloat16 on a CPU with native bfloat16 and on CUDA), the
vocabulary-wide projection and its float32 log-softmax run on the review tokens' rows
only, in cache-sized chunks (`model.label_log_probs`: faster than on every row), and
each (generator version, text, settings) is scored once: scores are kept in
`<work_dir>/generative_scores/<generator_version>.parquet` and reused by every later
evaluation (`bench/generative.py` measures reviews/s against its compute ceiling;
docs/results.md, "The generative classifier's speed").
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .classify import encode_labels
from .errors import InputError
from .finetune import FinetuneConfig, collate_reviews, encode_reviews, generation_prefix, read_finetune_config
from .folds import VALIDATION, fold_reviews

# The margins' decisions (threshold, calibration, teacher labels) need no model: they live in
# generative_margins, which the evaluation imports without torch; re-exported here for the scoring's callers.
from .generative_margins import (  # noqa: F401
    SCORE_COLUMNS,
    Calibration,
    GenerativeScores,
    ScoringConfig,
    ScoringStats,
    calibrate,
    choose_threshold,
    classifier_review_tokens,
    evaluation_texts,
    predict,
    teacher_labels,
    teacher_review_tokens,
)
from .model import dtype_name, label_log_probs, length_batches, load_model
from .parquet import read_parquet, write_parquet_atomic
from .recipes import TeacherLabels
from .reviews import SENTIMENTS
from .text import text_hash

CACHE_COLUMNS = ["text_hash", "max_review_tokens", "dtype", "mean_log_likelihood", "n_tokens"]


@torch.inference_mode()
def review_log_likelihoods(
    model,
    tokenizer,
    texts: list[str],
    sentiment: str,
    finetune_config: FinetuneConfig | None,
    config: ScoringConfig = ScoringConfig(),
) -> tuple[np.ndarray, np.ndarray]:
    """(mean log-probability per review token, review tokens scored) of each text under one model.

    Encoded as in fine-tuning (`finetune.encode_reviews`: the generator's prefix, masked, then
    the review and end-of-text), truncated to `max_review_tokens` review tokens; batches of
    similar length, right-padded and masked, so a text's score does not depend on its batch.
    """
    prefix = generation_prefix(sentiment, finetune_config, tokenizer)
    n_prefix = len(tokenizer(prefix, add_special_tokens=False)["input_ids"]) if prefix else 0
    encoding = dataclasses.replace(
        finetune_config or FinetuneConfig(prompt_format="none"), max_length=n_prefix + config.max_review_tokens
    )
    encoded = encode_reviews(tokenizer, list(texts), sentiment, encoding)
    device = next(model.parameters()).device.type
    means, counts = np.zeros(len(encoded)), np.zeros(len(encoded), dtype=np.int64)
    for batch in length_batches([len(ids) for ids, _ in encoded], config.batch_size):
        input_ids, attention, labels = collate_reviews([encoded[i] for i in batch], tokenizer.pad_token_id, device)
        # normalised in float32 (bfloat16 logits of magnitude 16-32 are spaced 0.125 apart), on the review tokens' rows only
        scored, mask = label_log_probs(model, input_ids, attention, labels)
        log_probs = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
        log_probs[mask] = scored
        sums = log_probs.sum(dim=1)
        n = mask.sum(dim=1)
        means[batch] = (sums / n.clamp(min=1)).cpu().numpy()
        counts[batch] = n.cpu().numpy()
    return means, counts


class ScoreCache:
    """Scores of one generator version, by (text hash, max_review_tokens, dtype), in one parquet file."""

    def __init__(self, cache_dir: Path | str, generator_version: str):
        self.path = Path(cache_dir) / f"{generator_version}.parquet"
        self.frame = read_parquet(self.path)[CACHE_COLUMNS] if self.path.exists() else None
        if self.frame is None or self.frame.empty:
            self.frame = pd.DataFrame(columns=CACHE_COLUMNS)
        self._index = {
            (h, int(m), d): (float(s), int(n)) for h, m, d, s, n in self.frame[CACHE_COLUMNS].itertuples(index=False)
        }

    def get(self, key: tuple) -> tuple[float, int] | None:
        return self._index.get(key)

    def add(self, rows: list[dict]) -> None:
        """Append rows and rewrite the file under a temporary name, renamed into place (a killed write leaves the old file)."""
        if not rows:
            return
        new = pd.DataFrame(rows, columns=CACHE_COLUMNS)
        self.frame = new if self.frame.empty else pd.concat([self.frame, new], ignore_index=True)
        self._index.update(
            {
                (r["text_hash"], r["max_review_tokens"], r["dtype"]): (r["mean_log_likelihood"], r["n_tokens"])
                for r in rows
            }
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(self.frame, self.path)


def generator_log_likelihoods(
    model_path: Path | str,
    generator_version: str,
    sentiment: str,
    texts: list[str],
    cache_dir: Path | str,
    device: str,
    dtype: torch.dtype,
    config: ScoringConfig = ScoringConfig(),
    stats: ScoringStats | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(mean log-likelihood, tokens) of each text under one generator; cached texts are not rescored and a
    generator whose texts are all cached is not even loaded."""
    stats = stats if stats is not None else ScoringStats()
    cache = ScoreCache(cache_dir, generator_version)
    keys = [(text_hash(t), config.max_review_tokens, dtype_name(dtype)) for t in texts]
    stats.texts += len(texts)
    missing = list(dict.fromkeys(k for k in keys if cache.get(k) is None))
    if missing:
        if not Path(model_path).exists():
            raise InputError(
                f"generator {generator_version}: model folder {model_path} is missing; re-materialize sentiment_generator"
            )
        started = time.perf_counter()
        model, tokenizer = load_model(model_path, device, dtype)
        finetune_config, _ = read_finetune_config(model_path)
        first = {k: t for k, t in zip(keys, texts)}
        means, counts = review_log_likelihoods(
            model, tokenizer, [first[k] for k in missing], sentiment, finetune_config, config
        )
        del model
        cache.add(
            [
                {
                    "text_hash": k[0],
                    "max_review_tokens": k[1],
                    "dtype": k[2],
                    "mean_log_likelihood": float(m),
                    "n_tokens": int(n),
                }
                for k, m, n in zip(missing, means, counts)
            ]
        )
        stats.scored += len(missing)
        stats.tokens += int(counts.sum())
        stats.seconds += time.perf_counter() - started
        stats.loads += 1
    found = [cache.get(k) for k in keys]
    return np.array([f[0] for f in found], dtype=float), np.array([f[1] for f in found], dtype=np.int64)


def score_pairs(
    generators: pd.DataFrame,
    texts: dict[tuple, dict[str, pd.DataFrame]],
    cache_dir: Path | str,
    device: str,
    dtype: torch.dtype,
    config: ScoringConfig = ScoringConfig(),
    progress: Callable[[str], None] | None = None,
    corpus: pd.DataFrame | None = None,
) -> GenerativeScores:
    """Margins of every text of every cell, by the cell's pair of generators.

    `generators`: the registry (`sentiment_generator`: `sentiment`, `data_size`, `repeat`,
    `generator_version`, `path`). `texts[(repeat, data size)][name]`: a frame with `review_id`
    and `text`. `corpus` (`fine_tuning_corpus`: `generator_version`, `review_id`): a pair that
    was fine-tuned on a review it would score (generators left over from older folds) is not
    used. A skipped cell says why.
    """
    progress = progress or (lambda message: None)
    out = GenerativeScores(stats=ScoringStats(), config=config)
    rows = []
    for cell, named in texts.items():
        repeat, size = cell
        pair = generators[(generators["repeat"].astype(int) == repeat) & (generators["data_size"].astype(str) == size)]
        by_sentiment = {s: pair[pair["sentiment"] == s] for s in SENTIMENTS}
        lacking = [s for s, g in by_sentiment.items() if g.empty]
        if lacking:
            out.skipped[cell] = f"no {' or '.join(lacking)} generator of data size {size}, repeat {repeat}"
            continue
        if corpus is not None:
            seen = corpus[corpus["generator_version"].isin(pair["generator_version"])]["review_id"].astype(str)
            scored = pd.concat(named.values())["review_id"].astype(str)
            overlap = int(scored.isin(set(seen)).sum())
            if overlap:
                out.skipped[cell] = (
                    f"its generators were fine-tuned on {overlap} of the reviews they would score (generators of "
                    "older folds?): re-materialize sentiment_generator"
                )
                continue
        union = pd.concat(named.values(), ignore_index=True)["text"].astype(str).tolist()
        union = list(dict.fromkeys(union))
        scores = {}
        for sentiment, generator in by_sentiment.items():
            g = generator.iloc[0]
            scores[sentiment] = generator_log_likelihoods(
                g["path"], str(g["generator_version"]), sentiment, union, cache_dir, device, dtype, config, out.stats
            )
        position = {t: i for i, t in enumerate(union)}
        negative, positive = scores[SENTIMENTS[0]], scores[SENTIMENTS[1]]
        versions = {s: str(by_sentiment[s].iloc[0]["generator_version"]) for s in SENTIMENTS}
        for name, frame in named.items():
            index = np.array([position[str(t)] for t in frame["text"]], dtype=np.int64)
            margin = negative[0][index] - positive[0][index]
            out.margins[(cell, name)] = margin
            rows.append(
                pd.DataFrame(
                    {
                        "repeat": repeat,
                        "data_size": size,
                        "scored_set": name.split(":")[-1],
                        "review_id": frame["review_id"].astype(str).to_numpy(),
                        "negative_generator_version": versions[SENTIMENTS[0]],
                        "positive_generator_version": versions[SENTIMENTS[1]],
                        "log_likelihood_negative": negative[0][index],
                        "log_likelihood_positive": positive[0][index],
                        "margin": margin,
                        "n_tokens": negative[1][index],
                        "max_review_tokens": config.max_review_tokens,
                        "dtype": dtype_name(dtype),
                    }
                )
            )
        progress(f"generative scores of {size} data, repeat {repeat}: {len(union)} reviews")
    if rows:
        out.table = pd.concat(rows, ignore_index=True)[SCORE_COLUMNS]
    return out


def teach(
    generators: pd.DataFrame,
    training: pd.DataFrame,
    folds: pd.DataFrame,
    synthetic: pd.DataFrame,
    cache_dir: Path | str,
    device: str,
    dtype: torch.dtype,
    config: ScoringConfig = ScoringConfig(),
    progress: Callable[[str], None] | None = None,
    corpus: pd.DataFrame | None = None,
) -> tuple[dict[tuple, TeacherLabels], GenerativeScores]:
    """The generative teacher's labels of every (repeat, data size)'s synthetic reviews (`synthetic`: `synthetic_id`,
    `text`, `data_size`, `repeat`), calibrated on that cell's validation fold; and the scores (cached, so the
    evaluation's scoring of the same validation reviews is a cache read)."""
    texts = {}
    for (repeat, size), group in synthetic.groupby(["repeat", "data_size"], sort=False):
        validation = fold_reviews(training, folds, size, VALIDATION, int(repeat))
        texts[(int(repeat), str(size))] = {
            "validation": validation[["review_id", "text", "sentiment"]],
            "synthetic": pd.DataFrame(
                {"review_id": group["synthetic_id"].astype(str).to_numpy(), "text": group["text"].to_numpy()}
            ),
        }
    scores = score_pairs(generators, texts, cache_dir, device, dtype, config, progress, corpus)
    teachers = {}
    for cell in scores.cells():
        teacher = teacher_labels(
            scores.margins[(cell, "validation")],
            encode_labels(texts[cell]["validation"]["sentiment"]),
            texts[cell]["synthetic"]["review_id"],
            scores.margins[(cell, "synthetic")],
            config,
        )
        if teacher is None:
            scores.skipped[cell] = (
                "the margins of its validation fold fit no boundary (one class, or no margin that falls with P(positive))"
            )
        else:
            teachers[cell] = teacher
    return teachers, scores
