"""Labelling reviews with a saved classifier: which classifier (the registry's current one at a data size,
by default the largest), and the prediction rows `review_predictions` and `augment-assets predict` write."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from .errors import InputError
from .saved_classifier import ASSET, SavedClassifier
from .text import text_hash

PREDICTION_COLUMNS = [
    "batch",
    "source",
    "source_row",
    "review_id",
    "text_hash",
    "predicted_sentiment",
    "p_positive",
    "classifier_version",
    "data_size",
    "scored_at",
]
CHUNK = 2048  # reviews per call: the progress bar moves, and the TF-IDF pipeline still works on large batches


def largest_first(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by data size, largest first (`all`, then capped sizes by reviews per class); ties keep their order."""
    per_class = pd.to_numeric(frame["genuine_per_class"], errors="coerce").astype(float).fillna(np.inf)
    return frame.assign(_order=-per_class).sort_values("_order", kind="stable").drop(columns="_order")


def choose_saved(registry: pd.DataFrame, data_size: str | None = None) -> pd.Series:
    """The registry's current classifier at `data_size` (default: the largest data size saved)."""
    current = registry[registry["current"].astype(bool)] if len(registry) else registry
    if current.empty:
        raise InputError(f"No saved classifier in classifier_registry: materialize {ASSET} first.")
    if data_size is None:
        return largest_first(current).iloc[0]
    match = current[current["data_size"].astype(str) == str(data_size)]
    if match.empty:
        sizes = ", ".join(sorted(current["data_size"].astype(str)))
        raise InputError(f"No saved classifier for data size {data_size!r}; the saved sizes are {sizes}.")
    return match.iloc[0]


def predict_frame(
    saved: SavedClassifier,
    texts: list[str],
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
) -> tuple[np.ndarray, np.ndarray]:
    """(predicted sentiment, P(positive)) of every text, in chunks; `progress(n)` after each chunk."""
    labels, p_positive = [], []
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        label, p = saved.score(part)
        labels.append(label)
        p_positive.append(p)
        if progress:
            progress(len(part))
    if not texts:
        return np.array([], dtype=object), np.array([], dtype=float)
    return np.concatenate(labels), np.concatenate(p_positive)


def prediction_rows(
    frame: pd.DataFrame,
    saved: SavedClassifier,
    batch: str,
    source: str,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """The `review_predictions` rows of `frame` (`text`, and `row`/`review_id` where known) under `saved`."""
    texts = frame["text"].astype(str).tolist()
    labels, p = predict_frame(saved, texts, progress)
    scored_at = datetime.now(timezone.utc).replace(tzinfo=None)
    out = pd.DataFrame(
        {
            "batch": batch,
            "source": source,
            "source_row": frame["row"].to_numpy() if "row" in frame else pd.array([None] * len(frame), dtype="Int64"),
            "review_id": frame["review_id"].astype("string") if "review_id" in frame else pd.NA,
            "text_hash": [text_hash(t) for t in texts],
            "predicted_sentiment": labels,
            "p_positive": p.astype(float),
            "classifier_version": saved.version,
            "data_size": saved.data_size,
            "scored_at": scored_at,
        }
    )
    return out.astype({"source_row": "Int64", "review_id": "string", "predicted_sentiment": "string"})[
        PREDICTION_COLUMNS
    ]
