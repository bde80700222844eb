"""Review source: a labelled CSV (`REVIEWS_CSV`), read into the raw frame every source returns.

Dagster-free. Like the Yelp reader (`augment_assets.lib.yelp`, which re-exports
`read_reviews_csv`), it returns a *raw* frame (columns `RAW_COLUMNS`) and a
`SourceReport`; labelling, rejection by stars/text and dedup happen afterwards in
`augment_assets.lib.reviews.label_reviews`.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import pandas as pd

from augment_assets.lib.errors import InputError
from augment_assets.lib.yelp_report import (
    INVALID_UTF8,
    MAX_BAD_LINE_EXAMPLES,
    RAW_COLUMNS,
    STARS_NOT_A_NUMBER,
    SourceReport,
)

_SURROGATE_RE = re.compile("[\udc80-\udcff]")
_PANDAS_BAD_LINE_RE = re.compile(r"(?:Skipping line|line) (\d+)")


def read_reviews_csv(
    path: str | os.PathLike | None,
    max_bad_line_share: float = 0.001,
) -> tuple[pd.DataFrame, SourceReport]:
    """A CSV with `text` and `stars` or `sentiment` (optional `business_id`, `review_id`, `date`).

    Header names are matched case-insensitively. Rows with a wrong number of fields
    are counted as bad lines (with line numbers) and fail the read above
    `max_bad_line_share`; rows with bytes that are not UTF-8 and rows whose
    `stars` is not a number are rejected and counted.
    """
    csv_path = _existing_csv(path)
    frame, bad_line_numbers = _read_csv_text(csv_path)
    _require_columns(frame, csv_path)
    report = _line_report(csv_path, frame, bad_line_numbers, max_bad_line_share)
    frame = _drop_non_utf8(frame, csv_path, report)
    return _raw_frame(frame, report), report


def _existing_csv(path: str | os.PathLike | None) -> Path:
    if path is None or str(path).strip() == "":
        raise InputError("No reviews CSV given: set REVIEWS_CSV to a CSV with columns text and stars or sentiment.")
    csv_path = Path(path).expanduser()
    if not csv_path.is_file():
        raise InputError(
            f"Reviews CSV {csv_path} does not exist: set REVIEWS_CSV to an existing CSV file with columns "
            f"text and stars or sentiment (or unset it)."
        )
    return csv_path


def _read_csv_text(csv_path: Path) -> tuple[pd.DataFrame, list[int]]:
    """Every cell as text, and the line numbers of the rows pandas skipped for a wrong number of fields."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = pd.read_csv(
                csv_path,
                dtype=str,
                keep_default_na=False,
                encoding="utf-8",
                encoding_errors="surrogateescape",
                on_bad_lines="warn",
            )
        except pd.errors.EmptyDataError as exc:
            raise InputError(
                f"Reviews CSV {csv_path} is empty: it needs a header with text and stars or sentiment."
            ) from exc
        except pd.errors.ParserError as exc:
            raise InputError(f"Reviews CSV {csv_path} cannot be parsed as CSV: {exc}") from exc
    bad_line_numbers: list[int] = []
    for warning in caught:
        for message in str(warning.message).splitlines():
            found = _PANDAS_BAD_LINE_RE.search(message)
            if found and ("Skipping" in message or "expected" in message.lower()):
                bad_line_numbers.append(int(found.group(1)))
    return frame, bad_line_numbers


def _require_columns(frame: pd.DataFrame, csv_path: Path) -> None:
    """Lower-case the header names (in place) and require `text` and `stars` or `sentiment`."""
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    found_columns = ", ".join(frame.columns) or "(none)"
    if "text" not in frame.columns or not ({"stars", "sentiment"} & set(frame.columns)):
        raise InputError(
            f"Reviews CSV {csv_path} (REVIEWS_CSV) needs a 'text' column and a 'stars' or 'sentiment' column; "
            f"found columns: {found_columns}."
        )


def _line_report(
    csv_path: Path, frame: pd.DataFrame, bad_line_numbers: list[int], max_bad_line_share: float
) -> SourceReport:
    """The report's line counts; fails when more than `max_bad_line_share` of the rows were skipped."""
    report = SourceReport(source="csv", path=str(csv_path))
    report.lines_read = len(frame) + len(bad_line_numbers)
    report.bad_line_count = len(bad_line_numbers)
    report.bad_lines = [(csv_path.name, n, "wrong number of fields") for n in bad_line_numbers[:MAX_BAD_LINE_EXAMPLES]]
    if report.lines_read and report.bad_line_count / report.lines_read > max_bad_line_share:
        first = ", ".join(str(n) for n in bad_line_numbers[:10])
        raise InputError(
            f"{csv_path}: {report.bad_line_count} of {report.lines_read} rows have the wrong number of fields "
            f"(more than {max_bad_line_share:.3%}); first bad lines: {first}. Repair the CSV (quote texts that "
            f"hold commas) or raise max_bad_line_share."
        )
    return report


def _drop_non_utf8(frame: pd.DataFrame, csv_path: Path, report: SourceReport) -> pd.DataFrame:
    """The rows without bytes that are not UTF-8, counting those rejected in `report`."""
    # bytes that are not UTF-8 survive as lone surrogates: reject those rows
    non_utf8 = pd.Series(False, index=frame.index)
    for column in frame.columns:
        non_utf8 |= frame[column].str.contains(_SURROGATE_RE, na=False)
    if non_utf8.any():
        report.rejected[INVALID_UTF8] = int(non_utf8.sum())
        if non_utf8.mean() > 0.5:  # a whole file in another encoding, not a few damaged rows
            raise InputError(
                f"{csv_path}: {int(non_utf8.sum())} of {len(frame)} rows are not valid UTF-8, so the file is in another "
                f"encoding (Latin-1 / Windows-1252 is the usual one). Re-save it as UTF-8, e.g. "
                f"`iconv -f latin1 -t utf-8 {csv_path.name} > {csv_path.stem}.utf8.csv`, and point REVIEWS_CSV at that."
            )
    return frame[~non_utf8]


def _raw_frame(frame: pd.DataFrame, report: SourceReport) -> pd.DataFrame:
    """The CSV's cells as `RAW_COLUMNS` (blank cells null, stars a float), counting rows whose stars are not numbers."""
    raw = pd.DataFrame(index=frame.index)
    for column in ("review_id", "business_id", "sentiment", "text", "date"):
        if column in frame.columns:
            values = frame[column].str.strip() if column != "text" else frame[column]
            raw[column] = values.where(values.str.strip() != "", None)
        else:
            raw[column] = None
    if "stars" in frame.columns:
        stars_text = frame["stars"].str.strip()
        stars = pd.to_numeric(stars_text, errors="coerce")
        not_a_number = stars.isna() & (stars_text != "")
        if not_a_number.any():
            report.rejected[STARS_NOT_A_NUMBER] = int(not_a_number.sum())
        raw["stars"] = stars.astype(float)
        raw = raw[~not_a_number]
    else:
        raw["stars"] = float("nan")
    raw = raw[RAW_COLUMNS].reset_index(drop=True)
    raw["stars"] = raw["stars"].astype(float)
    return raw
