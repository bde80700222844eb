"""The experiment's partitions: sentiment x data size x repeat (one generator each), and temperature.

Dagster multi-partitions have at most two dimensions, and a synthetic partition is
identified by four things (sentiment, data size, repeat, temperature). The first three
name a generator, so they form one dimension, `generator`, with keys such as
`negative_all_r1` and `positive_50_r2`; `synthetic_reviews` is `generator x temperature`.
Every asset made per generator (`prompt_table`, `sentiment_generator`) uses the very
same `generator_partitions` object, so `MultiToSingleDimensionPartitionMapping` maps
`negative_50_r1|0.7` to `negative_50_r1`, and a UI backfill of one data size, one repeat
or one temperature is a filter on one dimension.

The settings come from the environment when the definitions load:
- `DATA_SIZES` (default `all,50`): genuine reviews per class of each generator experiment;
- `REPEATS` (default 1): independent draws of the folds, each with its own generators;
- `LEARNING_CURVE_SIZES` (default `10,25,100`): further sizes at which only the cheap
  baselines are fit, for the learning curve and the worth of synthetic data;
- `SYNTHETIC_TEMPERATURES` (default `0.7,0.9,1.1`).
"""

from __future__ import annotations

import os

import dagster as dg

from augment_assets.lib.errors import InputError
from augment_assets.lib.folds import MIN_CURVE_PER_CLASS, parse_data_sizes, parse_repeats, size_label
from augment_assets.lib.reviews import SENTIMENTS

DEFAULT_DATA_SIZES = "all,50"
DEFAULT_TEMPERATURES = "0.7,0.9,1.1"
DEFAULT_CURVE_SIZES = "10,25,100"
DEFAULT_REPEATS = "1"


def configured_data_sizes(raw: str | None = None) -> list[int | None]:
    """Genuine reviews per class of each experiment (None = all), largest first, from `DATA_SIZES`."""
    return parse_data_sizes(raw if raw is not None else os.environ.get("DATA_SIZES", DEFAULT_DATA_SIZES))


def configured_repeats(raw: str | None = None) -> int:
    """How many independent draws of the folds (`REPEATS`, at least 1)."""
    return parse_repeats(raw if raw is not None else os.environ.get("REPEATS", DEFAULT_REPEATS))


def configured_fold_sizes(data_sizes: str | None = None, curve_sizes: str | None = None) -> list[int | None]:
    """Every size `review_folds` holds: the generator sizes and the learning-curve sizes, largest first."""
    curve = os.environ.get("LEARNING_CURVE_SIZES", DEFAULT_CURVE_SIZES) if curve_sizes is None else curve_sizes
    sizes = set(configured_data_sizes(data_sizes)) | set(
        parse_data_sizes(curve, "LEARNING_CURVE_SIZES", MIN_CURVE_PER_CLASS)
    )
    return [None, *sorted((s for s in sizes if s is not None), reverse=True)]


def candidate_sizes() -> list[str]:
    """Labels of the data sizes that have generators (and so synthetic candidates)."""
    return [size_label(size) for size in configured_data_sizes()]


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


def generator_key(sentiment: str, data_size: str, repeat: int = 1) -> str:
    return f"{sentiment}_{data_size}_r{repeat}"


def parse_generator_key(key: str) -> tuple[str, str, int]:
    """(sentiment, data size label, repeat) of a generator partition key such as `positive_50_r2`."""
    sentiment, data_size, repeat = (key.split("_") + ["", ""])[:3]
    if sentiment not in SENTIMENTS or not data_size or not repeat.startswith("r") or not repeat[1:].isdigit():
        raise InputError(
            f"{key!r} is not a generator partition key (expected e.g. 'negative_all_r1' or 'positive_50_r2')"
        )
    return sentiment, data_size, int(repeat[1:])


# Read once when the definitions load, like the partitions below: a bad value fails before any work.
fold_sizes = configured_fold_sizes()
repeats = configured_repeats()

generator_partitions = dg.StaticPartitionsDefinition(
    [
        generator_key(s, size_label(size), repeat)
        for repeat in range(1, repeats + 1)
        for size in configured_data_sizes()
        for s in SENTIMENTS
    ]
)
temperature_partitions = dg.StaticPartitionsDefinition(configured_temperatures())
synthetic_partitions = dg.MultiPartitionsDefinition(
    {"generator": generator_partitions, "temperature": temperature_partitions}
)
same_generator = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="generator")


def temperatures_by_generator(partition_keys) -> dict[str, list[str]]:
    """{generator: its temperature keys, in order} of a run's synthetic partitions (one, or a range)."""
    grouped: dict[str, list[str]] = {}
    for key in partition_keys:
        if not isinstance(key, dg.MultiPartitionKey):
            key = synthetic_partitions.get_partition_key_from_str(str(key))
        grouped.setdefault(key.keys_by_dimension["generator"], []).append(key.keys_by_dimension["temperature"])
    return grouped
