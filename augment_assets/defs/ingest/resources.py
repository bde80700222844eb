"""Where the reviews come from: `YELP_DATASET_DIR`, else `REVIEWS_CSV`, else the embedded sample."""

from pathlib import Path

import dagster as dg
import pandas as pd

from augment_assets.defs.resources import env_or
from augment_assets.lib.yelp import (
    BUSINESS_FILE,
    REVIEW_FILE,
    SAMPLE_DIR,
    SourceReport,
    read_reviews_csv,
    read_yelp_reviews,
)


class ReviewSourceResource(dg.ConfigurableResource):
    """The review source, in order of precedence: the Yelp JSON files, a CSV, the embedded sample."""

    yelp_dataset_dir: str | None = None
    reviews_csv: str | None = None
    gold_holdout_csv: str | None = None
    categories: list[str] = ["Pizza"]
    # A truncated last line of a download is fine; more than this share of bad lines is not.
    max_bad_line_share: float = 0.001

    def source(self) -> tuple[str, Path]:
        """The one precedence rule: ("yelp", folder), else ("csv", file), else ("sample", folder)."""
        if self.yelp_dataset_dir:
            return "yelp", Path(self.yelp_dataset_dir)
        if self.reviews_csv:
            return "csv", Path(self.reviews_csv)
        return "sample", SAMPLE_DIR

    def files(self) -> list[Path]:
        """The files `pizza_reviews` reads."""
        kind, path = self.source()
        return [path] if kind == "csv" else [path / BUSINESS_FILE, path / REVIEW_FILE]

    def read_reviews(self) -> tuple[pd.DataFrame, SourceReport]:
        kind, path = self.source()
        if kind == "csv":
            return read_reviews_csv(path)
        raw, report = read_yelp_reviews(path, self.categories, self.max_bad_line_share)
        report.source = kind if kind == "sample" else report.source
        return raw, report


def review_source_resource() -> ReviewSourceResource:
    return ReviewSourceResource(
        yelp_dataset_dir=env_or("YELP_DATASET_DIR"),
        reviews_csv=env_or("REVIEWS_CSV"),
        gold_holdout_csv=env_or("GOLD_HOLDOUT_CSV"),
    )
