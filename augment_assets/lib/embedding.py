"""A pretrained-representation baseline: mean-pooled hidden states of the base model + logistic regression.

What a user might pick instead of TF-IDF: the `embedding` classifier represents a review by
the mean, over its tokens, of the base model's last hidden state (`BASE_MODEL`, the
embedded SmolLM2-135M by default: 576 numbers per review), standardised on the training set
and fit by logistic regression, whose C is chosen on the validation fold like every other
classifier's hyperparameters (lib/evaluation.py). It is fit on the stored training sets
(lib/training_sets.py), so it has baselines (genuine only) and synthetic candidates, through
the same select-on-validation machinery as the TF-IDF students.

The base model, not a fine-tuned generator: one representation for every data size and
repeat, so each text is embedded once per (base model, length, dtype) and reused by every
fit, data size, repeat and later evaluation (`<work_dir>/review_embeddings/<model key>.parquet`).
Texts are sorted by length and batched (little padding), the model runs in the inference
dtype of `model.choose_device_dtype` (bfloat16 on a CPU with native bfloat16, and on CUDA),
under `torch.inference_mode`, truncated to `max_tokens` (`EmbeddingConfig`; docs/results.md, "What
truncation costs the embedding classifier").
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .classify import DEFAULT_EMBEDDING_CS  # noqa: F401 - the grid lives with the other classifiers'

# The vectors' containers and the fits on them need no model: they live in embedding_fits, which the evaluation
# imports without torch; re-exported here for the embedding's callers.
from .embedding_fits import (  # noqa: F401
    EmbeddingConfig,
    EmbeddingFits,
    Embeddings,
    EmbeddingStats,
    embedding_texts,
    make_embedding_classifier,
)
from .errors import InputError
from .model import causal_only, dtype_name, length_batches, load_model
from .parquet import read_parquet, write_parquet_atomic
from .text import text_hash

CACHE_COLUMNS = ["text_hash", "max_tokens", "dtype", "n_tokens", "vector"]


def model_key(base_model: str, path: Path | str) -> str:
    """The cache key of a base model: its BASE_MODEL value and what its folder holds (config and weight file
    sizes), so a folder replaced under the same name is not read through an old cache."""
    folder = Path(path)
    parts = [str(base_model), str(folder.resolve()) if folder.exists() else str(path)]
    if (folder / "config.json").exists():
        parts.append((folder / "config.json").read_text())
    parts += [
        f"{p.name}:{p.stat().st_size}" for p in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
    ]
    return hashlib.sha1("\n".join(parts).encode("utf-8")).hexdigest()[:16]


def no_hidden_states_error(base_model: str, why: str) -> InputError:
    return InputError(
        f"BASE_MODEL '{base_model}' gives no hidden states ({why}), so the embedding classifier cannot pool them. "
        "Accepted: a Hugging Face causal language model whose forward returns `last_hidden_state` or, with "
        "output_hidden_states=True, `hidden_states` (Llama, GPT-2, and every transformers decoder do); or leave "
        "embedding out of classifier_metrics' classifiers (e.g. [nb, lr, generative])."
    )


def last_hidden_state(model, input_ids: torch.Tensor, attention: torch.Tensor, base_model: str = "?") -> torch.Tensor:
    """(batch, tokens, hidden) last hidden state. The decoder alone where the model has one (`base_model`: no
    vocabulary-wide logits computed), else the whole model asked for its hidden states. Right-padded rows run
    without the padding mask (`model.causal_only`): the padding's own states differ, the real tokens' do not."""
    attention = causal_only(attention)
    decoder = getattr(model, "base_model", model)
    if decoder is not model:
        out = decoder(input_ids=input_ids, attention_mask=attention)
        hidden = getattr(out, "last_hidden_state", None)
        if hidden is None and isinstance(out, tuple) and out and torch.is_tensor(out[0]):
            hidden = out[0]
    else:
        out = model(input_ids=input_ids, attention_mask=attention, output_hidden_states=True)
        states = getattr(out, "hidden_states", None)
        hidden = states[-1] if states else None
    if not torch.is_tensor(hidden) or hidden.dim() != 3 or hidden.shape[:2] != input_ids.shape:
        raise no_hidden_states_error(base_model, f"{type(model).__name__} returned {type(out).__name__} without them")
    return hidden


@torch.inference_mode()
def check_hidden_states(model, tokenizer, base_model: str) -> int:
    """The hidden size, from one forward pass of a few tokens; an error naming BASE_MODEL when there are none.
    Run before anything is embedded (and by `augment-assets materialize` before any run)."""
    ids = tokenizer("a good pizza", add_special_tokens=False)["input_ids"] or [tokenizer.eos_token_id]
    device = next(model.parameters()).device
    input_ids = torch.tensor([ids], device=device)
    return int(last_hidden_state(model, input_ids, torch.ones_like(input_ids), base_model).shape[-1])


@torch.inference_mode()
def mean_pooled(
    model,
    tokenizer,
    texts: list[str],
    config: EmbeddingConfig = EmbeddingConfig(),
    base_model: str = "?",
    progress: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(float32 mean of the last hidden state over each text's first `max_tokens` tokens, tokens read) per text.

    Right-padded batches of similar length, the padding masked out of the mean, so a text's vector does not
    depend on its batch. The mean is taken in float32 (a bfloat16 sum of 128 values keeps ~3 digits).
    """
    progress = progress or (lambda message: None)
    encoded = [
        tokenizer(" ".join(str(t).split()), add_special_tokens=False)["input_ids"][: config.max_tokens] for t in texts
    ]
    encoded = [ids or [tokenizer.eos_token_id] for ids in encoded]  # an empty text still has a vector
    device = next(model.parameters()).device
    batches = length_batches([len(ids) for ids in encoded], config.batch_size, config.batch_tokens)
    vectors, counts = None, np.array([len(ids) for ids in encoded], dtype=np.int64)
    started, reported = time.perf_counter(), time.perf_counter()
    done = 0
    for batch in batches:
        width = max(len(encoded[i]) for i in batch)
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for r, i in enumerate(batch):
            input_ids[r, : len(encoded[i])] = torch.tensor(encoded[i])
            attention[r, : len(encoded[i])] = 1
        input_ids, attention = input_ids.to(device), attention.to(device)
        hidden = last_hidden_state(model, input_ids, attention, base_model).float()
        mask = attention.unsqueeze(-1).float()
        pooled = ((hidden * mask).sum(dim=1) / mask.sum(dim=1)).cpu().numpy()
        if vectors is None:
            vectors = np.zeros((len(encoded), pooled.shape[1]), dtype=np.float32)
        vectors[batch] = pooled
        done += len(batch)
        if time.perf_counter() - reported > 30:  # a line every half minute on a long pass
            reported = time.perf_counter()
            progress(f"embedded {done}/{len(encoded)} texts ({done / (reported - started):.1f}/s)")
    if vectors is None:
        vectors = np.zeros((0, 0), dtype=np.float32)
    return vectors, counts


class EmbeddingCache:
    """Vectors of one base model, by (text hash, max_tokens, dtype), in one parquet file."""

    def __init__(self, cache_dir: Path | str, key: str):
        self.path = Path(cache_dir) / f"{key}.parquet"
        frame = read_parquet(self.path) if self.path.exists() else pd.DataFrame(columns=CACHE_COLUMNS)
        self.frame = frame[CACHE_COLUMNS]
        self._index = {
            (h, int(m), d): np.asarray(v, dtype=np.float32) for h, m, d, _, v in self.frame.itertuples(index=False)
        }

    def get(self, key: tuple) -> np.ndarray | None:
        return self._index.get(key)

    def add(self, rows: list[dict]) -> None:
        """Append rows and rewrite the file under a temporary name, renamed into place (a killed write leaves the old file)."""
        if not rows:
            return
        new = pd.DataFrame(rows, columns=CACHE_COLUMNS)
        self.frame = new if self.frame.empty else pd.concat([self.frame, new], ignore_index=True)
        self._index.update(
            {(r["text_hash"], r["max_tokens"], r["dtype"]): np.asarray(r["vector"], dtype=np.float32) for r in rows}
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(self.frame, self.path)


def embed_texts(
    texts,
    base_model: str,
    model_path: Path | str,
    cache_dir: Path | str,
    device: str,
    dtype: torch.dtype,
    config: EmbeddingConfig = EmbeddingConfig(),
    progress: Callable[[str], None] | None = None,
) -> Embeddings:
    """Embeddings of these texts by the base model; cached texts are not recomputed, and a base model whose
    texts are all cached is not even loaded. The model is checked for hidden states before any text is embedded."""
    progress = progress or (lambda message: None)
    distinct = list(dict.fromkeys(str(t) for t in texts))
    cache = EmbeddingCache(cache_dir, model_key(base_model, model_path))
    keys = {t: (text_hash(t), config.max_tokens, dtype_name(dtype)) for t in distinct}
    stats = EmbeddingStats(texts=len(distinct))
    missing = list(dict.fromkeys(k for k in keys.values() if cache.get(k) is None))
    if missing:
        started = time.perf_counter()
        model, tokenizer = load_model(model_path, device, dtype)
        check_hidden_states(model, tokenizer, base_model)
        first = {k: t for t, k in reversed(list(keys.items()))}
        progress(
            f"embedding {len(missing)} texts with {base_model} ({dtype_name(dtype)}, at most {config.max_tokens} tokens); "
            f"{len(distinct) - len(missing)} cached"
        )
        vectors, counts = mean_pooled(model, tokenizer, [first[k] for k in missing], config, base_model, progress)
        del model
        cache.add(
            [
                {"text_hash": k[0], "max_tokens": k[1], "dtype": k[2], "n_tokens": int(n), "vector": v.tolist()}
                for k, v, n in zip(missing, vectors, counts)
            ]
        )
        stats.embedded, stats.tokens = len(missing), int(counts.sum())
        stats.seconds = time.perf_counter() - started
        progress(f"embedded {stats.embedded} texts ({stats.tokens} tokens) in {stats.seconds:.1f} s")
    return Embeddings(
        {k[0]: cache.get(k) for k in keys.values()},
        config,
        base_model=base_model,
        dtype=dtype_name(dtype),
        stats=stats,
    )


def check_base_model(base_model: str, model_path: Path | str, device: str, dtype: torch.dtype) -> int:
    """The base model's hidden size, or an error naming BASE_MODEL when it gives no hidden states: loads the
    model once and runs one pass of a few tokens (`augment-assets materialize` calls it before any run)."""
    model, tokenizer = load_model(model_path, device, dtype)
    return check_hidden_states(model, tokenizer, base_model)
