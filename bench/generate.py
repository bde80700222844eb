"""Generation throughput: the project's `generate_reviews` vs a naive one-prompt-at-a-time loop.

Both use the same model weights, the same prompts (4-word openings of real pizza reviews,
through the project's prompt table) and exactly the same output length
(min_new_tokens = max_new_tokens), so tokens/s compare like with like.

- project: `augment_assets.lib.generate.generate_reviews` (batched, left padding, KV cache,
  inference_mode, prompts sorted by length, dtype from `choose_device_dtype`: bfloat16 on CPU,
  tokens drawn by `augment_assets.lib.sampling.SamplingProcessor`: the same temperature/top-p
  distribution without sorting the 49k-token vocabulary each step).
- baseline: `model.generate` on one prompt at a time in float32 (what the study's loop did).

Usage:
    python bench/generate.py            # full: 64 reviews x 128 new tokens, batch 64
                                        # (baseline on the first 16 of those prompts; --baseline-n 64 for all)
    python bench/generate.py --quick    # < 2 min: 24 reviews x 48 new tokens, batch 24
The last line is `ratio: X` = project tokens/s / baseline tokens/s.
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

import torch  # noqa: E402

from augment_assets.lib.generate import GenerationConfig, generate_reviews  # noqa: E402
from augment_assets.lib.model import (  # noqa: E402
    EMBEDDED_MODEL,
    choose_device_dtype,
    dtype_name,
    load_model,
    resolve_base_model,
)
from augment_assets.lib.prompts import build_prompt_table, prompts_for_generation  # noqa: E402

FALLBACK_PROMPTS = [
    "The pizza was", "I ordered a large", "Best pizza in town", "We came here for", "This place is",
    "My husband and I", "I have been coming", "The crust was", "Delivery took over an", "Great little pizza place",
]


def load_prompts(n: int) -> list[str]:
    csv = REPO.parent / "shared" / "data" / "yelp_pizza" / "pizza_reviews.csv"
    if csv.exists():
        import pandas as pd

        frame = pd.read_csv(csv)
        table = build_prompt_table(frame["text"].tolist(), "positive", prefix_words=4, n_prefixes=max(n, 10))
        return prompts_for_generation(table)[:n]
    return (FALLBACK_PROMPTS * (n // len(FALLBACK_PROMPTS) + 1))[:n]


def load_avg() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run, < 2 minutes")
    ap.add_argument("--model", default=EMBEDDED_MODEL, help="BASE_MODEL value or a model folder")
    ap.add_argument("--models-dir", default=str(REPO / "data" / "models"))
    ap.add_argument("--n", type=int)
    ap.add_argument("--new-tokens", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--baseline-n", type=int, help="prompts the baseline runs (default: all n)")
    ap.add_argument("--project-dtype", choices=["auto", "bfloat16", "float32"], default="auto",
                    help="override the project's dtype (to measure the CPU dtype choice)")
    args = ap.parse_args()
    n = args.n or (24 if args.quick else 64)
    new_tokens = args.new_tokens or (48 if args.quick else 128)
    batch = args.batch_size or n
    # The baseline's per-token rate does not depend on how many prompts it runs (batch 1):
    # the full run times it on the first 16 of the same prompts to keep the run under ~10 min.
    baseline_n = min(n, args.baseline_n or (n if args.quick else 16))

    path, info = resolve_base_model(args.model, Path(args.models_dir))
    device, dtype = choose_device_dtype()
    if args.project_dtype != "auto":
        dtype = getattr(torch, args.project_dtype)
    prompts = load_prompts(n)
    print(f"model: {info['base_model']} ({info['source']}) | device {device} | torch threads {torch.get_num_threads()}"
          f" | load avg {load_avg()}")
    print(f"workload: {n} prompts, exactly {new_tokens} new tokens each (min_new_tokens = max_new_tokens), "
          f"temperature 0.9, top_p 0.95")

    # Warm-up, untimed: the first model load in a process pays for lazy imports and a cold file
    # cache (~2 s here); the project's timed run below still includes its own (warm) load.
    load_model(path, device, dtype)

    # ---- project path
    cfg = GenerationConfig(n=n, temperature=0.9, top_p=0.95, top_k=0, repetition_penalty=1.0,
                           max_new_tokens=new_tokens, min_new_tokens=new_tokens, batch_size=batch, seed=0)
    with tempfile.TemporaryDirectory() as chunks:
        t0 = time.perf_counter()
        out = generate_reviews(path, prompts, "positive", cfg, Path(chunks), "bench", device=device, dtype=dtype,
                               show_progress=False)
        project_s = time.perf_counter() - t0  # includes model load and chunk writes
    stats = out.attrs["stats"]
    project_tokens = stats["new_tokens"]
    assert project_tokens == n * new_tokens, (project_tokens, n * new_tokens)
    p_rev, p_tok = n / project_s, project_tokens / project_s
    print(f"project : {n} reviews, {project_tokens} tokens in {project_s:.1f} s (incl. load) -> "
          f"{p_rev:.2f} reviews/s, {p_tok:.1f} tokens/s [{dtype_name(dtype)}, batch {stats['batch_size']}]")

    # ---- naive baseline: one prompt at a time, float32
    model, tok = load_model(path, device, torch.float32)
    torch.manual_seed(0)
    base_tokens = 0
    t0 = time.perf_counter()
    with torch.no_grad():
        for prompt in prompts[:baseline_n]:
            enc = tok(prompt, return_tensors="pt").to(device)
            gen = model.generate(**enc, do_sample=True, temperature=0.9, top_p=0.95, top_k=0,
                                 max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=tok.pad_token_id)
            base_tokens += gen.shape[1] - enc["input_ids"].shape[1]
    base_s = time.perf_counter() - t0
    assert base_tokens == baseline_n * new_tokens
    b_rev, b_tok = baseline_n / base_s, base_tokens / base_s
    print(f"baseline: {baseline_n} reviews, {base_tokens} tokens in {base_s:.1f} s -> "
          f"{b_rev:.2f} reviews/s, {b_tok:.1f} tokens/s [float32, batch 1]")
    print(f"load avg at end: {load_avg()}")
    print(f"reviews/s ratio {p_rev / b_rev:.2f}; tokens/s ratio (project / baseline):")
    print(f"ratio: {p_tok / b_tok:.2f}")


if __name__ == "__main__":
    main()
