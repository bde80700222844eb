"""Benchmark: the project's Yelp ingestion against a pandas `read_json(lines=True, chunksize=...)` baseline.

Writes a synthetic Yelp-format pair of files (default 1,000,000 reviews over 50,000
businesses, about 1 GB) into a temporary folder, then times, each in its own
subprocess so peak memory (ru_maxrss) is measured per contender:

- project:  `read_yelp_reviews` (DuckDB, one streaming scan per file, filter pushed down) + `label_reviews`
- baseline: pandas reads the business file, matches categories, streams the review
            file with `read_json(lines=True, chunksize=...)`, keeps matching rows,
            then the same `label_reviews`

The synthetic data: ~750-character texts with newlines, quotes and emoji (about 1.1 KB
a line, like the real file's 5 GB / 7M), nested attributes/hours, null categories, and
~5% of reviews belonging to pizza businesses, as in the real dataset.

Usage:
    python bench/ingest.py                 # ~1 GB, a few minutes (the baseline is the slow part)
    python bench/ingest.py --quick         # 100,000 reviews, well under 2 minutes
    python bench/ingest.py --reviews 2000000 --businesses 100000 --dir /tmp/yelp-bench --keep

The last line is `ratio: X` (baseline seconds / project seconds).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FULL_YELP_REVIEWS = 7_000_000
# 2 of 40 business category lists match "Pizza" (and reviews are spread evenly over businesses), so
# ~5% of reviews are pizza reviews, as in the real dataset (about 5%); "Pizzeria Supplies" is a decoy
# that must not match. An inflated share would flatter neither contender fairly: the pizza subset is
# what both label and dedup.
CATEGORIES = [
    "Pizza, Italian, Restaurants",
    "Mexican, Restaurants",
    "Coffee & Tea",
    None,
    "Pizzeria Supplies, Shopping",
    "Burgers, Fast Food, Restaurants",
    "Chinese, Restaurants",
    "Bars, Nightlife",
    "Hair Salons, Beauty & Spas",
    "Sushi Bars, Japanese",
    "Auto Repair, Automotive",
    "Italian, Restaurants",
    "Breakfast & Brunch, American (New)",
    "Grocery, Food",
    "Hotels, Event Planning & Services",
    "Thai, Restaurants",
    "Dentists, Health & Medical",
    "Nail Salons, Beauty & Spas",
    "Sandwiches, Delis, Restaurants",
    "Home Services, Contractors",
    "Restaurants, Pizza",
    "Bakeries, Desserts, Food",
    "Gyms, Fitness & Instruction",
    "Vietnamese, Restaurants",
    "Shopping, Fashion",
    "Real Estate, Home Services",
    "Seafood, Restaurants",
    "Ice Cream & Frozen Yogurt",
    "Pet Services, Pets",
    "Indian, Restaurants",
    None,
    "Mediterranean, Greek",
    "Car Dealers, Automotive",
    "Steakhouses, Restaurants",
    "Wine Bars, Bars, Nightlife",
    "Korean, Restaurants",
    "Florists, Shopping",
    "Chicken Wings, Restaurants",
    "Cafes, Restaurants",
    "Doctors, Health & Medical",
]
VOCAB = (
    "the pizza was great crust cheese sauce terrible slow service delivery cold hot fresh amazing bad good "
    "friendly staff order wait time place love hate never again best worst topping pepperoni we our "
    "and but with for very really it not will back garlic knots wings salad price"
).split()


def write_dataset(folder: Path, n_reviews: int, n_businesses: int, seed: int = 0) -> None:
    """A Yelp-format pair: nested attributes/hours, null categories, ~750-character texts with newlines."""
    rnd = random.Random(seed)
    chars = string.ascii_letters + string.digits + "-_"
    ids = ["".join(rnd.choices(chars, k=22)) for _ in range(n_businesses)]
    with open(folder / "yelp_academic_dataset_business.json", "w", encoding="utf-8") as f:
        for i, business_id in enumerate(ids):
            f.write(
                json.dumps(
                    {
                        "business_id": business_id,
                        "name": f"Business {i}",
                        "city": "Springfield",
                        "state": "NV",
                        "stars": 3.5,
                        "review_count": 20,
                        "is_open": 1,
                        "attributes": {"WiFi": "u'free'", "Ambience": {"casual": True}} if i % 3 else None,
                        "categories": CATEGORIES[i % len(CATEGORIES)],
                        "hours": {"Monday": "11:0-22:0"} if i % 2 else None,
                    }
                )
                + "\n"
            )
    with open(folder / "yelp_academic_dataset_review.json", "w", encoding="utf-8") as f:
        batch = []
        for i in range(n_reviews):
            body = " ".join(rnd.choices(VOCAB, k=rnd.randint(80, 200)))
            batch.append(
                json.dumps(
                    {
                        "review_id": f"r{i:021d}",
                        "user_id": "".join(rnd.choices(chars, k=22)),
                        "business_id": ids[rnd.randrange(n_businesses)],
                        "stars": float(rnd.randint(1, 5)),
                        "useful": rnd.randint(0, 9),
                        "funny": 0,
                        "cool": 0,
                        "text": f'Review {i}: {body}.\n\nWould "maybe" return \u2014 {i % 97}/10 \U0001f355',
                        "date": f"20{10 + i % 12}-0{1 + i % 9}-1{i % 10} 12:34:56",
                    }
                )
            )
            if len(batch) == 20_000:
                f.write("\n".join(batch) + "\n")
                batch = []
        if batch:
            f.write("\n".join(batch) + "\n")


# ---- the two contenders (run in child processes) ------------------------------------


def run_project(folder: Path) -> dict:
    from augment_assets.lib.reviews import label_reviews
    from augment_assets.lib.yelp import read_yelp_reviews

    start = time.perf_counter()
    raw, report = read_yelp_reviews(folder, ("Pizza",))
    reviews, rejected, duplicates = label_reviews(raw)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "raw_rows": len(raw),
        "reviews": len(reviews),
        "duplicates": sum(duplicates.values()),
        "bad_lines": report.bad_line_count,
    }


def run_pandas(folder: Path, chunksize: int = 100_000) -> dict:
    import pandas as pd

    from augment_assets.lib.reviews import label_reviews
    from augment_assets.lib.yelp import category_matches

    start = time.perf_counter()
    businesses = pd.read_json(folder / "yelp_academic_dataset_business.json", lines=True)
    matched = set(businesses.loc[[category_matches(c, ["Pizza"]) for c in businesses["categories"]], "business_id"])
    parts = []
    # a fair pandas reader: ids kept as strings, no date parsing (the project keeps dates as text too)
    with pd.read_json(
        folder / "yelp_academic_dataset_review.json",
        lines=True,
        chunksize=chunksize,
        dtype={"review_id": str, "business_id": str},
        convert_dates=False,
        keep_default_dates=False,
    ) as reader:
        for chunk in reader:
            keep = chunk[chunk["business_id"].isin(matched)]
            parts.append(keep[["review_id", "business_id", "stars", "text", "date"]])
    raw = pd.concat(parts, ignore_index=True)
    raw["sentiment"] = None
    reviews, rejected, duplicates = label_reviews(raw)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "raw_rows": len(raw), "reviews": len(reviews), "duplicates": sum(duplicates.values())}


def child_main(which: str, folder: str) -> None:
    result = (run_project if which == "project" else run_pandas)(Path(folder))
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print("RESULT " + json.dumps(result))


def run_child(which: str, folder: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, __file__, "--child", which, str(folder)], capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"{which} run failed (exit {proc.returncode})")
    line = next(out for out in proc.stdout.splitlines() if out.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    result["cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=None, help="reviews to write (default 1,000,000)")
    parser.add_argument("--businesses", type=int, default=None, help="businesses to write (default 50,000)")
    parser.add_argument("--quick", action="store_true", help="100,000 reviews over 5,000 businesses")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the files (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child", nargs=2, metavar=("WHICH", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(*args.child)
        return

    n_reviews = args.reviews or (100_000 if args.quick else 1_000_000)
    n_businesses = args.businesses or (5_000 if args.quick else 50_000)
    folder = args.dir or Path(tempfile.mkdtemp(prefix="yelp-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        write_dataset(folder, n_reviews, n_businesses)
        size_mb = sum(p.stat().st_size for p in folder.glob("*.json")) / 1e6
        print(
            f"wrote {n_reviews:,} reviews over {n_businesses:,} businesses ({size_mb:,.0f} MB) to {folder} "
            f"in {time.perf_counter() - start:.1f} s"
        )

        project = run_child("project", folder)
        baseline = run_child("pandas", folder)
        if (project["raw_rows"], project["reviews"]) != (baseline["raw_rows"], baseline["reviews"]):
            raise SystemExit(f"the two contenders disagree: project {project}, pandas {baseline}")

        projected = project["seconds"] * FULL_YELP_REVIEWS / n_reviews
        print(f"pizza reviews matched: {project['raw_rows']:,}; labelled after dedup: {project['reviews']:,}")
        print(
            f"project  (DuckDB read_yelp_reviews + label_reviews): {project['seconds']:.2f} s, "
            f"peak RSS {project['peak_rss_mib']:,.0f} MiB, CPU {project['cpu_seconds']:.1f} s"
        )
        print(
            f"baseline (pandas read_json chunks + filter + label_reviews): {baseline['seconds']:.2f} s, "
            f"peak RSS {baseline['peak_rss_mib']:,.0f} MiB, CPU {baseline['cpu_seconds']:.1f} s"
        )
        print(
            f"projected full Yelp ({FULL_YELP_REVIEWS:,} reviews): {projected:.1f} s (linear in reviews; target < 60 s)"
        )
        print(f"ratio: {baseline['seconds'] / project['seconds']:.2f}")
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
