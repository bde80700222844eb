"""Review sources: the Yelp Open Dataset JSON pair, a labelled CSV, or the embedded sample.

Dagster-free. Each reader returns a *raw* frame (columns `RAW_COLUMNS`) and a
`SourceReport`; labelling, rejection by stars/text and dedup happen afterwards
in `augment_assets.lib.reviews.label_reviews`, the same for every source.

The Yelp review file is about 7M lines / 5 GB, so it is never loaded into pandas.
DuckDB scans each file ONCE, streaming, on all its threads:

- the file is read as single VARCHAR lines (`read_csv` with a delimiter byte that
  valid JSON never contains raw, no quoting); each line is classified in SQL
  (`json_valid`; blank; whitespace only; malformed) and only the lines worth
  keeping get their fields extracted (`json_extract_string`, every line parsed on
  its own, so a malformed line can only lose itself - unlike `read_json` with
  `ignore_errors`, which can swallow the good line after an unterminated object);
- for the review file, one JSON parse per line decides: `try(json_extract_string(line,
  '$.business_id'))` (NULL when the line is malformed, then `json_valid` confirms it),
  and a cast of that id to an ENUM of the matching businesses' ids tests membership -
  a hash lookup that keeps the stream in file order, where an IN-subquery join, with
  several threads, does not;
- the result streams to Python in file order (`preserve_insertion_order`) as a
  one-byte kind per line plus the kept lines' fields, so line counts, the 1-based
  line numbers of malformed lines and the pizza rows all come from that one pass.
  Lines that are not UTF-8 come back from the CSV reader's rejects table, with
  line numbers.

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
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from augment_assets.lib.errors import InputError

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"
BUSINESS_FILE = "yelp_academic_dataset_business.json"
REVIEW_FILE = "yelp_academic_dataset_review.json"

RAW_COLUMNS = ["review_id", "business_id", "stars", "sentiment", "text", "date"]
MAX_BAD_LINE_EXAMPLES = 100

# Reasons a source rejects a row (label_reviews adds its own).
INVALID_UTF8 = "invalid UTF-8"
STARS_NOT_A_NUMBER = "stars not a number"

# Reasons a line is bad (malformed, not a review at all).
MALFORMED_JSON = "malformed JSON"
TRUNCATED_LAST_LINE = "truncated last line (no newline at end of file)"

_BUSINESS_ID_RE = re.compile(r'"business_id"\s*:\s*"([^"\\]*)"')


@dataclass
class SourceReport:
    """What a reader saw: lines read, bad lines (with line numbers), rows it rejected and why."""

    source: str  # "yelp_json", "csv" or "sample"
    path: str
    lines_read: int = 0
    bad_lines: list[tuple[str, int, str]] = field(default_factory=list)  # (file name, 1-based line, reason)
    bad_line_count: int = 0
    businesses_matched: int | None = None
    rejected: dict[str, int] = field(default_factory=dict)  # reason -> count

    def as_dict(self) -> dict:
        """JSON-friendly form (for asset metadata)."""
        return {
            "source": self.source,
            "path": self.path,
            "lines_read": self.lines_read,
            "bad_line_count": self.bad_line_count,
            "bad_lines": [list(b) for b in self.bad_lines],
            "businesses_matched": self.businesses_matched,
            "rejected": dict(self.rejected),
        }


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


# ---- DuckDB helpers -----------------------------------------------------------------


def _connect(threads: int | None = None, memory_limit: str = "512MB") -> duckdb.DuckDBPyConnection:
    threads = threads or max(1, min(4, os.cpu_count() or 1))
    con = duckdb.connect(
        config={
            "threads": threads,
            "memory_limit": memory_limit,
            # lines stream back in file order: line numbers, and dedup's "keep the first", rely on it
            "preserve_insertion_order": True,
        }
    )
    con.execute("set enable_progress_bar = false")
    return con


def _sql_str(value: str | os.PathLike) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _lines_relation(path: Path, rejects: str) -> str:
    """The file as one VARCHAR column `line` per physical line (no quoting, a delimiter JSON never holds raw)."""
    return (
        f"read_csv({_sql_str(path)}, columns={{'line': 'VARCHAR'}}, delim=e'\\x01', quote='', escape='',"
        f" header=false, auto_detect=false, strict_mode=false, ignore_errors=true,"
        f" store_rejects=true, rejects_table='{rejects}', rejects_scan='{rejects}_scan')"
    )


@dataclass
class _LineCheck:
    lines_read: int  # non-blank lines, including unreadable ones
    bad_count: int
    bad_examples: list[tuple[int, str]]  # (1-based line, reason)
    truncated_last_line: bool
    non_utf8: list[tuple[int, str]]  # (1-based line, the line with bad bytes replaced)


# Line kinds, decided in SQL (one byte per line crosses into Python).
_BLANK, _SKIP, _WHITESPACE, _KEEP, _MALFORMED = 0, 1, 2, 3, 4
_CHUNK_VECTORS = 64  # 64 x 2048 lines per fetched chunk


def _scan_lines(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    rejects: str,
    fields: Sequence[str],
    key: str | None = None,
    key_type: str | None = None,
) -> tuple[_LineCheck, pd.DataFrame]:
    """One streaming pass over a JSON-lines file: the line check and the kept lines' fields.

    Every line is classified. Without `key`, every valid line is kept; with it, a line
    is kept when its top-level `key` casts to the ENUM type `key_type` (the matching
    ids; None: nothing matches). Kept lines get `fields` (top-level keys) extracted
    with `json_extract_string`. Returns the line check and a frame of the kept lines'
    fields, in file order.
    """
    paths = ", ".join(f"'$.{f}'" for f in fields)
    lines = _lines_relation(path, rejects)
    if key is None:
        kind = f"""case when line is null then {_BLANK}
                        when json_valid(line) then {_KEEP}
                        when trim(line) = '' then {_WHITESPACE}
                        else {_MALFORMED} end"""
        source = lines
    else:
        # One JSON parse per line: extracting the key fails (NULL under try) on a malformed line,
        # and only those lines, or lines without the key, are tested again with json_valid.
        member = f"try_cast(k as {key_type}) is not null" if key_type else "false"
        kind = f"""case when line is null then {_BLANK}
                        when k is not null then (case when {member} then {_KEEP} else {_SKIP} end)
                        when json_valid(line) then {_SKIP}
                        when trim(line) = '' then {_WHITESPACE}
                        else {_MALFORMED} end"""
        source = f"(select line, try(json_extract_string(line, '$.{key}')) as k from {lines})"
    sql = f"""
        select kind, case when kind = {_KEEP} then json_extract_string(line, [{paths}]) end as f
        from (select line, ({kind})::utinyint as kind from {source})
    """  # the fields as one list column: cheaper to stream than one mostly-NULL column per field
    result = con.execute(sql)
    rows_seen = 0  # CSV rows (blank lines included), in file order
    present = 0
    bad_count = 0
    first_bad: list[int] = []  # row numbers (1-based) of the first malformed lines
    last_bad = 0
    kept: list[pd.DataFrame] = []
    while True:
        chunk = result.fetch_df_chunk(_CHUNK_VECTORS)
        if chunk is None or chunk.empty:
            break
        kind = chunk["kind"].to_numpy()
        present += int(np.count_nonzero(kind != _BLANK))
        bad = np.flatnonzero(kind == _MALFORMED)
        if len(bad):
            bad_count += len(bad)
            last_bad = rows_seen + int(bad[-1]) + 1
            if len(first_bad) < MAX_BAD_LINE_EXAMPLES:
                first_bad.extend((rows_seen + bad[: MAX_BAD_LINE_EXAMPLES - len(first_bad)] + 1).tolist())
        keep = kind == _KEEP
        if keep.any():
            kept.append(pd.DataFrame(chunk["f"].to_numpy()[keep].tolist(), columns=list(fields), dtype=object))
        rows_seen += len(kind)
    rows = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=list(fields), dtype=object)

    # Lines the CSV reader rejected (invalid UTF-8, an over-long line, a raw control byte) are
    # missing from the stream; shift the row numbers above back to file line numbers.
    try:
        rejected_rows = con.sql(
            f"select line, any_value(error_type), any_value(csv_line) from {rejects} group by line order by line"
        ).fetchall()
    except duckdb.CatalogException:  # no line was rejected, so no rejects table was made
        rejected_rows = []
    rejected_lines = [int(r[0]) for r in rejected_rows]

    def to_file_line(row_number: int) -> int:
        line = row_number
        for skipped in rejected_lines:
            if skipped <= line:
                line += 1
            else:
                break
        return line

    total_lines = rows_seen + len(rejected_lines)
    truncated_last_line = bool(last_bad) and to_file_line(last_bad) == total_lines and _last_line_truncated(path)
    examples: list[tuple[int, str]] = []
    for n in first_bad:
        line_no = to_file_line(int(n))
        reason = TRUNCATED_LAST_LINE if truncated_last_line and line_no == total_lines else MALFORMED_JSON
        examples.append((line_no, reason))
    if truncated_last_line and all(line_no != total_lines for line_no, _ in examples):
        examples.append((total_lines, TRUNCATED_LAST_LINE))  # past the first examples, but always shown

    non_utf8: list[tuple[int, str]] = []
    for line_no, error_type, csv_line in rejected_rows:
        if error_type == "INVALID ENCODING":
            non_utf8.append((int(line_no), csv_line or ""))
        else:
            bad_count += 1
            if len(examples) < MAX_BAD_LINE_EXAMPLES:
                examples.append((int(line_no), f"unreadable line ({str(error_type).lower()})"))
    examples.sort()
    check = _LineCheck(
        lines_read=present + len(rejected_lines),
        bad_count=int(bad_count),
        bad_examples=examples[:MAX_BAD_LINE_EXAMPLES],
        truncated_last_line=truncated_last_line,
        non_utf8=non_utf8,
    )
    return check, rows


def _last_line_truncated(path: Path, tail_bytes: int = 1 << 20) -> bool:
    """True when the file does not end in a newline and its last line is not a whole JSON value."""
    size = path.stat().st_size
    if size == 0:
        return False
    with open(path, "rb") as handle:
        handle.seek(max(0, size - tail_bytes))
        tail = handle.read()
    if tail.endswith(b"\n"):
        return False
    newline = tail.rfind(b"\n")
    if newline < 0 and size > tail_bytes:
        return True  # a last line over 1 MiB without a newline: treat as cut off
    last = tail[newline + 1 :].strip()
    if not last:
        return False
    try:
        json.loads(last.decode("utf-8"))
    except UnicodeDecodeError:
        return False  # not UTF-8: the CSV line reader rejects it as such
    except ValueError:
        return True
    return False


def _enforce_bad_line_share(check: _LineCheck, path: Path, max_bad_line_share: float) -> None:
    """Fail when too many lines are malformed; a truncated last line alone never counts against the share."""
    counted = check.bad_count - (1 if check.truncated_last_line else 0)
    if check.lines_read == 0 or counted <= 0:
        return
    share = counted / check.lines_read
    if share > max_bad_line_share:
        first = ", ".join(str(n) for n, _ in check.bad_examples[:10])
        raise InputError(
            f"{path}: {counted} of {check.lines_read} lines are not valid JSON ({share:.3%}, more than the allowed "
            f"{max_bad_line_share:.3%}); first bad lines: {first}. Re-download or repair the file, or raise "
            f"max_bad_line_share if these lines may be skipped."
        )


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
        # businesses: one pass, the line check and business_id + categories of every valid line
        business_check, businesses = _scan_lines(con, business_path, "rejects_business", ("business_id", "categories"))
        _enforce_bad_line_share(business_check, business_path, max_bad_line_share)
        businesses = businesses[businesses["business_id"].notna()]
        matched_mask = [_matches(c, wanted) for c in businesses["categories"]]
        matched = pd.DataFrame({"business_id": businesses.loc[matched_mask, "business_id"].drop_duplicates()})
        report.businesses_matched = int(len(matched))
        if len(matched):
            con.register("matched_business", matched)
            con.execute(f"create type {_MATCHED_ENUM} as enum (select business_id from matched_business)")

        # reviews: one pass, the line check and the fields of matching lines
        review_check, raw = _scan_lines(
            con, review_path, "rejects_review", _REVIEW_FIELDS, "business_id", _MATCHED_ENUM if len(matched) else None
        )
        _enforce_bad_line_share(review_check, review_path, max_bad_line_share)
    finally:
        con.close()

    report.lines_read = business_check.lines_read + review_check.lines_read
    for name, check in ((BUSINESS_FILE, business_check), (REVIEW_FILE, review_check)):
        report.bad_line_count += check.bad_count
        report.bad_lines.extend((name, n, reason) for n, reason in check.bad_examples)
    for line_no, _ in business_check.non_utf8:  # a business line that is not UTF-8: unreadable
        report.bad_line_count += 1
        report.bad_lines.append((BUSINESS_FILE, line_no, INVALID_UTF8))
    report.bad_lines = report.bad_lines[:MAX_BAD_LINE_EXAMPLES]

    matched_ids = set(matched["business_id"])
    non_utf8_pizza = 0
    for _, line in review_check.non_utf8:
        found = _BUSINESS_ID_RE.search(line)
        if found is None or found.group(1) in matched_ids:
            non_utf8_pizza += 1
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


def read_sample_reviews(categories: Sequence[str] = ("Pizza",)) -> tuple[pd.DataFrame, SourceReport]:
    """The embedded demonstration sample (`data/sample/`), read exactly like the real dataset."""
    return read_yelp_reviews(SAMPLE_DIR, categories, source="sample")


# ---- a labelled CSV -----------------------------------------------------------------

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
    if path is None or str(path).strip() == "":
        raise InputError("No reviews CSV given: set REVIEWS_CSV to a CSV with columns text and stars or sentiment.")
    csv_path = Path(path).expanduser()
    if not csv_path.is_file():
        raise InputError(
            f"Reviews CSV {csv_path} does not exist: set REVIEWS_CSV to an existing CSV file with columns "
            f"text and stars or sentiment (or unset it)."
        )
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

    frame.columns = [str(c).strip().lower() for c in frame.columns]
    found_columns = ", ".join(frame.columns) or "(none)"
    if "text" not in frame.columns or not ({"stars", "sentiment"} & set(frame.columns)):
        raise InputError(
            f"Reviews CSV {csv_path} (REVIEWS_CSV) needs a 'text' column and a 'stars' or 'sentiment' column; "
            f"found columns: {found_columns}."
        )

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
    frame = frame[~non_utf8]

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
    return raw, report
