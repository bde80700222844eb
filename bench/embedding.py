"""Speed of the embedding classifier's embedding step, next to the ceiling, and what truncation costs in accuracy.

The texts: real pizza reviews of the shared CSV, split as the product splits them
(`split_reviews`, then `build_folds`); only the *training* reviews are read (never the
holdout), else a few fixed reviews.

- naive: one review at a time, float32, the whole causal LM asked for its hidden states
  (what a first loop does), on the first --baseline-n reviews.
- project: `embedding.mean_pooled` as the evaluation runs it: the inference dtype of
  `model.choose_device_dtype` (bfloat16 on a CPU with native bfloat16), the decoder alone
  (no vocabulary-wide logits), length-sorted batches within a budget of padded tokens, at most
  `EmbeddingConfig.max_tokens` tokens, right-padded rows without the padding mask (`model.causal_only`).
- today: the path when #25 was filed: `EmbeddingConfig.batch_size` reviews per forward whatever their
  length, and the padding mask; timed alternately with the project's.
Model loads are not timed.

Ceiling: a forward pass costs about 2 x parameters FLOP per token; without the tied lm_head
SmolLM2-135M's decoder is about 0.21 GFLOP per token (0.27 with it). The ceiling is measured
(`lib/ceiling.forward_ceiling` without the head, `bench/ceiling.py`): the decoder's linear layers at
the tokens per matmul the project runs at (a batch's reviews x their tokens), and at 8,192;
`--peak-gflops` fixes it instead.

`--lengths 32,64,128,256`: with the vectors of the fit fold and the validation fold of data
size `all` (never a holdout), the validation accuracy of the tuned embedding classifier (C chosen
by 5-fold cross-validation on the fit fold) at each truncation. The first k positions of a pass
are exactly a k-token pass (causal attention), so one pass at the longest length gives all.

Usage:
    python bench/embedding.py            # 256 reviews (naive on 32)
    python bench/embedding.py --quick    # < 2 min: 64 reviews (naive on 8)
    python bench/embedding.py --lengths 32,64,128,256   # the truncation measurement (~5 min on 2 cores)
Ends with `vs_today: X` (project / today) and `ratio: X` (project / naive, reviews per second).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from _today_paths import today_path  # noqa: E402 - bench/_today_paths.py

from augment_assets.lib.ceiling import forward_ceiling  # noqa: E402
from augment_assets.lib.classify import DEFAULT_EMBEDDING_CS  # noqa: E402
from augment_assets.lib.embedding import EmbeddingConfig, last_hidden_state, make_embedding_classifier, mean_pooled  # noqa: E402
from augment_assets.lib.folds import build_folds, fold_reviews  # noqa: E402
from augment_assets.lib.model import (  # noqa: E402
    EMBEDDED_MODEL,
    choose_device_dtype,
    dtype_name,
    length_batches,
    load_model,
    resolve_base_model,
)
from augment_assets.lib.reviews import label_reviews  # noqa: E402
from augment_assets.lib.split import split_reviews  # noqa: E402

CSV = REPO.parent / "shared" / "data" / "yelp_pizza" / "pizza_reviews.csv"
FALLBACK = [
    "The pizza was hot and the crust was perfect, we will be back.",
    "The pizza was cold and the delivery took over an hour, never again.",
]


def training_reviews() -> pd.DataFrame:
    if not CSV.exists():
        return pd.DataFrame({"review_id": ["a", "b"], "sentiment": ["positive", "negative"], "text": FALLBACK})
    reviews, _, _ = label_reviews(pd.read_csv(CSV))
    training, _holdout, _ = split_reviews(reviews)  # the holdout is dropped here, unread
    return training


@torch.inference_mode()
def naive(model, tokenizer, texts: list[str]) -> float:
    started = time.perf_counter()
    for text in texts:
        ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"][: EmbeddingConfig().max_tokens]])
        model(input_ids=ids, output_hidden_states=True).hidden_states[-1].mean(dim=1)
    return time.perf_counter() - started


@torch.inference_mode()
def pooled_by_length(
    model, tokenizer, texts: list[str], lengths: list[int], batch_size: int = 16
) -> dict[int, np.ndarray]:
    """{k: mean of the first k positions' last hidden state} from one pass at max(lengths)."""
    longest = max(lengths)
    out = {k: [] for k in lengths}
    encoded = [tokenizer(" ".join(t.split()), add_special_tokens=False)["input_ids"][:longest] for t in texts]
    for start in range(0, len(encoded), batch_size):
        batch = encoded[start : start + batch_size]
        width = max(len(ids) for ids in batch)
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for r, ids in enumerate(batch):
            input_ids[r, : len(ids)] = torch.tensor(ids)
            attention[r, : len(ids)] = 1
        hidden = last_hidden_state(model, input_ids, attention).float()
        for k in lengths:
            mask = attention[:, :k].unsqueeze(-1).float()
            out[k].append(((hidden[:, :k] * mask).sum(1) / mask.sum(1)).numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def truncation_accuracy(model, tokenizer, lengths: list[int]) -> None:
    from sklearn.model_selection import GridSearchCV

    training = training_reviews()
    folds = build_folds(training, [None], 0.2, 0)
    fit, validation = (fold_reviews(training, folds, "all", f, 1) for f in ("fit", "validation"))
    started = time.perf_counter()
    vectors = pooled_by_length(model, tokenizer, fit["text"].tolist() + validation["text"].tolist(), lengths)
    print(
        f"embedded {len(fit)} fit + {len(validation)} validation reviews at {max(lengths)} tokens in {time.perf_counter() - started:.0f} s"
    )
    y_fit = (fit["sentiment"] == "positive").to_numpy().astype(int)
    y_val = (validation["sentiment"] == "positive").to_numpy().astype(int)
    tokens = np.array([len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in training["text"]])
    for k in lengths:
        X = vectors[k]
        search = GridSearchCV(make_embedding_classifier(), {"logisticregression__C": list(DEFAULT_EMBEDDING_CS)}, cv=5)
        search.fit(X[: len(fit)], y_fit)
        accuracy = float(np.mean(search.predict(X[len(fit) :]) == y_val))
        print(
            f"max_tokens {k:4d}: validation accuracy {accuracy:.3f} (C {search.best_params_['logisticregression__C']:g}); "
            f"{np.mean(tokens > k):.0%} of training reviews are longer"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--baseline-n", type=int, default=32)
    parser.add_argument("--peak-gflops", type=float, default=None, help="a fixed ceiling (default: measured here)")
    parser.add_argument("--lengths", default="")
    args = parser.parse_args()
    n, baseline_n = (64, 8) if args.quick else (args.n, args.baseline_n)
    path, _ = resolve_base_model(EMBEDDED_MODEL, Path(os.environ.get("AUGMENT_MODELS_DIR", REPO / "data" / "models")))
    device, dtype = choose_device_dtype("cpu")
    model, tokenizer = load_model(path, device, dtype)
    if args.lengths:
        truncation_accuracy(model, tokenizer, sorted(int(k) for k in args.lengths.split(",")))
        return
    texts = training_reviews()["text"].astype(str).tolist()[:n]
    config = EmbeddingConfig()
    # today's path (when #25 was filed): a fixed batch_size reviews per forward, no budget of padded tokens, and the
    # padding mask in attention
    today_config = dataclasses.replace(config, batch_tokens=config.batch_size * config.max_tokens)
    mean_pooled(model, tokenizer, texts[:8], config)  # the first forward's one-off setup, for neither path
    times = {"project": [], "today": []}
    for _ in range(1 if args.quick else 2):  # alternately: a slowdown of the shared CPU hits both
        for label, chosen in (("today", today_config), ("project", config)):
            with today_path() if label == "today" else contextlib.nullcontext():
                started = time.perf_counter()
                _, counts = mean_pooled(model, tokenizer, texts, chosen)
                times[label].append(time.perf_counter() - started)
    project_s, today_s = min(times["project"]), min(times["today"])
    tokens = int(counts.sum())
    # the decoder's matrix products: its parameters less the input embedding (a lookup, no FLOPs)
    matmul_parameters = (
        sum(p.numel() for p in model.base_model.parameters()) - model.get_input_embeddings().weight.numel()
    )
    gflop_per_token = 2 * matmul_parameters / 1e9
    float_model, float_tokenizer = load_model(path, device, torch.float32)
    naive_s = naive(float_model, float_tokenizer, texts[:baseline_n])
    project_rate, naive_rate = len(texts) / project_s, baseline_n / naive_s
    print(
        f"{len(texts)} reviews, {tokens} tokens ({tokens / len(texts):.0f} per review, at most {config.max_tokens}), "
        f"decoder {gflop_per_token:.3f} GFLOP/token"
    )
    batches = length_batches([int(c) for c in counts], config.batch_size, config.batch_tokens)
    per_matmul = max(1, round(float(np.mean([len(b) * max(counts[i] for i in b) for b in batches]))))
    print(
        f"project ({dtype_name(dtype)}, at most {config.batch_size} reviews and {config.batch_tokens:,} padded tokens "
        f"per forward; {len(batches)} forwards of {per_matmul:,} tokens on average): {project_rate:.1f} reviews/s, "
        f"{tokens / project_s:.0f} tokens/s"
    )
    print(
        f"today ({dtype_name(dtype)}, {config.batch_size} reviews per forward, no budget, the padding mask): "
        f"{len(texts) / today_s:.1f} "
        f"reviews/s, {tokens / today_s:.0f} tokens/s"
    )
    print(f"naive (float32, batch 1, on {baseline_n}): {naive_rate:.1f} reviews/s")
    for at in (per_matmul, 8192):
        peak = args.peak_gflops or forward_ceiling(model.config, at, dtype, 0.2, head=False)
        ceiling = peak / (gflop_per_token * tokens / len(texts))
        print(
            f"ceiling at {at:,} tokens per matmul{' (the project runs here)' if at == per_matmul else ''}: "
            f"{peak:.0f} GFLOP/s ({dtype_name(dtype)}, measured) -> {ceiling:.1f} reviews/s; project at "
            f"{project_rate / ceiling:.0%} of it"
        )
    print(f"vs_today: {today_s / project_s:.2f}")
    print(f"ratio: {project_rate / naive_rate:.2f}")


if __name__ == "__main__":
    main()
