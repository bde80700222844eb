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
only, in cache-sized chunks (`model.label_log_probs`: 1.5x faster than on every row), and
each (generator version, text, settings) is scored once: scores are kept in
`<work_dir>/generative_scores/<generator_version>.parquet` and reused by every later
evaluation (`bench/generative.py` measures reviews/s against its compute ceiling).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression

from .classify import encode_labels
from .errors import InputError
from .finetune import FinetuneConfig, collate_reviews, encode_reviews, generation_prefix, read_finetune_config
from .generate import read_parquet, write_parquet_atomic
from .model import dtype_name, label_log_probs, load_model
from .folds import VALIDATION, fold_reviews
from .reviews import SENTIMENTS
from .training_sets import TeacherLabels

CACHE_COLUMNS = ["text_hash", "max_review_tokens", "dtype", "mean_log_likelihood", "n_tokens"]
SCORE_COLUMNS = [
    "repeat", "data_size", "scored_set", "review_id", "negative_generator_version", "positive_generator_version",
    "log_likelihood_negative", "log_likelihood_positive", "margin", "n_tokens", "max_review_tokens", "dtype",
]


@dataclass(frozen=True)
class ScoringConfig:
    # Review tokens scored (after the conditioning prefix). Measured on the validation fold (80 reviews,
    # never a holdout) of the shared pizza CSV, generators of data size all: accuracy at threshold 0 of
    # 0.750 / 0.762 / 0.838 / 0.875 at 32 / 64 / 128 / 256 tokens (38% of those reviews are longer than
    # 128 tokens, 10% longer than 264), for 1.3x the tokens of 128. Beyond the fine-tuning length (128)
    # the generators still read the review's ending; 256 keeps most of it.
    max_review_tokens: int = 256
    # Reviews per forward pass, length-sorted so padding stays small. bench/generative.py --quick on 2 shared
    # cores: 933 review tokens/s at 16, 825 at 8, 626 at 32.
    batch_size: int = 16

    def __post_init__(self):
        if self.max_review_tokens < 8 or self.batch_size < 1:
            raise InputError(
                f"generative scoring: max_review_tokens must be >= 8 and batch_size >= 1, got "
                f"{self.max_review_tokens} and {self.batch_size}"
            )


def text_hash(text: str) -> str:
    """The cache key of a text: the whitespace-normalised text the model reads (case kept: the model sees case)."""
    return hashlib.sha1(" ".join(str(text).split()).encode("utf-8")).hexdigest()[:20]


@torch.inference_mode()
def review_log_likelihoods(
    model, tokenizer, texts: list[str], sentiment: str, finetune_config: FinetuneConfig | None,
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
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    for start in range(0, len(order), config.batch_size):
        batch = order[start: start + config.batch_size]
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
            (h, int(m), d): (float(s), int(n))
            for h, m, d, s, n in self.frame[CACHE_COLUMNS].itertuples(index=False)
        }

    def get(self, key: tuple) -> tuple[float, int] | None:
        return self._index.get(key)

    def add(self, rows: list[dict]) -> None:
        """Append rows and rewrite the file under a temporary name, renamed into place (a killed write leaves the old file)."""
        if not rows:
            return
        new = pd.DataFrame(rows, columns=CACHE_COLUMNS)
        self.frame = new if self.frame.empty else pd.concat([self.frame, new], ignore_index=True)
        self._index.update({(r["text_hash"], r["max_review_tokens"], r["dtype"]): (r["mean_log_likelihood"], r["n_tokens"]) for r in rows})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(self.frame, self.path)


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


def generator_log_likelihoods(
    model_path: Path | str, generator_version: str, sentiment: str, texts: list[str], cache_dir: Path | str,
    device: str, dtype: torch.dtype, config: ScoringConfig = ScoringConfig(), stats: ScoringStats | None = None,
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
        means, counts = review_log_likelihoods(model, tokenizer, [first[k] for k in missing], sentiment, finetune_config, config)
        del model
        cache.add([
            {"text_hash": k[0], "max_review_tokens": k[1], "dtype": k[2], "mean_log_likelihood": float(m), "n_tokens": int(n)}
            for k, m, n in zip(missing, means, counts)
        ])
        stats.scored += len(missing)
        stats.tokens += int(counts.sum())
        stats.seconds += time.perf_counter() - started
        stats.loads += 1
    found = [cache.get(k) for k in keys]
    return np.array([f[0] for f in found], dtype=float), np.array([f[1] for f in found], dtype=np.int64)


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
            rows.append(pd.DataFrame({
                "repeat": repeat, "data_size": size, "scored_set": name.split(":")[-1],
                "review_id": frame["review_id"].astype(str).to_numpy(),
                "negative_generator_version": versions[SENTIMENTS[0]], "positive_generator_version": versions[SENTIMENTS[1]],
                "log_likelihood_negative": negative[0][index], "log_likelihood_positive": positive[0][index],
                "margin": margin, "n_tokens": negative[1][index],
                "max_review_tokens": config.max_review_tokens, "dtype": dtype_name(dtype),
            }))
        progress(f"generative scores of {size} data, repeat {repeat}: {len(union)} reviews")
    if rows:
        out.table = pd.concat(rows, ignore_index=True)[SCORE_COLUMNS]
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
    argmax rests on the one or two reviews nearest the boundary. Leave-one-out on the demo's own
    validation folds (never a holdout): threshold 0 0.85 / 0.923, the accuracy argmax 0.80 / 0.904,
    the logistic fit 0.90 / 0.923 (50 per class / all).
    """
    calibration = calibrate(margins, labels)
    threshold = 0.0 if calibration is None else calibration.threshold
    return threshold, float(np.mean(predict(margins, threshold) == np.asarray(labels)))


def teacher_labels(validation_margins, validation_labels, synthetic_ids, synthetic_margins, config: ScoringConfig) -> TeacherLabels | None:
    """The generative classifier as a teacher: P(positive) of each synthetic review, its margin calibrated on the
    validation fold (`calibrate`); None where no boundary can be fit (then it teaches nothing)."""
    calibration = calibrate(validation_margins, validation_labels)
    if calibration is None:
        return None
    hyperparameters = {"threshold": calibration.threshold, **dataclasses.asdict(calibration), "max_review_tokens": config.max_review_tokens}
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


def classifier_review_tokens(setting: int | None, teacher_tokens: int | None) -> int:
    """The review tokens the generative classifier reads: the teacher's (the very classifier that taught a student
    is the one it is compared with), the `generative_max_review_tokens` setting where no set was taught, else the
    default. A setting that differs from the teacher's is refused before any scoring."""
    if setting is not None and teacher_tokens is not None and setting != teacher_tokens:
        raise InputError(
            f"classifier_metrics: generative_max_review_tokens={setting} differs from the {teacher_tokens} review tokens "
            "the generative teacher of training_set read, so a taught student would be compared with another classifier "
            f"than its teacher. Leave it null (it follows training_set), or re-materialize training_set with "
            f"generative_max_review_tokens: {setting}."
        )
    return teacher_tokens or setting or ScoringConfig().max_review_tokens


def teach(
    generators: pd.DataFrame, training: pd.DataFrame, folds: pd.DataFrame, synthetic: pd.DataFrame, cache_dir: Path | str,
    device: str, dtype: torch.dtype, config: ScoringConfig = ScoringConfig(), progress: Callable[[str], None] | None = None,
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
            "synthetic": pd.DataFrame({"review_id": group["synthetic_id"].astype(str).to_numpy(), "text": group["text"].to_numpy()}),
        }
    scores = score_pairs(generators, texts, cache_dir, device, dtype, config, progress, corpus)
    teachers = {}
    for cell in scores.cells():
        teacher = teacher_labels(
            scores.margins[(cell, "validation")], encode_labels(texts[cell]["validation"]["sentiment"]),
            texts[cell]["synthetic"]["review_id"], scores.margins[(cell, "synthetic")], config,
        )
        if teacher is None:
            scores.skipped[cell] = "the margins of its validation fold fit no boundary (one class, or no margin that falls with P(positive))"
        else:
            teachers[cell] = teacher
    return teachers, scores
