"""Generation speed in kept reviews per hour: naive loop vs today's path vs the project's default.

All three run the same model, the same prompts
(4-word openings of real positive pizza reviews, through the project's prompt table; the
review slots' prompts are the ones `generate_reviews` assigns) and the same sampling settings
(temperature 0.9, top_p 0.95, repetition penalty 1.1, at most 128 new tokens, end-of-text
enabled: a review stops where the model ends it). Every output goes through the project's
own post-processing and `synthetic_quality.filter_synthetic`; only kept reviews count.

The model is what a partition is generated from: a generator fine-tuned on real positive
reviews by the project's own `finetune` (default settings, --finetune-n reviews; cached in
data/models/bench-generator-<key>, so only the first run pays for it: ~1 min for 64 reviews). A fine-tuned
generator has learnt where reviews end and ends most of them before the token cap; the base
model ends about a third, which hides what a static batch wastes (--generator base runs the
base model instead, --generator DIR any model folder).

- naive: `model.generate(do_sample=True)` on one prompt at a time in float32 (the study's loop),
  on the first --baseline-n review slots (its per-review time does not depend on how many
  it runs). Its model load is not timed.
- today: `generate_reviews` with ``decoder="static"`` at batch 32 (static batches through
  `model.generate`, the project's dtype, `SamplingProcessor`): the project's code with the
  new levers off, at its former default batch.
- project: `generate_reviews` with the defaults (continuous batching, batch 128).
Both project paths are timed from the call, model load and chunk writes included; they run
alternately --repeats times and each keeps its fastest run (the CPU is shared: a run that
something else slowed down is not the code's speed). --control adds today's static decoder
at the project's batch, to show what a bigger batch alone would give.

Printed per path: kept reviews per hour and useful tokens/s (generated tokens of the kept
reviews / wall seconds), then the quality of today's and the project's kept reviews side by
side (label fidelity by a TF-IDF + NB judge fit on the real reviews, perplexity under the
float32 model, distinct-2, ...). Small samples: label fidelity is about +-0.04 (one
standard error) at 128 reviews.

Usage:
    python bench/generate.py            # full: 128 review slots (naive on 12), ~5 min
    python bench/generate.py --quick    # < 2 min: 64 review slots (naive on 2), one run each
(--quick keeps 64 slots, two of today's batches: with one batch both paths wait for its
longest row, and continuous batching has nothing to refill.)
The last two lines are `vs_today: X` (project / today, kept reviews per hour) and
`ratio: X` (project / naive, kept reviews per hour).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from augment_assets.lib.ceiling import forward_ceiling  # noqa: E402
from augment_assets.lib.finetune import (  # noqa: E402
    FinetuneConfig,
    finetune,
    generation_prefix,
    join_prefix,
    perplexity,
    read_finetune_config,
)
from augment_assets.lib.generate import (  # noqa: E402
    GenerationConfig,
    generate_reviews,
    prompt_indices,
    synthetic_id,
    trim_to_sentence,
)
from augment_assets.lib.model import (  # noqa: E402
    EMBEDDED_MODEL,
    choose_device_dtype,
    dtype_name,
    load_model,
    resolve_base_model,
)
from augment_assets.lib.prompts import build_prompt_table, prompts_for_generation  # noqa: E402
from augment_assets.lib.synthetic_quality import filter_synthetic, judge_pipeline, quality_report  # noqa: E402

SENTIMENT = "positive"
TODAY_BATCH = 32  # GenerationConfig's batch_size default before continuous batching
CSV = REPO.parent / "shared" / "data" / "yelp_pizza" / "pizza_reviews.csv"
FALLBACK_REVIEWS = [
    ("The pizza was hot and the crust was perfect, we will be back.", "positive"),
    ("Best pizza in town, friendly staff and fast delivery every time.", "positive"),
    ("The pizza was cold and the delivery took over an hour, never again.", "negative"),
    ("Rude staff, soggy crust and the wrong order twice this month.", "negative"),
]


def real_reviews() -> tuple[list[str], list[str]]:
    """(texts, sentiments) of the labelled pizza reviews (stars 1-2 negative, 4-5 positive)."""
    if not CSV.exists():
        return [t for t, _ in FALLBACK_REVIEWS], [s for _, s in FALLBACK_REVIEWS]
    frame = pd.read_csv(CSV)
    frame = frame[frame["stars"] != 3]
    return frame["text"].tolist(), ["negative" if s <= 2 else "positive" for s in frame["stars"]]


def load_prompts(texts: list[str], sentiments: list[str], n: int) -> list[str]:
    own = [t for t, s in zip(texts, sentiments) if s == SENTIMENT]
    table = build_prompt_table(own, SENTIMENT, prefix_words=4, n_prefixes=max(n, 10))
    return prompts_for_generation(table)[:n]


def bench_generator(base, texts: list[str], sentiments: list[str], n: int, models_dir: Path) -> Path:
    """A generator fine-tuned with the project's defaults on the first `n` real reviews of
    SENTIMENT, cached by (base model, settings, reviews) so that reruns reuse it."""
    import hashlib
    import json

    own = [t for t, s in zip(texts, sentiments) if s == SENTIMENT][:n]
    config = FinetuneConfig()
    key = hashlib.sha1(json.dumps([str(base), config.to_dict(), own]).encode()).hexdigest()[:12]
    out = models_dir / f"bench-generator-{key}"
    if (out / "config.json").exists():
        return out
    t0 = time.perf_counter()
    report = finetune(base, own, SENTIMENT, out, config)
    print(
        f"fine-tuned the bench generator on {len(own)} {SENTIMENT} reviews in {time.perf_counter() - t0:.0f} s "
        f"({report['tokens_per_s']} tokens/s) -> {out}",
        flush=True,
    )
    return out


def load_avg() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def naive(path, prompts: list[str], cfg: GenerationConfig, n: int, device: str):
    """One prompt at a time through `model.generate` in float32.

    -> (frame like generate_reviews', seconds, new tokens, reviews ended by end-of-text)."""
    model, tok = load_model(path, device, torch.float32)
    prefix = generation_prefix(SENTIMENT, read_finetune_config(path)[0], tok)
    pidx = prompt_indices(n, len(prompts), cfg.seed)
    torch.manual_seed(cfg.seed)
    rows, new_tokens, ended = [], 0, 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(n):
            p = prompts[pidx[i]]
            enc = tok(join_prefix(prefix, p), return_tensors="pt", add_special_tokens=False).to(device)
            out = model.generate(
                **enc,
                do_sample=True,
                temperature=cfg.temperature,
                top_p=cfg.top_p,
                top_k=0,
                repetition_penalty=cfg.repetition_penalty,
                max_new_tokens=cfg.max_new_tokens,
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
            )
            new = out[0, enc["input_ids"].shape[1] :].tolist()
            finished = tok.eos_token_id in new
            ended += int(finished)
            new = new[: new.index(tok.eos_token_id)] if finished else new
            new_tokens += len(new)
            text = (p + tok.decode(new, skip_special_tokens=True)).strip()
            text = text if finished else trim_to_sentence(text)
            rows.append(
                {
                    "synthetic_id": synthetic_id("naive", SENTIMENT, cfg.temperature, cfg.seed, i),
                    "prompt": p,
                    "text": " ".join(text.split()),
                }
            )
    return pd.DataFrame(rows), time.perf_counter() - t0, new_tokens, ended


def project(path, prompts, cfg: GenerationConfig, device, dtype) -> tuple[pd.DataFrame, float, dict]:
    with tempfile.TemporaryDirectory() as chunks:
        t0 = time.perf_counter()
        out = generate_reviews(
            path, prompts, SENTIMENT, cfg, Path(chunks), "bench", device=device, dtype=dtype, show_progress=False
        )
        seconds = time.perf_counter() - t0  # includes model load and chunk writes
    return out, seconds, out.attrs["stats"]


def speed(name: str, frame: pd.DataFrame, seconds: float, new_tokens: int, tok, note: str) -> dict:
    kept, _ = filter_synthetic(frame)
    ntok = lambda s: len(tok(s, add_special_tokens=False)["input_ids"])  # noqa: E731
    # generated tokens that survive in the kept reviews (the prompt's words were not generated)
    useful = sum(max(0, ntok(t) - ntok(p)) for t, p in zip(kept["text"], kept["prompt"]))
    r = {
        "name": name,
        "kept": kept,
        "kept_per_h": len(kept) / seconds * 3600,
        "useful_tok_s": useful / seconds,
        "tok_s": new_tokens / seconds,
    }
    print(
        f"{name:8s}: {len(frame)} reviews, {len(kept)} kept, {new_tokens} new tokens in {seconds:.1f} s -> "
        f"{r['kept_per_h']:.0f} kept reviews/h, {r['useful_tok_s']:.1f} useful tokens/s, "
        f"{new_tokens / seconds:.1f} tokens/s [{note}]",
        flush=True,
    )
    return r


def quality_table(results: list[dict], train_texts, train_sentiments, float_model, ppl_n: int | None) -> None:
    """Quality of each path's kept reviews side by side; perplexity (float32: ~0.25 s a review on
    2 cores) over the first `ppl_n` kept reviews (None: all)."""
    model, tok = float_model
    judge = judge_pipeline().fit(list(train_texts), list(train_sentiments))
    cols = {}
    for r in results:
        texts = r["kept"]["text"].tolist()
        q = quality_report(texts, SENTIMENT, train_texts, train_sentiments, _clf=judge) if texts else {}
        scored = texts[:ppl_n] if ppl_n else texts
        q["perplexity_fp32"] = (
            round(perplexity(model, tok, scored, SENTIMENT, FinetuneConfig(prompt_format="none")), 2)
            if scored
            else float("nan")
        )
        cols[r["name"]] = q
    keys = [
        "n",
        "label_fidelity",
        "perplexity_fp32",
        "distinct_2",
        "distinct_1",
        "on_topic",
        "copy_rate_8",
        "mean_words",
    ]
    print(
        "quality of kept reviews: "
        + " | ".join(cols)
        + (f" (perplexity over the first {ppl_n} of each)" if ppl_n else "")
    )
    for k in keys:
        print(f"  {k:16s} " + " | ".join(f"{cols[name].get(k, float('nan')):>8}" for name in cols))


def run_paths(
    path, prompts, cfg: GenerationConfig, today_batch: int, repeats: int, control: bool, device, dtype, tok
) -> tuple[dict, dict]:
    """today's path and the project's, alternated `repeats` times; each keeps its fastest run (the
    least disturbed by whatever else shares the CPU). Also the static decoder at the project's batch."""
    today_cfg = dataclasses.replace(cfg, decoder="static", batch_size=today_batch)
    best: dict[str, tuple] = {}
    for _ in range(repeats):
        for name, c in (("today", today_cfg), ("project", cfg)):
            frame, secs, st = project(path, prompts, c, device, dtype)
            if name not in best or secs < best[name][1]:
                best[name] = (frame, secs, st)
    results = {}
    for name, (frame, secs, st) in best.items():
        results[name] = speed(
            name,
            frame,
            secs,
            st["new_tokens"],
            tok,
            f"{dtype_name(dtype)}, {st['decoder']} batch {st['batch_size']}, "
            f"{st['finished_eos']} ended by end-of-text, best of {repeats}",
        )
    if control:  # how much of the gain a bigger static batch alone would give
        frame, secs, st = project(path, prompts, dataclasses.replace(cfg, decoder="static"), device, dtype)
        speed(
            "static@B",
            frame,
            secs,
            st["new_tokens"],
            tok,
            f"control: today's static decoder at the "
            f"project's batch {st['batch_size']}, {st['finished_eos']} ended by end-of-text",
        )
    return results["today"], results["project"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small run, < 2 minutes")
    ap.add_argument("--model", default=EMBEDDED_MODEL, help="BASE_MODEL value or a model folder")
    ap.add_argument("--models-dir", default=str(REPO / "data" / "models"))
    ap.add_argument(
        "--generator",
        default="finetuned",
        help="'finetuned' (default: fine-tune and cache a generator from --model), 'base' (the "
        "base model itself) or a model folder",
    )
    ap.add_argument(
        "--finetune-n",
        type=int,
        help="real reviews the bench generator is fine-tuned on (64; --quick 32, so that a first run "
        "with no cached generator stays under 2 minutes)",
    )
    ap.add_argument("--n", type=int, help="review slots for today's path and the project")
    ap.add_argument("--baseline-n", type=int, help="review slots the naive loop runs")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=GenerationConfig.batch_size, help="the project's batch")
    ap.add_argument("--today-batch", type=int, default=TODAY_BATCH, help="today's path's batch (its default)")
    ap.add_argument("--temperature", type=float, default=0.9)
    ap.add_argument("--repeats", type=int, help="runs of today's path and the project (fastest kept)")
    ap.add_argument(
        "--control",
        action="store_true",
        help="also run today's static decoder at the project's batch size (what the batch alone gives)",
    )
    args = ap.parse_args()
    started = time.perf_counter()
    n = args.n or (64 if args.quick else 128)
    baseline_n = min(n, args.baseline_n or (2 if args.quick else 12))
    repeats = args.repeats or (1 if args.quick else 2)
    finetune_n = args.finetune_n or (32 if args.quick else 64)

    base, info = resolve_base_model(args.model, Path(args.models_dir))
    device, dtype = choose_device_dtype()
    texts, sentiments = real_reviews()
    if args.generator == "finetuned":
        path, model_name = (
            bench_generator(base, texts, sentiments, finetune_n, Path(args.models_dir)),
            f"generator fine-tuned from {info['base_model']} ({info['source']}) on {finetune_n} {SENTIMENT} reviews",
        )
    elif args.generator == "base":
        path, model_name = base, f"{info['base_model']} ({info['source']}), not fine-tuned"
    else:
        path, model_name = Path(args.generator), args.generator
    prompts = load_prompts(texts, sentiments, n)
    cfg = GenerationConfig(
        n=n,
        temperature=args.temperature,
        top_p=0.95,
        top_k=0,
        repetition_penalty=1.1,
        max_new_tokens=args.max_new_tokens,
        min_new_tokens=0,
        batch_size=args.batch_size,
        seed=0,
    )
    print(f"model: {model_name} | device {device} | torch threads {torch.get_num_threads()} | load avg {load_avg()}")
    print(
        f"workload: {n} review slots ({len(prompts)} real prompts), at most {cfg.max_new_tokens} new tokens, "
        f"end-of-text on, T {cfg.temperature}, top_p {cfg.top_p}, repetition penalty {cfg.repetition_penalty}"
    )

    # Warm-up, untimed: the first model load in a process pays for lazy imports and a cold file
    # cache; the timed project runs below still include their own (warm) load.
    float_model = load_model(path, device, torch.float32)
    tok = float_model[1]

    frame, secs, new, ended = naive(path, prompts, cfg, baseline_n, device)
    base = speed("naive", frame, secs, new, tok, f"float32, batch 1, load not timed, {ended} ended by end-of-text")
    today, proj = run_paths(path, prompts, cfg, args.today_batch, repeats, args.control, device, dtype, tok)
    print(f"load avg at end: {load_avg()}; {time.perf_counter() - started:.0f} s so far")
    quality_table([today, proj], texts, sentiments, float_model, 32 if args.quick else None)
    print(
        f"useful tokens/s: project / today {proj['useful_tok_s'] / today['useful_tok_s']:.2f}, "
        f"project / naive {proj['useful_tok_s'] / base['useful_tok_s']:.2f}"
    )
    # Decoding multiplies each step's live rows (at most the batch) by every weight: its tokens per matmul are the
    # batch's live rows, far below what the matrix units need (bench/ceiling.py).
    model_config, flop_per_token = float_model[0].config, 2 * sum(p.numel() for p in float_model[0].parameters())
    for at in (cfg.batch_size, 8192):
        peak = forward_ceiling(model_config, at, dtype, 0.2)
        print(
            f"ceiling at {at:,} tokens per matmul{' (a full decode batch)' if at == cfg.batch_size else ''}: "
            f"{peak:.0f} GFLOP/s ({dtype_name(dtype)}, measured); the project decodes at "
            f"{proj['tok_s'] * flop_per_token / 1e9:.0f} GFLOP/s, {proj['tok_s'] * flop_per_token / 1e9 / peak:.0%} of it"
        )
    print(f"vs_today: {proj['kept_per_h'] / today['kept_per_h']:.2f}")
    print(f"ratio: {proj['kept_per_h'] / base['kept_per_h']:.2f}")


if __name__ == "__main__":
    main()
