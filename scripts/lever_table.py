"""Each lever's gain from one or more warehouses, side by side (the `candidate_gains` table).

    python scripts/lever_table.py A=data/warehouse.duckdb B=/other/warehouse.duckdb [--eval-set holdout]

Prints each classifier's selected baseline per data size (the generative and embedding classifiers among
them); then, per data size and classifier, every candidate variant's holdout accuracy, its gain over the
selected baseline with the two-level 95% interval and the verdict, and a taught lever's teacher accuracy
and student minus teacher (paired), one column group per warehouse;
then the generators' training length and the kept synthetic reviews' mean length per warehouse.
"""

from __future__ import annotations

import argparse

import duckdb
import pandas as pd


def read(path: str, query: str) -> pd.DataFrame:
    with duckdb.connect(path, read_only=True) as con:
        return con.execute(query).df()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("warehouses", nargs="+", help="NAME=path/to/warehouse.duckdb")
    ap.add_argument("--eval-set", default="holdout")
    args = ap.parse_args()
    named = [w.split("=", 1) if "=" in w else (w, w) for w in args.warehouses]
    frames = []
    for name, path in named:
        gains = read(path, f"SELECT * FROM candidate_gains WHERE eval_set = '{args.eval_set}'")
        gains["cell"] = gains.apply(
            lambda r: (
                f"{r.accuracy:.3f} | {100 * r.gain_vs_baseline:+.1f} [{100 * r.gain_ci_low:+.1f}, {100 * r.gain_ci_high:+.1f}] {r.verdict}"
                + (
                    f" (teacher {r.teacher_accuracy:.3f}; student - teacher {100 * r.student_minus_teacher:+.1f} "
                    f"[{100 * r.student_minus_teacher_ci_low:+.1f}, {100 * r.student_minus_teacher_ci_high:+.1f}])"
                    if pd.notna(r.get("student_minus_teacher", float("nan")))
                    else f" (teacher {r.teacher_accuracy:.3f})"
                    if pd.notna(r.teacher_accuracy)
                    else ""
                )
            ),
            axis=1,
        )
        frames.append(gains.set_index(["data_size", "classifier", "variant"])["cell"].rename(name))
        head = read(
            path,
            f"SELECT data_size, classifier, baseline_variant, baseline_accuracy, selected_variant, "
            f"gain_vs_baseline, verdict, reference_status FROM headline WHERE eval_set = '{args.eval_set}'",
        )
        print(f"\n## {name}: headline\n")
        print(head.to_markdown(index=False, floatfmt=".3f"))
        curve = read(
            path,
            f"SELECT data_size, classifier, variant, repeats, accuracy, accuracy_ci_low, accuracy_ci_high "
            f"FROM learning_curve WHERE eval_set = '{args.eval_set}' AND role = 'baseline' "
            f"ORDER BY genuine_per_class DESC NULLS FIRST, classifier",
        )
        print(f"\n## {name}: each classifier's selected baseline (learning_curve), accuracy [95% CI over repeats]\n")
        print(curve.to_markdown(index=False, floatfmt=".3f"))
    table = pd.concat(frames, axis=1).reset_index()
    print(f"\n## candidate_gains on {args.eval_set}: accuracy | gain in points [95% CI] verdict\n")
    print(table.to_markdown(index=False))
    print("\n## generators and kept synthetic reviews\n")
    for name, path in named:
        generators = read(path, "SELECT * FROM sentiment_generator")
        if "max_length" not in generators:  # a generator registry from before whole reviews: the fixed 128
            generators["max_length"] = 128
        gen = generators.groupby("data_size")[["max_length", "perplexity_after"]].mean().round(1).reset_index()
        syn = read(
            path,
            "SELECT count(*) AS kept, avg(len(string_split(text, ' '))) AS mean_words, "
            "quantile_cont(len(string_split(text, ' ')), 0.9) AS p90_words FROM synthetic_reviews",
        )
        print(f"{name}: generators {gen.to_dict('records')}; synthetic {syn.to_dict('records')}")


if __name__ == "__main__":
    main()
