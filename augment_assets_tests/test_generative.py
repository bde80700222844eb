"""The generators as a classifier (augment_assets.lib.generative): scores, their cache, the pairs' margins."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from augment_assets.lib import generative
from augment_assets.lib.errors import InputError
from augment_assets.lib.finetune import FinetuneConfig, generation_prefix, join_prefix
from augment_assets.lib.generative import (
    ScoringConfig,
    ScoringStats,
    generator_log_likelihoods,
    review_log_likelihoods,
    score_pairs,
)
from augment_assets.lib.model import load_model

TEXTS = [
    "The crust was crisp and the sauce tasted fresh.",
    "Cold pizza, an hour late, and nobody answered the phone when we called back twice.",
    "Great.",
    "We ordered a large pepperoni and a salad; the salad was wilted but the pizza was fine.",
    "Best slice in town, hands down, every single time we go.",
]


@pytest.fixture(scope="module")
def generators(tiny_model_dir, tmp_path_factory):
    """Two generator folders (the tiny Llama behind each sentiment's fine-tuning prefix) and their registry."""
    root = tmp_path_factory.mktemp("generators")
    rows = []
    for sentiment, version in (("negative", "negv1"), ("positive", "posv1")):
        folder = root / version
        shutil.copytree(tiny_model_dir, folder)
        (folder / "finetune_config.json").write_text(
            json.dumps({"finetune_config": FinetuneConfig().to_dict(), "sentiment": sentiment})
        )
        rows.append(
            {"sentiment": sentiment, "data_size": "all", "repeat": 1, "generator_version": version, "path": str(folder)}
        )
    return pd.DataFrame(rows)


def _direct(model, tokenizer, text: str, sentiment: str, limit: int) -> tuple[float, int]:
    """One review alone, no padding: the mean log-probability of its tokens after the prefix (and of end-of-text)."""
    prefix = generation_prefix(sentiment, FinetuneConfig(), tokenizer)
    n_prefix = len(tokenizer(prefix, add_special_tokens=False)["input_ids"])
    ids = tokenizer(join_prefix(prefix, text), add_special_tokens=False)["input_ids"]
    ids = ids + [tokenizer.eos_token_id] if len(ids) < n_prefix + limit else ids[: n_prefix + limit]
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].float()
    log_probs = torch.log_softmax(logits, dim=-1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
    scored = log_probs[n_prefix - 1 :]
    return float(scored.mean()), len(scored)


def test_scores_equal_one_review_at_a_time_whatever_the_batch(generators):
    path = generators.iloc[0]["path"]
    model, tokenizer = load_model(path, "cpu", torch.float32)
    for limit in (128, 8):  # 8: the longer reviews are truncated and lose their end-of-text
        expected = [_direct(model, tokenizer, t, "negative", limit) for t in TEXTS]
        for batch_size in (1, 2, 16):
            means, counts = review_log_likelihoods(
                model,
                tokenizer,
                TEXTS,
                "negative",
                FinetuneConfig(),
                ScoringConfig(max_review_tokens=limit, batch_size=batch_size),
            )
            np.testing.assert_allclose(means, [m for m, _ in expected], rtol=1e-4, atol=1e-5)
            assert counts.tolist() == [n for _, n in expected]
        assert max(counts) <= limit
    # each generator reads the review behind its own prefix: the other sentiment's prefix scores differently
    other, _ = review_log_likelihoods(model, tokenizer, TEXTS, "positive", FinetuneConfig(), ScoringConfig())
    assert not np.allclose(
        other, review_log_likelihoods(model, tokenizer, TEXTS, "negative", FinetuneConfig(), ScoringConfig())[0]
    )


def test_each_text_is_scored_once_per_generator_version(generators, tmp_path, monkeypatch):
    row = generators.iloc[1]
    stats = ScoringStats()
    first = generator_log_likelihoods(
        row["path"], row["generator_version"], "positive", TEXTS[:3], tmp_path, "cpu", torch.float32, stats=stats
    )
    assert stats.scored == 3 and stats.loads == 1
    loads = []
    real_load = generative.load_model
    monkeypatch.setattr(generative, "load_model", lambda *a, **k: loads.append(a) or real_load(*a, **k))
    again = generator_log_likelihoods(
        row["path"], row["generator_version"], "positive", TEXTS[:3], tmp_path, "cpu", torch.float32, stats=stats
    )
    assert loads == [] and stats.scored == 3  # all cached: the model is not even loaded
    np.testing.assert_array_equal(first[0], again[0])
    more = generator_log_likelihoods(
        row["path"], row["generator_version"], "positive", TEXTS, tmp_path, "cpu", torch.float32, stats=stats
    )
    assert len(loads) == 1 and stats.scored == 5  # only the two new texts
    np.testing.assert_array_equal(more[0][:3], first[0])
    # another scoring length or dtype is another score, not a stale one
    generator_log_likelihoods(
        row["path"],
        row["generator_version"],
        "positive",
        TEXTS[:1],
        tmp_path,
        "cpu",
        torch.float32,
        ScoringConfig(max_review_tokens=8),
        stats=stats,
    )
    assert stats.scored == 6
    with pytest.raises(InputError, match="model folder .* is missing"):
        generator_log_likelihoods(tmp_path / "gone", "v9", "positive", TEXTS[:1], tmp_path, "cpu", torch.float32)


def test_pairs_give_margins_of_what_was_asked_and_skip_what_they_cannot_score(generators, tmp_path):
    named = {
        "validation": pd.DataFrame({"review_id": ["v1", "v2"], "text": TEXTS[:2]}),
        "holdout:holdout": pd.DataFrame({"review_id": ["h1", "h2", "h3"], "text": TEXTS[2:]}),
    }
    texts = {(1, "all"): named, (1, "50"): named}
    scores = score_pairs(generators, texts, tmp_path, "cpu", torch.float32)
    assert scores.cells() == {(1, "all")} and "no negative or positive generator" in scores.skipped[(1, "50")]
    table = scores.table
    assert len(table) == 5 and set(table["scored_set"]) == {"validation", "holdout"}
    np.testing.assert_allclose(table["margin"], table["log_likelihood_negative"] - table["log_likelihood_positive"])
    neg = generator_log_likelihoods(
        generators.iloc[0]["path"], "negv1", "negative", TEXTS[2:], tmp_path, "cpu", torch.float32
    )[0]
    pos = generator_log_likelihoods(
        generators.iloc[1]["path"], "posv1", "positive", TEXTS[2:], tmp_path, "cpu", torch.float32
    )[0]
    np.testing.assert_allclose(scores.margins[((1, "all"), "holdout:holdout")], neg - pos)
    # a pair fine-tuned on a review it would score (generators of older folds) is not used
    corpus = pd.DataFrame({"generator_version": ["posv1"], "review_id": ["v2"]})
    stale = score_pairs(generators, {(1, "all"): named}, tmp_path, "cpu", torch.float32, corpus=corpus)
    assert not stale.margins and "fine-tuned on 1 of the reviews" in stale.skipped[(1, "all")]


def test_the_teacher_is_calibrated_on_validation_or_says_why_it_cannot_be(generators, tmp_path):
    """`teach`: P(positive) of every synthetic review from its cell's pair, calibrated on the cell's validation
    fold. Flipping the validation labels flips the calibration's slope, so exactly one of the two labellings
    gives a teacher and the other a reason (a margin that does not fall with P(positive))."""
    from augment_assets.lib.generative import teach

    training = pd.DataFrame(
        {
            "review_id": [f"r{i}" for i in range(len(TEXTS))],
            "text": TEXTS,
            "sentiment": ["positive", "negative", "positive", "negative", "positive"],
        }
    )
    folds = pd.DataFrame({"repeat": 1, "data_size": "all", "review_id": training["review_id"], "fold": "validation"})
    synthetic = pd.DataFrame(
        {
            "synthetic_id": ["s1", "s2"],
            "text": ["Hot, fresh and fast.", "Never again."],
            "data_size": "all",
            "repeat": 1,
        }
    )
    flipped = training.assign(sentiment=training["sentiment"].map({"positive": "negative", "negative": "positive"}))
    outcomes = [
        teach(generators, frame, folds, synthetic, tmp_path, "cpu", torch.float32) for frame in (training, flipped)
    ]
    taught = [t for t, _ in outcomes if t]
    assert len(taught) == 1, outcomes
    teacher = taught[0][(1, "all")]
    assert list(teacher.p_positive.index) == ["s1", "s2"] and teacher.p_positive.between(0, 1).all()
    assert json.loads(teacher.hyperparameters)["max_review_tokens"] == ScoringConfig().max_review_tokens
    skipped = next(s for t, s in outcomes if not t)
    assert "fit no boundary" in skipped.skipped[(1, "all")]


def test_the_generative_classifier_reads_what_its_teacher_read():
    """classifier_metrics' generative classifier reads the run-wide scoring length, which the generative teacher of
    the stored training sets (found in their teacher JSON, a pair's nested one included) must have read too, so a
    taught student is compared with its very teacher; sets taught at another length are refused, naming the
    variable and what to do."""
    from augment_assets.lib.generative import classifier_review_tokens, teacher_review_tokens

    teacher = json.dumps({"max_review_tokens": 128, "threshold": 0.1})
    pair = json.dumps({"generative": teacher, "lr": json.dumps({"C": 1.0})})
    assert teacher_review_tokens([None, json.dumps({"alpha": 0.3}), pair, teacher]) == 128
    assert teacher_review_tokens([json.dumps({"alpha": 0.3})]) is None  # nothing taught by the generators
    with pytest.raises(InputError, match="read \\[128, 256\\] review tokens"):
        teacher_review_tokens([teacher, json.dumps({"max_review_tokens": 256})])
    assert classifier_review_tokens(128, 128) == 128
    assert classifier_review_tokens(64, None) == 64  # nothing taught: the setting holds
    with pytest.raises(
        InputError,
        match="GENERATIVE_MAX_REVIEW_TOKENS=64 differs from the 128 review tokens .* "
        "Re-materialize training_set with GENERATIVE_MAX_REVIEW_TOKENS=64, or set it back to 128",
    ):
        classifier_review_tokens(64, 128)
