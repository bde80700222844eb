"""Batched, resumable generation of synthetic reviews.

- Review i (0 <= i < n) uses prompt ``prompts[perm[i % len(prompts)]]`` where ``perm`` is a
  permutation seeded by ``seed``: every prompt is used about equally, deterministically.
- ``synthetic_id`` = sha1 of (generator_version, sentiment, temperature, seed, i): the same
  review slot always has the same id.
- Reviews are made in chunks of ``chunk_size`` consecutive indices. Each finished chunk is
  written atomically (tmp file + rename) as parquet to ``chunk_dir`` under a name keyed by a
  fingerprint of everything that shapes the output; a rerun loads finished chunks and makes
  only the missing ones: no duplicates, no loss. The sampling RNG is re-seeded per chunk
  from (seed, chunk), so a resumed run produces the same texts as an uninterrupted one.
- Inside a chunk prompts are sorted by token length and run in batches (left padding,
  KV cache, ``torch.inference_mode``) in the dtype chosen by `choose_device_dtype`
  (bfloat16 on CPU, measured ~2.5x faster than float32 at batch 32-64). Tokens are drawn
  by `sampling.SamplingProcessor` (HF's sampling distribution without its vocabulary-wide
  sorts; 1.7x the tokens/s of ``do_sample=True`` at batch 64 on 2 CPU cores).
- ``text`` is the review as a reader sees it: the prompt's opening words **plus** the
  continuation (the prompt words were the start of a real review and read as part of
  this one); the conditioning prefix (e.g. "Yelp pizza review, 4-5 stars:") is removed.
  A review cut by ``max_new_tokens`` before the end-of-text token is trimmed back to its
  last sentence end when that keeps at least half of it.
- Running out of memory at a batch size halves the batch and retries (logged).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import LogitsProcessorList

from augment_assets.lib.errors import InputError
from augment_assets.lib.finetune import FinetuneConfig, generation_prefix, join_prefix, read_finetune_config
from augment_assets.lib.model import choose_device_dtype, dtype_name, load_model
from augment_assets.lib.sampling import SamplingProcessor

log = logging.getLogger(__name__)

COLUMNS = ["synthetic_id", "sentiment", "temperature", "prompt", "text", "generator_version", "seed", "created_at"]
# Part of the chunk fingerprint: a change in how tokens are drawn must not resume old chunks.
SAMPLER_VERSION = "sampling-processor-1"
_SENTENCE_END = re.compile(r"[.!?)](?=\s|$)")


@dataclass
class GenerationConfig:
    """Sampling settings; validated at construction (ValueError with the offending value).

    Demo defaults (2-core CPU, 15-minute demo): 32 reviews per partition, at most 128 new
    tokens (~95 words; fine-tuned models end most reviews earlier, mean ~50-65 words),
    top_p 0.95, repetition penalty 1.1 (the findings' setting), batch 32 in one chunk
    per batch. Temperature is the partition key (0.7 default). For the full pizza data
    (~1 h): n=1000, max_new_tokens=200, batch_size=64.

    Measured by `scripts/generator_sweep.py` on the pizza CSV (default 2-epoch generator,
    48 reviews per point, validation split of the training reviews; +-0.05 per figure):
    - temperature 0.7 / 0.9 / 1.1: positive label fidelity 0.90 / 0.88 / 0.71, distinct-2
      0.69 / 0.80 / 0.92; negative on-topic 0.92 / 0.98 / 0.79. T 0.5 (4-epoch model) copies
      8-word training spans in 12.5% of negative reviews. The partitions stay 0.7-1.1 and
      the evaluation picks among them on validation.
    - top_p 0.9 / 0.95 / 1.0 (4-epoch model, T 0.9): positive fidelity 0.91 / 0.91 / 0.85,
      negative on-topic 0.875 / 0.92 / 0.96: 0.95 kept.
    - prompt of 2 / 4 / 8 opening words: fidelity 0.98 / 0.91 / 0.94 (positive) and
      0.96 / 1.00 / 1.00 (negative); 8 words copy an 8-word training span by construction
      (copy rate 0.96-1.0), so prompts stay at 4 words (`PromptTableConfig.prefix_words`).
    """

    n: int = 32
    temperature: float = 0.7
    max_new_tokens: int = 128
    top_p: float = 0.95
    top_k: int = 0
    repetition_penalty: float = 1.1
    batch_size: int = 32
    seed: int = 0
    min_new_tokens: int = 0
    chunk_size: int | None = None  # reviews per resumable chunk; default = batch_size

    def __post_init__(self):
        problems = []
        if not isinstance(self.n, (int, np.integer)) or self.n < 1:
            problems.append(f"n must be an integer >= 1, got {self.n!r}")
        if not (isinstance(self.temperature, (int, float)) and self.temperature > 0):
            problems.append(f"temperature must be > 0, got {self.temperature!r}")
        if not (isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1):
            problems.append(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.top_k, (int, np.integer)) or self.top_k < 0:
            problems.append(f"top_k must be an integer >= 0 (0 = off), got {self.top_k!r}")
        if not (isinstance(self.repetition_penalty, (int, float)) and self.repetition_penalty > 0):
            problems.append(f"repetition_penalty must be > 0, got {self.repetition_penalty!r}")
        if not isinstance(self.max_new_tokens, (int, np.integer)) or self.max_new_tokens < 1:
            problems.append(f"max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}")
        if not isinstance(self.min_new_tokens, (int, np.integer)) or not 0 <= self.min_new_tokens <= max(1, self.max_new_tokens):
            problems.append(f"min_new_tokens must be in [0, max_new_tokens], got {self.min_new_tokens!r}")
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            problems.append(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        if self.chunk_size is not None and (not isinstance(self.chunk_size, (int, np.integer)) or self.chunk_size < 1):
            problems.append(f"chunk_size must be an integer >= 1, got {self.chunk_size!r}")
        if not isinstance(self.seed, (int, np.integer)):
            problems.append(f"seed must be an integer, got {self.seed!r}")
        if problems:
            raise ValueError("invalid generation config: " + "; ".join(problems))

    @property
    def effective_chunk_size(self) -> int:
        return int(self.chunk_size or self.batch_size)


def temperature_key(temperature: float) -> str:
    return f"{float(temperature):g}"


def synthetic_id(generator_version: str, sentiment: str, temperature: float, seed: int, i: int) -> str:
    raw = f"{generator_version}|{sentiment}|{temperature_key(temperature)}|{seed}|{i}"
    return hashlib.sha1(raw.encode("utf-8")).hexdigest()[:20]


def prompt_indices(n: int, n_prompts: int, seed: int) -> np.ndarray:
    """Prompt index of review i: a seeded permutation of the prompts, cycled."""
    perm = np.random.default_rng([seed, 7919]).permutation(n_prompts)
    return perm[np.arange(n) % n_prompts]


def trim_to_sentence(text: str, min_share: float = 0.5) -> str:
    """Cut a truncated review back to its last sentence end when that keeps >= min_share of it."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if ends and ends[-1] >= min_share * len(text):
        return text[: ends[-1]]
    return text


def _fingerprint(**parts) -> str:
    return hashlib.sha1(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError) or isinstance(exc, MemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


@torch.inference_mode()
def _generate_batch(model, tokenizer, texts: list[str], config: GenerationConfig, device: str):
    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
    # Sampling (penalty, temperature, top-k/p, the draw) happens in SamplingProcessor: the same
    # distribution as HF's sampling warpers without their whole-vocabulary sorts and copies, so
    # generate itself runs greedy over the one token the processor leaves.
    sampler = SamplingProcessor(
        temperature=config.temperature, top_p=config.top_p, top_k=config.top_k,
        repetition_penalty=config.repetition_penalty, min_new_tokens=config.min_new_tokens,
        prompt_length=enc["input_ids"].shape[1], eos_token_id=tokenizer.eos_token_id,
    )
    out = model.generate(
        **enc,
        do_sample=False,
        temperature=None,
        top_p=None,
        top_k=None,
        repetition_penalty=1.0,  # applied by the sampler, not twice
        logits_processor=LogitsProcessorList([sampler]),
        max_new_tokens=int(config.max_new_tokens),
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        use_cache=True,
    )
    new = out[:, enc["input_ids"].shape[1]:]
    eos = tokenizer.eos_token_id
    results = []
    for row in new.tolist():
        finished = eos in row
        if finished:
            row = row[: row.index(eos)]
        results.append((tokenizer.decode(row, skip_special_tokens=True), len(row), finished))
    return results


def _run_chunk(model, tokenizer, full_prompts: list[str], config: GenerationConfig, device: str,
               batch_size: int) -> tuple[list[tuple[str, int, bool]], int]:
    """Generate for one chunk (sorted by prompt length); halves the batch on OOM. -> (results, batch used)."""
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in full_prompts]
    order = sorted(range(len(full_prompts)), key=lambda k: (lengths[k], k))
    results: list[tuple[str, int, bool] | None] = [None] * len(full_prompts)
    start = 0
    while start < len(order):
        idx = order[start: start + batch_size]
        try:
            outs = _generate_batch(model, tokenizer, [full_prompts[k] for k in idx], config, device)
        except Exception as exc:  # noqa: BLE001
            if not _is_oom(exc) or batch_size == 1:
                raise
            if device == "cuda":
                torch.cuda.empty_cache()
            log.warning("out of memory at batch size %d; retrying with %d", batch_size, batch_size // 2)
            batch_size //= 2
            continue
        for k, o in zip(idx, outs):
            results[k] = o
        start += len(idx)
    return results, batch_size  # type: ignore[return-value]


def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write a chunk as parquet (through DuckDB: no pyarrow needed) to a tmp name, then rename."""
    import duckdb

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    con = duckdb.connect()
    try:
        con.register("chunk_frame", frame)
        con.execute(f"COPY chunk_frame TO '{tmp.as_posix()}' (FORMAT parquet)")
    finally:
        con.close()
    os.replace(tmp, path)


def _read_chunk(path: Path) -> pd.DataFrame:
    import duckdb

    con = duckdb.connect()
    try:
        frame = con.execute(f"SELECT * FROM read_parquet('{path.as_posix()}')").df()
    finally:
        con.close()
    return frame


def generate_reviews(
    model_dir: Path | str,
    prompts: list[str],
    sentiment: str,
    config: GenerationConfig,
    chunk_dir: Path,
    generator_version: str,
    finetune_config: FinetuneConfig | None = None,
    progress: Callable[[dict], None] | None = None,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    show_progress: bool = True,
    model_and_tokenizer=None,
) -> pd.DataFrame:
    """Generate `config.n` reviews of one sentiment at one temperature; resumable (see module doc).

    Returns the rows in review order with columns `COLUMNS`; `frame.attrs["stats"]` holds
    device, dtype, new-token counts, reviews/s and tokens/s of the work done in this call.
    """
    prompts = [p for p in prompts if isinstance(p, str) and p.strip()]
    if not prompts:
        raise InputError(f"no prompts for sentiment '{sentiment}': the prompt table has no prefix or user prompts")
    if finetune_config is None:
        finetune_config, _ = read_finetune_config(model_dir)
    if device is None or dtype is None:
        auto_device, auto_dtype = choose_device_dtype()
        device = device or auto_device
        dtype = dtype or auto_dtype
    chunk_dir = Path(chunk_dir)
    chunk_dir.mkdir(parents=True, exist_ok=True)

    chunk_size = config.effective_chunk_size
    fp = _fingerprint(
        generator_version=generator_version, sentiment=sentiment, temperature=temperature_key(config.temperature),
        seed=config.seed, top_p=config.top_p, top_k=config.top_k, rep=config.repetition_penalty,
        max_new=config.max_new_tokens, min_new=config.min_new_tokens, chunk=chunk_size,
        prompts=prompts, sampler=SAMPLER_VERSION, fmt=finetune_config.to_dict() if finetune_config else None, dtype=dtype_name(dtype),
    )
    n = int(config.n)
    pidx = prompt_indices(n, len(prompts), int(config.seed))
    n_chunks = (n + chunk_size - 1) // chunk_size

    def chunk_path(k: int) -> Path:
        return chunk_dir / f"{sentiment}-t{temperature_key(config.temperature)}-{fp}-{k:05d}.parquet"

    frames: dict[int, pd.DataFrame] = {}
    for k in range(n_chunks):
        path = chunk_path(k)
        expected = min(chunk_size, n - k * chunk_size)
        if path.exists():
            try:
                f = _read_chunk(path)
            except Exception:  # noqa: BLE001 - a damaged file is regenerated
                f = None
            if f is not None and len(f) >= expected:
                frames[k] = f.iloc[:expected]
    todo = [k for k in range(n_chunks) if k not in frames]
    done_reviews = sum(len(f) for f in frames.values())
    if frames:
        log.info("resuming: %d of %d chunks already done (%d reviews)", len(frames), n_chunks, done_reviews)

    stats = {"device": device, "dtype": dtype_name(dtype), "new_tokens": 0, "generated": 0,
             "resumed": done_reviews, "finished_eos": 0, "seconds": 0.0, "batch_size": config.batch_size}
    if todo:
        if model_and_tokenizer is not None:
            model, tokenizer = model_and_tokenizer
        else:
            model, tokenizer = load_model(model_dir, device, dtype)
        tokenizer.padding_side = "left"
        prefix = generation_prefix(sentiment, finetune_config, tokenizer)
        bar = None
        if show_progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, initial=done_reviews, desc=f"{sentiment} T={temperature_key(config.temperature)}",
                       unit="review")
        batch_size = int(config.batch_size)
        t0 = time.perf_counter()
        try:
            for k in todo:
                lo, hi = k * chunk_size, min(n, (k + 1) * chunk_size)
                chunk_prompts = [prompts[pidx[i]] for i in range(lo, hi)]
                full = [join_prefix(prefix, p) for p in chunk_prompts]
                torch.manual_seed(int(config.seed) * 1_000_003 + k)
                results, batch_size = _run_chunk(model, tokenizer, full, config, device, batch_size)
                rows = []
                created = pd.Timestamp.now(tz="UTC")
                for i, p, (cont, n_new, finished) in zip(range(lo, hi), chunk_prompts, results):
                    text = (p + cont).strip()
                    if not finished:
                        text = trim_to_sentence(text)
                    rows.append({
                        "synthetic_id": synthetic_id(generator_version, sentiment, config.temperature, config.seed, i),
                        "sentiment": sentiment, "temperature": float(config.temperature), "prompt": p,
                        "text": " ".join(text.split()), "generator_version": generator_version,
                        "seed": int(config.seed), "created_at": created,
                    })
                    stats["new_tokens"] += n_new
                    stats["finished_eos"] += int(finished)
                chunk = pd.DataFrame(rows, columns=COLUMNS)
                _write_atomic(chunk, chunk_path(k))
                frames[k] = chunk
                stats["generated"] += len(rows)
                elapsed = time.perf_counter() - t0
                done = sum(len(f) for f in frames.values())
                rate = stats["generated"] / elapsed if elapsed else 0.0
                if bar is not None:
                    bar.update(len(rows))
                    bar.set_postfix(reviews_per_s=f"{rate:.2f}")
                if progress is not None:
                    progress({"done": done, "total": n, "reviews_per_s": rate,
                              "eta_s": (n - done) / rate if rate else None, "chunk": k,
                              "batch_size": batch_size})
        finally:
            if bar is not None:
                bar.close()
            stats["seconds"] = round(time.perf_counter() - t0, 3)
        stats["batch_size"] = batch_size
    out = pd.concat([frames[k] for k in range(n_chunks)], ignore_index=True)[COLUMNS]
    out["temperature"] = out["temperature"].astype("float64")
    out["seed"] = out["seed"].astype("int64")
    if stats["seconds"]:
        stats["reviews_per_s"] = round(stats["generated"] / stats["seconds"], 3)
        stats["tokens_per_s"] = round(stats["new_tokens"] / stats["seconds"], 1)
    out.attrs["stats"] = stats
    return out
