"""The pretrained-representation baseline (augment_assets.lib.embedding): vectors, their cache, a model without hidden states."""

import numpy as np
import pytest
import torch

from augment_assets.lib import embedding
from augment_assets.lib.embedding import (
    EmbeddingConfig,
    EmbeddingFits,
    Embeddings,
    check_hidden_states,
    embed_texts,
    mean_pooled,
)
from augment_assets.lib.errors import InputError
from augment_assets.lib.model import length_batches, load_model

TEXTS = [
    "The crust was crisp and the sauce tasted fresh.",
    "Cold pizza, an hour late, and nobody answered the phone when we called back twice.",
    "Great.",
    "We ordered a large pepperoni and a salad; the salad was wilted but the pizza was fine.",
    "Best slice in town, hands down, every single time we go.",
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(tiny_model_dir, "cpu", torch.float32)


def _direct(model, tokenizer, text: str, limit: int) -> np.ndarray:
    """One text alone, no padding: the mean over its first `limit` tokens of the whole model's last hidden state."""
    ids = tokenizer(" ".join(text.split()), add_special_tokens=False)["input_ids"][:limit]
    with torch.inference_mode():
        hidden = model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[-1]
    return hidden[0].float().mean(dim=0).numpy()


def test_vectors_equal_one_text_at_a_time_whatever_the_batch(tiny):
    model, tokenizer = tiny
    for limit in (128, 8):  # 8: the longer texts are truncated to their first 8 tokens
        expected = np.stack([_direct(model, tokenizer, t, limit) for t in TEXTS])
        # a budget of 8 padded tokens puts every text longer than 4 tokens in a batch of its own
        for batch_size, batch_tokens in ((1, 4096), (2, 4096), (16, 4096), (16, 8), (16, 40)):
            vectors, counts = mean_pooled(
                model,
                tokenizer,
                TEXTS,
                EmbeddingConfig(max_tokens=limit, batch_size=batch_size, batch_tokens=batch_tokens),
            )
            np.testing.assert_allclose(vectors, expected, atol=1e-5)
            assert counts.max() <= limit
        assert (counts == 8).sum() >= 3 if limit == 8 else counts.max() > 8
    assert vectors.shape == (len(TEXTS), model.config.hidden_size)
    assert check_hidden_states(model, tokenizer, "tiny") == model.config.hidden_size


def test_each_text_is_embedded_once_per_base_model(tiny_model_dir, tmp_path, monkeypatch):
    cache = tmp_path / "review_embeddings"
    first = embed_texts(TEXTS[:3], "tiny", tiny_model_dir, cache, "cpu", torch.float32)
    assert (first.stats.texts, first.stats.embedded) == (3, 3) and first.stats.tokens > 0
    loads = []
    real_load = embedding.load_model
    monkeypatch.setattr(embedding, "load_model", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    again = embed_texts(TEXTS + [TEXTS[0]], "tiny", tiny_model_dir, cache, "cpu", torch.float32)
    assert (again.stats.texts, again.stats.embedded) == (5, 2) and len(loads) == 1  # only the two new texts
    np.testing.assert_array_equal(again.matrix(TEXTS[:3]), first.matrix(TEXTS[:3]))
    third = embed_texts(TEXTS, "tiny", tiny_model_dir, cache, "cpu", torch.float32)
    assert third.stats.embedded == 0 and len(loads) == 1  # all cached: the model is not even loaded
    # another length is another vector: not read through the cache of this one
    short = embed_texts(TEXTS[:1], "tiny", tiny_model_dir, cache, "cpu", torch.float32, EmbeddingConfig(max_tokens=8))
    assert short.stats.embedded == 1
    with pytest.raises(LookupError, match="1 of 1 texts were never embedded"):
        first.matrix(["not embedded"])


class _NoHiddenStates(torch.nn.Module):
    """A causal LM whose forward returns logits only, whatever it is asked (as some remote-code models do)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask=None, output_hidden_states=False):
        return type("Output", (), {"logits": torch.zeros((*input_ids.shape, 3)), "hidden_states": None})()


def test_a_base_model_without_hidden_states_fails_naming_the_setting_before_any_text_is_embedded(
    tiny, tiny_model_dir, tmp_path, monkeypatch
):
    _, tokenizer = tiny
    monkeypatch.setattr(embedding, "load_model", lambda *a, **k: (_NoHiddenStates(), tokenizer))
    pooled = []
    monkeypatch.setattr(embedding, "mean_pooled", lambda *a, **k: pooled.append(a))
    cache = tmp_path / "review_embeddings"
    with pytest.raises(InputError) as error:
        embed_texts(TEXTS, "my/odd-model", tiny_model_dir, cache, "cpu", torch.float32)
    message = str(error.value)
    assert "BASE_MODEL 'my/odd-model' gives no hidden states" in message and "_NoHiddenStates" in message
    assert "last_hidden_state" in message and "[nb, lr, generative]" in message  # what is accepted instead
    assert pooled == [] and not cache.exists()  # nothing embedded, nothing cached


def test_fits_are_a_standardised_logistic_regression_on_the_training_rows_only():
    """`EmbeddingFits.predict` equals the plain sklearn pipeline fit on the set's vectors; an evaluation set is
    only transformed, and a repeated call is a cache read."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    texts = [f"text {i}" for i in range(60)]
    labels = (np.arange(60) % 2).astype(np.int8)
    vectors = {
        t: rng.normal(0, 1, 5) + 100 * np.array([0, 0, 0, 0, 1]) + labels[i] * np.array([1.5, 0, 0, 0, 0])
        for i, t in enumerate(texts)
    }
    fits = EmbeddingFits(texts, Embeddings.of(texts, vectors.__getitem__))
    fits.add_eval("val", rows=np.arange(40, 60))
    rows = np.concatenate([np.arange(40), np.arange(10)])  # a multiset: repeats count
    predictions = fits.predict(rows, labels[rows], [(None, "embedding", None), (None, "embedding", 0.01)], ["val"])
    X = np.stack([vectors[texts[r]] for r in rows])
    for gridpoint in ((None, "embedding", None), (None, "embedding", 0.01)):
        C = 1.0 if gridpoint[2] is None else gridpoint[2]
        expected = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000)).fit(X, labels[rows])
        val = np.stack([vectors[texts[r]] for r in range(40, 60)])
        np.testing.assert_array_equal(predictions[gridpoint]["val"], expected.predict(val))
    assert fits.fits == 2
    fits.predict(rows[::-1].copy(), labels[rows][::-1].copy(), [(None, "embedding", 0.01)], ["val"])
    assert fits.fits == 2  # the same multiset in another order: cached


def test_embedding_settings_out_of_range_are_refused():
    default = EmbeddingConfig()
    with pytest.raises(
        InputError,
        match=rf"embedding: max_tokens must be >= 8, batch_size >= 1 and batch_tokens >= 8, got 4, 64 and {default.batch_tokens}",
    ):
        EmbeddingConfig(max_tokens=4)
    with pytest.raises(InputError, match=f"got {default.max_tokens}, 0 and {default.batch_tokens}"):
        EmbeddingConfig(batch_size=0)
    with pytest.raises(InputError, match=f"got {default.max_tokens}, {default.batch_size} and 7"):
        EmbeddingConfig(batch_tokens=7)


def test_length_batches_keep_every_forward_within_its_budget():
    lengths = [300, 5, 120, 7, 60, 61, 5, 250, 3]
    batches = length_batches(lengths, max_items=4, max_tokens=256)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))  # each item once
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(lengths)  # shortest first: little padding
    for batch in batches:
        padded = len(batch) * max(lengths[i] for i in batch)
        assert len(batch) <= 4 and (padded <= 256 or len(batch) == 1), batch
    assert [len(b) for b in batches] == [4, 2, 1, 1, 1]  # 3,5,5,7 | 60,61 | 120 | 250 | 300 (over budget, alone)
    assert length_batches([], 4, 256) == []
    # no budget: consecutive runs of max_items in length order, as the scoring and perplexity passes batch
    assert length_batches(lengths, max_items=4) == [[8, 1, 6, 3], [4, 5, 2, 7], [0]]
