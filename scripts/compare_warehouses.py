"""Compare two warehouses: the schema of every table and view, and the rows of the answer tables.

    python scripts/compare_warehouses.py BEFORE.duckdb AFTER.duckdb [--tables headline,recommendation,...]

A refactor that promises "the same tables, columns and numbers" is checked by materializing the demo before
and after (same seed) and running this. Exit status 1 when anything differs; each difference is printed.
Floats compare to 1e-9 (relative); columns that hold times, run ids, versions or paths are left out of
the row comparison, since they differ between any two runs.
"""

from __future__ import annotations

import argparse
import math
import sys

import duckdb

ANSWER_TABLES = ("headline", "recommendation", "learning_curve", "candidate_gains", "classifier_metrics")
VOLATILE = ("created_at", "materialized_at", "run_id", "scored_at", "seconds", "wall_s", "_at", "path", "version")


def schema(con) -> dict[str, list[tuple[str, str]]]:
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        out.setdefault(table, []).append((column, kind))
    return out


def rows(con, table: str, columns: list[str]) -> list[tuple]:
    kept = [c for c in columns if not any(v in c for v in VOLATILE)]
    quoted = ", ".join(f'"{c}"' for c in kept)
    return kept, con.execute(f"SELECT {quoted} FROM {table} ORDER BY ALL").fetchall()


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--tables", default=",".join(ANSWER_TABLES))
    args = parser.parse_args(argv)
    a, b = duckdb.connect(args.before, read_only=True), duckdb.connect(args.after, read_only=True)
    problems = []
    sa, sb = schema(a), schema(b)
    for table in sorted(set(sa) | set(sb)):
        if sa.get(table) != sb.get(table):
            problems.append(f"schema of {table}: {sa.get(table)} != {sb.get(table)}")
    for table in args.tables.split(","):
        if table not in sa or sa.get(table) != sb.get(table):
            continue
        columns, ra = rows(a, table, [c for c, _ in sa[table]])
        _, rb = rows(b, table, [c for c, _ in sb[table]])
        if len(ra) != len(rb):
            problems.append(f"{table}: {len(ra)} rows != {len(rb)} rows")
            continue
        differing = [
            (i, c, x[j], y[j])
            for i, (x, y) in enumerate(zip(ra, rb))
            for j, c in enumerate(columns)
            if not same(x[j], y[j])
        ]
        for i, c, x, y in differing[:10]:
            problems.append(f"{table} row {i} column {c}: {x!r} != {y!r}")
        if len(differing) > 10:
            problems.append(f"{table}: {len(differing) - 10} more differences")
        print(f"{table}: {len(ra)} rows, {len(columns)} columns compared, {len(differing)} differences")
    print(f"{len(sa)} tables and views in each" if set(sa) == set(sb) else f"tables: {sorted(sa)} vs {sorted(sb)}")
    for problem in problems:
        print("DIFFERS:", problem)
    print("same" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
