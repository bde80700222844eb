"""Speed of the generative classifier (the generator pair scoring reviews): naive loop vs the project, next to the ceiling.

Both paths score the same reviews (real pizza reviews from the shared CSV, in file order,
else a few fixed ones) with the same two generators: the demo's fine-tuned pair of data
size `all` when data/warehouse.duckdb has one, else the embedded base model behind each
sentiment's fine-tuning prefix (the speed is the same: same architecture and tokens).

- naive: one review at a time, float32, one model after the other (what a first loop does),
  on the first --baseline-n reviews (its per-review time does not depend on how many).
- project: `generative.review_log_likelihoods` as the evaluation runs it: the generation
  dtype of `model.choose_device_dtype` (bfloat16 on a CPU with native bfloat16), reviews
  sorted by length in batches of `ScoringConfig.batch_size`, right-padded rows without the
  padding mask (`model.causal_only`).
- today: the project's path with the padding mask in attention (the path when #25 was filed),
  timed alternately with the project's.
Model loads are not timed (both load once). A review is two forward passes (one per
generator), so reviews/s = reviews / (seconds of both models).

Ceiling: a forward pass costs about 2 x parameters FLOP per token (0.27 GFLOP for
SmolLM2-135M, the lm_head included: it is the tied embedding). The ceiling is measured, not
assumed (`lib/ceiling.forward_ceiling`, `bench/ceiling.py`): the GFLOP/s of the model's own linear
layers at the tokens per matmul the project runs at (a batch's reviews x their tokens), and at
8,192 tokens per matmul (what larger batches could reach); `--peak-gflops` fixes it instead.
Agreement: the margins (negative minus positive mean log-likelihood) of both paths on the
naive path's reviews, so a speed-up is not bought with other answers. Then the cached path:
the same reviews again through `generator_log_likelihoods` (scored once, read after).

Usage:
    python bench/generative.py           # full: 256 reviews (naive on 32), ~5 min on 2 cores
    python bench/generative.py --quick   # < 2 min: 64 reviews (naive on 8)
Ends with `vs_today: X` (project / today) and `ratio: X` (project / naive, reviews per second).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from _today_paths import today_path  # noqa: E402 - bench/_today_paths.py

from augment_assets.lib.ceiling import forward_ceiling  # noqa: E402
from augment_assets.lib.finetune import FinetuneConfig, read_finetune_config  # noqa: E402
from augment_assets.lib.generative import ScoringConfig, generator_log_likelihoods, review_log_likelihoods  # noqa: E402
from augment_assets.lib.model import EMBEDDED_MODEL, choose_device_dtype, dtype_name, load_model, resolve_base_model  # noqa: E402
from augment_assets.lib.reviews import SENTIMENTS  # noqa: E402

CSV = REPO.parent / "shared" / "data" / "yelp_pizza" / "pizza_reviews.csv"
WAREHOUSE = REPO / "data" / "warehouse.duckdb"
FALLBACK = [
    "The pizza was hot and the crust was perfect, we will be back.",
    "Best pizza in town, friendly staff and fast delivery every time.",
    "The pizza was cold and the delivery took over an hour, never again.",
    "Rude staff, soggy crust and the wrong order twice this month.",
]


def reviews(n: int) -> list[str]:
    if not CSV.exists():
        return (FALLBACK * (n // len(FALLBACK) + 1))[:n]
    frame = pd.read_csv(CSV)
    return frame.loc[frame["stars"] != 3, "text"].astype(str).head(n).tolist()


def generator_pair(models_dir: Path) -> tuple[dict[str, Path], str]:
    """{sentiment: model folder} of the demo's pair at data size all, else the embedded base model for both."""
    if WAREHOUSE.exists():
        import duckdb

        try:
            with duckdb.connect(str(WAREHOUSE), read_only=True) as con:
                rows = con.execute(
                    "SELECT sentiment, path FROM sentiment_generator WHERE data_size = 'all' AND repeat = 1"
                ).fetchall()
            pair = {s: REPO / p for s, p in rows if (REPO / p).exists()}
            if set(pair) == set(SENTIMENTS):
                return pair, "the demo's fine-tuned pair (data size all, repeat 1)"
        except duckdb.Error:
            pass
    path, _ = resolve_base_model(EMBEDDED_MODEL, models_dir)
    return {s: Path(path) for s in SENTIMENTS}, "the embedded base model behind each sentiment's prefix"


def load_avg() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def score(models: dict, texts: list[str], config: ScoringConfig, one_at_a_time: bool) -> tuple[np.ndarray, float, int]:
    """(margins, seconds of both models, review tokens scored by both)."""
    out, seconds, tokens = {}, 0.0, 0
    for sentiment, (model, tokenizer, finetune_config) in models.items():
        started = time.perf_counter()
        if one_at_a_time:
            parts = [review_log_likelihoods(model, tokenizer, [t], sentiment, finetune_config, config) for t in texts]
            means, counts = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        else:
            means, counts = review_log_likelihoods(model, tokenizer, texts, sentiment, finetune_config, config)
        seconds += time.perf_counter() - started
        tokens += int(counts.sum())
        out[sentiment] = means
    return out[SENTIMENTS[0]] - out[SENTIMENTS[1]], seconds, tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run, < 2 minutes")
    ap.add_argument("--n", type=int, help="reviews the project scores")
    ap.add_argument("--baseline-n", type=int, help="reviews the naive loop scores")
    ap.add_argument("--batch-size", type=int, default=ScoringConfig().batch_size)
    ap.add_argument("--max-review-tokens", type=int, default=ScoringConfig().max_review_tokens)
    ap.add_argument("--peak-gflops", type=float, default=None, help="a fixed ceiling (default: measured here)")
    ap.add_argument("--models-dir", default=str(REPO / "data" / "models"))
    args = ap.parse_args()
    started = time.perf_counter()
    n = args.n or (64 if args.quick else 256)
    baseline_n = min(n, args.baseline_n or (8 if args.quick else 32))
    texts = reviews(n)
    paths, which = generator_pair(Path(args.models_dir))
    device, dtype = choose_device_dtype()
    config = ScoringConfig(max_review_tokens=args.max_review_tokens, batch_size=args.batch_size)
    naive_config = ScoringConfig(max_review_tokens=args.max_review_tokens, batch_size=1)

    def load(load_dtype):
        models = {}
        for sentiment, path in paths.items():
            model, tokenizer = load_model(path, device, load_dtype)
            finetune_config = read_finetune_config(path)[0] or FinetuneConfig()
            models[sentiment] = (model, tokenizer, finetune_config)
        return models

    project_models, naive_models = load(dtype), load(torch.float32)
    flop_per_token = 2 * sum(p.numel() for p in project_models[SENTIMENTS[0]][0].parameters())
    print(f"generators: {which} | device {device} | torch threads {torch.get_num_threads()} | load avg {load_avg()}")
    # warm-up, untimed: the first forward pass of a process pays for kernel selection
    score(project_models, texts[:2], config, False)
    score(naive_models, texts[:1], naive_config, True)

    naive_margins, naive_s, naive_tokens = score(naive_models, texts[:baseline_n], naive_config, True)
    today_times, project_times = [], []
    for _ in range(1 if args.quick else 2):  # alternately: a slowdown of the shared CPU hits both
        with today_path():
            today_times.append(score(project_models, texts, config, False)[1])
        project_margins, project_s, project_tokens = score(project_models, texts, config, False)
        project_times.append(project_s)
    today_s, project_s = min(today_times), min(project_times)
    tokens_per_review = project_tokens / 2 / len(texts)  # review tokens per review, per model
    print(
        f"workload: {len(texts)} reviews, {tokens_per_review:.0f} review tokens each on average (at most "
        f"{config.max_review_tokens}), {flop_per_token / 1e9:.2f} GFLOP per token per model"
    )
    naive_rate, project_rate = baseline_n / naive_s, len(texts) / project_s
    print(
        f"naive  : float32, batch 1, one review at a time: {baseline_n} reviews in {naive_s:.1f} s -> "
        f"{naive_rate:.2f} reviews/s ({naive_tokens / naive_s:.0f} tokens/s)"
    )
    print(
        f"today  : the same batches with the padding mask in attention (the path when #25 was filed): "
        f"{len(texts) / today_s:.2f} reviews/s"
    )
    gflops = project_tokens * flop_per_token / project_s / 1e9
    print(
        f"project: {dtype_name(dtype)}, length-sorted batches of {config.batch_size}: {len(texts)} reviews in "
        f"{project_s:.1f} s -> {project_rate:.2f} reviews/s ({project_tokens / project_s:.0f} tokens/s, {gflops:.0f} GFLOP/s)"
    )
    per_matmul = max(1, round(config.batch_size * tokens_per_review))
    model_config = project_models[SENTIMENTS[0]][0].config
    for at in (per_matmul, 8192):
        peak = args.peak_gflops or forward_ceiling(model_config, at, dtype, 0.2)
        ceiling = peak * 1e9 / (2 * flop_per_token * tokens_per_review)
        print(
            f"ceiling at {at:,} tokens per matmul{' (the project runs here)' if at == per_matmul else ''}: "
            f"{peak:.0f} GFLOP/s ({dtype_name(dtype)}, measured) -> {ceiling:.2f} reviews/s; the project runs at "
            f"{project_rate / ceiling:.0%} of it (review tokens only: the prefix's and padding's compute is on top)"
        )
    diff = project_margins[:baseline_n] - naive_margins
    same = np.mean(np.sign(project_margins[:baseline_n]) == np.sign(naive_margins))
    print(
        f"agreement on the {baseline_n} common reviews: max |margin difference| {np.abs(diff).max():.4f} "
        f"(margins' spread {np.std(project_margins):.4f}), same sign {same:.0%}"
    )
    with tempfile.TemporaryDirectory() as cache:
        path = paths[SENTIMENTS[0]]
        generator_log_likelihoods(path, "bench", SENTIMENTS[0], texts, cache, device, dtype, config)
        t0 = time.perf_counter()
        generator_log_likelihoods(path, "bench", SENTIMENTS[0], texts, cache, device, dtype, config)
        cached_s = time.perf_counter() - t0
    print(
        f"cached : the same reviews again, from the score cache: {len(texts) / (2 * cached_s):.0f} reviews/s (two "
        f"generators' reads); {time.perf_counter() - started:.0f} s in all; load avg at end {load_avg()}"
    )
    print(f"vs_today: {today_s / project_s:.2f}")
    print(f"ratio: {project_rate / naive_rate:.2f}")


if __name__ == "__main__":
    main()
