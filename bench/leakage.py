"""Benchmark: the leakage checks at 1,000,000 synthetic reviews against 100,000 holdout reviews.

    python bench/leakage.py            # full size (target: checks < 2 min, < 4 GiB, 2 cores)
    python bench/leakage.py --quick    # 50,000 vs 5,000, the whole script well under 2 minutes

Text is generated: Zipf-distributed words, with stock phrases (8-10 words) that
occur in synthetic, holdout and training reviews alike -- the common phrasing a
guard must not flag. Planted into the synthetic reviews: exact copies of
holdout reviews (case, punctuation and spacing changed), near-duplicates (10%
of words edited) and 12-word spans copied out of holdout reviews. The script
runs the project's exact, near-duplicate and copied-span checks over all of it,
then the naive all-pairs comparison (exact Jaccard of 3-shingle sets and 8-word
span sharing for every pair) on a random sample of pairs, and projects the naive
cost to all pairs. It prints both, peak memory, the recall on the planted leaks
and ends with `ratio: X` (projected naive seconds / project seconds).
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from augment_assets.lib import leakage  # noqa: E402
from augment_assets.lib.text import word_ngrams, words  # noqa: E402


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def make_texts(rng: np.random.Generator, n: int, vocab: np.ndarray, stock: list[str], probs: np.ndarray) -> list[str]:
    """n reviews of 20-80 Zipf words; ~70% contain one or two stock phrases."""
    lengths = rng.integers(20, 81, n)
    flat = vocab[rng.choice(len(vocab), size=int(lengths.sum()), p=probs)]
    n_stock = rng.choice([0, 1, 2], size=n, p=[0.3, 0.5, 0.2])
    stock_pick = rng.integers(0, len(stock), size=(n, 2))
    out, at = [], 0
    for i in range(n):
        body = flat[at : at + lengths[i]].tolist()
        at += lengths[i]
        for k in range(n_stock[i]):
            cut = int(stock_pick[i, k]) % (len(body) + 1)
            body.insert(cut, stock[stock_pick[i, k]])
        out.append(" ".join(body) + ".")
    return out


def edit(tokens: list[str], share: float, rnd: random.Random, vocab: np.ndarray) -> list[str]:
    out = list(tokens)
    for _ in range(max(1, round(share * len(tokens)))):
        i = rnd.randrange(len(out))
        if rnd.random() < 0.5 and len(out) > 1:
            del out[i]
        else:
            out[i] = str(vocab[rnd.randrange(len(vocab))])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="50,000 synthetic vs 5,000 holdout")
    parser.add_argument("--synthetic", type=int, default=None)
    parser.add_argument("--holdout", type=int, default=None)
    parser.add_argument("--plants", type=int, default=None, help="leaks of each kind to plant")
    parser.add_argument("--naive-pairs", type=int, default=20_000)
    args = parser.parse_args()
    n_syn = args.synthetic or (50_000 if args.quick else 1_000_000)
    n_hold = args.holdout or (5_000 if args.quick else 100_000)
    n_train = n_hold
    n_plant = args.plants or (100 if args.quick else 300)

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    rnd = random.Random(0)
    vocab = np.array([f"w{i}" for i in range(30_000)], dtype=object)
    probs = 1.0 / (np.arange(len(vocab)) + 50.0) ** 1.05  # Zipf tail; no single word above 0.3%
    probs /= probs.sum()
    stock = [" ".join(vocab[rng.integers(0, 2000, rng.integers(8, 11))]) for _ in range(300)]
    holdout = make_texts(rng, n_hold, vocab, stock, probs)
    training = make_texts(rng, n_train, vocab, stock, probs)
    synthetic = make_texts(rng, n_syn, vocab, stock, probs)

    # Plants: distinct synthetic rows, distinct holdout sources.
    slots = rng.choice(n_syn, size=3 * n_plant, replace=False)
    sources = rng.choice(n_hold, size=3 * n_plant, replace=False)
    planted_exact, planted_near, planted_span = set(), set(), set()
    for k in range(n_plant):
        s, h = int(slots[k]), int(sources[k])
        synthetic[s] = "  " + holdout[h].upper().replace(" ", " ,  ") + "!!"
        planted_exact.add((h, s))
    for k in range(n_plant, 2 * n_plant):
        s, h = int(slots[k]), int(sources[k])
        synthetic[s] = " ".join(edit(words(holdout[h]), 0.10, rnd, vocab))
        planted_near.add((h, s))
    for k in range(2 * n_plant, 3 * n_plant):
        s, h = int(slots[k]), int(sources[k])
        toks = words(holdout[h])
        at = rnd.randrange(len(toks) - 12)
        synthetic[s] = synthetic[s] + " " + " ".join(toks[at : at + 12])
        planted_span.add((s, h))
    t_gen = time.perf_counter() - t0
    mem_gen = peak_mib()
    print(
        f"generated {n_syn:,} synthetic, {n_hold:,} holdout, {n_train:,} training reviews in {t_gen:.1f} s "
        f"(peak {mem_gen:,.0f} MiB); planted {n_plant} exact copies, {n_plant} 10%-edited copies, "
        f"{n_plant} 12-word span copies"
    )

    # ---- the project's checks
    times = {}
    cpu0 = time.process_time()
    t = time.perf_counter()
    syn_c = leakage.tokenize(synthetic)
    hold_c = leakage.tokenize(holdout)
    train_c = leakage.tokenize(training)
    times["tokenize (shared by all checks)"] = time.perf_counter() - t
    t = time.perf_counter()
    exact = leakage.exact_leaks(hold_c, {"synthetic": syn_c})
    times["exact_leaks"] = time.perf_counter() - t
    t = time.perf_counter()
    near = leakage.near_duplicate_leaks(hold_c, {"synthetic": syn_c})
    times["near_duplicate_leaks"] = time.perf_counter() - t
    t = time.perf_counter()
    spans = leakage.copied_span_leaks(syn_c, hold_c, train_c)
    times["copied_span_leaks"] = time.perf_counter() - t
    project_s = sum(times.values())
    project_cpu = time.process_time() - cpu0
    mem_checks = peak_mib()

    found_exact = set(zip(exact["holdout_review_id"].astype(int), exact["other_id"].astype(int)))
    found_near = set(zip(near["holdout_review_id"].astype(int), near["other_id"].astype(int)))
    found_span = set(zip(spans["synthetic_id"].astype(int), spans["holdout_review_id"].astype(int)))
    expected_span = planted_span | {(s, h) for h, s in planted_exact | planted_near}
    recall = {
        "exact (planted exact copies)": len(found_exact & planted_exact) / n_plant,
        "near-dup (planted 10%-edited copies)": len(found_near & planted_near) / n_plant,
        "near-dup (planted exact copies)": len(found_near & planted_exact) / n_plant,
        "copied span (planted 12-word spans)": len(found_span & planted_span) / n_plant,
    }
    print(
        f"\nproject checks (threshold {leakage.DEFAULT_NEAR_DUP_THRESHOLD:.2f}, {leakage.DEFAULT_SHINGLE}-word shingles, "
        f"{leakage.DEFAULT_SPAN}-word spans):"
    )
    for name, sec in times.items():
        print(f"  {name:34s} {sec:7.1f} s")
    print(
        f"  {'total':34s} {project_s:7.1f} s   (CPU time of this process {project_cpu:.1f} s: other jobs on the cores inflate wall time)"
    )
    print(
        f"  {'':34s}           peak memory {mem_checks:,.0f} MiB (ru_maxrss; {mem_gen:,.0f} MiB after generating the text)"
    )
    print(f"  findings: exact {len(exact)}, near-dup {len(near)}, copied-span pairs {len(spans)}")
    for name, r in recall.items():
        print(f"  recall {name:38s} {r:.3f}")
    print(
        f"  findings not planted: exact {len(found_exact - planted_exact)}, near-dup {len(found_near - planted_near - planted_exact)}, "
        f"copied span {len(found_span - expected_span)} (a stock phrase plus adjacent words that no training review has)"
    )

    # ---- naive all-pairs on a sample of pairs
    t = time.perf_counter()
    sample_h = rng.integers(0, n_hold, args.naive_pairs)
    sample_s = rng.integers(0, n_syn, args.naive_pairs)
    shingles = {}
    spans8 = {}
    for key, text in [(("h", int(i)), holdout[i]) for i in sample_h] + [
        (("s", int(i)), synthetic[i]) for i in sample_s
    ]:
        toks = words(text)
        shingles[key] = set(word_ngrams(toks, 3))
        spans8[key] = set(word_ngrams(toks, 8))
    prep_s = time.perf_counter() - t
    per_doc_prep = prep_s / len(shingles)
    t = time.perf_counter()
    hits = 0
    for h, s in zip(sample_h, sample_s):
        a, b = shingles[("h", int(h))], shingles[("s", int(s))]
        inter = len(a & b)
        jac = inter / (len(a) + len(b) - inter)
        shared = not spans8[("h", int(h))].isdisjoint(spans8[("s", int(s))])
        hits += (jac >= leakage.DEFAULT_NEAR_DUP_THRESHOLD) or shared
    per_pair = (time.perf_counter() - t) / args.naive_pairs
    naive_s = per_pair * n_syn * n_hold + per_doc_prep * (n_syn + n_hold)
    print(
        f"\nnaive all-pairs: {args.naive_pairs:,} sampled pairs, {per_pair * 1e6:.2f} us per pair "
        f"(exact Jaccard of 3-shingle sets + 8-word span sharing, sets built beforehand at {per_doc_prep * 1e6:.0f} us per review)"
    )
    print(
        f"  projected to {n_syn:,} x {n_hold:,} = {n_syn * n_hold:.2e} pairs: {naive_s:,.0f} s ({naive_s / 3600:,.1f} h)"
    )
    print(
        f"  project: {project_s:.1f} s; whole script {time.perf_counter() - t0:.1f} s; peak memory {peak_mib():,.0f} MiB"
    )
    print(f"ratio: {naive_s / project_s:.0f}")


if __name__ == "__main__":
    main()
