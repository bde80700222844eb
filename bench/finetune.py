"""Fine-tuning throughput: the project's default speed path vs the float32 loop, same reviews and settings.

Paths (each runs `augment_assets.lib.finetune.finetune` in its own process, so peak memory
is per path, on the same pizza reviews: positive, a validation slice held back; same batch
size, max length, epochs and seed):
- `float32`: forward, backward and a per-tensor AdamW in float32 (`mixed_precision="off"`,
  `fused_optimizer=False`): the naive baseline, the loop before any speed lever.
- `today`: the default when the speed issue (#25) was filed: the project's path with the padding mask
  in attention, the vocabulary projection in chunks of 64 rows in training, and every step in one pass.
- `project`: the default (`FinetuneConfig()`): bfloat16 autocast with float32 master
  weights where the CPU or GPU computes bfloat16 natively, the fused AdamW kernel, right-padded
  batches without the padding mask (`model.causal_only`), the head in chunks of 256 rows, a step of
  more than `finetune.STEP_TOKENS` padded tokens in parts (`--max-length 512` shows it; at 192 each
  step is one pass).
Prints tokens/s, wall time, peak RSS and validation perplexity before/after for each (in the
precision each path trains in, as its report says, and of the saved model read in float32); the
speed claim holds only at equal validation perplexity (the `ppl_change` line, both read in float32).

Usage:
    python bench/finetune.py            # full: 96 reviews, 1 epoch, max_length 192
    python bench/finetune.py --quick    # < 2 min: 32 reviews, 1 epoch, max_length 128 (4 steps; with
                                        # the former 16 reviews at 96 tokens, 2 steps, it measured only 1.26x)
Ends with `vs_today: X` (project / today, tokens/s) and `ratio: X` (project / float32, tokens/s).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FALLBACK = [
    "The pizza was hot and the crust was crisp, with plenty of cheese and a bright tomato sauce.",
    "Great neighborhood spot. Friendly staff, fast delivery, and the pepperoni is the best in town.",
    "We ordered two large pies and garlic knots; everything arrived hot and tasted homemade.",
    "Thin crust done right. The margherita had fresh basil and the sauce was not too sweet.",
]


def reviews(n_train: int) -> tuple[list[str], list[str]]:
    csv = REPO.parent / "shared" / "data" / "yelp_pizza" / "pizza_reviews.csv"
    if csv.exists():
        import pandas as pd

        frame = pd.read_csv(csv)
        texts = frame[frame["stars"] >= 4]["text"].tolist()
        return texts[:n_train], texts[-16:]
    texts = (FALLBACK * (n_train // len(FALLBACK) + 1))[:n_train]
    return texts, FALLBACK


def _worker(levers: dict, base: str, n_train: int, max_length: int, epochs: float, queue) -> None:
    import torch

    levers = dict(levers)
    if levers.pop("today_path", False):  # the mask in attention, the head 64 rows at a time, a step in one pass
        from _today_paths import use_today_path

        use_today_path()  # for the rest of this worker process

    from augment_assets.lib.finetune import FinetuneConfig, finetune, perplexity, read_finetune_config
    from augment_assets.lib.model import load_model

    train, val = reviews(n_train)
    cfg = FinetuneConfig(**levers, epochs=epochs, max_length=max_length, batch_size=8, seed=0)
    with tempfile.TemporaryDirectory() as out:
        report = finetune(base, train, "positive", Path(out) / "model", cfg, validation_texts=val)
        # The report's perplexity is in the precision each path trains in; both saved models are also read in
        # float32, so `ppl_change` compares what training learned, not the precision it is read in.
        model, tokenizer = load_model(Path(out) / "model", "cpu", torch.float32)
        report["perplexity_after_float32"] = perplexity(
            model, tokenizer, val, "positive", read_finetune_config(Path(out) / "model")[0]
        )
    report.pop("losses")
    report["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)
    report["threads"] = torch.get_num_threads()
    queue.put(report)


def run(levers: dict, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(levers, *args, queue))
    proc.start()
    report = queue.get()
    proc.join()
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--model", default=None, help="BASE_MODEL value or folder (default: the embedded model)")
    ap.add_argument("--n-train", type=int)
    ap.add_argument("--max-length", type=int)
    ap.add_argument("--epochs", type=float, default=1.0)
    args = ap.parse_args()

    from augment_assets.lib.finetune import FinetuneConfig
    from augment_assets.lib.model import EMBEDDED_MODEL, resolve_base_model

    n_train = args.n_train or (32 if args.quick else 96)
    max_length = args.max_length or (128 if args.quick else 192)
    path, info = resolve_base_model(args.model or EMBEDDED_MODEL, REPO / "data" / "models")
    default = FinetuneConfig()
    print(
        f"model: {info['base_model']} | {n_train} reviews, max_length {max_length}, batch 8, "
        f"{args.epochs:g} epoch(s) | load avg {os.getloadavg()[0]:.1f}"
    )
    results = {}
    project = {"mixed_precision": default.mixed_precision, "fused_optimizer": default.fused_optimizer}
    paths = {
        "float32": {"mixed_precision": "off", "fused_optimizer": False},
        "today": {**project, "today_path": True},
        "project": project,
    }
    for label, levers in paths.items():
        t0 = time.perf_counter()
        r = run(levers, str(path), n_train, max_length, args.epochs)
        results[label] = r
        print(
            f"{label:>8}: {r['tokens_per_s']:.1f} tokens/s ({r['train_tokens']} tokens, train {r['train_s']:.1f} s, "
            f"process {time.perf_counter() - t0:.1f} s), autocast {r.get('autocast')}, peak RSS {r['peak_rss_gb']} GB, "
            f"val ppl {r['perplexity_before']:.2f} -> {r['perplexity_after']:.2f} ({r['perplexity_after_float32']:.2f} read in float32)"
        )
    print(
        json.dumps(
            {
                m: {
                    k: results[m][k]
                    for k in ("tokens_per_s", "train_s", "peak_rss_gb", "perplexity_after", "perplexity_after_float32")
                }
                for m in results
            }
        )
    )
    for other in ("float32", "today"):
        change = results["project"]["perplexity_after_float32"] / results[other]["perplexity_after_float32"] - 1
        print(
            f"ppl_change vs {other}: {change:+.2%} (validation perplexity after fine-tuning, both models read in "
            "float32)"
        )
    # A training step's matmuls run at its batch's tokens (8 reviews x their length, forward and backward); its
    # FLOPs are about 6 x parameters per token. Against the ceiling measured at that size, and at 8,192.
    import torch
    from transformers import AutoConfig

    from augment_assets.lib.ceiling import forward_ceiling
    from augment_assets.lib.model import dtype_name

    model_config = AutoConfig.from_pretrained(path)
    params = results["project"]["total_params"]
    steps = math.ceil(n_train / 8) * args.epochs
    per_matmul = round(results["project"]["train_tokens"] / steps)
    for label in results:
        dtype = torch.bfloat16 if results[label].get("autocast") == "bfloat16" else torch.float32
        gflops = 6 * params * results[label]["tokens_per_s"] / 1e9
        for at in (per_matmul, 8192):
            peak = forward_ceiling(model_config, at, dtype, 0.2)
            print(
                f"{label:>8}: {gflops:.0f} GFLOP/s of training; ceiling at {at:,} tokens per matmul"
                f"{' (a step of this run)' if at == per_matmul else ''}: {peak:.0f} GFLOP/s "
                f"({dtype_name(dtype)}, measured) -> {gflops / peak:.0%} of it"
            )
    print(f"load avg at end: {os.getloadavg()[0]:.1f}")
    print(f"naive: {results['float32']['tokens_per_s']:.1f} tokens/s")
    print(f"today: {results['today']['tokens_per_s']:.1f} tokens/s")
    print(f"project: {results['project']['tokens_per_s']:.1f} tokens/s")
    print(f"vs_today: {results['project']['tokens_per_s'] / results['today']['tokens_per_s']:.2f}")
    print(f"ratio: {results['project']['tokens_per_s'] / results['float32']['tokens_per_s']:.2f}")


if __name__ == "__main__":
    main()
