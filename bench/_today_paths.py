"""The model paths as they were when the speed issue (#25) was filed, for the benches' `today` figures.

`use_padding_mask()` (for the rest of a process) or `with padding_mask():` (for a block): every forward pass gets
its padding mask (as before `model.causal_only`, which runs right-padded rows with plain causal attention), and
training computes the vocabulary projection 64 rows at a time (as before `model.TRAIN_HEAD_CHUNK_ROWS`). Not a
bench of its own: `python bench/NAME.py` puts this folder on the path.
"""

from __future__ import annotations

import contextlib


def use_padding_mask() -> tuple:
    """Switch to today's path; returns what `restore` puts back."""
    import augment_assets.lib.embedding as embedding_lib
    import augment_assets.lib.model as model_lib

    saved = model_lib.causal_only, embedding_lib.causal_only, model_lib.TRAIN_HEAD_CHUNK_ROWS
    model_lib.causal_only = embedding_lib.causal_only = lambda attention: attention
    model_lib.TRAIN_HEAD_CHUNK_ROWS = model_lib.HEAD_CHUNK_ROWS
    return saved


def restore(saved: tuple) -> None:
    import augment_assets.lib.embedding as embedding_lib
    import augment_assets.lib.model as model_lib

    model_lib.causal_only, embedding_lib.causal_only, model_lib.TRAIN_HEAD_CHUNK_ROWS = saved


@contextlib.contextmanager
def padding_mask():
    saved = use_padding_mask()
    try:
        yield
    finally:
        restore(saved)
