"""The evaluation's selection and refits: one process (the baseline) vs the project's workers, one per core.

`lib/evaluation.evaluate` fits every stored training set at every configuration of its grid, chooses, refits and
predicts the holdouts: thousands of single-threaded numpy and scikit-learn fits. The project runs each (data
size, classifier), over its repeats, on a forked worker (`EvaluationConfig.workers`, default one per core:
lib/forked.py); the baseline is the same code with `workers=1`, all in one process (the path before workers).
Both run on the same training sets, and their tables must be equal (checked: metrics, recommendation, headline,
strategy comparison, warnings and the count of fits), so a speed-up is not bought with other answers.

Input: the training sets of `make demo`'s warehouse (data/warehouse.duckdb) when it has them, read-only from a
copy; else baseline training sets (no synthetic reviews) built here by the library from the shared pizza CSV, or,
without it, from invented reviews. The classifiers are the TF-IDF pair (naive Bayes and logistic regression):
the embedding and generative classifiers need a language model's vectors and scores, which are not timed here.

Usage:
    python bench/evaluation.py           # full: nb and lr (the demo's 15,786 fits: ~2 min on 2 cores)
    python bench/evaluation.py --quick   # < 2 min: nb alone
The last line is `ratio: X` (one process's seconds / the workers' seconds).
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from augment_assets.lib.evaluation import evaluate  # noqa: E402
from augment_assets.lib.folds import build_folds  # noqa: E402
from augment_assets.lib.forked import cores  # noqa: E402
from augment_assets.lib.training_sets import TrainingSets, build_training_sets  # noqa: E402
from augment_assets.lib.variants import EvaluationConfig  # noqa: E402

CSV = REPO.parent / "shared" / "data" / "yelp_pizza" / "pizza_reviews.csv"
WAREHOUSE = REPO / "data" / "warehouse.duckdb"


def from_warehouse() -> tuple[TrainingSets, dict, str] | None:
    if not WAREHOUSE.exists():
        return None
    from augment_assets.defs.evaluate.assets import read_training_sets
    from augment_assets.lib.warehouse import Warehouse

    with tempfile.TemporaryDirectory() as tmp:  # a copy: a running Dagster may hold the warehouse
        copy = Path(tmp) / "warehouse.duckdb"
        shutil.copy(WAREHOUSE, copy)
        store = Warehouse(copy)
        if not (store.has_table("training_set") and store.has_table("holdout_reviews")):
            return None
        sets = read_training_sets(store, 0)
        holdouts = {"holdout": store.read_table("holdout_reviews")}
    return sets, holdouts, f"the demo's warehouse ({WAREHOUSE.relative_to(REPO)})"


def invented_reviews(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    good, bad = "great hot crisp fresh tasty friendly fast".split(), "cold soggy rude slow burnt bland late".split()
    common = "the pizza was and crust cheese sauce we ordered delivery staff".split()
    labels = rng.integers(0, 2, n)
    texts = [" ".join(rng.choice(common + (good if y else bad), 40)) for y in labels]
    return pd.DataFrame({"sentiment": np.where(labels == 1, "positive", "negative"), "text": texts})


def built() -> tuple[TrainingSets, dict, str]:
    if CSV.exists():
        frame = pd.read_csv(CSV)
        frame = frame[frame["stars"] != 3].assign(sentiment=lambda f: np.where(f["stars"] > 3, "positive", "negative"))
        source = f"baseline training sets built from {CSV.name}"
    else:
        frame = invented_reviews(600, 0)
        source = "baseline training sets built from 600 invented reviews"
    frame = frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    frame = frame.assign(review_id=[f"r{i:05d}" for i in range(len(frame))], business_id=None)[
        ["review_id", "business_id", "sentiment", "text"]
    ]
    holdout, train = frame.iloc[:200].reset_index(drop=True), frame.iloc[200:].reset_index(drop=True)
    folds = build_folds(train, [None, 50, 25, 10], 0.2, 0, 1)
    sets = build_training_sets(train, folds, None)
    stored = TrainingSets.from_tables(sets.member_table(), sets.configs, sets.items, folds)
    return stored, {"holdout": holdout}, source


def run(sets, holdouts, classifiers, workers) -> tuple[object, float]:
    config = dataclasses.replace(
        EvaluationConfig(), draws=int(sets.configs["draw"].max()) + 1, classifiers=classifiers, workers=workers
    )
    started = time.perf_counter()
    result = evaluate(sets, holdouts, config)
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="nb alone (< 2 min)")
    args = parser.parse_args()
    classifiers = ("nb",) if args.quick else ("nb", "lr")
    sets, holdouts, source = from_warehouse() or built()
    workers = cores()
    print(f"input: {source}; {len(sets.configs)} stored training sets; classifiers {', '.join(classifiers)}")
    print(f"cores: {workers}")
    project, project_s = run(sets, holdouts, classifiers, None)
    baseline, baseline_s = run(sets, holdouts, classifiers, 1)
    for name in ("metrics", "recommendation", "headline", "strategy_comparison"):
        pd.testing.assert_frame_equal(getattr(project, name), getattr(baseline, name))
    assert project.warnings == baseline.warnings and project.extras["fits"] == baseline.extras["fits"]
    fits = baseline.extras["fits"]
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"baseline (one process): {baseline_s:.1f} s, {fits / baseline_s:.0f} fits/s")
    print(
        f"project ({workers} workers): {project_s:.1f} s, {fits / project_s:.0f} fits/s; a worker's peak RSS "
        f"{peak_children:.0f} MB"
    )
    print(f"fits: {fits}; tables, warnings and fit counts equal: yes")
    print(f"ratio: {baseline_s / project_s:.2f}")


if __name__ == "__main__":
    main()
