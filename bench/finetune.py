"""Fine-tuning throughput: full fine-tuning vs LoRA on the same reviews, same settings.

Each method runs `augment_assets.lib.finetune.finetune` in its own process (so peak memory
is measured per method) on the same pizza reviews (positive, validation slice held back),
same batch size, max length, epochs and seed. Prints tokens/s, wall time, peak RSS,
trainable parameters and validation perplexity before/after for both.

Usage:
    python bench/finetune.py            # full: 96 reviews, 1 epoch, max_length 192
    python bench/finetune.py --quick    # < 2 min: 16 reviews, 1 epoch, max_length 96
The last line is `ratio: X` = tokens/s of the project default method / the other method.
"""

from __future__ import annotations

import argparse
import json
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


def _worker(method: str, base: str, n_train: int, max_length: int, epochs: float, queue) -> None:
    import torch

    from augment_assets.lib.finetune import FinetuneConfig, finetune

    train, val = reviews(n_train)
    cfg = FinetuneConfig(method=method, epochs=epochs, max_length=max_length, batch_size=8, seed=0)
    with tempfile.TemporaryDirectory() as out:
        report = finetune(base, train, "positive", Path(out) / "model", cfg, validation_texts=val)
    report.pop("losses")
    report["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)
    report["threads"] = torch.get_num_threads()
    queue.put(report)


def run(method: str, *args) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(method, *args, queue))
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

    n_train = args.n_train or (16 if args.quick else 96)
    max_length = args.max_length or (96 if args.quick else 192)
    path, info = resolve_base_model(args.model or EMBEDDED_MODEL, REPO / "data" / "models")
    default = FinetuneConfig().method
    other = "lora" if default == "full" else "full"
    print(f"model: {info['base_model']} | {n_train} reviews, max_length {max_length}, batch 8, "
          f"{args.epochs:g} epoch(s) | load avg {os.getloadavg()[0]:.1f}")
    results = {}
    for method in (default, other):
        t0 = time.perf_counter()
        r = run(method, str(path), n_train, max_length, args.epochs)
        results[method] = r
        lr = r["learning_rate"]
        print(f"{method:>4}: {r['tokens_per_s']:.1f} tokens/s ({r['train_tokens']} tokens, train {r['train_s']:.1f} s, "
              f"process {time.perf_counter() - t0:.1f} s), peak RSS {r['peak_rss_gb']} GB, "
              f"trainable {r['trainable_params']:,} of {r['total_params']:,}, lr {lr:g}, "
              f"val ppl {r['perplexity_before']:.2f} -> {r['perplexity_after']:.2f}")
    print(json.dumps({m: {k: results[m][k] for k in ("tokens_per_s", "train_s", "peak_rss_gb")} for m in results}))
    print(f"load avg at end: {os.getloadavg()[0]:.1f}")
    print(f"ratio = tokens/s of the project default ({default}) / {other}")
    print(f"ratio: {results[default]['tokens_per_s'] / results[other]['tokens_per_s']:.2f}")


if __name__ == "__main__":
    main()
