"""The DuckDB warehouse, written so that readers never wait for the writer.

DuckDB lets one process hold a database file read-write, and a read-only
process cannot attach while it does. A long run that kept the warehouse open
would lock every downstream team out. So every write here is *write-then-publish*:

1. take an exclusive file lock (serializes writers across Dagster's step processes),
2. copy the published file to a private staging file and write there,
3. checkpoint, close, and `os.replace` the staging file over the published one.

A reader (`duckdb -readonly data/warehouse.duckdb`, or `Warehouse.read`) opens
whichever complete file is published at that moment and never contends with the
writer; a failed write removes its staging file and leaves the published tables
exactly as they were.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd

from .machine_lock import held_exclusively

DEFAULT_WAREHOUSE = "data/warehouse.duckdb"


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """All-null object columns (e.g. `business_id` of a CSV source) as strings: DuckDB would
    otherwise create them as INTEGER, and a later non-null id would not fit."""
    empty_objects = [c for c in frame.columns if frame[c].dtype == object and frame[c].isna().all()]
    return frame.astype({c: "string" for c in empty_objects}) if empty_objects else frame


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class Warehouse:
    def __init__(self, path: str | os.PathLike = DEFAULT_WAREHOUSE):
        self.path = Path(path)

    # ---- writing -----------------------------------------------------------------
    @contextlib.contextmanager
    def publish(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection to a staging copy, published atomically on success."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with held_exclusively(lock_path):
            self._remove_stale_staging()
            fd, staging_name = tempfile.mkstemp(prefix=self.path.name + ".staging-", dir=self.path.parent)
            os.close(fd)
            staging = Path(staging_name)
            try:
                if self.path.exists():
                    shutil.copyfile(self.path, staging)
                else:
                    staging.unlink()  # DuckDB refuses an empty, non-database file
                con = duckdb.connect(str(staging))
                try:
                    yield con
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
                # mkstemp makes the staging file private (0600); the published warehouse is for
                # other teams to read, so it gets the usual file mode under the umask.
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(staging, 0o666 & ~umask)
                os.replace(staging, self.path)
            finally:
                for leftover in (staging, staging.with_name(staging.name + ".wal")):
                    leftover.unlink(missing_ok=True)

    def _remove_stale_staging(self) -> None:
        """Staging copies left by writers that were killed mid-publish (a full copy of the warehouse
        each). Called under the exclusive lock: no live writer has a staging file then."""
        for leftover in self.path.parent.glob(self.path.name + ".staging-*"):
            leftover.unlink(missing_ok=True)

    def write_table(self, name: str, frame: pd.DataFrame) -> int:
        """Create or replace table `name` with the frame's rows; returns the row count."""
        self.write_tables({name: frame})
        return len(frame)

    def write_tables(self, frames: dict[str, pd.DataFrame]) -> None:
        """Create or replace several tables in one publish: readers see all of them change at once."""
        with self.publish() as con:
            for name, frame in frames.items():
                con.register("_incoming", _typed(frame))
                con.execute(f"CREATE OR REPLACE TABLE {_quote(name)} AS SELECT * FROM _incoming")
                con.unregister("_incoming")

    def replace_rows(self, name: str, frame: pd.DataFrame, where: dict[str, object]) -> int:
        """Replace the rows of `name` matching `where` (e.g. one partition) with the frame's rows.

        The table is created from the frame's schema when it does not exist yet.
        """
        self.replace_rows_in({name: frame}, where)
        return len(frame)

    def replace_rows_in(self, frames: dict[str, pd.DataFrame], where: dict[str, object]) -> None:
        """`replace_rows` for several tables in one publish (readers see them change together)."""
        with self.publish() as con:
            for name, frame in frames.items():
                con.register("_incoming", _typed(frame))
                existing = {
                    row[0]
                    for row in con.execute(
                        "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [name]
                    ).fetchall()
                }
                if existing and not set(frame.columns) <= existing:
                    # Written by an older layout (e.g. before a `generator` column existed): its rows
                    # cannot be attributed to a partition, so the table starts afresh.
                    con.execute(f"DROP TABLE {_quote(name)}")
                con.execute(f"CREATE TABLE IF NOT EXISTS {_quote(name)} AS SELECT * FROM _incoming LIMIT 0")
                if where:
                    clause = " AND ".join(f"{_quote(col)} = ?" for col in where)
                    con.execute(f"DELETE FROM {_quote(name)} WHERE {clause}", list(where.values()))
                con.execute(f"INSERT INTO {_quote(name)} BY NAME SELECT * FROM _incoming")
                con.unregister("_incoming")

    # ---- reading -----------------------------------------------------------------
    def connect_read_only(self) -> duckdb.DuckDBPyConnection:
        if not self.path.exists():
            raise FileNotFoundError(
                f"No warehouse at {self.path}. Materialize the ingest assets first "
                "(`make demo`), or set AUGMENT_WAREHOUSE to the warehouse file."
            )
        return duckdb.connect(str(self.path), read_only=True)

    def has_table(self, name: str) -> bool:
        if not self.path.exists():
            return False
        with self.connect_read_only() as con:
            found = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
            ).fetchone()
        return bool(found and found[0])

    def read(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with self.connect_read_only() as con:
            return con.execute(sql, params or []).df()

    def read_table(self, name: str) -> pd.DataFrame:
        if not self.has_table(name):
            raise LookupError(
                f"Table {name!r} is not in the warehouse {self.path}: materialize the asset {name!r} first."
            )
        return self.read(f"SELECT * FROM {_quote(name)}")
