"""Review sources: the Yelp Open Dataset JSON pair, a labelled CSV, or the embedded sample.

Dagster-free. Each reader returns a *raw* frame (columns `RAW_COLUMNS`) and a
`SourceReport`; labelling, rejection by stars/text and dedup happen afterwards
in `augment_assets.lib.reviews.label_reviews`, the same for every source.

The Yelp review file is about 7M lines / 5 GB, so it is never loaded into pandas:
DuckDB scans each file ONCE, streaming, on all its threads (`augment_assets.lib.yelp_scan`
says how). The CSV reader lives in `augment_assets.lib.csv_reviews`, the raw columns and
the report in `augment_assets.lib.yelp_report`; this module re-exports both.

Category matching (`category_matches`): a business matches when one whole item
of its ", "-separated `categories` list equals one of the wanted categories,
case-insensitively and ignoring surrounding whitespace. "Pizza" therefore
matches "Restaurants, pizza" but not "Pizzeria Supplies" or "Pizza Ovens"; null
categories never match. A JSON list (`["Restaurants", "Pizza"]`, as some exports
write it) is read as the same list of items.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd

from augment_assets.lib.csv_reviews import read_reviews_csv  # noqa: F401 - re-exported
from augment_assets.lib.errors import InputError
from augment_assets.lib.yelp_report import (  # noqa: F401 - re-exported
    INVALID_UTF8,
    MALFORMED_JSON,
    MAX_BAD_LINE_EXAMPLES,
    RAW_COLUMNS,
    STARS_NOT_A_NUMBER,
    TRUNCATED_LAST_LINE,
    SourceReport,
)
from augment_assets.lib.yelp_scan import _connect, _enforce_bad_line_share, _LineCheck, _scan_lines

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"
BUSINESS_FILE = "yelp_academic_dataset_business.json"
REVIEW_FILE = "yelp_academic_dataset_review.json"

_BUSINESS_ID_RE = re.compile(r'"business_id"\s*:\s*"([^"\\]*)"')


# ---- category matching -------------------------------------------------------------


def _category_set(wanted: Sequence[str] | str) -> set[str]:
    if isinstance(wanted, str):
        wanted = [wanted]
    return {w.strip().casefold() for w in wanted if w and w.strip()}


def category_matches(categories: str | None, wanted: Sequence[str]) -> bool:
    """True when one whole item of the ", "-separated `categories` equals a wanted category.

    Case-insensitive, whitespace-stripped, whole items only ("Pizza" does not match
    "Pizzeria Supplies"); None / NaN / empty categories never match.
    """
    if isinstance(categories, (list, tuple)):
        return _matches(categories, _category_set(wanted))
    if categories is None or not isinstance(categories, str) or not categories.strip():
        return False
    return _matches(categories, _category_set(wanted))


def _category_items(categories: str) -> list[str]:
    """The items of a ", "-separated categories string, or of a JSON list written as text."""
    text = categories.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            items = None
        if isinstance(items, list):
            return [str(item) for item in items if item is not None]
    return text.split(",")


def _matches(categories, wanted_set: set[str]) -> bool:
    """category_matches with the wanted set already folded (called once per business)."""
    if isinstance(categories, (list, tuple)):
        items = [str(c) for c in categories]
    elif isinstance(categories, str):
        items = _category_items(categories)
    else:
        return False
    return any(item.strip().casefold() in wanted_set for item in items)


# ---- the dataset folder -------------------------------------------------------------


def _require_dataset(dataset_dir: str | os.PathLike | None) -> tuple[Path, Path, Path]:
    if dataset_dir is None or str(dataset_dir).strip() == "":
        raise InputError(
            "No Yelp dataset directory given: set YELP_DATASET_DIR to the folder holding "
            f"{BUSINESS_FILE} and {REVIEW_FILE}."
        )
    folder = Path(dataset_dir).expanduser()
    if not folder.is_dir():
        raise InputError(
            f"Yelp dataset directory {folder} does not exist or is not a directory: set YELP_DATASET_DIR to the "
            f"folder holding {BUSINESS_FILE} and {REVIEW_FILE} (or unset it to use the embedded sample)."
        )
    business_path, review_path = folder / BUSINESS_FILE, folder / REVIEW_FILE
    for path in (business_path, review_path):
        if not path.is_file():
            raise InputError(
                f"{path} is missing: YELP_DATASET_DIR={folder} must hold both {BUSINESS_FILE} and {REVIEW_FILE} "
                f"(extract them from the Yelp Open Dataset tar), or set YELP_DATASET_DIR to the folder that does."
            )
        with path.open("rb") as handle:
            magic = handle.read(4)
        # compressed files under the .json name would otherwise read as "n% bad JSON lines"
        for prefix, kind, fix in (
            (b"\x1f\x8b", "gzip", "gunzip -c {p} > {p}.tmp && mv {p}.tmp {p}"),
            (b"PK\x03\x04", "zip", "unzip it and keep the .json file"),
            (b"BZh", "bzip2", "bunzip2 -c {p} > {p}.tmp && mv {p}.tmp {p}"),
        ):
            if magic.startswith(prefix):
                raise InputError(
                    f"{path} is {kind}-compressed, not JSON lines: decompress it first ({fix.format(p=path.name)}), "
                    f"then run again."
                )
    return folder, business_path, review_path


# ---- the Yelp JSON pair -------------------------------------------------------------

_REVIEW_FIELDS = ("review_id", "business_id", "stars", "text", "date")

_MATCHED_ENUM = "matched_business_id"


def read_yelp_reviews(
    dataset_dir: str | os.PathLike | None,
    categories: Sequence[str] = ("Pizza",),
    max_bad_line_share: float = 0.001,
    *,
    source: str = "yelp_json",
    threads: int | None = None,
    memory_limit: str = "512MB",
) -> tuple[pd.DataFrame, SourceReport]:
    """Reviews of businesses with one of `categories`, from the two Yelp JSON files in `dataset_dir`.

    Returns the raw frame (`RAW_COLUMNS`; `sentiment` is None, labelling comes later)
    and a report. Malformed lines are counted and listed with line numbers; more than
    `max_bad_line_share` of a file's lines being malformed raises `InputError` (a
    truncated last line alone never does). Lines that are not UTF-8 are rejected
    (counted under "invalid UTF-8" when they belong to a matching business).
    """
    folder, business_path, review_path = _require_dataset(dataset_dir)
    wanted = _category_set(categories)
    if not wanted:
        raise InputError(f"No category to filter on (got {list(categories)!r}): give at least one, e.g. ['Pizza'].")
    report = SourceReport(source=source, path=str(folder))
    con = _connect(threads, memory_limit)
    try:
        business_check, businesses, matched = _scan_businesses(con, business_path, wanted, max_bad_line_share)
        report.businesses_matched = int(len(matched))
        # reviews: one pass, the line check and the fields of matching lines
        review_check, raw = _scan_lines(
            con, review_path, "rejects_review", _REVIEW_FIELDS, "business_id", _MATCHED_ENUM if len(matched) else None
        )
        _enforce_bad_line_share(review_check, review_path, max_bad_line_share)
    finally:
        con.close()

    _report_lines(report, business_check, review_check)
    matched_ids = set(matched["business_id"])
    non_utf8_pizza = _non_utf8_matching(review_check, matched_ids)
    if non_utf8_pizza:
        report.rejected[INVALID_UTF8] = non_utf8_pizza

    raw = raw[raw["business_id"].isin(matched_ids)].reset_index(drop=True)  # already so: a cheap guard
    if raw.empty:
        cats = ", ".join(repr(c) for c in categories)
        raise InputError(
            f"No reviews left after the category filter [{cats}] on {folder}: {len(businesses)} businesses scanned, "
            f"{report.businesses_matched} matched, {review_check.lines_read} review lines scanned. Check the "
            f"category names (whole items of the business 'categories' list, case-insensitive) or the dataset."
        )
    raw["stars"] = pd.to_numeric(raw["stars"], errors="coerce").astype(float)
    raw["sentiment"] = None
    raw = raw.astype({c: object for c in ("review_id", "business_id", "text", "date")})
    return raw[RAW_COLUMNS], report


def _scan_businesses(
    con: duckdb.DuckDBPyConnection, business_path: Path, wanted: set[str], max_bad_line_share: float
) -> tuple[_LineCheck, pd.DataFrame, pd.DataFrame]:
    """The business file's line check, its businesses with an id, and the matching ones' ids.

    The matching ids become the ENUM type `_MATCHED_ENUM` on `con` (when there are any),
    which the review scan casts each review's business_id to.
    """
    # businesses: one pass, the line check and business_id + categories of every valid line
    business_check, businesses = _scan_lines(con, business_path, "rejects_business", ("business_id", "categories"))
    _enforce_bad_line_share(business_check, business_path, max_bad_line_share)
    businesses = businesses[businesses["business_id"].notna()]
    matched_mask = [_matches(c, wanted) for c in businesses["categories"]]
    matched = pd.DataFrame({"business_id": businesses.loc[matched_mask, "business_id"].drop_duplicates()})
    if len(matched):
        con.register("matched_business", matched)
        con.execute(f"create type {_MATCHED_ENUM} as enum (select business_id from matched_business)")
    return business_check, businesses, matched


def _report_lines(report: SourceReport, business_check: _LineCheck, review_check: _LineCheck) -> None:
    """Lines read and bad lines of both files into `report` (at most `MAX_BAD_LINE_EXAMPLES` listed)."""
    report.lines_read = business_check.lines_read + review_check.lines_read
    for name, check in ((BUSINESS_FILE, business_check), (REVIEW_FILE, review_check)):
        report.bad_line_count += check.bad_count
        report.bad_lines.extend((name, n, reason) for n, reason in check.bad_examples)
    for line_no, _ in business_check.non_utf8:  # a business line that is not UTF-8: unreadable
        report.bad_line_count += 1
        report.bad_lines.append((BUSINESS_FILE, line_no, INVALID_UTF8))
    report.bad_lines = report.bad_lines[:MAX_BAD_LINE_EXAMPLES]


def _non_utf8_matching(review_check: _LineCheck, matched_ids: set) -> int:
    """Review lines that are not UTF-8 and belong to a matching business (or whose business cannot be read)."""
    non_utf8_pizza = 0
    for _, line in review_check.non_utf8:
        found = _BUSINESS_ID_RE.search(line)
        if found is None or found.group(1) in matched_ids:
            non_utf8_pizza += 1
    return non_utf8_pizza


def read_sample_reviews(categories: Sequence[str] = ("Pizza",)) -> tuple[pd.DataFrame, SourceReport]:
    """The embedded demonstration sample (`data/sample/`), read exactly like the real dataset."""
    return read_yelp_reviews(SAMPLE_DIR, categories, source="sample")
