"""One streaming DuckDB pass over a JSON-lines file: the line check and the kept lines' fields.

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

Used by `augment_assets.lib.yelp.read_yelp_reviews`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from augment_assets.lib.errors import InputError
from augment_assets.lib.yelp_report import MALFORMED_JSON, MAX_BAD_LINE_EXAMPLES, TRUNCATED_LAST_LINE


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
    result = con.execute(_scan_sql(path, rejects, fields, key, key_type))
    stream, rows = _stream_lines(result, fields)

    # Lines the CSV reader rejected (invalid UTF-8, an over-long line, a raw control byte) are
    # missing from the stream; shift the row numbers above back to file line numbers.
    rejected_rows = _rejected_rows(con, rejects)
    rejected_lines = [int(r[0]) for r in rejected_rows]
    examples, truncated_last_line = _malformed_examples(stream, rejected_lines, path)
    unreadable, non_utf8 = _sort_rejected(rejected_rows, examples)
    examples.sort()
    check = _LineCheck(
        lines_read=stream.present + len(rejected_lines),
        bad_count=int(stream.bad_count + unreadable),
        bad_examples=examples[:MAX_BAD_LINE_EXAMPLES],
        truncated_last_line=truncated_last_line,
        non_utf8=non_utf8,
    )
    return check, rows


def _scan_sql(path: Path, rejects: str, fields: Sequence[str], key: str | None, key_type: str | None) -> str:
    """The scan's query: a one-byte kind per line, and the kept lines' `fields`."""
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
    return f"""
        select kind, case when kind = {_KEEP} then json_extract_string(line, [{paths}]) end as f
        from (select line, ({kind})::utinyint as kind from {source})
    """  # the fields as one list column: cheaper to stream than one mostly-NULL column per field


@dataclass
class _Stream:
    """What the streamed line kinds showed, counted in CSV rows (rejected lines are missing from them)."""

    rows_seen: int = 0  # CSV rows (blank lines included), in file order
    present: int = 0  # non-blank rows
    bad_count: int = 0  # malformed rows
    first_bad: list[int] = field(default_factory=list)  # row numbers (1-based) of the first malformed lines
    last_bad: int = 0  # row number (1-based) of the last malformed line, 0 when none


def _stream_lines(result: duckdb.DuckDBPyConnection, fields: Sequence[str]) -> tuple[_Stream, pd.DataFrame]:
    """Fetch the scan's result chunk by chunk: the counts of line kinds, and the kept lines' fields in file order."""
    stream = _Stream()
    kept: list[pd.DataFrame] = []
    while True:
        chunk = result.fetch_df_chunk(_CHUNK_VECTORS)
        if chunk is None or chunk.empty:
            break
        kind = chunk["kind"].to_numpy()
        stream.present += int(np.count_nonzero(kind != _BLANK))
        bad = np.flatnonzero(kind == _MALFORMED)
        if len(bad):
            stream.bad_count += len(bad)
            stream.last_bad = stream.rows_seen + int(bad[-1]) + 1
            if len(stream.first_bad) < MAX_BAD_LINE_EXAMPLES:
                room = MAX_BAD_LINE_EXAMPLES - len(stream.first_bad)
                stream.first_bad.extend((stream.rows_seen + bad[:room] + 1).tolist())
        keep = kind == _KEEP
        if keep.any():
            kept.append(pd.DataFrame(chunk["f"].to_numpy()[keep].tolist(), columns=list(fields), dtype=object))
        stream.rows_seen += len(kind)
    rows = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=list(fields), dtype=object)
    return stream, rows


def _rejected_rows(con: duckdb.DuckDBPyConnection, rejects: str) -> list[tuple]:
    """The lines the CSV reader rejected: (1-based line, error type, the line), in line order."""
    try:
        return con.sql(
            f"select line, any_value(error_type), any_value(csv_line) from {rejects} group by line order by line"
        ).fetchall()
    except duckdb.CatalogException:  # no line was rejected, so no rejects table was made
        return []


def _to_file_line(row_number: int, rejected_lines: list[int]) -> int:
    """A CSV row number as a file line number: one further for each rejected line at or before it."""
    line = row_number
    for skipped in rejected_lines:
        if skipped <= line:
            line += 1
        else:
            break
    return line


def _malformed_examples(stream: _Stream, rejected_lines: list[int], path: Path) -> tuple[list[tuple[int, str]], bool]:
    """The first malformed lines as (file line, reason), and whether the last line is a truncated one."""
    total_lines = stream.rows_seen + len(rejected_lines)
    truncated_last_line = (
        bool(stream.last_bad)
        and _to_file_line(stream.last_bad, rejected_lines) == total_lines
        and _last_line_truncated(path)
    )
    examples: list[tuple[int, str]] = []
    for n in stream.first_bad:
        line_no = _to_file_line(int(n), rejected_lines)
        reason = TRUNCATED_LAST_LINE if truncated_last_line and line_no == total_lines else MALFORMED_JSON
        examples.append((line_no, reason))
    if truncated_last_line and all(line_no != total_lines for line_no, _ in examples):
        examples.append((total_lines, TRUNCATED_LAST_LINE))  # past the first examples, but always shown
    return examples, truncated_last_line


def _sort_rejected(rejected_rows: list[tuple], examples: list[tuple[int, str]]) -> tuple[int, list[tuple[int, str]]]:
    """Split the rejected lines: not UTF-8 (returned with their text) or unreadable (bad lines).

    Unreadable lines are appended to `examples` while it has room; returns their count
    and the (line, text) of the lines that are not UTF-8.
    """
    unreadable = 0
    non_utf8: list[tuple[int, str]] = []
    for line_no, error_type, csv_line in rejected_rows:
        if error_type == "INVALID ENCODING":
            non_utf8.append((int(line_no), csv_line or ""))
        else:
            unreadable += 1
            if len(examples) < MAX_BAD_LINE_EXAMPLES:
                examples.append((int(line_no), f"unreadable line ({str(error_type).lower()})"))
    return unreadable, non_utf8


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
