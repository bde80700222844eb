"""Batched, resumable generation of synthetic reviews.

- Review i (0 <= i < n) uses prompt ``prompts[perm[i % len(prompts)]]`` where ``perm`` is a
  permutation seeded by ``seed``: every prompt is used about equally, deterministically.
- ``synthetic_id`` = sha1 of (generator_version, sentiment, temperature, seed, i): the same
  review slot always has the same id.
- Reviews are made in chunks of consecutive indices (`GenerationConfig.effective_chunk_size`).
  Each finished chunk is written atomically (tmp file + rename) as parquet to ``chunk_dir``
  under a name keyed by a fingerprint of everything that shapes the output (decoder
  included); a rerun loads finished chunks and makes only the missing ones: no duplicates,
  no loss.
- Two decoders (``GenerationConfig.decoder``), both in the dtype chosen by
  `choose_device_dtype` (bfloat16 on CPU) under ``torch.inference_mode``:
  - ``continuous`` (default, `_continuous_generate`): the loop drives the model's forward
    with a KV cache itself. A row leaves the batch at its end-of-text or max_new_tokens and
    queued prompts are prefilled and join it (left-padded cache; attention mask and
    position ids from the mask; leading all-padding columns dropped as rows leave), so the
    batch stays full and computes only rows still writing. Each review slot draws from its
    own generator seeded by its synthetic_id, so its text does not depend on its batch
    neighbours, the batch size or where a resumed run starts (bit-identical in float32;
    bfloat16 matmuls may round differently with the batch). Tokens are drawn by
    `sampling.SamplingProcessor.draw` (HF's warpers' distribution, sort-free inverse CDF).
    Padding never enters the repetition penalty: HF's `generate` penalizes the pad token,
    which is the end-of-text token here, in every left-padded row.
  - ``static`` (the former path, kept for comparison and for models whose cache the loop
    cannot realign): chunks sorted by prompt length through `model.generate` in static
    batches (left padding), `SamplingProcessor` as its logits processor; the RNG is re-seeded
    per chunk from (seed, chunk). A static batch runs until its longest row ends.
  Measured (`bench/generate.py`, 128 real prompts, at most 128 new tokens, end-of-text on,
  2 CPU cores): on a generator fine-tuned from the embedded SmolLM2-135M (the model a
  partition is made from; it ends ~95% of its reviews early), continuous at batch 128 made
  44,184 kept reviews/h against 14,529 for static at batch 32 (vs_today 3.04; useful tokens/s
  533 vs 220, 2.42x) on quiet cores, and 2.80x at load 6. Part of the kept-reviews figure is
  length: static's reviews are longer (49.8 vs 41.1 words), from the padding bias below
  (new tokens a review: static 55-61, continuous 42, the unpadded batch-1 `model.generate`
  baseline 20 and 33 in two runs of 12 reviews; small samples, but none as long as static). On the base model, which ends only ~35% of its reviews before 128 tokens,
  the gain was 1.4-2.0x over three runs; there the loop and the bigger batch each gave
  ~1.27x (static/32 51 s, static/128 40 s, continuous/32 40 s, continuous/128 26 s).
- ``text`` is the review as a reader sees it: the prompt's opening words **plus** the
  continuation (the prompt words were the start of a real review and read as part of
  this one); the conditioning prefix (e.g. "Review, 4-5 stars:") is removed.
  A review cut by ``max_new_tokens`` before the end-of-text token is trimmed back to its
  last sentence end when that keeps at least half of it.
- Running out of memory at a batch size halves the batch and retries (logged); the
  continuous decoder restarts the rows in flight with their own seeds, so the retry equals a
  run started at the halved batch size. It need not equal the first batch size's reviews
  token for token: a matmul's rounding depends on the batch's shape (oneDNN on AMX cores,
  in float32 too), and a near-tie between two tokens can then sample the other one.
- `generate_kept` counts reviews *kept* by a filter: it draws further slots (i = n, n+1, ...)
  until n are kept or an attempt bound is reached, and says how many were attempted, dropped
  and why it fell short.
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
from transformers import DynamicCache, LogitsProcessorList
from transformers.cache_utils import Cache, DynamicLayer

from augment_assets.lib.errors import InputError
from augment_assets.lib.finetune import FinetuneConfig, generation_prefix, join_prefix, read_finetune_config
from augment_assets.lib.model import choose_device_dtype, dtype_name, load_model
from augment_assets.lib.parquet import read_parquet, write_parquet_atomic
from augment_assets.lib.sampling import SamplingProcessor

log = logging.getLogger(__name__)

COLUMNS = ["synthetic_id", "sentiment", "temperature", "prompt", "text", "generator_version", "seed", "created_at"]
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
    the module doc) at ``batch_size`` 128: on 2 CPU cores a decode step has a large fixed
    cost (~30 ms of the ~70 ms a batch-32 step takes), which a full, bigger batch spreads
    over more rows; a static batch that size would wait longer for its longest row.
    ``decoder="static"`` is the former `model.generate` path (its default batch was 32).
    Rejected lever: dynamic int8 quantization of the linear layers (`quantize_dynamic`) made
    a decode step 2x faster but raised the perplexity of real reviews from 56 to 255-305
    (69 with down_proj and lm_head left out, 56.5 only for the attention projections).

    Measured by `scripts/generator_sweep.py` on the pizza CSV (default 2-epoch generator,
    48 reviews per point, validation split of the training reviews; +-0.05 per figure; on-topic
    then against a fixed pizza noun list, since replaced by the domain's own topic words):
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
    # null: the generator's training length (whole reviews: the length covering its training reviews, so it
    # can end any review it learned to write), or DEFAULT_MAX_NEW_TOKENS for a model without a fine-tuning config
    max_new_tokens: int | None = None
    top_p: float = 0.95
    top_k: int = 0
    repetition_penalty: float = 1.1
    batch_size: int = 128
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
        temperature=config.temperature,
        top_p=config.top_p,
        top_k=config.top_k,
        repetition_penalty=config.repetition_penalty,
        min_new_tokens=config.min_new_tokens,
        prompt_length=enc["input_ids"].shape[1],
        eos_token_id=tokenizer.eos_token_id,
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
    new = out[:, enc["input_ids"].shape[1] :]
    eos = tokenizer.eos_token_id
    results = []
    for row in new.tolist():
        finished = eos in row
        if finished:
            row = row[: row.index(eos)]
        results.append((tokenizer.decode(row, skip_special_tokens=True), len(row), finished))
    return results


def _halved_after_oom(exc: Exception, batch_size: int, device: str) -> int:
    """The batch size to retry with after `exc`; re-raises anything but an out-of-memory error at batch > 1."""
    if not _is_oom(exc) or batch_size == 1:
        raise exc
    if device == "cuda":
        torch.cuda.empty_cache()
    log.warning("out of memory at batch size %d; retrying with %d", batch_size, batch_size // 2)
    return batch_size // 2


def _run_chunk(
    model, tokenizer, full_prompts: list[str], config: GenerationConfig, device: str, batch_size: int
) -> tuple[list[tuple[str, int, bool]], int]:
    """Generate for one chunk (sorted by prompt length); halves the batch on OOM. -> (results, batch used)."""
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in full_prompts]
    order = sorted(range(len(full_prompts)), key=lambda k: (lengths[k], k))
    results: list[tuple[str, int, bool] | None] = [None] * len(full_prompts)
    start = 0
    while start < len(order):
        idx = order[start : start + batch_size]
        try:
            outs = _generate_batch(model, tokenizer, [full_prompts[k] for k in idx], config, device)
        except Exception as exc:  # noqa: BLE001
            batch_size = _halved_after_oom(exc, batch_size, device)
            continue
        for k, o in zip(idx, outs):
            results[k] = o
        start += len(idx)
    return results, batch_size  # type: ignore[return-value]


# ---------------------------------------------------------------- continuous batching
#
# A static batch (`_run_chunk`) keeps computing a row after its end-of-text until the longest
# row of the batch stops. `_continuous_generate` drives the model's forward itself: a row
# leaves the batch at its end-of-text or at max_new_tokens, and queued prompts are prefilled
# and join it, so the model only computes rows that are still writing.


def _pad_left(t: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """`t` with `n` zero columns prepended along `dim` (zeros are padding: the mask hides them)."""
    if n == 0:
        return t
    shape = list(t.shape)
    shape[dim] = n
    return torch.cat([t.new_zeros(shape), t], dim=dim)


class _GrowingLayer(DynamicLayer):
    """A DynamicLayer with spare columns: `update` writes the new keys/values in place and
    returns views. DynamicLayer concatenates, copying the whole cache every step: 14% of a
    batch-32 decode step (SmolLM2-135M, 2 CPU cores)."""

    SPARE = 64  # columns added per reallocation: a few per review at 128 new tokens

    @classmethod
    def holding(cls, keys: torch.Tensor, values: torch.Tensor) -> _GrowingLayer:
        layer = cls()
        layer._store(keys, values, room=cls.SPARE)
        return layer

    def _store(self, keys: torch.Tensor, values: torch.Tensor, room: int) -> None:
        """Copy keys/values into fresh buffers with `room` spare columns."""
        b, h, n, d = keys.shape
        self.buf_k = keys.new_empty(b, h, n + room, d)
        self.buf_v = values.new_empty(b, values.shape[1], n + room, values.shape[3])
        self.buf_k[:, :, :n], self.buf_v[:, :, :n] = keys, values
        self.length, self.device, self.is_initialized = n, keys.device, True
        self.keys, self.values = self.buf_k[:, :, :n], self.buf_v[:, :, :n]

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self._store(key_states[:, :, :0], value_states[:, :, :0], room=0)

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        q = key_states.shape[2]
        if self.length + q > self.buf_k.shape[2]:
            self._store(self.keys, self.values, room=q + self.SPARE)
        self.buf_k[:, :, self.length : self.length + q] = key_states
        self.buf_v[:, :, self.length : self.length + q] = value_states
        self.length += q
        self.keys, self.values = self.buf_k[:, :, : self.length], self.buf_v[:, :, : self.length]
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.buf_k, self.buf_v = self.buf_k[indices], self.buf_v[indices]
        self.keys, self.values = self.buf_k[:, :, : self.length], self.buf_v[:, :, : self.length]


def _growing_cache(tensors: list[tuple[torch.Tensor, torch.Tensor]] | int) -> Cache:
    """A cache of `_GrowingLayer`s: empty (an int: the number of layers) or holding (keys, values) per layer."""
    if isinstance(tensors, int):
        return Cache(layers=[_GrowingLayer() for _ in range(tensors)])
    return Cache(layers=[_GrowingLayer.holding(k, v) for k, v in tensors])


def _cache_tensors(cache: Cache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(layer.keys, layer.values) for layer in cache.layers]


@dataclass
class _Live:
    """The rows being decoded. `ids`/`mask` (rows, T) are left-padded; `cache` holds keys and
    values of ``ids[:, :-1]`` (the newest token is the next step's input)."""

    ids: torch.Tensor
    mask: torch.Tensor
    new: torch.Tensor  # (rows,) tokens generated so far
    cache: Cache
    jobs: list  # (key, generator) per row

    def history(self) -> torch.Tensor:
        """`ids` with padding replaced by the row's first real token: the penalty is a set
        operation over the history, and that token is in it already."""
        first = self.ids.gather(1, self.ids.shape[1] - self.mask.sum(1, keepdim=True))
        return torch.where(self.mask.bool(), self.ids, first)

    def select(self, keep: list[int]) -> _Live | None:
        """Only the rows `keep` (None when empty), leading all-padding columns dropped."""
        if not keep:
            return None
        if len(keep) < len(self.jobs):
            index = torch.tensor(keep, device=self.ids.device)
            self.cache.batch_select_indices(index)
            self.ids, self.mask, self.new = self.ids[index], self.mask[index], self.new[index]
            self.jobs = [self.jobs[k] for k in keep]
        cut = int((self.mask.sum(0) == 0).cumprod(0).sum())
        if cut:  # columns only finished rows had; attention would still read them every step
            self.ids, self.mask = self.ids[:, cut:], self.mask[:, cut:]
            self.cache = _growing_cache([(k[:, :, cut:], v[:, :, cut:]) for k, v in _cache_tensors(self.cache)])
        return self

    def merge(self, other: _Live) -> _Live:
        """This batch and `other`'s rows in one, the shorter side left-padded."""
        width = max(self.ids.shape[1], other.ids.shape[1])
        pa, pb = width - self.ids.shape[1], width - other.ids.shape[1]
        cache = _growing_cache(
            [
                (
                    torch.cat([_pad_left(ka, pa, 2), _pad_left(kb, pb, 2)]),
                    torch.cat([_pad_left(va, pa, 2), _pad_left(vb, pb, 2)]),
                )
                for (ka, va), (kb, vb) in zip(_cache_tensors(self.cache), _cache_tensors(other.cache))
            ]
        )
        return _Live(
            torch.cat([_pad_left(self.ids, pa, 1), _pad_left(other.ids, pb, 1)]),
            torch.cat([_pad_left(self.mask, pa, 1), _pad_left(other.mask, pb, 1)]),
            torch.cat([self.new, other.new]),
            cache,
            self.jobs + other.jobs,
        )


def _decoder_for(config: GenerationConfig, model_dir, model_and_tokenizer) -> str:
    """`config.decoder`, or "static" for a model whose cache the loop cannot realign: it pads,
    merges and slices plain full-attention layers, not sliding-window or linear-attention state."""
    if config.decoder != "continuous":
        return config.decoder
    if model_and_tokenizer is not None:
        model_config = model_and_tokenizer[0].config
    else:
        from transformers import AutoConfig

        model_config = AutoConfig.from_pretrained(str(model_dir))
    if all(type(layer) is DynamicLayer for layer in DynamicCache(config=model_config).layers):
        return "continuous"
    log.warning(
        "decoder 'continuous' cannot serve %s (sliding-window or linear attention); using 'static'",
        getattr(model_config, "model_type", "this model"),
    )
    return "static"


def _row_generator(seed: int, device: str) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _admit(model, tokenizer, sampler: SamplingProcessor, jobs: list, device: str) -> _Live:
    """Prefill the prompts of `jobs` ((key, text, seed) each) and draw each row's first token."""
    enc = tokenizer([text for _, text, _ in jobs], return_tensors="pt", padding=True, add_special_tokens=False).to(
        device
    )
    ids, mask = enc["input_ids"], enc["attention_mask"]
    cache = _growing_cache(len(DynamicCache(config=model.config).layers))
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    logits = (
        model(
            input_ids=ids, attention_mask=mask, position_ids=position_ids, cache=cache, use_cache=True, logits_to_keep=1
        )
        .logits[:, -1, :]
        .float()
    )
    gens = [_row_generator(seed, device) for _, _, seed in jobs]
    live = _Live(
        ids,
        mask,
        torch.zeros(len(jobs), dtype=torch.long, device=device),
        cache,
        [(key, g) for (key, _, _), g in zip(jobs, gens)],
    )
    return _append(live, sampler.draw(live.history(), logits, live.new, gens))


def _append(live: _Live, tokens: torch.Tensor) -> _Live:
    live.ids = torch.cat([live.ids, tokens], 1)
    live.mask = torch.cat([live.mask, torch.ones_like(tokens)], 1)
    live.new = live.new + 1
    return live


def _decode_step(model, sampler: SamplingProcessor, live: _Live) -> _Live:
    """One token for every live row: forward the newest token over the cache, then draw."""
    position_ids = live.mask.sum(1, keepdim=True) - 1
    logits = (
        model(
            input_ids=live.ids[:, -1:],
            attention_mask=live.mask,
            position_ids=position_ids,
            cache=live.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        .logits[:, -1, :]
        .float()
    )
    return _append(live, sampler.draw(live.history(), logits, live.new, [g for _, g in live.jobs]))


def _retire(live: _Live, tokenizer, max_new_tokens: int, on_done: Callable) -> _Live | None:
    """Report rows that emitted end-of-text or reached max_new_tokens; keep the others."""
    eos = tokenizer.eos_token_id
    last = live.ids[:, -1]
    done = ((last == eos) | (live.new >= max_new_tokens)).tolist()
    if not any(done):
        return live
    keep = []
    for r, finished in enumerate(done):
        if not finished:
            keep.append(r)
            continue
        row = live.ids[r, live.ids.shape[1] - int(live.new[r]) :].tolist()
        ended = row[-1] == eos
        row = row[:-1] if ended else row
        on_done(live.jobs[r][0], (tokenizer.decode(row, skip_special_tokens=True), len(row), ended))
    return live.select(keep)


@torch.inference_mode()
def _continuous_generate(
    model, tokenizer, jobs: list, config: GenerationConfig, device: str, batch_size: int, on_done: Callable
) -> None:
    """Generate for `jobs` ((key, full prompt, row seed) each) with at most `batch_size` rows at once.

    Calls ``on_done(key, (continuation, new tokens, ended by end-of-text))`` as each row
    finishes. Queued prompts join when an eighth of the batch is free (or it is empty): one
    prefill and one cache copy per group, not per row. Row r draws from its own generator seeded by its seed, so
    its text does not depend on the rows beside it.
    """
    sampler = SamplingProcessor(
        temperature=config.temperature,
        top_p=config.top_p,
        top_k=config.top_k,
        repetition_penalty=config.repetition_penalty,
        min_new_tokens=config.min_new_tokens,
        eos_token_id=tokenizer.eos_token_id,
        method="cdf",
    )
    queue = list(reversed(jobs))
    refill_at = max(1, batch_size // 8)
    live: _Live | None = None
    while queue or live is not None:
        free = batch_size - (len(live.jobs) if live is not None else 0)
        if queue and (live is None or free >= min(refill_at, len(queue))):
            group = [queue.pop() for _ in range(min(free, len(queue)))]
            joined = _admit(model, tokenizer, sampler, group, device)
            live = joined if live is None else live.merge(joined)
        else:
            live = _decode_step(model, sampler, live)
        live = _retire(live, tokenizer, int(config.max_new_tokens), on_done)


class _ChunkWriter:
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
        if self.bar is not None:
            self.bar.update(len(rows))
            self.bar.set_postfix(reviews_per_s=f"{rate:.2f}")
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


def _make_static(model, tokenizer, writer: _ChunkWriter, todo, full_prompt, config, device) -> int:
    """Today's path: each chunk through `model.generate` in static batches. -> the batch size used."""
    batch_size = int(config.batch_size)
    for k in todo:
        lo, hi = writer.bounds(k)
        torch.manual_seed(int(config.seed) * 1_000_003 + k)
        writer.batch_size = batch_size
        results, batch_size = _run_chunk(
            model, tokenizer, [full_prompt(i) for i in range(lo, hi)], config, device, batch_size
        )
        writer.batch_size = batch_size
        for i, result in zip(range(lo, hi), results):
            writer.add(i, result)
    return batch_size


def _make_continuous(model, tokenizer, writer: _ChunkWriter, todo, full_prompt, row_seed, config, device) -> int:
    """The missing chunks' reviews through `_continuous_generate`; halves the batch on OOM. -> batch used."""
    batch_size = int(config.batch_size)
    done: set[int] = set()

    def on_done(i: int, result) -> None:
        done.add(i)
        writer.add(i, result)

    while True:
        jobs = [(i, full_prompt(i), row_seed(i)) for k in todo for i in range(*writer.bounds(k)) if i not in done]
        writer.batch_size = batch_size
        try:
            _continuous_generate(model, tokenizer, jobs, config, device, batch_size, on_done)
            return batch_size
        except Exception as exc:  # noqa: BLE001
            # rows in flight restart from their first token; their own seeds make the retry identical
            batch_size = _halved_after_oom(exc, batch_size, device)


def _finished_chunks(n: int, chunk_size: int, chunk_path) -> dict[int, pd.DataFrame]:
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
    prompts = [p for p in prompts if isinstance(p, str) and p.strip()]
    if not prompts:
        raise InputError(f"no prompts for sentiment '{sentiment}': the prompt table has no prefix or user prompts")
    if finetune_config is None:
        finetune_config, _ = read_finetune_config(model_dir)
    config = dataclasses.replace(config, max_new_tokens=new_token_cap(config, finetune_config))
    if device is None or dtype is None:
        auto_device, auto_dtype = choose_device_dtype()
        device = device or auto_device
        dtype = dtype or auto_dtype
    chunk_dir = Path(chunk_dir)
    chunk_dir.mkdir(parents=True, exist_ok=True)
    config = dataclasses.replace(config, decoder=_decoder_for(config, model_dir, model_and_tokenizer))
    fp = _chunk_fingerprint(config, sentiment, generator_version, prompts, finetune_config, dtype)
    n, chunk_size = int(config.n), config.effective_chunk_size

    def chunk_path(k: int) -> Path:
        return chunk_dir / f"{sentiment}-t{temperature_key(config.temperature)}-{fp}-{k:05d}.parquet"

    frames = _finished_chunks(n, chunk_size, chunk_path)
    todo = [k for k in range((n + chunk_size - 1) // chunk_size) if k not in frames]
    done_reviews = sum(len(f) for f in frames.values())
    if frames:
        log.info("resuming: %d chunks already done (%d reviews); %d to make", len(frames), done_reviews, len(todo))
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
        "fingerprint": fp,
    }
    if todo:
        model, tokenizer = model_and_tokenizer or load_model(model_dir, device, dtype)
        tokenizer.padding_side = "left"
        slots = _Slots(
            prompts,
            prompt_indices(n, len(prompts), int(config.seed)),
            generation_prefix(sentiment, finetune_config, tokenizer),
            sentiment,
            config,
            generator_version,
        )
        writer = _ChunkWriter(n, chunk_size, chunk_path, frames, stats, slots.row, progress, None)
        _make_missing(model, tokenizer, slots, writer, todo, device, show_progress)
    out = pd.concat([frames[k] for k in sorted(frames)], ignore_index=True)[COLUMNS]
    out["temperature"] = out["temperature"].astype("float64")
    out["seed"] = out["seed"].astype("int64")
    if stats["seconds"]:
        stats["reviews_per_s"] = round(stats["generated"] / stats["seconds"], 3)
        stats["tokens_per_s"] = round(stats["new_tokens"] / stats["seconds"], 1)
    out.attrs["stats"] = stats
    return out


def _make_missing(
    model, tokenizer, slots: _Slots, writer: _ChunkWriter, todo: list[int], device: str, show_progress: bool
) -> None:
    """Make the chunks `todo` with the configured decoder; the writer files and reports them."""
    config, stats = slots.config, writer.stats
    if show_progress:
        from tqdm.auto import tqdm

        writer.bar = tqdm(
            total=writer.n,
            initial=sum(len(f) for f in writer.frames.values()),
            unit="review",
            desc=f"{slots.sentiment} T={temperature_key(config.temperature)}",
        )
    writer.t0 = time.perf_counter()
    try:
        if config.decoder == "static":
            stats["batch_size"] = _make_static(model, tokenizer, writer, todo, slots.full_prompt, config, device)
        else:
            stats["batch_size"] = _make_continuous(
                model, tokenizer, writer, todo, slots.full_prompt, slots.seed, config, device
            )
    finally:
        if writer.bar is not None:
            writer.bar.close()
        stats["seconds"] = round(time.perf_counter() - writer.t0, 3)


# ---------------------------------------------------------------- keep drawing until enough are kept


def default_max_attempts(target: int) -> int:
    """The attempt bound when none is given: 3 x the reviews to keep.

    The quality filters drop few reviews of a working generator (the real run kept 99.3 of 100 on
    average; the demo's tiny partitions lose a few to duplicates), so a generator that needs more
    than three attempts per kept review is broken (looping, echoing its prompt), and drawing on
    would spend the partition's hour on more of the same: it stops and says so instead.
    """
    return 3 * int(target)


def check_attempts(target: int, max_attempts: int | None) -> int:
    """`max_attempts` (or its default), if it can reach `target`; else an error naming the setting."""
    if max_attempts is None:
        return default_max_attempts(target)
    if not isinstance(max_attempts, (int, np.integer)) or max_attempts < target:
        raise InputError(
            f"max_attempts must be an integer >= the {target} reviews to keep (n x over_generation), got {max_attempts!r}; "
            f"leave it unset for {default_max_attempts(target)} (3 x {target})"
        )
    return int(max_attempts)


@dataclass
class KeptReviews:
    """What `generate_kept` made: the kept reviews (slot order) and the account of the attempts behind them."""

    kept: pd.DataFrame  # COLUMNS: the first `target` review slots the filters kept, in slot order
    target: int  # reviews asked to keep
    attempted: int  # review slots generated (0 .. attempted-1)
    max_attempts: int
    dropped: dict[str, int]  # slots the filters dropped, by reason
    stats: dict  # generate_reviews' stats, summed over the rounds (`resumed`: of the first round)

    @property
    def short_by(self) -> int:
        return max(0, self.target - len(self.kept))

    @property
    def surplus(self) -> int:
        """Kept by the filters but beyond the target (the last round's overshoot): generated, not stored."""
        return self.attempted - len(self.kept) - sum(self.dropped.values())

    def shortfall(self) -> str | None:
        """Why fewer than `target` were kept, or None when the target was met."""
        if not self.short_by:
            return None
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items(), key=lambda kv: -kv[1]) if v) or "none"
        return (
            f"kept {len(self.kept)} of the {self.target} reviews asked for: stopped at max_attempts={self.max_attempts} "
            f"attempts; the quality filters dropped {sum(self.dropped.values())} ({reasons}). Raise max_attempts, or "
            "look at the generator (a generator that loops or echoes its prompt keeps few reviews)"
        )


def _next_attempts(attempted: int, kept: int, target: int, max_attempts: int) -> int:
    """Slots to have after this round: enough for the missing reviews at the keep rate seen so far (x 1.25,
    doubling while none was kept), at most `max_attempts`. Not rounded up to whole chunks: a partition of
    32 that lost 3 reviews draws 5 more, not another chunk of 32 (a short last chunk is remade if a later
    round grows past it, with the same text: each slot has its own seed)."""
    more = attempted if kept == 0 else int(np.ceil((target - kept) * attempted / kept * 1.25))
    return min(int(max_attempts), attempted + max(1, more))


def generate_kept(
    model_dir: Path | str,
    prompts: list[str],
    sentiment: str,
    config: GenerationConfig,
    chunk_dir: Path,
    generator_version: str,
    keep: Callable[[pd.DataFrame], tuple[pd.DataFrame, dict[str, int]]],
    target: int | None = None,
    max_attempts: int | None = None,
    **generate_kwargs,
) -> KeptReviews:
    """`target` (default `config.n`) reviews that `keep` (the quality filters: frame -> (kept rows, dropped
    by reason)) keeps, drawing new review slots i = target, target+1, ... (their ids and seeds as ever) until
    that many are kept or `max_attempts` slots were generated (default `default_max_attempts`).

    Deterministic: each round is `generate_reviews` with a larger `n` (its finished chunks reused, so a rerun
    makes only what is missing), `keep` sees every slot made so far, and the kept reviews are the first
    `target` kept slots in slot order. An attempt bound below `target` is an error before any work.
    """
    target = int(config.n if target is None else target)
    max_attempts = check_attempts(target, max_attempts)
    attempted, rounds, totals = target, 0, {}
    while True:
        frame = generate_reviews(
            model_dir,
            prompts,
            sentiment,
            dataclasses.replace(config, n=attempted),
            chunk_dir,
            generator_version,
            **generate_kwargs,
        )
        rounds += 1
        stats = frame.attrs.get("stats", {})
        for key in ("generated", "new_tokens", "finished_eos", "seconds"):
            totals[key] = totals.get(key, 0) + stats.get(key, 0)
        totals.setdefault("resumed", stats.get("resumed", 0))
        kept, dropped = keep(frame)
        if len(kept) >= target or attempted >= max_attempts:
            break
        following = _next_attempts(attempted, len(kept), target, max_attempts)
        log.info(
            "%s T=%s: %d of %d kept after %d attempts; drawing up to %d",
            sentiment,
            temperature_key(config.temperature),
            len(kept),
            target,
            attempted,
            following,
        )
        attempted = following
        if generate_kwargs.get("model_and_tokenizer") is None:  # load once for the further rounds
            device, dtype = generate_kwargs.get("device"), generate_kwargs.get("dtype")
            if device is None or dtype is None:
                auto_device, auto_dtype = choose_device_dtype()
                device, dtype = device or auto_device, dtype or auto_dtype
            generate_kwargs["model_and_tokenizer"] = load_model(model_dir, device, dtype)
    slot = pd.Series(np.arange(len(frame)), index=frame["synthetic_id"].to_numpy())
    order = np.argsort(slot.loc[kept["synthetic_id"].to_numpy()].to_numpy(), kind="stable")
    kept = kept.iloc[order[:target]].reset_index(drop=True)
    stats = {**frame.attrs.get("stats", {}), **totals, "rounds": rounds}
    if stats["seconds"]:
        stats["reviews_per_s"] = round(stats["generated"] / stats["seconds"], 3)
        stats["tokens_per_s"] = round(stats["new_tokens"] / stats["seconds"], 1)
    return KeptReviews(kept, target, attempted, max_attempts, dict(dropped), stats)
