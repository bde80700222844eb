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
under `torch.inference_mode`, truncated to `max_tokens` (measured: `EmbeddingConfig`).
"""

from __future__ import annotations

import hashlib
import time
import warnings as pywarnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from .classify import DEFAULT_EMBEDDING_CS  # noqa: F401 - the grid lives with the other classifiers'
from .errors import InputError
from .generate import read_parquet, write_parquet_atomic
from .generative import text_hash
from .model import dtype_name, load_model

CACHE_COLUMNS = ["text_hash", "max_tokens", "dtype", "n_tokens", "vector"]


@dataclass(frozen=True)
class EmbeddingConfig:
    # Tokens of a review read (its first ones). Measured with bench/embedding.py --lengths on the validation fold
    # (80 reviews, never a holdout) of the shared pizza CSV, C chosen by 5-fold cross-validation on the fit fold:
    # 0.775 / 0.838 / 0.838 / 0.850 at 32 / 64 / 128 / 256 tokens (one review is 0.0125; 72% of the reviews are
    # longer than 64 tokens). 64 reads as well as 128 there, for about two thirds of the demo's tokens.
    max_tokens: int = 64
    # Reviews per forward pass, length-sorted so padding stays small. Measured in CPU seconds (the 2 cores were
    # shared) on 48 of the demo's training reviews at 128 tokens, bfloat16: 652 tokens per 2 CPU-s at 48, 395 at 16.
    # The decoder alone keeps no vocabulary-wide logits, so large batches cost little memory (unlike the generative
    # classifier's scoring, best at 16).
    batch_size: int = 64

    def __post_init__(self):
        if self.max_tokens < 8 or self.batch_size < 1:
            raise InputError(
                f"embedding: max_tokens must be >= 8 and batch_size >= 1, got {self.max_tokens} and {self.batch_size}"
            )


def model_key(base_model: str, path: Path | str) -> str:
    """The cache key of a base model: its BASE_MODEL value and what its folder holds (config and weight file
    sizes), so a folder replaced under the same name is not read through an old cache."""
    folder = Path(path)
    parts = [str(base_model), str(folder.resolve()) if folder.exists() else str(path)]
    if (folder / "config.json").exists():
        parts.append((folder / "config.json").read_text())
    parts += [f"{p.name}:{p.stat().st_size}" for p in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))]
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
    vocabulary-wide logits computed), else the whole model asked for its hidden states."""
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
def mean_pooled(model, tokenizer, texts: list[str], config: EmbeddingConfig = EmbeddingConfig(), base_model: str = "?",
                progress: Callable[[str], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(float32 mean of the last hidden state over each text's first `max_tokens` tokens, tokens read) per text.

    Right-padded batches of similar length, the padding masked out of the mean, so a text's vector does not
    depend on its batch. The mean is taken in float32 (a bfloat16 sum of 128 values keeps ~3 digits).
    """
    progress = progress or (lambda message: None)
    encoded = [tokenizer(" ".join(str(t).split()), add_special_tokens=False)["input_ids"][: config.max_tokens] for t in texts]
    encoded = [ids or [tokenizer.eos_token_id] for ids in encoded]  # an empty text still has a vector
    device = next(model.parameters()).device
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    vectors, counts = None, np.array([len(ids) for ids in encoded], dtype=np.int64)
    started, reported = time.perf_counter(), time.perf_counter()
    for start in range(0, len(order), config.batch_size):
        batch = order[start: start + config.batch_size]
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
        if time.perf_counter() - reported > 30:  # a line every half minute on a long pass
            reported = time.perf_counter()
            done = start + len(batch)
            progress(f"embedded {done}/{len(order)} texts ({done / (reported - started):.1f}/s)")
    if vectors is None:
        vectors = np.zeros((0, 0), dtype=np.float32)
    return vectors, counts


@dataclass
class EmbeddingStats:
    texts: int = 0  # distinct texts asked for
    embedded: int = 0  # of them computed now (the rest came from the cache)
    tokens: int = 0  # tokens read now
    seconds: float = 0.0  # model loading and embedding

    @property
    def texts_per_s(self) -> float:
        return self.embedded / self.seconds if self.seconds else float("nan")


@dataclass
class Embeddings:
    """Vectors by `generative.text_hash` of the text (the whitespace-normalised text the model reads)."""

    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    config: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    base_model: str = ""
    dtype: str = ""
    stats: EmbeddingStats = field(default_factory=EmbeddingStats)

    def matrix(self, texts) -> np.ndarray:
        """One row per text; an error naming how many were never embedded (a programming error upstream)."""
        keys = [text_hash(t) for t in texts]
        missing = sum(k not in self.vectors for k in keys)
        if missing:
            raise LookupError(f"{missing} of {len(keys)} texts were never embedded")
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self.vectors[k] for k in keys])

    def has(self, text: str) -> bool:
        return text_hash(text) in self.vectors

    @classmethod
    def of(cls, texts, embed: Callable[[str], np.ndarray], config: EmbeddingConfig = EmbeddingConfig()) -> "Embeddings":
        """Embeddings by any function of a text (tests: a stand-in for the model)."""
        return cls({text_hash(t): np.asarray(embed(t), dtype=np.float32) for t in texts}, config, base_model="function")


class EmbeddingCache:
    """Vectors of one base model, by (text hash, max_tokens, dtype), in one parquet file."""

    def __init__(self, cache_dir: Path | str, key: str):
        self.path = Path(cache_dir) / f"{key}.parquet"
        frame = read_parquet(self.path) if self.path.exists() else pd.DataFrame(columns=CACHE_COLUMNS)
        self.frame = frame[CACHE_COLUMNS]
        self._index = {
            (h, int(m), d): np.asarray(v, dtype=np.float32)
            for h, m, d, _, v in self.frame.itertuples(index=False)
        }

    def get(self, key: tuple) -> np.ndarray | None:
        return self._index.get(key)

    def add(self, rows: list[dict]) -> None:
        """Append rows and rewrite the file under a temporary name, renamed into place (a killed write leaves the old file)."""
        if not rows:
            return
        new = pd.DataFrame(rows, columns=CACHE_COLUMNS)
        self.frame = new if self.frame.empty else pd.concat([self.frame, new], ignore_index=True)
        self._index.update({(r["text_hash"], r["max_tokens"], r["dtype"]): np.asarray(r["vector"], dtype=np.float32) for r in rows})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_parquet_atomic(self.frame, self.path)


def embed_texts(
    texts, base_model: str, model_path: Path | str, cache_dir: Path | str, device: str, dtype: torch.dtype,
    config: EmbeddingConfig = EmbeddingConfig(), progress: Callable[[str], None] | None = None,
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
        progress(f"embedding {len(missing)} texts with {base_model} ({dtype_name(dtype)}, at most {config.max_tokens} tokens); "
                 f"{len(distinct) - len(missing)} cached")
        vectors, counts = mean_pooled(model, tokenizer, [first[k] for k in missing], config, base_model, progress)
        del model
        cache.add([
            {"text_hash": k[0], "max_tokens": k[1], "dtype": k[2], "n_tokens": int(n), "vector": v.tolist()}
            for k, v, n in zip(missing, vectors, counts)
        ])
        stats.embedded, stats.tokens = len(missing), int(counts.sum())
        stats.seconds = time.perf_counter() - started
        progress(f"embedded {stats.embedded} texts ({stats.tokens} tokens) in {stats.seconds:.1f} s")
    return Embeddings(
        {k[0]: cache.get(k) for k in keys.values()}, config, base_model=base_model, dtype=dtype_name(dtype), stats=stats,
    )


def make_embedding_classifier(param: float | None = None):
    """Standardise (on the training set: a few dimensions of a language model's hidden states are orders of
    magnitude larger than the rest) then logistic regression; `param=None` is C's library default."""
    from sklearn.pipeline import make_pipeline

    lr = LogisticRegression(max_iter=1000) if param is None else LogisticRegression(C=param, max_iter=1000)
    return make_pipeline(StandardScaler(), lr)


class EmbeddingFits:
    """The embedding classifier's `FitCache.predict`: the same training sets (rows of the FitCache corpus), their
    vectors instead of TF-IDF, each (training set, C, evaluation set) fit and predicted once."""

    def __init__(self, corpus_texts: list[str], embeddings: Embeddings):
        self.embeddings = embeddings
        self._corpus = corpus_texts
        # the corpus's vectors, once (a fit indexes rows; hashing its texts at every fit would cost more)
        have = [embeddings.has(t) for t in corpus_texts]
        self._have = np.asarray(have, dtype=bool)
        known = [t for t, h in zip(corpus_texts, have) if h]
        vectors = embeddings.matrix(known)
        self._matrix = np.zeros((len(corpus_texts), vectors.shape[1] if len(known) else 0), dtype=np.float32)
        if len(known):
            self._matrix[self._have] = vectors
        self._evals: dict[str, np.ndarray] = {}
        self._cache: dict[tuple, np.ndarray] = {}
        self.fits = 0

    def add_eval(self, name: str, *, rows: np.ndarray | None = None, texts=None) -> None:
        self._evals[name] = self.features(np.asarray(rows)) if rows is not None else self.embeddings.matrix(list(texts))

    def features(self, rows: np.ndarray) -> np.ndarray:
        if not self._have[rows].all():
            raise LookupError(f"{int((~self._have[rows]).sum())} training-side texts were never embedded")
        return self._matrix[rows]

    def predict(self, rows, labels, gridpoints, eval_names, proba: bool = False, weights: np.ndarray | None = None) -> dict:
        from .fitting import FitCache

        key = FitCache.train_key(rows, labels, weights)
        missing = [gp for gp in gridpoints if any((key, gp, e) not in self._cache for e in eval_names)]
        if missing:
            order, fit_kwargs = FitCache.fit_order(rows, weights)
            X, y = self.features(rows[order]), labels[order]
            fit_kwargs = {f"logisticregression__{k}": v for k, v in fit_kwargs.items()}  # the pipeline's last step
            for gp in missing:
                model = make_embedding_classifier(gp[2])
                with pywarnings.catch_warnings():
                    pywarnings.simplefilter("ignore", ConvergenceWarning)
                    model.fit(X, y, **fit_kwargs)
                self.fits += 1
                for e in eval_names:
                    self._cache[(key, gp, e)] = model.predict(self._evals[e]).astype(np.int8)
        if proba:
            raise NotImplementedError("the embedding classifier teaches no training set")
        return {gp: {e: self._cache[(key, gp, e)] for e in eval_names} for gp in gridpoints}


def embedding_texts(sets, holdouts: dict[str, pd.DataFrame]) -> list[str]:
    """Every text the embedding classifier fits on or scores, once: the members of the training sets of the
    kinds it is fit on (`TrainingData.embedded`), every validation fold and every holdout (texts only)."""
    from .variants import TRAINING_DATA

    kinds = [name for name, kind in TRAINING_DATA.items() if kind.embedded]
    ids = sets.configs.loc[sets.configs["training_data"].isin(kinds), "training_set_id"].astype(int)
    parts = [sets.members[i] for i in ids] + list(sets.validation.values())
    rows = np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
    texts = sets.items["text"].iloc[rows].astype(str).tolist()
    for frame in holdouts.values():
        texts += frame["text"].astype(str).tolist()
    return list(dict.fromkeys(texts))


def check_base_model(base_model: str, model_path: Path | str, device: str, dtype: torch.dtype) -> int:
    """The base model's hidden size, or an error naming BASE_MODEL when it gives no hidden states: loads the
    model once and runs one pass of a few tokens (`augment-assets materialize` calls it before any run)."""
    model, tokenizer = load_model(model_path, device, dtype)
    return check_hidden_states(model, tokenizer, base_model)
