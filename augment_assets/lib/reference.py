"""Another generator's synthetic reviews (`REFERENCE_SYNTHETIC_CSV`), read for comparison."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from augment_assets.lib.errors import InputError

SENTIMENTS = {"negative", "positive"}


def read_reference_synthetic(path: str | Path) -> pd.DataFrame:
    """`sentiment`,`text` rows; rows with empty text are dropped, unknown labels are an error."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"REFERENCE_SYNTHETIC_CSV points to {path}, which does not exist: fix or unset the variable.")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError) as error:
        raise InputError(f"{path} is not a readable UTF-8 CSV: {error}") from error
    missing = {"sentiment", "text"} - set(frame.columns)
    if missing:
        raise InputError(
            f"{path} (REFERENCE_SYNTHETIC_CSV) lacks column(s) {sorted(missing)}; it has {list(frame.columns)}. "
            "It needs `sentiment` (negative/positive) and `text`."
        )
    frame["sentiment"] = frame["sentiment"].str.strip().str.lower()
    bad = frame.index[~frame["sentiment"].isin(SENTIMENTS)]
    if len(bad):
        first = bad[0]
        raise InputError(
            f"{path} line {first + 2}: sentiment {frame.loc[first, 'sentiment']!r} is not negative/positive "
            f"({len(bad)} such rows). Relabel them or drop them."
        )
    frame = frame[frame["text"].str.strip() != ""]
    return frame[["sentiment", "text"]].reset_index(drop=True)
