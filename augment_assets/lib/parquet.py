"""Parquet files read and written through DuckDB (no pyarrow needed): the caches' and chunks' storage."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd


def write_parquet_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write a frame (a chunk) as parquet (through DuckDB: no pyarrow needed) to a tmp name, then rename."""
    import duckdb

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    con = duckdb.connect()
    try:
        con.register("chunk_frame", frame)
        con.execute(f"COPY chunk_frame TO '{tmp.as_posix()}' (FORMAT parquet)")
    finally:
        con.close()
    os.replace(tmp, path)


def read_parquet(path: Path) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect()
    try:
        frame = con.execute(f"SELECT * FROM read_parquet('{path.as_posix()}')").df()
    finally:
        con.close()
    return frame
