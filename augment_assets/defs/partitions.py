"""The experiment's partitions: data size x sentiment (one generator each), and temperature.

Dagster multi-partitions have at most two dimensions, and a synthetic partition is
identified by three things (sentiment, data size, temperature). The first two name a
generator, so they form one dimension, `generator`, with keys such as `negative_all`
and `positive_50`; `synthetic_reviews` is `generator x temperature`. Every asset made
per generator (`prompt_table`, `sentiment_generator`) uses the very same
`generator_partitions` object, so `MultiToSingleDimensionPartitionMapping` maps
`negative_50|0.7` to `negative_50`, and a UI backfill of one data size or one
temperature is a filter on one dimension.

Both lists come from the environment when the definitions load: `DATA_SIZES` (default
`all,50`: the whole training pool and 50 reviews per class) and `SYNTHETIC_TEMPERATURES`
(default `0.7,0.9,1.1`).
"""

from __future__ import annotations

import os

import dagster as dg

from augment_assets.lib.errors import InputError
from augment_assets.lib.folds import parse_data_sizes, size_label
from augment_assets.lib.reviews import SENTIMENTS

DEFAULT_DATA_SIZES = "all,50"
DEFAULT_TEMPERATURES = "0.7,0.9,1.1"


def configured_data_sizes(raw: str | None = None) -> list[int | None]:
    """Genuine reviews per class of each experiment (None = all), largest first, from `DATA_SIZES`."""
    return parse_data_sizes(raw if raw is not None else os.environ.get("DATA_SIZES", DEFAULT_DATA_SIZES))


def configured_temperatures(raw: str | None = None) -> list[str]:
    """Temperature partition keys from `SYNTHETIC_TEMPERATURES` (comma-separated, each in (0, 2])."""
    raw = raw if raw is not None else os.environ.get("SYNTHETIC_TEMPERATURES", DEFAULT_TEMPERATURES)
    keys = []
    for item in raw.split(","):
        try:
            value = float(item)
        except ValueError:
            raise InputError(
                f"SYNTHETIC_TEMPERATURES={raw!r}: {item.strip()!r} is not a number; give a comma-separated list like 0.7,0.9,1.1"
            ) from None
        if not 0 < value <= 2:
            raise InputError(f"SYNTHETIC_TEMPERATURES={raw!r}: temperature {value} must be in (0, 2]")
        key = f"{value:g}"
        if key not in keys:
            keys.append(key)
    return keys


def generator_key(sentiment: str, data_size: str) -> str:
    return f"{sentiment}_{data_size}"


def parse_generator_key(key: str) -> tuple[str, str]:
    """(sentiment, data size label) of a generator partition key such as `positive_50`."""
    sentiment, _, data_size = key.partition("_")
    if sentiment not in SENTIMENTS or not data_size:
        raise InputError(f"{key!r} is not a generator partition key (expected e.g. 'negative_all' or 'positive_50')")
    return sentiment, data_size


generator_partitions = dg.StaticPartitionsDefinition(
    [generator_key(s, size_label(size)) for size in configured_data_sizes() for s in SENTIMENTS]
)
temperature_partitions = dg.StaticPartitionsDefinition(configured_temperatures())
synthetic_partitions = dg.MultiPartitionsDefinition(
    {"generator": generator_partitions, "temperature": temperature_partitions}
)
same_generator = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="generator")
