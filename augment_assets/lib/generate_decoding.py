"""The two decoders of `generate_reviews` (``GenerationConfig.decoder``), and out-of-memory halving.

Both run in the dtype chosen by `choose_device_dtype` (bfloat16 on CPU) under ``torch.inference_mode``:

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

Why continuous is the default: a fine-tuned generator ends most of its reviews well before the
token cap, and a static batch keeps computing until its longest row ends. On 2 CPU cores the loop
made several times the kept reviews per hour of static batches (`bench/generate.py`); part of that
is length, as static's reviews run longer from the padding bias above (docs/results.md, "The
continuous decoder").

Running out of memory at a batch size halves the batch and retries (logged); the
continuous decoder restarts the rows in flight with their own seeds, so the retry equals a
run started at the halved batch size. It need not equal the first batch size's reviews
token for token: a matmul's rounding depends on the batch's shape (oneDNN on AMX cores,
in float32 too), and a near-tie between two tokens can then sample the other one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from transformers import DynamicCache, LogitsProcessorList
from transformers.cache_utils import Cache, DynamicLayer

from augment_assets.lib.generate_chunks import ChunkWriter
from augment_assets.lib.sampling import SamplingProcessor

if TYPE_CHECKING:
    from augment_assets.lib.generate import GenerationConfig

log = logging.getLogger(__name__)


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
    returns views. DynamicLayer concatenates, copying the whole cache every step: a sizeable share
    of a decode step (docs/results.md, "Where a decode step's time goes")."""

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
    jobs: list  # (key, generator, temperature) per row

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


def decoder_for(config: GenerationConfig, model_dir, model_and_tokenizer) -> str:
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


def _temperatures(sampler: SamplingProcessor, jobs: list, device: str) -> torch.Tensor | None:
    """Each row's temperature (rows, 1) where the rows' temperatures differ from the sampler's, else None: a
    batch of one temperature divides by it as a number, as it always has."""
    temperatures = [job[-1] for job in jobs]
    if all(t == sampler.temperature for t in temperatures):
        return None
    return torch.tensor(temperatures, dtype=torch.float32, device=device).unsqueeze(1)


def _admit(model, tokenizer, sampler: SamplingProcessor, jobs: list, device: str) -> _Live:
    """Prefill the prompts of `jobs` ((key, text, seed, temperature) each) and draw each row's first token."""
    enc = tokenizer([job[1] for job in jobs], return_tensors="pt", padding=True, add_special_tokens=False).to(device)
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
    gens = [_row_generator(seed, device) for _, _, seed, _ in jobs]
    live = _Live(
        ids,
        mask,
        torch.zeros(len(jobs), dtype=torch.long, device=device),
        cache,
        [(key, g, temperature) for (key, _, _, temperature), g in zip(jobs, gens)],
    )
    return _append(live, sampler.draw(live.history(), logits, live.new, gens, _temperatures(sampler, jobs, device)))


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
    generators = [g for _, g, _ in live.jobs]
    temperatures = _temperatures(sampler, live.jobs, logits.device.type)
    return _append(live, sampler.draw(live.history(), logits, live.new, generators, temperatures))


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
    """Generate for `jobs` ((key, full prompt, row seed, temperature) each) with at most `batch_size` rows at once.

    Calls ``on_done(key, (continuation, new tokens, ended by end-of-text))`` as each row
    finishes. Queued prompts join when an eighth of the batch is free (or it is empty): one
    prefill and one cache copy per group, not per row. Row r draws from its own generator seeded by its seed, at
    its own temperature (the other sampling settings are `config`'s), so its text does not depend on the rows
    beside it: one batch serves several temperatures of a generator.
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


def make_static(model, tokenizer, writer: ChunkWriter, todo, full_prompt, config, device) -> int:
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


def make_continuous(model, tokenizer, parts: list, config, device) -> int:
    """The missing chunks' reviews of every part ((writer, todo, full_prompt, row_seed, temperature) each: one
    temperature's generation) through one `_continuous_generate`, so the parts share its batch; halves the batch
    on OOM. `config` gives the sampling settings but the temperature. -> the batch size used."""
    batch_size = int(config.batch_size)
    done: set[tuple[int, int]] = set()

    def on_done(key: tuple[int, int], result) -> None:
        done.add(key)
        parts[key[0]][0].add(key[1], result)

    while True:
        jobs = [
            ((p, i), full_prompt(i), row_seed(i), float(temperature))
            for p, (writer, todo, full_prompt, row_seed, temperature) in enumerate(parts)
            for k in todo
            for i in range(*writer.bounds(k))
            if (p, i) not in done
        ]
        jobs.sort(key=lambda job: job[0][1])  # slot by slot across the parts: each one's chunks fill at an even pace
        for writer, *_ in parts:
            writer.batch_size = batch_size
        try:
            _continuous_generate(model, tokenizer, jobs, config, device, batch_size, on_done)
            return batch_size
        except Exception as exc:  # noqa: BLE001
            # rows in flight restart from their first token; their own seeds make the retry identical
            batch_size = _halved_after_oom(exc, batch_size, device)
