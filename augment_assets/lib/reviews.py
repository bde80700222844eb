"""Labelling, rejection and dedup: from a source's raw frame to `pizza_reviews`.

The study's labels: 1-2 stars negative, 4-5 positive, 3 stars left out. A row
without stars (a CSV labelled by `sentiment`) keeps its `negative`/`positive`
label. Exact duplicates are reviews whose normalized texts are equal
(`augment_assets.lib.text.normalize_text`, the project's one normalizer; `text_key`
is its hash); the first one is kept.

"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from augment_assets.lib.errors import InputError
from augment_assets.lib.text import normalize_text, text_key

REVIEW_COLUMNS = ["review_id", "business_id", "stars", "sentiment", "text", "date"]
SENTIMENTS = ("negative", "positive")

# rejection reasons (stable strings: they are metadata keys)
EMPTY_TEXT = "empty text"
STARS_OUT_OF_RANGE = "stars outside 1-5"
NEUTRAL = "3 stars (neutral)"
STARS_NOT_WHOLE = "stars not a whole number"
UNKNOWN_SENTIMENT = "unknown sentiment label"
NO_LABEL = "no stars or sentiment"


def _is_blank(value) -> bool:
    return (
        value is None
        or (isinstance(value, float) and np.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def csv_review_id(key: str) -> str:
    """The stable id of a review without one: a hash of its normalized text."""
    return "csv-" + key


def label_reviews(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int], int]:
    """(reviews, rejected reason -> count, duplicates_removed) from a raw source frame.

    `raw` needs `text` and `stars` and/or `sentiment`; `review_id`, `business_id`,
    `date` are optional. Stars decide the label when present (1-2 negative, 4-5
    positive, 3 rejected as neutral, anything outside 1-5 rejected); otherwise
    `sentiment` (negative/positive, any case). Empty texts (nothing left after
    normalization) are rejected. Duplicates - the same normalized text, or the same
    review_id - are removed keeping the first and counted.
    """
    if "text" not in raw.columns or not ({"stars", "sentiment"} & set(raw.columns)):
        raise InputError(
            f"label_reviews needs a 'text' column and a 'stars' or 'sentiment' column; found: {', '.join(map(str, raw.columns))}"
        )
    n = len(raw)
    texts = raw["text"].tolist()
    stars = (
        pd.to_numeric(raw["stars"], errors="coerce").to_numpy(dtype=float)
        if "stars" in raw.columns
        else np.full(n, np.nan)
    )
    sentiments_in = raw["sentiment"].tolist() if "sentiment" in raw.columns else [None] * n

    # One reason per row, in the order the rules apply (first match wins).
    blank = np.fromiter((_is_blank(t) for t in texts), bool, n)
    has_star = ~np.isnan(stars)
    with np.errstate(invalid="ignore"):
        out_of_range = has_star & ((stars < 1) | (stars > 5))
        negative = has_star & ~out_of_range & (stars <= 2)
        positive = has_star & ~out_of_range & (stars >= 4)
        neutral = has_star & (stars == 3)
    not_whole = has_star & ~out_of_range & ~negative & ~positive & ~neutral
    given = [None if _is_blank(v) else str(v).strip().lower() for v in sentiments_in]
    given_blank = np.fromiter((g is None for g in given), bool, n)
    given_label = np.array([g if g in SENTIMENTS else "" for g in given], dtype=object)
    labels = np.where(negative, "negative", np.where(positive, "positive", np.where(has_star, "", given_label)))
    reason = np.full(n, "", dtype=object)
    for mask, why in (
        (~has_star & ~given_blank & (given_label == ""), UNKNOWN_SENTIMENT),
        (~has_star & given_blank, NO_LABEL),
        (not_whole, STARS_NOT_WHOLE),
        (neutral, NEUTRAL),
        (out_of_range, STARS_OUT_OF_RANGE),
        (blank, EMPTY_TEXT),
    ):
        reason[mask] = why  # later rules overwrite: blank text is checked first, so it is applied last
    labelled = np.flatnonzero(reason == "")
    normalized = [normalize_text(texts[i]) for i in labelled]
    empty = np.fromiter((not t for t in normalized), bool, len(normalized))
    dedup_key = np.array(normalized, dtype=object)
    reason[labelled[empty]] = EMPTY_TEXT  # punctuation or symbols only: nothing to compare or learn
    kept = labelled[~empty].tolist()
    dedup_key = dedup_key[~empty]
    rejected: Counter[str] = Counter(r for r in reason.tolist() if r)

    out = pd.DataFrame(
        {
            "review_id": _column(raw, "review_id", kept),
            "business_id": _column(raw, "business_id", kept),
            "stars": stars[kept] if kept else np.array([], dtype=float),
            "sentiment": labels[kept].tolist() if kept else [],
            "text": [texts[i] for i in kept],
            "date": _column(raw, "date", kept),
        }
    )
    out["review_id"] = [
        str(rid).strip() if not _is_blank(rid) else csv_review_id(text_key(text))
        for rid, text in zip(out["review_id"], out["text"])
    ]
    out["business_id"] = [None if _is_blank(b) else str(b) for b in out["business_id"]]
    out["date"] = [None if _is_blank(d) else str(d) for d in out["date"]]

    duplicate = pd.Series(dedup_key, dtype=object).duplicated(keep="first").to_numpy()
    duplicate |= out["review_id"].duplicated(keep="first").to_numpy()
    duplicates_removed = int(duplicate.sum())
    out = out[~duplicate].reset_index(drop=True)
    out["stars"] = out["stars"].astype(float)
    return out[REVIEW_COLUMNS], dict(rejected), duplicates_removed


def _column(raw: pd.DataFrame, name: str, rows: list[int]) -> list:
    if name not in raw.columns:
        return [None] * len(rows)
    values = raw[name].tolist()
    return [values[i] for i in rows]
