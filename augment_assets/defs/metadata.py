"""Metadata the Dagster UI shows for every table asset: counts, a preview, plots."""

from __future__ import annotations

import base64

import dagster as dg
import pandas as pd

from augment_assets.lib.reviews import SENTIMENTS

# Markdown that review text must not become in the UI: a table cell break (| or a newline), an
# image the browser would fetch (![...](url)), a link, or raw HTML.
_MARKDOWN_ESCAPES = str.maketrans(
    {
        "|": "\\|",
        "[": "\\[",
        "]": "\\]",
        "!": "\\!",
        "<": "&lt;",
        ">": "&gt;",
        "*": "\\*",
        "_": "\\_",
        "`": "\\`",
        "\\": "\\\\",
        "\n": " ",
        "\r": " ",
    }
)


def markdown_cell(value, text_chars: int = 120):
    """A value as safe, one-line markdown table text: shortened, special characters escaped."""
    if not isinstance(value, str):
        return value
    if len(value) > text_chars:
        value = value[: text_chars - 1] + "…"
    return value.translate(_MARKDOWN_ESCAPES)


def preview(frame: pd.DataFrame, rows: int = 5, text_chars: int = 120) -> dg.MetadataValue:
    """A markdown preview: long texts shortened and escaped, so a review's own `|`, newlines, links,
    images or HTML neither break the table nor make the UI fetch anything."""
    shown = frame.head(rows).copy()
    for column in shown.columns:
        if not pd.api.types.is_numeric_dtype(shown[column]) and not pd.api.types.is_bool_dtype(shown[column]):
            shown[column] = shown[column].astype(object).map(lambda v: markdown_cell(v, text_chars))
    return dg.MetadataValue.md(shown.to_markdown(index=False))


def per_sentiment_counts(frame: pd.DataFrame, prefix: str = "rows") -> dict[str, int]:
    counts = frame["sentiment"].value_counts() if len(frame) else pd.Series(dtype=int)
    return {f"{prefix}_{s}": int(counts.get(s, 0)) for s in SENTIMENTS}


def _column_type(series: pd.Series) -> str:
    """The DuckDB type a column lands as (lib/warehouse.py writes pandas frames as they are)."""
    if pd.api.types.is_bool_dtype(series):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(series):
        return "BIGINT"
    if pd.api.types.is_float_dtype(series):
        return "DOUBLE"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "TIMESTAMP"
    return "VARCHAR"


def for_people(metadata: dict, digits: int = 4) -> dict:
    """Float values rounded for the UI (a gain of -0.004999999999999999 shows as -0.005)."""
    return {key: round(value, digits) if isinstance(value, float) else value for key, value in metadata.items()}


def table_metadata(table: str, frame: pd.DataFrame, partitioned: bool = False) -> dict:
    """What the UI shows for a DuckDB table: its name in the warehouse, its column schema and its rows
    (`dagster/partition_row_count` for the rows one partition wrote)."""
    return {
        "dagster/table_name": table,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(str(name), _column_type(frame[name])) for name in frame.columns]
        ),
        ("dagster/partition_row_count" if partitioned else "dagster/row_count"): len(frame),
    }


def review_table_metadata(table: str, frame: pd.DataFrame) -> dict:
    return {
        **table_metadata(table, frame),
        **per_sentiment_counts(frame),
        "preview": preview(frame),
    }


def png_markdown(png: bytes, title: str) -> dg.MetadataValue:
    """A PNG embedded in markdown: the UI shows it under the entry's [Show Markdown] link."""
    return images_markdown([(title, png)])


def images_markdown(images: list[tuple[str, bytes]]) -> dg.MetadataValue:
    """Several titled PNGs in one markdown entry."""
    parts = [
        f"**{title}**\n\n![{title}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
        for title, png in images
    ]
    return dg.MetadataValue.md("\n\n".join(parts) or "nothing to show")


def counts_table(counts: dict[str, int], key: str = "reason") -> dg.MetadataValue:
    if not counts:
        return dg.MetadataValue.md("none")
    frame = pd.DataFrame({key: list(counts), "rows": list(counts.values())})
    return dg.MetadataValue.md(frame.to_markdown(index=False))
