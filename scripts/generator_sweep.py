"""Measure the generator's quality levers on real reviews, never on the holdout.

What it does, with the product's own functions:
1. Reads a reviews CSV (`--csv`, e.g. the study's pizza_reviews.csv), labels and
   splits it exactly as the ingest assets do (`split_reviews`, seed 0); the holdout is set
   aside and never read again. The training reviews are cut into fit/validation
   (the `all` data size of `build_folds`, as `review_folds` stores it).
2. Fine-tunes one generator per sentiment on the fit reviews for each training setting in
   `RUNS` (format: prefix / chat template / none; epochs; learning rate). Checkpoints are
   judged after the epochs listed for the run (`finetune(on_epoch_end=...)`).
3. For each checkpoint and each sampling setting (temperature, top_p, prompt length)
   generates `--n` reviews per sentiment with `generate_reviews`, filters them with
   `filter_synthetic` and records, per sentiment: label fidelity (TF-IDF + NB fit on the fit
   reviews), on-topic rate, distinct-1/2, 8-word copy rate from the fit reviews, mean words,
   the share kept by the filters -- and, for both sentiments together, the downstream
   check: validation accuracy of TF-IDF + NB (alpha chosen by 5-fold CV on its own training
   data) on fit + synthetic versus fit alone, with a paired 95% bootstrap interval.

Writes `sweep.csv` (one row per point and sentiment), `downstream.csv` and `samples.csv`
(3 kept reviews per point and sentiment) to `--out`, and prints a table.

Usage:
    python scripts/generator_sweep.py --csv path/to/pizza_reviews.csv --out data/sweep
    python scripts/generator_sweep.py --csv ... --quick     # 1 epoch, 12 reviews per point: a smoke run
Run it alone on the machine: fine-tuning uses every core.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from augment_assets.lib.classify import bootstrap_indices, bootstrap_interval, paired_bootstrap_gain  # noqa: E402
from augment_assets.lib.finetune import FinetuneConfig, finetune  # noqa: E402
from augment_assets.lib.folds import FIT, VALIDATION, build_folds, fold_reviews  # noqa: E402
from augment_assets.lib.generate import GenerationConfig, generate_reviews  # noqa: E402
from augment_assets.lib.model import EMBEDDED_MODEL, resolve_base_model  # noqa: E402
from augment_assets.lib.prompts import build_prompt_table, prompts_for_generation  # noqa: E402
from augment_assets.lib.reviews import SENTIMENTS, label_reviews  # noqa: E402
from augment_assets.lib.split import split_reviews  # noqa: E402
from augment_assets.lib.synthetic_quality import filter_synthetic, judge_pipeline, quality_report  # noqa: E402
from augment_assets.lib.yelp import read_reviews_csv  # noqa: E402

# name -> (FinetuneConfig overrides, epochs after which the checkpoint is judged)
RUNS = {
    "prefix-4ep": ({"prompt_format": "prefix", "epochs": 4}, (1, 2, 3, 4)),
    "chat-2ep": ({"prompt_format": "chat", "epochs": 2}, (2,)),
    "none-2ep": ({"prompt_format": "none", "epochs": 2}, (2,)),
    "prefix-2ep": ({"prompt_format": "prefix", "epochs": 2}, (2,)),  # the shipped default
    "prefix-2ep-lr3e-4": ({"prompt_format": "prefix", "epochs": 2, "learning_rate": 3e-4}, (2,)),
}
BASE_SAMPLING = {"temperature": 0.9, "top_p": 0.95, "prefix_words": 4}
# extra sampling points, judged on the final checkpoint of the runs named here
SAMPLING_POINTS = {
    "prefix-4ep": [
        {"temperature": 0.5},
        {"temperature": 0.7},
        {"temperature": 1.1},
        {"top_p": 0.9},
        {"top_p": 1.0},
        {"prefix_words": 2},
        {"prefix_words": 8},
    ],
    "prefix-2ep": [{"temperature": 0.7}, {"temperature": 1.1}],
}


def nb_accuracy(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Per-review correctness of the label-fidelity judge, alpha by 5-fold CV on `train` only."""
    from sklearn.model_selection import GridSearchCV

    grid = GridSearchCV(judge_pipeline(), {"multinomialnb__alpha": [0.01, 0.03, 0.1, 0.3, 1.0]}, cv=5)
    grid.fit(train["text"].tolist(), train["sentiment"].tolist())
    return (grid.predict(test["text"].tolist()) == test["sentiment"].to_numpy()).astype(float)


def downstream(
    fit: pd.DataFrame, val: pd.DataFrame, base_correct: np.ndarray, synthetic: dict, done: dict
) -> pd.DataFrame:
    """Per point: validation accuracy of fit + both sentiments' synthetic reviews vs fit alone.

    `done` keeps the rows of points already judged, so each point is fitted once.
    """
    boot = bootstrap_indices(len(val), 2000, seed=0)
    for key in sorted({k[:3] for k in synthetic} - set(done)):
        parts = [synthetic.get((*key, s)) for s in SENTIMENTS]
        if any(p is None for p in parts):
            continue
        aug = pd.concat([fit[["text", "sentiment"]], *parts], ignore_index=True)
        correct = nb_accuracy(aug, val)
        _, lo, hi = paired_bootstrap_gain(correct, base_correct, boot)
        done[key] = {
            "run": key[0],
            "epoch": key[1],
            "sampling": key[2],
            "n_synthetic": sum(len(p) for p in parts),
            "val_acc_genuine": round(base_correct.mean(), 4),
            "val_acc_augmented": round(correct.mean(), 4),
            "gain": round(correct.mean() - base_correct.mean(), 4),
            "gain_low": round(lo, 4),
            "gain_high": round(hi, 4),
        }
    return pd.DataFrame([done[k] for k in sorted(done)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", required=True, help="reviews CSV with text and stars (or sentiment)")
    ap.add_argument("--out", default=str(REPO / "data" / "sweep"))
    ap.add_argument("--model", default=EMBEDDED_MODEL)
    ap.add_argument("--models-dir", default=str(REPO / "data" / "models"))
    ap.add_argument("--n", type=int, default=48, help="reviews per point and sentiment")
    ap.add_argument("--runs", default=",".join(RUNS), help="comma-separated subset of " + ",".join(RUNS))
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 epoch, 12 reviews, one run")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = {k: RUNS[k] for k in args.runs.split(",")}
    n = args.n
    if args.quick:
        runs = {"prefix-1ep": ({"prompt_format": "prefix", "epochs": 1}, (1,))}
        n = 12

    raw, _ = read_reviews_csv(args.csv)
    reviews, _, _ = label_reviews(raw)
    training, holdout, _ = split_reviews(reviews, seed=0)
    folds = build_folds(training, [None], 0.2, 0)
    fit, val = (fold_reviews(training, folds, "all", fold) for fold in (FIT, VALIDATION))
    del holdout  # never used below
    print(
        f"reviews: {len(reviews)} labelled; training {len(training)} -> fit {len(fit)}, validation {len(val)}; "
        f"holdout set aside",
        flush=True,
    )
    base_path, _ = resolve_base_model(args.model, Path(args.models_dir))
    prompt_tables = {}
    for s in SENTIMENTS:
        for w in (2, 4, 8):
            prompt_tables[(s, w)] = prompts_for_generation(
                build_prompt_table(fit.loc[fit.sentiment == s, "text"].tolist(), s, prefix_words=w)
            )

    rows, samples, synthetic, judged_points = [], [], {}, {}
    base_correct = nb_accuracy(fit, val)  # genuine fit reviews alone, on validation

    def judge(run: str, epoch: int, sentiment: str, model, tokenizer, cfg: FinetuneConfig, points) -> None:
        gen_model = copy.deepcopy(model).to(torch.bfloat16).eval()
        side = tokenizer.padding_side
        tokenizer.padding_side = "left"
        try:
            for point in points:
                sp = {**BASE_SAMPLING, **point}
                gcfg = GenerationConfig(
                    n=n,
                    temperature=sp["temperature"],
                    top_p=sp["top_p"],
                    batch_size=64,
                    max_new_tokens=128,
                    repetition_penalty=1.1,
                    seed=0,
                )
                label = f"T={sp['temperature']:g} top_p={sp['top_p']:g} prompt={sp['prefix_words']}w"
                with tempfile.TemporaryDirectory() as chunks:
                    t0 = time.perf_counter()
                    frame = generate_reviews(
                        base_path,
                        prompt_tables[(sentiment, sp["prefix_words"])],
                        sentiment,
                        gcfg,
                        Path(chunks),
                        f"{run}-{epoch}",
                        finetune_config=cfg,
                        device="cpu",
                        dtype=torch.bfloat16,
                        show_progress=False,
                        model_and_tokenizer=(gen_model, tokenizer),
                    )
                    secs = time.perf_counter() - t0
                kept, _ = filter_synthetic(frame)
                q = quality_report(kept["text"].tolist(), sentiment, fit["text"].tolist(), fit["sentiment"].tolist())
                row = {
                    "run": run,
                    "format": cfg.prompt_format,
                    "epochs_run": cfg.epochs,
                    "lr": cfg.learning_rate,
                    "epoch": epoch,
                    "sampling": label,
                    **sp,
                    "sentiment": sentiment,
                    "kept_share": round(len(kept) / len(frame), 3),
                    **q,
                    "gen_tokens_per_s": frame.attrs["stats"].get("tokens_per_s"),
                    "gen_s": round(secs, 1),
                }
                rows.append(row)
                synthetic[(run, epoch, label, sentiment)] = kept.assign(sentiment=sentiment)[["text", "sentiment"]]
                for t in kept["text"].head(3):
                    samples.append({"run": run, "epoch": epoch, "sampling": label, "sentiment": sentiment, "text": t})
                print(
                    f"  {run} ep{epoch} {sentiment:8s} {label}: fidelity {q.get('label_fidelity')} on-topic "
                    f"{q.get('on_topic')} distinct-2 {q.get('distinct_2')} copy {q.get('copy_rate_8')} "
                    f"words {q.get('mean_words')} kept {row['kept_share']} ({secs:.0f} s)",
                    flush=True,
                )
                pd.DataFrame(rows).to_csv(out / "sweep.csv", index=False)
        finally:
            tokenizer.padding_side = side
            del gen_model

    t_all = time.perf_counter()
    for run, (overrides, judged_epochs) in runs.items():
        cfg = FinetuneConfig(**overrides)
        final = max(judged_epochs)
        for sentiment in SENTIMENTS:
            corpus = fit.loc[fit.sentiment == sentiment, "text"].tolist()

            def on_epoch_end(
                epoch, model, tokenizer, run=run, sentiment=sentiment, cfg=cfg, final=final, judged=judged_epochs
            ):
                if epoch not in judged:
                    return
                points = [{}]
                if epoch == final and not args.quick:
                    points += SAMPLING_POINTS.get(run, [])
                judge(run, epoch, sentiment, model, tokenizer, cfg, points)

            with tempfile.TemporaryDirectory() as model_dir:
                t0 = time.perf_counter()
                report = finetune(
                    base_path,
                    corpus,
                    sentiment,
                    Path(model_dir) / "m",
                    cfg,
                    validation_texts=val.loc[val.sentiment == sentiment, "text"].tolist(),
                    on_epoch_end=on_epoch_end,
                )
            print(
                f"{run} {sentiment}: {report['n_train']} reviews, perplexity {report['perplexity_before']:.1f} -> "
                f"{report['perplexity_after']:.1f}, {report['tokens_per_s']} tokens/s, "
                f"{time.perf_counter() - t0:.0f} s with judging",
                flush=True,
            )
            for r in rows:
                if r["run"] == run and r["sentiment"] == sentiment and r["epoch"] == final:
                    r["perplexity_after"] = round(report["perplexity_after"], 2)
        # after every run, so a stopped sweep keeps its results
        down = downstream(fit, val, base_correct, synthetic, judged_points)
        pd.DataFrame(rows).to_csv(out / "sweep.csv", index=False)
        down.to_csv(out / "downstream.csv", index=False)
        pd.DataFrame(samples).to_csv(out / "samples.csv", index=False)

    lo, hi = bootstrap_interval(base_correct, bootstrap_indices(len(val), 2000, seed=0))
    print(f"\nvalidation: {len(val)} reviews; genuine-only NB accuracy {base_correct.mean():.3f} [{lo:.3f}, {hi:.3f}]")
    table = pd.DataFrame(rows)
    cols = [
        "run",
        "epoch",
        "sampling",
        "sentiment",
        "label_fidelity",
        "on_topic",
        "distinct_2",
        "copy_rate_8",
        "mean_words",
        "kept_share",
    ]
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table[cols].to_string(index=False))
        print(down.to_string(index=False))
    print(f"total {time.perf_counter() - t_all:.0f} s; files in {out}")


if __name__ == "__main__":
    main()
