"""The levers a TF-IDF student can teach, on a materialized warehouse, without the generators as teacher or
classifier: the product's own `build_training_sets` + `evaluate` (lib/), with `nb` and `lr` as students and
`lr` as the teacher of selection and weighting, printing `candidate_gains` and the headline.

    python scripts/student_levers.py data/warehouse.duckdb all      # one data size, every repeat
    python scripts/student_levers.py data/warehouse.duckdb 50 --csv levers_50.csv

Why: the graph's evaluation also scores every synthetic review with the two generators (the generative teacher)
and embeds it (the embedding classifier): on 2 CPU cores about half an hour for 7,200 whole reviews. This gives
the student-taught levers in minutes, on the same tables and with the same choices on validation.
"""

from __future__ import annotations

import argparse

import duckdb

from augment_assets.lib.evaluation import evaluate
from augment_assets.lib.training_sets import build_training_sets
from augment_assets.lib.variants import EvaluationConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("warehouse")
    ap.add_argument("data_size", help="a data size with generators: all, 50, ...")
    ap.add_argument("--csv", help="also write candidate_gains here")
    args = ap.parse_args()
    with duckdb.connect(args.warehouse, read_only=True) as con:
        q = lambda sql, *p: con.execute(sql, list(p)).df()  # noqa: E731
        train, holdout = q("SELECT * FROM training_reviews"), q("SELECT * FROM holdout_reviews")
        folds = q("SELECT * FROM review_folds WHERE data_size = ?", args.data_size)
        synthetic = q(
            "SELECT s.synthetic_id, s.sentiment, s.temperature, s.text, g.data_size, g.repeat FROM synthetic_reviews s "
            "JOIN sentiment_generator g USING (generator_version) WHERE g.data_size = ?",
            args.data_size,
        )
    print(
        f"data size {args.data_size}: synthetic reviews per repeat {synthetic.groupby('repeat').size().to_dict()}",
        flush=True,
    )
    config = EvaluationConfig(classifiers=("nb", "lr"), selection_teachers=("lr",), weighting_teachers=("lr",))
    sets = build_training_sets(train, folds, synthetic, None, config, candidate_sizes=[args.data_size])
    result = evaluate(sets, {"holdout": holdout}, config)
    columns = [
        "classifier",
        "data_size",
        "variant",
        "repeats",
        "accuracy",
        "baseline_accuracy",
        "gain_vs_baseline",
        "gain_ci_low",
        "gain_ci_high",
        "verdict",
        "selected_by_validation",
        "ratio",
        "temperature_selection",
    ]
    print(result.candidate_gains[columns].to_markdown(index=False, floatfmt=".3f"))
    print(
        result.headline[
            [
                "classifier",
                "data_size",
                "baseline_variant",
                "baseline_accuracy",
                "selected_variant",
                "selected_accuracy",
                "gain_vs_baseline",
                "gain_ci_low",
                "gain_ci_high",
                "min_detectable_gain",
                "verdict",
            ]
        ].to_markdown(index=False, floatfmt=".3f")
    )
    print(f"{result.extras.get('fits')} fits in {result.seconds:.0f} s")
    if args.csv:
        result.candidate_gains.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
