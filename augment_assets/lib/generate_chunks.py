"""The resumable chunks of `generate_reviews`: finished chunks read back, new ones written as their reviews come in.

Reviews are made in chunks of consecutive indices (`GenerationConfig.effective_chunk_size`). Each finished
chunk is written atomically (tmp file + rename) as parquet under a name keyed by a fingerprint of everything
that shapes the output; a rerun loads finished chunks and makes only the missing ones: no duplicates, no loss.
"""

from __future__ import annotations

import time

import pandas as pd

from augment_assets.lib.parquet import read_parquet, write_parquet_atomic

COLUMNS = ["synthetic_id", "sentiment", "temperature", "prompt", "text", "generator_version", "seed", "created_at"]


class ChunkWriter:
    """Collects finished reviews; writes each chunk (atomically) once all its reviews are in, and reports."""

    def __init__(self, n, chunk_size, chunk_path, frames, stats, row_fields, progress, bar):
        self.n, self.chunk_size, self.chunk_path = n, chunk_size, chunk_path
        self.frames, self.stats, self.row_fields = frames, stats, row_fields
        self.progress, self.bar = progress, bar
        self.pending: dict[int, dict[int, tuple[str, int, bool]]] = {}
        self.batch_size = stats["batch_size"]
        self.t0 = time.perf_counter()

    def bounds(self, k: int) -> tuple[int, int]:
        return k * self.chunk_size, min(self.n, (k + 1) * self.chunk_size)

    def add(self, i: int, result: tuple[str, int, bool]) -> None:
        k = i // self.chunk_size
        got = self.pending.setdefault(k, {})
        got[i] = result
        lo, hi = self.bounds(k)
        if len(got) == hi - lo:
            self._write(k, [got[j] for j in range(lo, hi)])
            del self.pending[k]

    def _write(self, k: int, results: list[tuple[str, int, bool]]) -> None:
        lo, hi = self.bounds(k)
        created = pd.Timestamp.now(tz="UTC")
        rows = [self.row_fields(i, cont, finished, created) for i, (cont, _, finished) in zip(range(lo, hi), results)]
        self.stats["new_tokens"] += sum(n_new for _, n_new, _ in results)
        self.stats["finished_eos"] += sum(int(finished) for _, _, finished in results)
        chunk = pd.DataFrame(rows, columns=COLUMNS)
        write_parquet_atomic(chunk, self.chunk_path(k))
        self.frames[k] = chunk
        self.stats["generated"] += len(rows)
        elapsed = time.perf_counter() - self.t0
        done = sum(len(f) for f in self.frames.values())
        rate = self.stats["generated"] / elapsed if elapsed else 0.0
        if self.bar is not None:  # the bar may be shared by several temperatures: its own rows over its own time
            self.bar.update(len(rows))
            made, seconds = self.bar.n - self.bar.initial, self.bar.format_dict.get("elapsed") or elapsed
            self.bar.set_postfix(reviews_per_s=f"{made / seconds if seconds else 0.0:.2f}")
        if self.progress is not None:
            self.progress(
                {
                    "done": done,
                    "total": self.n,
                    "reviews_per_s": rate,
                    "eta_s": (self.n - done) / rate if rate else None,
                    "chunk": k,
                    "batch_size": self.batch_size,
                }
            )


def finished_chunks(n: int, chunk_size: int, chunk_path) -> dict[int, pd.DataFrame]:
    """Chunks already on disk with all their rows (a damaged or short file is remade)."""
    frames: dict[int, pd.DataFrame] = {}
    for k in range((n + chunk_size - 1) // chunk_size):
        path = chunk_path(k)
        expected = min(chunk_size, n - k * chunk_size)
        if path.exists():
            try:
                f = read_parquet(path)
            except Exception:  # noqa: BLE001 - a damaged file is regenerated
                f = None
            if f is not None and len(f) >= expected:
                frames[k] = f.iloc[:expected]
    return frames
