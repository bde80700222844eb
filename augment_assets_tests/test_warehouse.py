"""The warehouse's contract: readers never wait for the writer; a failed write loses nothing."""

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from augment_assets.lib.warehouse import Warehouse


def test_write_and_read_back(tmp_path):
    store = Warehouse(tmp_path / "w.duckdb")
    store.write_table("reviews", pd.DataFrame({"review_id": ["a", "b"], "stars": [1.0, 5.0]}))
    assert store.has_table("reviews")
    assert store.read_table("reviews")["review_id"].tolist() == ["a", "b"]
    assert not store.has_table("missing")
    with pytest.raises(LookupError, match="materialize the asset 'missing'"):
        store.read_table("missing")


def test_replace_rows_touches_only_its_partition(tmp_path):
    store = Warehouse(tmp_path / "w.duckdb")
    store.replace_rows(
        "synthetic", pd.DataFrame({"sentiment": ["negative"] * 2, "text": ["a", "b"]}), {"sentiment": "negative"}
    )
    store.replace_rows("synthetic", pd.DataFrame({"sentiment": ["positive"], "text": ["c"]}), {"sentiment": "positive"})
    store.replace_rows("synthetic", pd.DataFrame({"sentiment": ["negative"], "text": ["d"]}), {"sentiment": "negative"})
    rows = store.read("SELECT sentiment, text FROM synthetic ORDER BY text")
    assert rows.values.tolist() == [["positive", "c"], ["negative", "d"]]


def test_the_published_file_is_readable_by_other_users(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        Warehouse(tmp_path / "w.duckdb").write_table("t", pd.DataFrame({"x": [1]}))
    finally:
        os.umask(old)
    assert (tmp_path / "w.duckdb").stat().st_mode & 0o777 == 0o644


def test_replace_rows_rebuilds_a_table_of_an_older_layout(tmp_path):
    """A partitioned table written before a new key column existed cannot be attributed to
    partitions: the first write of the new layout starts it afresh instead of failing."""
    store = Warehouse(tmp_path / "w.duckdb")
    store.replace_rows("prompts", pd.DataFrame({"sentiment": ["negative"], "text": ["old"]}), {"sentiment": "negative"})
    new = pd.DataFrame({"generator": ["negative_50"], "sentiment": ["negative"], "text": ["new"]})
    store.replace_rows("prompts", new, {"generator": "negative_50"})
    store.replace_rows("prompts", new.assign(generator="negative_all", text="all"), {"generator": "negative_all"})
    assert store.read("SELECT generator, text FROM prompts ORDER BY 1").values.tolist() == [
        ["negative_50", "new"],
        ["negative_all", "all"],
    ]


def test_failed_write_leaves_published_tables_intact(tmp_path):
    store = Warehouse(tmp_path / "w.duckdb")
    store.write_table("reviews", pd.DataFrame({"x": [1, 2, 3]}))
    with pytest.raises(RuntimeError):
        with store.publish() as con:
            con.execute("DROP TABLE reviews")
            raise RuntimeError("the asset failed half-way")
    assert store.read_table("reviews")["x"].tolist() == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb", "w.duckdb.lock"]  # no staging left over


def test_a_reader_in_another_process_is_never_locked_out_by_a_writing_run(tmp_path):
    """While a writer holds its connection open mid-write, a separate read-only process still queries."""
    path = tmp_path / "w.duckdb"
    store = Warehouse(path)
    store.write_table("reviews", pd.DataFrame({"x": [1, 2, 3]}))
    reader = textwrap.dedent(
        f"""
        import duckdb
        con = duckdb.connect({str(path)!r}, read_only=True)
        print(con.execute("select count(*) from reviews").fetchone()[0])
        """
    )
    with store.publish() as con:
        con.execute("INSERT INTO reviews VALUES (4)")
        # The run is mid-write, its connection open: a downstream team queries now.
        out = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "3"  # the last published version, not a lock error
    assert store.read("select count(*) as n from reviews")["n"].iloc[0] == 4


def test_the_bare_duckdb_client_can_read_it(tmp_path):
    """The README promises `duckdb -readonly data/warehouse.duckdb`: the file format must match the CLI."""
    store = Warehouse(tmp_path / "w.duckdb")
    store.write_table("reviews", pd.DataFrame({"x": [7]}))
    duckdb_cli = shutil.which("duckdb", path=str(Path(sys.executable).parent)) or shutil.which("duckdb")
    assert duckdb_cli, "the duckdb CLI (PyPI duckdb-cli) is a declared dependency"
    cli = subprocess.run(
        [duckdb_cli, "-readonly", str(tmp_path / "w.duckdb"), "select x from reviews"],
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0, cli.stderr
    assert "7" in cli.stdout
    assert duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True).execute("select x from reviews").fetchone() == (
        7,
    )


def test_all_null_text_columns_stay_text(tmp_path):
    """A CSV source has no business ids: the column must still be VARCHAR, not DuckDB's guess INTEGER."""
    store = Warehouse(tmp_path / "w.duckdb")
    store.write_table("reviews", pd.DataFrame({"review_id": ["a"], "business_id": [None]}))
    types = dict(store.read("SELECT column_name, data_type FROM information_schema.columns").values.tolist())
    assert types == {"review_id": "VARCHAR", "business_id": "VARCHAR"}
    store.replace_rows("reviews", pd.DataFrame({"review_id": ["b"], "business_id": ["biz-1"]}), {"review_id": "b"})
    assert store.read_table("reviews")["business_id"].tolist()[1] == "biz-1"


def test_a_killed_writers_staging_copy_is_removed_by_the_next_write(tmp_path):
    store = Warehouse(tmp_path / "w.duckdb")
    store.write_table("reviews", pd.DataFrame({"x": [1]}))
    leftover = tmp_path / "w.duckdb.staging-killed123"
    leftover.write_bytes((tmp_path / "w.duckdb").read_bytes())  # what a SIGKILL mid-publish leaves
    store.write_table("reviews", pd.DataFrame({"x": [2]}))
    assert not leftover.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb", "w.duckdb.lock"]
    assert store.read_table("reviews")["x"].tolist() == [2]


def test_fine_tuning_temp_folders_of_dead_processes_are_removed(tmp_path):
    import os

    from augment_assets.lib.finetune import remove_dead_temp_dirs

    out_dir = tmp_path / "negative_all_r1" / "abc123"
    out_dir.parent.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = out_dir.with_name(f"abc123.tmp-{dead.pid}")
    live = out_dir.with_name(f"abc123.tmp-{os.getpid()}")
    other = out_dir.with_name("other.tmp-1")
    for folder in (stale, live, other):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"x" * 1000)
    assert remove_dead_temp_dirs(out_dir) == [stale]
    assert not stale.exists() and live.exists() and other.exists()


def test_a_reader_sees_one_version_across_tables_during_multi_table_publishes(tmp_path):
    """A reader reconnecting in a loop while a writer publishes 30 versions of two tables never sees a new
    table beside an old one; a connection kept open stays on the version it opened (close every
    connection of the process, then connect again, to see a newer one: DuckDB shares one open
    database per path within a process)."""
    path = tmp_path / "w.duckdb"
    store = Warehouse(path)
    store.write_tables(
        {"pizza_reviews": pd.DataFrame({"version": [0]}), "training_reviews": pd.DataFrame({"version": [0]})}
    )
    reader = textwrap.dedent(
        f"""
        import duckdb, time
        print("ready", flush=True)
        seen, mixed, deadline = set(), 0, time.time() + 20
        while time.time() < deadline and len(seen) < 5:
            con = duckdb.connect({str(path)!r}, read_only=True)
            a = con.execute("select version from pizza_reviews").fetchone()[0]
            b = con.execute("select version from training_reviews").fetchone()[0]
            con.close()
            seen.add(a)
            mixed += a != b
        print(len(seen), mixed)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", reader], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "ready"
    for version in range(1, 31):
        frame = pd.DataFrame({"version": [version] * 2000})
        store.write_tables({"pizza_reviews": frame, "training_reviews": frame})
        time.sleep(0.05)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    versions, mixed = map(int, out.split())
    assert versions >= 2 and mixed == 0  # saw new versions, never a mixed pair
    held = duckdb.connect(str(path), read_only=True)
    assert held.execute("select max(version) from pizza_reviews").fetchone()[0] == 30
    store.write_tables(
        {"pizza_reviews": pd.DataFrame({"version": [31]}), "training_reviews": pd.DataFrame({"version": [31]})}
    )
    assert held.execute("select max(version) from pizza_reviews").fetchone()[0] == 30  # the version it opened
    held.close()
    assert (
        duckdb.connect(str(path), read_only=True).execute("select max(version) from pizza_reviews").fetchone()[0] == 31
    )
