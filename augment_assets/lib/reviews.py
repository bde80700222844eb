"""Labelling, rejection and dedup: from a source's raw frame to `pizza_reviews`.

The study's labels: 1-2 stars negative, 4-5 positive, 3 stars left out. A row
without stars (a CSV labelled by `sentiment`) keeps its `negative`/`positive`
label. Exact duplicates are reviews whose normalized texts are equal
(`augment_assets.lib.text.normalize_text`, the project's one normalizer; `text_key`
is its hash); the first one is kept. A removed duplicate whose text was kept under the
other label is counted apart (`CONFLICTING_LABEL`): the source disagrees with itself.

The 3-star reviews, left out of the labels, are what `unlabelled_reviews` returns: the
reviews the product labels with its trained classifier.

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

# duplicate reasons (label_reviews' third result; also metadata keys)
DUPLICATE = "duplicate text or review_id"
CONFLICTING_LABEL = "duplicate text with a conflicting label"

UNLABELLED_COLUMNS = ["review_id", "business_id", "stars", "text", "date"]


def _is_blank(value) -> bool:
    return (
        value is None
        or (isinstance(value, float) and np.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def csv_review_id(key: str) -> str:
    """The stable id of a review without one: a hash of its normalized text."""
    return "csv-" + key


def label_reviews(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int], dict[str, int]]:
    """(reviews, rejected reason -> count, removed duplicates reason -> count) from a raw source frame.

    `raw` needs `text` and `stars` and/or `sentiment`; `review_id`, `business_id`,
    `date` are optional. Stars decide the label when present (1-2 negative, 4-5
    positive, 3 rejected as neutral, anything outside 1-5 rejected); otherwise
    `sentiment` (negative/positive, any case). Empty texts (nothing left after
    normalization) are rejected. Duplicates - the same normalized text, or the same
    review_id - are removed keeping the first and counted: under `CONFLICTING_LABEL`
    when their text was kept under the other label, else under `DUPLICATE` (only
    reasons with rows appear, so `{}` means none). Every row of `raw` is either in
    `reviews` or counted once in one of the two dicts.
    """
    _require_text_and_label(raw)
    texts, stars, labels, reason = _row_reasons(raw)
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
            "review_id": _review_ids(raw, kept, texts),
            "business_id": _column(raw, "business_id", kept),
            "stars": stars[kept] if kept else np.array([], dtype=float),
            "sentiment": labels[kept].tolist() if kept else [],
            "text": [texts[i] for i in kept],
            "date": _column(raw, "date", kept),
        }
    )
    out["business_id"] = [None if _is_blank(b) else str(b) for b in out["business_id"]]
    out["date"] = [None if _is_blank(d) else str(d) for d in out["date"]]

    duplicate = pd.Series(dedup_key, dtype=object).duplicated(keep="first").to_numpy()
    duplicate |= out["review_id"].duplicated(keep="first").to_numpy()
    # a removed row conflicts when the kept row with its text carries the other label
    kept_label = dict(zip(dedup_key[~duplicate].tolist(), out["sentiment"][~duplicate].tolist()))
    removed_labels = out["sentiment"][duplicate].tolist()
    conflicting = sum(
        key in kept_label and kept_label[key] != label
        for key, label in zip(dedup_key[duplicate].tolist(), removed_labels)
    )
    duplicates = {DUPLICATE: int(duplicate.sum()) - conflicting, CONFLICTING_LABEL: conflicting}
    out = out[~duplicate].reset_index(drop=True)
    out["stars"] = out["stars"].astype(float)
    return out[REVIEW_COLUMNS], dict(rejected), {k: v for k, v in duplicates.items() if v}


def unlabelled_reviews(raw: pd.DataFrame, labelled: pd.DataFrame) -> pd.DataFrame:
    """The reviews of `raw` that carry no label because they have 3 stars (`NEUTRAL`), as `UNLABELLED_COLUMNS`.

    `labelled` is `label_reviews(raw)`'s reviews. Rows are deduplicated like labelled ones
    (normalized text, `augment_assets.lib.text.normalize_text`, or review_id; the first is
    kept); rows whose normalized text - or review_id - is a labelled review's are left out,
    and so are texts that normalize to nothing. review_id is made as label_reviews makes it
    (the given id, else `csv_review_id(text_key(text))`). Typed even when empty (string
    columns, float stars), so DuckDB never types an empty table's columns as INTEGER.
    """
    _require_text_and_label(raw)
    texts, stars, _, reason = _row_reasons(raw)
    rows = np.flatnonzero(reason == NEUTRAL).tolist()
    review_ids = _review_ids(raw, rows, texts)
    seen_texts = {normalize_text(t) for t in labelled["text"].tolist()} if len(labelled) else set()
    seen_ids = set(labelled["review_id"].astype(str)) if len(labelled) else set()
    kept: list[int] = []
    kept_ids: list[str] = []
    for row, review_id in zip(rows, review_ids):
        key = normalize_text(texts[row])
        if not key or key in seen_texts or review_id in seen_ids:
            continue
        seen_texts.add(key)
        seen_ids.add(review_id)
        kept.append(row)
        kept_ids.append(review_id)
    out = pd.DataFrame(
        {
            "review_id": pd.Series(kept_ids, dtype="string"),
            "business_id": pd.Series(
                [None if _is_blank(b) else str(b) for b in _column(raw, "business_id", kept)], dtype="string"
            ),
            "stars": pd.Series(stars[kept] if kept else [], dtype="float64"),
            "text": pd.Series([texts[i] for i in kept], dtype="string"),
            "date": pd.Series([None if _is_blank(d) else str(d) for d in _column(raw, "date", kept)], dtype="string"),
        }
    )
    return out[UNLABELLED_COLUMNS]


def _require_text_and_label(raw: pd.DataFrame) -> None:
    if "text" not in raw.columns or not ({"stars", "sentiment"} & set(raw.columns)):
        raise InputError(
            f"label_reviews needs a 'text' column and a 'stars' or 'sentiment' column; found: {', '.join(map(str, raw.columns))}"
        )


def _row_reasons(raw: pd.DataFrame) -> tuple[list, np.ndarray, np.ndarray, np.ndarray]:
    """(texts, stars, label of each row ("" when none), reason each row is rejected ("" when none))."""
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
    return texts, stars, labels, reason


def _review_ids(raw: pd.DataFrame, rows: list[int], texts: list) -> list[str]:
    """The given review_id of each row, else `csv_review_id` of its text's key."""
    return [
        str(rid).strip() if not _is_blank(rid) else csv_review_id(text_key(texts[row]))
        for rid, row in zip(_column(raw, "review_id", rows), rows)
    ]


def _column(raw: pd.DataFrame, name: str, rows: list[int]) -> list:
    if name not in raw.columns:
        return [None] * len(rows)
    values = raw[name].tolist()
    return [values[i] for i in rows]
