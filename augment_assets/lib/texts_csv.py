"""Reviews to label, from a CSV: a `text` column (an `id` or `review_id` column is kept too).

Everything is checked before anything is labelled, and each problem names the file and the line: a file that
is not UTF-8, an empty file, no `text` column, no rows, or rows whose text is empty. A CSV is read with
Python's csv module, so a quoted text may span lines; `line` is where its row starts in the file.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from .errors import InputError

ID_COLUMNS = ("review_id", "id")
SHOWN = 10  # rows named in an error; the rest are counted


def read_texts_csv(path: Path | str) -> pd.DataFrame:
    """`row` (1-based data row), `line` (its first line in the file), `review_id` (the file's, or None), `text`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read it ({error.strerror or error})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(
            f"{path}, line {line}: not UTF-8 (byte 0x{data[error.start]:02x} at offset {error.start}). "
            "Save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)."
        ) from None
    if not text.strip():
        raise InputError(f"{path}: the file is empty. Give a CSV with a header row and a `text` column.")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
        lowered = [h.lower() for h in header]
        if "text" not in lowered:
            raise InputError(
                f"{path}, line 1: no `text` column (the header has {', '.join(map(repr, header)) or 'nothing'}). "
                "Name the column that holds the reviews `text`."
            )
        text_at = lowered.index("text")
        id_at = next((lowered.index(c) for c in ID_COLUMNS if c in lowered), None)
        rows, start = [], reader.line_num + 1
        for record in reader:
            if record:  # an empty line is no row (a line of spaces or "" is a row with an empty text)
                rows.append(
                    {
                        "row": len(rows) + 1,
                        "line": start,
                        "review_id": record[id_at].strip() or None
                        if id_at is not None and id_at < len(record)
                        else None,
                        "text": record[text_at] if text_at < len(record) else "",
                    }
                )
            start = reader.line_num + 1
    except csv.Error as error:
        raise InputError(f"{path}, line {reader.line_num}: not a readable CSV row ({error})") from None
    if not rows:
        raise InputError(f"{path}: a header but no rows. Add one review per row under the `text` column.")
    frame = pd.DataFrame(rows, columns=["row", "line", "review_id", "text"])
    empty = frame[frame["text"].str.strip() == ""]
    if len(empty):
        named = ", ".join(str(line) for line in empty["line"].head(SHOWN))
        more = f" and {len(empty) - SHOWN} more" if len(empty) > SHOWN else ""
        raise InputError(
            f"{path}: {len(empty)} of {len(frame)} rows have an empty text (lines {named}{more}). "
            "Fill them in or remove them; nothing was labelled."
        )
    return frame
