"""Batched, resumable generation of synthetic reviews.

- Review i (0 <= i < n) uses prompt ``prompts[perm[i % len(prompts)]]`` where ``perm`` is a
  permutation seeded by ``seed``: every prompt is used about equally, deterministically.
- ``synthetic_id`` = sha1 of (generator_version, sentiment, temperature, seed, i): the same
  review slot always has the same id.
- Reviews are made in chunks of consecutive indices (`GenerationConfig.effective_chunk_size`).
  Each finished chunk is written atomically (tmp file + rename) as parquet to ``chunk_dir``
  under a name keyed by a fingerprint of everything that shapes the output (decoder
  included); a rerun loads finished chunks and makes only the missing ones: no duplicates,
  no loss (lib/generate_chunks.py).
- Two decoders (``GenerationConfig.decoder``), lib/generate_decoding.py: ``continuous`` (the
  default: a row leaves the batch at its end-of-text and queued prompts join it; each review slot
  draws from its own generator seeded by its synthetic_id) and ``static`` (`model.generate` in
  static batches, the former path).
- ``text`` is the review as a reader sees it: the prompt's opening words **plus** the
  continuation (the prompt words were the start of a real review and read as part of
  this one); the conditioning prefix (e.g. "Review, 4-5 stars:") is removed.
  A review cut by ``max_new_tokens`` before the end-of-text token is trimmed back to its
  last sentence end when that keeps at least half of it.
- Running out of memory at a batch size halves the batch and retries (logged; see
  lib/generate_decoding.py for what the retry equals).
- Several temperatures of one generator decode in one batch (`generate_reviews_together`).
- Counting reviews *kept* by a filter, drawing further slots until enough are kept:
  lib/generate_kept.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from augment_assets.lib.errors import InputError
from augment_assets.lib.finetune_config import FinetuneConfig, generation_prefix, join_prefix, read_finetune_config
from augment_assets.lib.generate_chunks import COLUMNS, ChunkWriter, finished_chunks
from augment_assets.lib.generate_decoding import decoder_for, make_continuous, make_static
from augment_assets.lib.model import choose_device_dtype, dtype_name, load_model
from augment_assets.lib.settings import setting

log = logging.getLogger(__name__)

# Part of the chunk fingerprint: a change in how tokens are drawn must not resume old chunks.
SAMPLER_VERSION = "sampling-processor-1"  # the static decoder (model.generate), unchanged
SAMPLER_VERSIONS = {"static": SAMPLER_VERSION, "continuous": "continuous-row-rng-1"}
DECODERS = tuple(SAMPLER_VERSIONS)
_SENTENCE_END = re.compile(r"[.!?)](?=\s|$)")


DEFAULT_MAX_NEW_TOKENS = 128  # the cap for a model without a fine-tuning config (a base model)


@dataclass
class GenerationConfig:
    """Sampling settings; validated at construction (ValueError with the offending value).

    Demo defaults (2-core CPU): 32 reviews per partition, at most the generator's training
    length in new tokens (whole reviews: the length covering its training reviews, lib/finetune.py;
    128 for a model without a fine-tuning config), top_p 0.95, repetition penalty 1.1 (the
    findings' setting). Temperature is the partition key (0.7 default).

    Decoding: ``decoder="continuous"`` (rows leave at end-of-text, queued prompts join; see
    lib/generate_decoding.py) at ``batch_size`` 128: on 2 CPU cores a decode step has a large fixed
    cost, which a full, bigger batch spreads over more rows; a static batch that size would wait
    longer for its longest row (docs/results.md, "Where a decode step's time goes").
    ``decoder="static"`` is the former `model.generate` path (its default batch was 32).
    Rejected lever: dynamic int8 quantization of the linear layers (`quantize_dynamic`) made
    a decode step faster but raised the perplexity of real reviews severalfold; only leaving
    layers out brought it back near the unquantized model's (docs/results.md, "Generation: int8
    quantization (rejected)").

    Sampling defaults, measured by `scripts/generator_sweep.py` on the pizza CSV (docs/results.md,
    "Generation: temperature, top_p and prompt length"):
    - temperature: a higher one writes more varied reviews but loses label fidelity and topic; a
      low one copies training spans. The partitions stay 0.7-1.1 and the evaluation picks among
      them on validation.
    - top_p 0.95: as label-faithful as 0.9, where 1.0 lost positive fidelity.
    - prompts of 4 opening words: 8 words copy an 8-word training span by construction, so
      prompts stay at 4 words (`PromptTableConfig.prefix_words`).
    """

    n: int = setting(
        32, description="Synthetic reviews kept per partition (after the quality filters; see max_attempts).", ge=1
    )
    temperature: float = 0.7
    # null: the generator's training length (whole reviews: the length covering its training reviews, so it
    # can end any review it learned to write), or DEFAULT_MAX_NEW_TOKENS for a model without a fine-tuning config
    max_new_tokens: int | None = setting(
        None,
        description=(
            "Cap on a review's new tokens; null: the generator's training length, so it can end every review it "
            "learned to write (whole reviews)."
        ),
        ge=1,
    )
    top_p: float = setting(0.95, description="Nucleus sampling: the probability mass sampled from.", gt=0, le=1)
    top_k: int = setting(0, description="Sample from the k likeliest tokens; 0 disables top-k.", ge=0)
    repetition_penalty: float = setting(1.1, description="Divides the logits of tokens already in the review.", gt=0)
    batch_size: int = setting(128, description="Reviews decoded together; halved on out-of-memory.", ge=1)
    seed: int = 0
    min_new_tokens: int = 0
    chunk_size: int | None = None  # reviews per resumable chunk; default: see effective_chunk_size
    decoder: str = "continuous"  # "continuous" (own decode loop) or "static" (model.generate batches)

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
        if self.max_new_tokens is not None and (
            not isinstance(self.max_new_tokens, (int, np.integer)) or self.max_new_tokens < 1
        ):
            problems.append(f"max_new_tokens must be an integer >= 1 (or null), got {self.max_new_tokens!r}")
        cap = self.max_new_tokens if isinstance(self.max_new_tokens, (int, np.integer)) else DEFAULT_MAX_NEW_TOKENS
        if not isinstance(self.min_new_tokens, (int, np.integer)) or not 0 <= self.min_new_tokens <= max(1, cap):
            problems.append(f"min_new_tokens must be in [0, max_new_tokens], got {self.min_new_tokens!r}")
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            problems.append(f"batch_size must be an integer >= 1, got {self.batch_size!r}")
        if self.chunk_size is not None and (not isinstance(self.chunk_size, (int, np.integer)) or self.chunk_size < 1):
            problems.append(f"chunk_size must be an integer >= 1, got {self.chunk_size!r}")
        if self.decoder not in DECODERS:
            problems.append(f"decoder must be one of {', '.join(DECODERS)}, got {self.decoder!r}")
        if not isinstance(self.seed, (int, np.integer)):
            problems.append(f"seed must be an integer, got {self.seed!r}")
        if problems:
            raise ValueError("invalid generation config: " + "; ".join(problems))

    @property
    def effective_chunk_size(self) -> int:
        """`chunk_size`, else one batch for the static decoder (a chunk is its unit of work), and at most
        32 reviews for the continuous one (rows flow across chunks: a chunk is only a resume point)."""
        if self.chunk_size:
            return int(self.chunk_size)
        return int(self.batch_size) if self.decoder == "static" else min(int(self.batch_size), 32)


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


@dataclass
class _Slots:
    """What review slot i is made of: its prompt, the text the model is fed, its random stream, its row."""

    prompts: list[str]
    pidx: np.ndarray
    prefix: str
    sentiment: str
    config: GenerationConfig
    generator_version: str

    def synthetic_id(self, i: int) -> str:
        return synthetic_id(self.generator_version, self.sentiment, self.config.temperature, self.config.seed, i)

    def full_prompt(self, i: int) -> str:
        return join_prefix(self.prefix, self.prompts[self.pidx[i]])

    def seed(self, i: int) -> int:
        """The slot's own random stream (continuous decoder): its id, as a number."""
        return int(self.synthetic_id(i), 16) % (2**63)

    def row(self, i: int, cont: str, finished: bool, created) -> dict:
        p = self.prompts[self.pidx[i]]
        text = (p + cont).strip()
        if not finished:
            text = trim_to_sentence(text)
        return {
            "synthetic_id": self.synthetic_id(i),
            "sentiment": self.sentiment,
            "temperature": float(self.config.temperature),
            "prompt": p,
            "text": " ".join(text.split()),
            "generator_version": self.generator_version,
            "seed": int(self.config.seed),
            "created_at": created,
        }


def _chunk_fingerprint(config: GenerationConfig, sentiment, generator_version, prompts, finetune_config, dtype) -> str:
    return _fingerprint(
        generator_version=generator_version,
        sentiment=sentiment,
        temperature=temperature_key(config.temperature),
        seed=config.seed,
        top_p=config.top_p,
        top_k=config.top_k,
        rep=config.repetition_penalty,
        max_new=config.max_new_tokens,
        min_new=config.min_new_tokens,
        chunk=config.effective_chunk_size,
        prompts=prompts,
        sampler=SAMPLER_VERSIONS[config.decoder],
        fmt=finetune_config.to_dict() if finetune_config else None,
        dtype=dtype_name(dtype),
    )


def new_token_cap(config: GenerationConfig, finetune_config: FinetuneConfig | None) -> int:
    """`max_new_tokens`, else the generator's training length (whole reviews), else DEFAULT_MAX_NEW_TOKENS."""
    if config.max_new_tokens is not None:
        return int(config.max_new_tokens)
    if finetune_config is not None and finetune_config.max_length:
        return int(finetune_config.max_length)
    return DEFAULT_MAX_NEW_TOKENS


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
    device, dtype, decoder, new-token counts, reviews/s and tokens/s of the work done in this call,
    and the fingerprint of the settings that shape the output.
    """
    return generate_reviews_together(
        model_dir,
        prompts,
        sentiment,
        [config],
        chunk_dir,
        generator_version,
        finetune_config=finetune_config,
        progress=progress,
        device=device,
        dtype=dtype,
        show_progress=show_progress,
        model_and_tokenizer=model_and_tokenizer,
    )[0]


def _shared_settings(configs: list[GenerationConfig]) -> None:
    """Configs decoded together may differ in `n` and `temperature` only: the batch shares every other setting."""
    shared = [{k: v for k, v in dataclasses.asdict(c).items() if k not in ("n", "temperature")} for c in configs]
    for config, settings in zip(configs[1:], shared[1:]):
        if settings != shared[0]:
            differ = sorted(k for k in settings if settings[k] != shared[0][k])
            raise ValueError(
                f"generations decoded together differ in {', '.join(differ)} (T={temperature_key(config.temperature)}); "
                "only n and temperature may differ"
            )
    keys = [temperature_key(c.temperature) for c in configs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"temperatures decoded together must differ, got {', '.join(keys)}")


@dataclass
class _Generation:
    """One temperature's share of `generate_reviews_together`: its settings, chunks and what is left to make."""

    config: GenerationConfig
    fingerprint: str
    chunk_path: Callable[[int], Path]
    frames: dict[int, pd.DataFrame]
    todo: list[int]
    stats: dict
    slots: _Slots | None = None
    writer: ChunkWriter | None = None

    def frame(self) -> pd.DataFrame:
        out = pd.concat([self.frames[k] for k in sorted(self.frames)], ignore_index=True)[COLUMNS]
        out["temperature"] = out["temperature"].astype("float64")
        out["seed"] = out["seed"].astype("int64")
        out.attrs["stats"] = with_rates(self.stats)
        return out


def with_rates(stats: dict) -> dict:
    """`stats` with its reviews/s and new tokens/s, from its `generated`, `new_tokens` and `seconds` (none when no
    time was spent: every review came from the chunk files)."""
    if stats["seconds"]:
        stats["reviews_per_s"] = round(stats["generated"] / stats["seconds"], 3)
        stats["tokens_per_s"] = round(stats["new_tokens"] / stats["seconds"], 1)
    return stats


def _prepare(
    config: GenerationConfig,
    sentiment: str,
    generator_version: str,
    prompts: list[str],
    finetune_config: FinetuneConfig | None,
    model_dir,
    model_and_tokenizer,
    chunk_dir: Path,
    device: str,
    dtype: torch.dtype,
) -> _Generation:
    """One temperature's settings resolved (token cap, decoder), its fingerprint, its finished chunks and the
    chunks it lacks."""
    config = dataclasses.replace(config, max_new_tokens=new_token_cap(config, finetune_config))
    config = dataclasses.replace(config, decoder=decoder_for(config, model_dir, model_and_tokenizer))
    fp = _chunk_fingerprint(config, sentiment, generator_version, prompts, finetune_config, dtype)
    n, chunk_size, key = int(config.n), config.effective_chunk_size, temperature_key(config.temperature)

    def chunk_path(k: int) -> Path:
        return chunk_dir / f"{sentiment}-t{key}-{fp}-{k:05d}.parquet"

    frames = finished_chunks(n, chunk_size, chunk_path)
    todo = [k for k in range((n + chunk_size - 1) // chunk_size) if k not in frames]
    done_reviews = sum(len(f) for f in frames.values())
    if frames:
        log.info(
            "T=%s resuming: %d chunks already done (%d reviews); %d to make", key, len(frames), done_reviews, len(todo)
        )
    stats = {
        "device": device,
        "dtype": dtype_name(dtype),
        "decoder": config.decoder,
        "new_tokens": 0,
        "generated": 0,
        "resumed": done_reviews,
        "finished_eos": 0,
        "seconds": 0.0,
        "batch_size": config.batch_size,
        "together": 1,
        "fingerprint": fp,
    }
    return _Generation(config, fp, chunk_path, frames, todo, stats)


def generate_reviews_together(
    model_dir: Path | str,
    prompts: list[str],
    sentiment: str,
    configs: list[GenerationConfig],
    chunk_dir: Path,
    generator_version: str,
    finetune_config: FinetuneConfig | None = None,
    progress: Callable[[dict], None] | None = None,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    show_progress: bool = True,
    model_and_tokenizer=None,
) -> list[pd.DataFrame]:
    """`generate_reviews` for several temperatures of one generator (`configs`, which may differ in `n` and
    `temperature` only), in one continuous decode: their rows share its batch, which one temperature's `n`
    often cannot fill, and a bigger batch makes more tokens per second on a CPU (docs/results.md, "Where a
    decode step's time goes"). Each temperature's ids, chunks, fingerprint and rows are the ones it gets alone:
    every review slot draws from its own seed at its own temperature (bfloat16 matmuls may round differently
    with the batch, as with any batch size). -> one frame per config, in order; `progress` updates carry
    `temperature`; the stats' `seconds` are the shared decode's and `together` counts the temperatures in it.
    """
    prompts = [p for p in prompts if isinstance(p, str) and p.strip()]
    if not prompts:
        raise InputError(f"no prompts for sentiment '{sentiment}': the prompt table has no prefix or user prompts")
    _shared_settings(configs)
    if finetune_config is None:
        finetune_config, _ = read_finetune_config(model_dir)
    if device is None or dtype is None:
        auto_device, auto_dtype = choose_device_dtype()
        device = device or auto_device
        dtype = dtype or auto_dtype
    chunk_dir = Path(chunk_dir)
    chunk_dir.mkdir(parents=True, exist_ok=True)
    generations = [
        _prepare(
            config,
            sentiment,
            generator_version,
            prompts,
            finetune_config,
            model_dir,
            model_and_tokenizer,
            chunk_dir,
            device,
            dtype,
        )
        for config in configs
    ]
    pending = [g for g in generations if g.todo]
    if pending:
        model, tokenizer = model_and_tokenizer or load_model(model_dir, device, dtype)
        tokenizer.padding_side = "left"
        prefix = generation_prefix(sentiment, finetune_config, tokenizer)
        for g in pending:
            key = temperature_key(g.config.temperature)
            report = None if progress is None else (lambda update, key=key: progress({**update, "temperature": key}))
            g.slots = _Slots(
                prompts,
                prompt_indices(int(g.config.n), len(prompts), int(g.config.seed)),
                prefix,
                sentiment,
                g.config,
                generator_version,
            )
            g.writer = ChunkWriter(
                int(g.config.n),
                g.config.effective_chunk_size,
                g.chunk_path,
                g.frames,
                g.stats,
                g.slots.row,
                report,
                None,
            )
        _make_missing(model, tokenizer, pending, sentiment, device, show_progress)
    return [g.frame() for g in generations]


def _make_missing(
    model, tokenizer, generations: list[_Generation], sentiment: str, device: str, show_progress: bool
) -> None:
    """Make the chunks each generation lacks: the continuous decoder's in one shared batch, the static
    decoder's one generation after another; the writers file and report them."""
    bar = None
    if show_progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=sum(g.writer.n for g in generations),
            initial=sum(sum(len(f) for f in g.frames.values()) for g in generations),
            unit="review",
            desc=f"{sentiment} T={','.join(temperature_key(g.config.temperature) for g in generations)}",
        )
    continuous = [g for g in generations if g.config.decoder == "continuous"]
    try:
        for g in generations:
            g.writer.bar = bar
        for g in generations:
            if g.config.decoder == "static":
                g.writer.t0 = time.perf_counter()
                g.stats["batch_size"] = make_static(
                    model, tokenizer, g.writer, g.todo, g.slots.full_prompt, g.config, device
                )
                g.stats["seconds"] = round(time.perf_counter() - g.writer.t0, 3)
        if continuous:
            t0 = time.perf_counter()
            for g in continuous:
                g.writer.t0 = t0
                g.stats["together"] = len(continuous)
            parts = [(g.writer, g.todo, g.slots.full_prompt, g.slots.seed, g.config.temperature) for g in continuous]
            batch_size = make_continuous(model, tokenizer, parts, continuous[0].config, device)
            for g in continuous:
                g.stats["batch_size"] = batch_size
    finally:
        if bar is not None:
            bar.close()
        for g in continuous:
            g.stats["seconds"] = round(time.perf_counter() - g.writer.t0, 3)
