"""Partitions of the generate group: sentiment, and sentiment x temperature."""

from __future__ import annotations

import os

import dagster as dg

SENTIMENTS = ["negative", "positive"]
DEFAULT_TEMPERATURES = "0.7,0.9,1.1"


def configured_temperatures(raw: str | None = None) -> list[str]:
    """Temperature partition keys from `SYNTHETIC_TEMPERATURES` (comma-separated, each > 0)."""
    raw = raw if raw is not None else os.environ.get("SYNTHETIC_TEMPERATURES", DEFAULT_TEMPERATURES)
    keys = []
    for item in raw.split(","):
        try:
            value = float(item)
        except ValueError:
            raise ValueError(
                f"SYNTHETIC_TEMPERATURES={raw!r}: {item.strip()!r} is not a number; give a comma-separated list like 0.7,0.9,1.1"
            ) from None
        if not value > 0:
            raise ValueError(f"SYNTHETIC_TEMPERATURES={raw!r}: temperature {value} must be greater than 0")
        key = f"{value:g}"
        if key not in keys:
            keys.append(key)
    return keys


# One object for the sentiment dimension and the sentiment-partitioned upstream assets, so
# MultiToSingleDimensionPartitionMapping maps `negative|0.7` to `negative` (design.md).
sentiment_partitions = dg.StaticPartitionsDefinition(SENTIMENTS)
temperature_partitions = dg.StaticPartitionsDefinition(configured_temperatures())
synthetic_partitions = dg.MultiPartitionsDefinition(
    {"sentiment": sentiment_partitions, "temperature": temperature_partitions}
)
same_sentiment = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="sentiment")
