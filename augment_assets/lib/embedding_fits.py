"""The embedding classifier without a model: its settings, the vectors it was given, and its fits.

lib/embedding.py computes the vectors with the base model (torch); everything here works on those
vectors alone, so the evaluation uses the embedding classifier without loading torch.
"""

from __future__ import annotations

import warnings as pywarnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from .classifiers import CLASSIFIER_SPECS
from .errors import InputError
from .settings import setting
from .text import text_hash


@dataclass(frozen=True)
class EmbeddingConfig:
    # Tokens of a review read (its first ones): as many as the generative classifier reads. Cross-validated over the
    # pizza CSV's 404 training reviews, 256 tokens scored 0.921 against 0.855 at 64 (docs/results.md, "What
    # truncation costs the embedding classifier"); 72% of those reviews are longer than 64 tokens.
    max_tokens: int = setting(256, description="Tokens of a review the embedding classifier reads.", ge=8)
    # Reviews per forward pass, length-sorted so padding stays small, at most `batch_size` of them and at most
    # `batch_tokens` padded positions (`model.length_batches`: the size of a forward that ran fastest here).
    batch_size: int = setting(64, description="At most this many reviews per forward pass of the embedding.", ge=1)
    batch_tokens: int = setting(
        4096, description="At most this many padded token positions per forward pass of the embedding.", ge=8
    )

    def __post_init__(self):
        if self.max_tokens < 8 or self.batch_size < 1 or self.batch_tokens < 8:
            raise InputError(
                f"embedding: max_tokens must be >= 8, batch_size >= 1 and batch_tokens >= 8, got {self.max_tokens}, "
                f"{self.batch_size} and {self.batch_tokens}"
            )


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
    """Vectors by `text.text_hash` of the text (the whitespace-normalised text the model reads)."""

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
    def of(cls, texts, embed: Callable[[str], np.ndarray], config: EmbeddingConfig = EmbeddingConfig()) -> Embeddings:
        """Embeddings by any function of a text (tests: a stand-in for the model)."""
        return cls({text_hash(t): np.asarray(embed(t), dtype=np.float32) for t in texts}, config, base_model="function")


def make_embedding_classifier(param: float | None = None):
    """Standardise (on the training set: a few dimensions of a language model's hidden states are orders of
    magnitude larger than the rest) then logistic regression; `param=None` is C's library default."""
    return CLASSIFIER_SPECS["embedding"].make(param).fit_pipeline()


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

    def predict(
        self, rows, labels, gridpoints, eval_names, proba: bool = False, weights: np.ndarray | None = None
    ) -> dict:
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
