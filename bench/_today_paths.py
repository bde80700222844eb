"""The model paths as they were when the speed issue (#25) was filed, for the benches' `today` figures.

`use_today_path()` (for the rest of a process) or `with today_path():` (for a block):
- every forward pass gets its padding mask (as before `model.causal_only`, which runs right-padded rows with plain
  causal attention);
- training computes the vocabulary projection 64 rows at a time (as before `model.TRAIN_HEAD_CHUNK_ROWS`);
- a training step runs as one pass however many tokens it holds (as before `finetune.STEP_TOKENS`).
Not a bench of its own (`make bench` skips `_` files): `python bench/NAME.py` puts this folder on the path.
"""

from __future__ import annotations

import contextlib


def use_today_path() -> tuple:
    """Switch to today's path; returns what `restore` puts back."""
    import augment_assets.lib.embedding as embedding_lib
    import augment_assets.lib.finetune as finetune_lib
    import augment_assets.lib.model as model_lib

    saved = (
        model_lib.causal_only,
        embedding_lib.causal_only,
        model_lib.TRAIN_HEAD_CHUNK_ROWS,
        finetune_lib.STEP_TOKENS,
    )
    model_lib.causal_only = embedding_lib.causal_only = lambda attention: attention
    model_lib.TRAIN_HEAD_CHUNK_ROWS = model_lib.HEAD_CHUNK_ROWS
    finetune_lib.STEP_TOKENS = 1 << 30
    return saved


def restore(saved: tuple) -> None:
    import augment_assets.lib.embedding as embedding_lib
    import augment_assets.lib.finetune as finetune_lib
    import augment_assets.lib.model as model_lib

    (
        model_lib.causal_only,
        embedding_lib.causal_only,
        model_lib.TRAIN_HEAD_CHUNK_ROWS,
        finetune_lib.STEP_TOKENS,
    ) = saved


@contextlib.contextmanager
def today_path():
    saved = use_today_path()
    try:
        yield
    finally:
        restore(saved)
