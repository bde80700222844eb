"""Another generator's synthetic reviews (`REFERENCE_SYNTHETIC_CSV`): read, checked, given ids.

The reference is a comparison, scored through the same evaluation as our own synthetic
reviews, and it goes through the same leakage checks first: a generator that saw the
holdout (the study's GPT-2 was fine-tuned on reviews that a holdout cut from the same
CSV contains) makes reviews that near-duplicate it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from augment_assets.lib.errors import InputError
from augment_assets.lib.reviews import SENTIMENTS

REFERENCE_COLUMNS = ["synthetic_id", "sentiment", "temperature", "text", "line"]


def empty_reference() -> pd.DataFrame:
    """The `reference_synthetic` table when no reference is configured (typed columns)."""
    return pd.DataFrame(
        {
            "synthetic_id": pd.Series(dtype="string"),
            "sentiment": pd.Series(dtype="string"),
            "temperature": pd.Series(dtype="float64"),
            "text": pd.Series(dtype="string"),
            "line": pd.Series(dtype="int64"),
        }
    )


def read_reference_synthetic(path: str | Path) -> pd.DataFrame:
    """`synthetic_id` (`reference-<line>`), `sentiment`, `temperature` (unknown: null), `text`, `line` (CSV line).

    Rows with empty text are dropped; unknown labels, missing columns and a file without
    rows are errors that name the file and what it holds.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"REFERENCE_SYNTHETIC_CSV points to {path}, which does not exist: fix or unset the variable.")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(
            f"{path} (REFERENCE_SYNTHETIC_CSV) is empty: it needs a header with `sentiment` and `text` and at least one row."
        ) from None
    except (UnicodeDecodeError, pd.errors.ParserError) as error:
        raise InputError(f"{path} (REFERENCE_SYNTHETIC_CSV) is not a readable UTF-8 CSV: {error}") from error
    missing = {"sentiment", "text"} - set(frame.columns)
    if missing:
        raise InputError(
            f"{path} (REFERENCE_SYNTHETIC_CSV) lacks column(s) {sorted(missing)}; it has {list(frame.columns)}. "
            "It needs `sentiment` (negative/positive) and `text`."
        )
    frame = frame.assign(line=frame.index + 2)  # line 1 is the header
    frame["sentiment"] = frame["sentiment"].str.strip().str.lower()
    bad = frame.index[~frame["sentiment"].isin(SENTIMENTS)]
    if len(bad):
        first = bad[0]
        raise InputError(
            f"{path} line {first + 2}: sentiment {frame.loc[first, 'sentiment']!r} is not negative/positive "
            f"({len(bad)} such rows). Relabel them or drop them."
        )
    frame = frame[frame["text"].str.strip() != ""]
    if frame.empty:
        raise InputError(f"{path} (REFERENCE_SYNTHETIC_CSV) has no row with a non-empty `text`.")
    missing_class = [s for s in SENTIMENTS if not (frame["sentiment"] == s).any()]
    if missing_class:
        raise InputError(
            f"{path} (REFERENCE_SYNTHETIC_CSV) has no {missing_class[0]} reviews: a reference needs both sentiments."
        )
    return pd.DataFrame(
        {
            "synthetic_id": [f"reference-{line:06d}" for line in frame["line"]],
            "sentiment": frame["sentiment"].to_numpy(),
            "temperature": float("nan"),
            "text": frame["text"].to_numpy(),
            "line": frame["line"].to_numpy(),
        }
    )[REFERENCE_COLUMNS].reset_index(drop=True)
