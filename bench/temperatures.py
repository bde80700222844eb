"""A generator's synthetic partitions: one decode per temperature vs its temperatures in one batch.

A generator makes one synthetic partition per temperature (0.7, 0.9, 1.1). Before, each partition was
its own run with its own decode: at the demo's `n` of 32 a decode batch held 32 rows, while a decode
step's large fixed cost (reading every weight, the vocabulary projection, per-layer dispatch) is the
same at 96 rows. `augment-assets materialize` now runs a generator's temperatures as one run, and
`generate_kept_together` decodes them in one continuous batch, each row at its own temperature from its
own seed.

- baseline: `generate_kept` once per temperature, one after another (a partition per run, as before).
- project: `generate_kept_together` over the three temperatures (what a run of the range does).

Both keep `n` reviews per temperature through the project's quality filters
(`synthetic_quality.filter_synthetic`), drawing further slots where the filters drop some, with the
same model (the bench generator of bench/generate.py: fine-tuned from the embedded model on real
positive reviews, cached), the same prompts and the project's sampling defaults (top_p 0.95,
repetition penalty 1.1, the generator's training length as the token cap, batch 128). The model is
loaded once, untimed, and handed to both; each path writes its chunks to a fresh folder. They run
alternately --repeats times and each keeps its fastest run (the CPU is shared).

Printed: seconds and kept reviews per second of each path at each `n`, and the share of reviews whose text
is the same on both paths. In bfloat16 on these cores that share is small: a matmul's rounding depends on
the batch's shape, and one changed draw changes the rest of a review. One temperature alone at 16 rows
against the same slots among 48 rows gave 0 of 16 equal texts (2026-12-07), so this is the batch's size, not
the mixed temperatures. With the tiny float32 model of test_generation.py the rows are identical.

Usage:
    python bench/temperatures.py            # n 32 (the demo's) and 100 (configs/real_run.yaml's), 2 repeats
    python bench/temperatures.py --quick    # < 2 min: n 16, one run each
The last line is `ratio: X` (baseline seconds / project seconds at the first n).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import torch  # noqa: E402
from generate import bench_generator, load_avg, load_prompts, real_reviews  # noqa: E402

from augment_assets.lib.generate import GenerationConfig  # noqa: E402
from augment_assets.lib.generate_kept import generate_kept, generate_kept_together  # noqa: E402
from augment_assets.lib.model import EMBEDDED_MODEL, choose_device_dtype, load_model, resolve_base_model  # noqa: E402
from augment_assets.lib.synthetic_quality import filter_synthetic  # noqa: E402

SENTIMENT = "positive"
TEMPERATURES = (0.7, 0.9, 1.1)


def one_per_temperature(path, prompts, configs, chunks: Path, **kwargs) -> list:
    return [generate_kept(path, prompts, SENTIMENT, c, chunks, "bench", filter_synthetic, **kwargs) for c in configs]


def together(path, prompts, configs, chunks: Path, **kwargs) -> list:
    return generate_kept_together(path, prompts, SENTIMENT, configs, chunks, "bench", filter_synthetic, **kwargs)


def timed(path_fn, path, prompts, configs, model, device, dtype) -> tuple[list, float]:
    """`path_fn`'s kept reviews and its seconds, chunks in a fresh folder, the loaded model handed over."""
    with tempfile.TemporaryDirectory() as chunks:
        t0 = time.perf_counter()
        made = path_fn(
            path,
            prompts,
            configs,
            Path(chunks),
            device=device,
            dtype=dtype,
            show_progress=False,
            model_and_tokenizer=model,
        )
        return made, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run, < 2 minutes")
    ap.add_argument("--model", default=EMBEDDED_MODEL, help="BASE_MODEL value or a model folder")
    ap.add_argument("--models-dir", default=str(REPO / "data" / "models"))
    ap.add_argument("--n", default=None, help="reviews kept per temperature, comma-separated (default 32,100)")
    ap.add_argument("--repeats", type=int, help="runs of each path (fastest kept)")
    ap.add_argument("--finetune-n", type=int, default=64, help="reviews the bench generator is fine-tuned on")
    args = ap.parse_args()
    started = time.perf_counter()
    sizes = [int(n) for n in (args.n or ("16" if args.quick else "32,100")).split(",")]
    repeats = args.repeats or (1 if args.quick else 2)
    base, info = resolve_base_model(args.model, Path(args.models_dir))
    device, dtype = choose_device_dtype()
    texts, sentiments = real_reviews()
    path = bench_generator(base, texts, sentiments, args.finetune_n, Path(args.models_dir))
    prompts = load_prompts(texts, sentiments, 128)
    model = load_model(path, device, dtype)
    print(
        f"model: generator fine-tuned from {info['base_model']} on {args.finetune_n} {SENTIMENT} reviews | "
        f"device {device} {dtype} | torch threads {torch.get_num_threads()} | load avg {load_avg()}"
    )
    ratios = []
    for n in sizes:
        configs = [GenerationConfig(n=n, temperature=t, seed=0) for t in TEMPERATURES]
        best = {"baseline": float("inf"), "project": float("inf")}
        made = {}
        for _ in range(repeats):
            for name, run in (("baseline", one_per_temperature), ("project", together)):
                made[name], seconds = timed(run, path, prompts, configs, model, device, dtype)
                best[name] = min(best[name], seconds)
        kept = {name: sum(len(m.kept) for m in made[name]) for name in made}
        same = sum(
            len(set(a.kept["text"]) & set(b.kept["text"])) for a, b in zip(made["baseline"], made["project"])
        ) / max(1, kept["project"])
        print(
            f"n {n} per temperature, T {', '.join(map(str, TEMPERATURES))}: "
            f"baseline (a decode per temperature) {best['baseline']:.1f} s, {kept['baseline'] / best['baseline']:.2f} "
            f"kept reviews/s | project (one batch of {sum(m.attempted for m in made['project'])} slots) "
            f"{best['project']:.1f} s, {kept['project'] / best['project']:.2f} kept reviews/s | "
            f"same text on both paths: {same:.0%} | ratio {best['baseline'] / best['project']:.2f}",
            flush=True,
        )
        ratios.append(best["baseline"] / best["project"])
    print(f"load avg at end: {load_avg()}; {time.perf_counter() - started:.0f} s")
    print(f"ratio: {ratios[0]:.2f}")


if __name__ == "__main__":
    main()
