"""Leakage checks: each one is shown the leak it guards against, and a clean case."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

from augment_assets.lib import leakage
from augment_assets.lib.errors import InputError
from augment_assets.lib.text import text_key, word_ngrams, words

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# invented reviews in the shared CSV's format (`stars,text`), kept in the repository: fixtures/make_fixtures.py
FIXTURE_CSV = Path(__file__).resolve().parent / "fixtures" / "pizza_reviews.csv"

STOCK = "the best pizza i have ever had in my life"

HOLDOUT = pd.DataFrame(
    {
        "review_id": ["h1", "h2", "h3"],
        "business_id": ["b1", None, "b3"],
        "sentiment": ["positive", "negative", "positive"],
        "text": [
            "Crispy thin crust with fresh basil, and the owner Marco remembered our names from last spring. "
            "We split a margherita and a white pie with ricotta and honey, then stayed for tiramisu.",
            "Waited ninety minutes for a lukewarm pepperoni that arrived folded in half and soaked in grease. "
            "The driver blamed the kitchen and the kitchen blamed the driver.",
            f"Honestly {STOCK}. The garlic knots came out blistered and buttery next to a bowl of spicy marinara.",
        ],
    }
)

TRAINING = pd.DataFrame(
    {
        "review_id": ["t1", "t2"],
        "business_id": ["b2", "b4"],
        "sentiment": ["negative", "positive"],
        "text": [
            "Cold wings, a missing salad and nobody answered the phone when we called about it.",
            f"Wow, {STOCK}, and the patio has heaters for winter nights with a view of the river.",
        ],
    }
)


def _edit(text: str, share: float, seed: int = 0) -> str:
    """A lightly edited copy: `share` of the words deleted or replaced."""
    rnd = random.Random(seed)
    toks = words(text)
    for _ in range(max(1, round(share * len(toks)))):
        i = rnd.randrange(len(toks))
        if rnd.random() < 0.5:
            del toks[i]
        else:
            toks[i] = "zebra"
    return " ".join(toks)


# ------------------------------------------------------------------ exact


def test_exact_leak_survives_case_punctuation_and_whitespace():
    variant = (
        "  CRISPY thin crust  with fresh basil and the owner marco remembered our names from last spring!!! "
        "we split a margherita, and a white pie with ricotta and honey then stayed for tiramisu "
    )
    training = pd.concat([TRAINING, pd.DataFrame({"review_id": ["t9"], "text": [variant]})], ignore_index=True)
    prompts = pd.DataFrame({"sentiment": ["positive"], "kind": ["opening"], "text": [HOLDOUT.text[1].lower()]})
    found = leakage.exact_leaks(
        HOLDOUT,
        {
            "training_reviews": training,
            "prompt_table": prompts,
            "fine_tuning_corpus": ["nothing here", HOLDOUT.text[2]],
        },
    )
    got = set(zip(found.holdout_review_id, found.corpus, found.other_id))
    assert got == {("h1", "training_reviews", "t9"), ("h2", "prompt_table", 0), ("h3", "fine_tuning_corpus", 1)}
    row = found[found.holdout_review_id == "h1"].iloc[0]
    assert row.text_key == text_key(variant)
    assert row.text_preview.startswith("Crispy thin crust")


def test_exact_clean_is_empty():
    found = leakage.exact_leaks(
        HOLDOUT, {"training_reviews": TRAINING, "training_set": [HOLDOUT.text[0][:-1] + " yes"]}
    )
    assert found.empty
    assert list(found.columns)[:3] == ["holdout_review_id", "corpus", "other_id"]


# ------------------------------------------------------------------ near duplicates


@pytest.mark.parametrize("method", ["prefix", "minhash"])
def test_near_duplicate_catches_light_edit_not_shared_stock_phrase(method):
    edited = _edit(HOLDOUT.text[0], 0.10)
    assert text_key(edited) != text_key(HOLDOUT.text[0])
    synthetic = pd.DataFrame({"synthetic_id": ["s1", "s2"], "text": [edited, TRAINING.text[1]]})
    found = leakage.near_duplicate_leaks(
        HOLDOUT, {"training_reviews": TRAINING, "synthetic_reviews": synthetic}, method=method
    )
    assert list(zip(found.holdout_review_id, found.corpus, found.other_id)) == [("h1", "synthetic_reviews", "s1")]
    assert leakage.DEFAULT_NEAR_DUP_THRESHOLD <= found.jaccard[0] < 1.0


def test_near_duplicate_clean_is_empty():
    assert leakage.near_duplicate_leaks(HOLDOUT, {"training_reviews": TRAINING}).empty


def test_prefix_filter_finds_exactly_the_brute_force_pairs():
    rnd = random.Random(1)
    vocab = [f"w{i}" for i in range(60)]
    phrases = [" ".join(rnd.choices(vocab, k=6)) for _ in range(5)]

    def doc():
        toks = rnd.choices(vocab, k=rnd.randint(2, 25))
        if rnd.random() < 0.5:
            toks.insert(rnd.randrange(len(toks) + 1), rnd.choice(phrases))
        return " ".join(toks)

    holdout = [doc() for _ in range(80)]
    others = [doc() for _ in range(150)] + [_edit(h, 0.1, i) for i, h in enumerate(holdout[:20])]

    def shingles(text):
        toks = words(text)
        return set(word_ngrams(toks, 3)) if len(toks) >= 3 else {tuple(toks)}

    for threshold in (0.2, 0.3, 0.5):
        expected = set()
        for i, a in enumerate(holdout):
            for j, b in enumerate(others):
                sa, sb = shingles(a), shingles(b)
                if len(sa & sb) / len(sa | sb) >= threshold:
                    expected.add((i, j))
        found = leakage.near_duplicate_leaks(holdout, {"o": others}, threshold=threshold)
        assert set(zip(found.holdout_review_id, found.other_id)) == expected
        assert len(expected) >= 15  # the planted edits (a few short ones fall below 0.5)


def test_near_duplicate_pairs_self_join_is_exact_and_agrees_with_the_check():
    rnd = random.Random(2)
    vocab = [f"w{i}" for i in range(50)]
    texts = [" ".join(rnd.choices(vocab, k=rnd.randint(1, 20))) for _ in range(120)]
    texts += [_edit(t, 0.1, i) for i, t in enumerate(texts[:30])] + [texts[5].upper(), "", "!!!"]

    def shingles(text):
        toks = words(text)
        return set(word_ngrams(toks, 3)) if len(toks) >= 3 else ({tuple(toks)} if toks else set())

    sets = [shingles(t) for t in texts]
    for threshold in (0.2, leakage.DEFAULT_NEAR_DUP_THRESHOLD, 0.8):
        expected = [
            (i, j)
            for i in range(len(texts))
            for j in range(i + 1, len(texts))
            if sets[i] and sets[j] and len(sets[i] & sets[j]) / len(sets[i] | sets[j]) >= threshold
        ]
        assert leakage.near_duplicate_pairs(texts, threshold) == expected
        assert len(expected) >= (20 if threshold < 0.5 else 1)
        # the same definition as the blocking check, pair for pair
        found = leakage.near_duplicate_leaks(texts, {"o": texts}, threshold=threshold)
        assert {(int(a), int(b)) for a, b in zip(found.holdout_review_id, found.other_id) if a < b} == set(expected)
    assert leakage.near_duplicate_pairs(texts[:1]) == [] and leakage.near_duplicate_pairs([]) == []
    with pytest.raises(InputError):
        leakage.near_duplicate_pairs(texts, 0)


# ------------------------------------------------------------------ copied spans


def test_copied_span_reported_unless_training_has_it():
    copied = "marco remembered our names from last spring we split"  # 9 words of h1, not in training
    synthetic = pd.DataFrame(
        {
            "synthetic_id": ["s1", "s2", "s3"],
            "sentiment": ["positive"] * 3,
            "temperature": [0.7] * 3,
            "text": [
                f"Lovely spot, {copied.upper()}!",
                f"Really {STOCK}, go there.",  # 8+ words shared with h3, but training has them too
                "Nothing in common with anything at all here.",
            ],
        }
    )
    found = leakage.copied_span_leaks(synthetic, HOLDOUT, TRAINING.text.tolist())
    assert list(zip(found.synthetic_id, found.holdout_review_id)) == [("s1", "h1")]
    assert found.span_text[0] == copied
    assert found.span_words[0] == 9 and found.n_windows[0] == 2
    # without the training exemption the stock phrase is reported too
    found = leakage.copied_span_leaks(synthetic, HOLDOUT, [])
    assert set(zip(found.synthetic_id, found.holdout_review_id)) == {("s1", "h1"), ("s2", "h3")}


def test_copied_span_clean_is_empty_and_seven_words_is_not_a_span():
    synthetic = pd.DataFrame({"synthetic_id": ["s1"], "text": ["marco remembered our names from last spring"]})
    assert leakage.copied_span_leaks(synthetic, HOLDOUT, TRAINING.text.tolist()).empty


# ------------------------------------------------------------------ business overlap


def test_business_overlap_reports_shared_ids_and_ignores_nulls():
    training = pd.DataFrame({"business_id": ["b1", "b1", None, "b2"], "text": ["a", "b", "c", "d"]})
    holdout = pd.DataFrame({"business_id": ["b1", None, "b3"], "text": ["e", "f", "g"]})
    found = leakage.business_overlap(training, holdout)
    assert found.to_dict("records") == [{"business_id": "b1", "n_training": 2, "n_holdout": 1}]
    assert leakage.business_overlap(training, holdout.iloc[1:]).empty
    assert leakage.business_overlap(training.assign(business_id=None), holdout.assign(business_id=None)).empty


# ------------------------------------------------------------------ prompts


def test_prompt_with_holdout_only_ngram_is_reported():
    prompts = pd.DataFrame(
        {
            "sentiment": ["negative", "positive", "positive"],
            "kind": ["opening"] * 3,
            "text": ["Waited ninety minutes", "the patio has", "Cold wings"],  # 1st from h2; others from training
        }
    )
    found = leakage.prompt_leaks(prompts, HOLDOUT, TRAINING.text.tolist())
    assert set(found.prompt) == {"Waited ninety minutes"}
    assert set(found.ngram) == {"waited ninety", "ninety minutes", "waited ninety minutes"}
    assert set(found.holdout_review_id) == {"h2"}
    assert found.kind.iloc[0] == "opening"


def test_prompt_common_words_are_not_leaks():
    # "honestly" and "tiramisu" occur only in the holdout, but single words are not n-grams here (min_n=2)
    prompts = pd.DataFrame({"sentiment": ["positive"], "kind": ["opening"], "text": ["honestly tiramisu"]})
    # as a bigram "honestly tiramisu" occurs nowhere: clean
    assert leakage.prompt_leaks(prompts, HOLDOUT, TRAINING.text.tolist()).empty
    assert set(leakage.prompt_leaks(prompts, HOLDOUT, TRAINING.text.tolist(), min_n=1).ngram) == {
        "honestly",
        "tiramisu",
    }


# ------------------------------------------------------------------ memorization


def test_memorization_numbers_on_a_hand_made_case():
    training = ["a b c d e f g h i j"]
    synthetic = pd.DataFrame(
        {
            "synthetic_id": [1, 2, 3, 4],
            "sentiment": ["positive", "positive", "positive", "negative"],
            "temperature": [0.7, 0.7, 1.1, 0.7],
            "text": [
                "x a b c d e f g h",  # copies the 8-word window a..h
                "x y x y",  # copies nothing
                "b c d e f g h i j",  # copies two windows
                "A B C D E F G",  # 7 words: too short to copy an 8-word span
            ],
        }
    )
    got = leakage.memorization(synthetic, training)
    assert list(got.columns) == ["sentiment", "temperature", "n", "copy_rate", "distinct_1", "distinct_2"]
    rows = {(r.sentiment, r.temperature): r for r in got.itertuples()}
    pos07 = rows[("positive", 0.7)]
    assert pos07.n == 2 and pos07.copy_rate == 0.5
    # unigrams: 13 in all, unique {x,a..h,y} = 10; bigrams: 8 + 3 = 11, unique 8 + {xy, yx} = 10
    assert pos07.distinct_1 == pytest.approx(10 / 13) and pos07.distinct_2 == pytest.approx(10 / 11)
    assert rows[("positive", 1.1)].copy_rate == 1.0 and rows[("positive", 1.1)].distinct_1 == 1.0
    assert rows[("negative", 0.7)].copy_rate == 0.0


def test_memorization_without_temperature_column():
    synthetic = pd.DataFrame({"sentiment": ["positive"], "text": ["a b c d e f g h"]})
    got = leakage.memorization(synthetic, ["a b c d e f g h i"])
    assert len(got) == 1 and got.copy_rate[0] == 1.0 and pd.isna(got.temperature[0])


# ------------------------------------------------------------------ the threshold on real(-format) reviews


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(FIXTURE_CSV, id="fixture"),  # 280 invented reviews, all of 31+ words
        pytest.param(
            SHARED_DATA / "yelp_pizza" / "pizza_reviews.csv",
            id="shared",
            marks=pytest.mark.skipif(
                not (SHARED_DATA / "yelp_pizza" / "pizza_reviews.csv").exists(),
                reason="../shared/data/yelp_pizza/pizza_reviews.csv not present (shared data lives outside the repository)",
            ),
        ),
    ],
)
def test_default_threshold_separates_light_edits_from_genuine_pairs(path):
    reviews = pd.read_csv(path)
    reviews = reviews.assign(review_id=[f"r{i}" for i in range(len(reviews))])
    found = leakage.near_duplicate_leaks(reviews, {"genuine": reviews}, threshold=0.15)
    distinct = found[found.holdout_review_id != found.other_id]
    # distinct genuine reviews stay far below the threshold (max 0.114 on the shared 606; the fixture's
    # generator redraws a review that reaches 0.12 with an earlier one)
    assert distinct.empty or distinct.jaccard.max() < leakage.DEFAULT_NEAR_DUP_THRESHOLD / 2
    edited = reviews.assign(
        review_id="e" + reviews.review_id, text=[_edit(t, 0.10, i) for i, t in enumerate(reviews.text)]
    )
    caught = leakage.near_duplicate_leaks(reviews, {"edited": edited})
    pairs = set(zip(caught.holdout_review_id, caught.other_id))
    caught_share = sum((r, "e" + r) in pairs for r in reviews.review_id) / len(reviews)
    assert caught_share >= 0.98, caught_share  # misses: a 5-10 word review loses most shingles to one edit
    assert pairs <= {(r, "e" + r) for r in reviews.review_id}  # and nothing else


# ---------------------------------------------------------------- the copied-span check's control


def test_the_control_counts_a_training_review_only_for_a_holdout_window_no_other_training_review_has():
    holdout = pd.DataFrame({"review_id": ["h"], "text": [f"We said {STOCK} and meant every word of it tonight."]})
    alone = f"Friends told me {STOCK}, so we went."  # shares STOCK's windows with the holdout, alone in the pool
    other = "Cold wings, a missing salad and nobody answered the phone when we called about it."
    assert leakage.copy_control(holdout, [alone, other]) == (1, 2)
    # a second training review with the same phrase: the pool teaches it, so neither counts
    assert leakage.copy_control(holdout, [alone, other, f"Yes, {STOCK} too."]) == (0, 3)
    assert leakage.copy_control(holdout, []) == (0, 0)


def test_the_excess_test_blocks_a_copier_and_not_a_rate_like_the_controls():
    from augment_assets.defs.leakage.checks import COPYING_ALPHA

    assert leakage.copying_excess_p_value(2, 120, 20, 244) > 0.5  # 1.7% against 8.2%: honest, however many
    assert leakage.copying_excess_p_value(3, 40, 20, 244) > COPYING_ALPHA  # about the control's rate
    assert leakage.copying_excess_p_value(14, 32, 20, 244) < COPYING_ALPHA  # 43%: a generator that saw the holdout
    assert leakage.copying_excess_p_value(5, 32, 0, 260) < COPYING_ALPHA  # 16% where genuine reviews never do
    assert leakage.copying_excess_p_value(0, 0, 3, 100) == 1.0


def _copier(holdout: pd.DataFrame, n: int, share: float, seed: int = 0) -> pd.DataFrame:
    """Reviews of which `share` paste 10 consecutive words of a holdout review into text of their own."""
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        text = "the crust was fine and the sauce was sweet enough for the kids at the table tonight"
        if i < round(share * n):
            source = words(holdout.text.iloc[rnd.randrange(len(holdout))])
            start = rnd.randrange(max(1, len(source) - 10))
            text = f"{text} {' '.join(source[start : start + 10])} we will see"
        rows.append((f"s{i}", text))
    return pd.DataFrame(rows, columns=["synthetic_id", "text"])


@pytest.mark.parametrize(
    "path, holdout_size",
    [
        pytest.param(FIXTURE_CSV, 200, id="fixture"),
        pytest.param(
            SHARED_DATA / "yelp_pizza" / "pizza_reviews.csv",
            450,
            id="shared",
            marks=pytest.mark.skipif(
                not (SHARED_DATA / "yelp_pizza" / "pizza_reviews.csv").exists(),
                reason="../shared/data/yelp_pizza/pizza_reviews.csv not present (shared data lives outside the repository)",
            ),
        ),
    ],
)
def test_honest_text_passes_the_copy_check_with_most_of_the_data_held_out(path, holdout_size):
    """Genuine reviews that neither the pool nor the holdout holds stand in for a generator that never saw the
    holdout: with most of the data held out they meet it in stock phrases, and must pass. (The fixture's invented
    reviews are built from shared sentence parts: most of them meet the holdout so, and the control says so.)"""
    from augment_assets.defs.leakage.checks import COPYING_ALPHA

    reviews = pd.read_csv(path).sample(frac=1.0, random_state=0)
    reviews = reviews.assign(review_id=[f"r{i}" for i in range(len(reviews))])
    holdout, rest = reviews.iloc[:holdout_size], reviews.iloc[holdout_size:]
    training, honest = rest.iloc[: len(rest) // 2], rest.iloc[len(rest) // 2 :]
    control = leakage.copy_control(holdout, training.text.tolist())
    assert control[0] > 0  # honest reviews do meet a large holdout in holdout-only spans
    honest = honest.assign(synthetic_id=honest.review_id)
    copied = leakage.copied_span_leaks(honest, holdout, training.text.tolist())["synthetic_id"].nunique()
    assert (
        leakage.copying_excess_p_value(copied, len(honest), *control) >= COPYING_ALPHA
    )  # (a fixed 1% blocked the fixture: 39 of 40)
    if path != FIXTURE_CSV:  # real reviews rarely share 8 words: a copier at a leak's rate stands out
        copier = _copier(holdout, 40, 0.45)
        found = leakage.copied_span_leaks(copier, holdout, training.text.tolist())
        p_value = leakage.copying_excess_p_value(found["synthetic_id"].nunique(), len(copier), *control)
        assert p_value < COPYING_ALPHA, (control, found["synthetic_id"].nunique())


def test_a_copier_fails_by_its_rate_alone_where_genuine_reviews_share_no_spans():
    """Holdout-only 10-word runs (below the long-run limit) in 45% of the reviews, where the pool's reviews (the
    fixture's words in another order) meet the holdout in none: the excess test fails it; honest ones pass."""
    from augment_assets.defs.leakage.checks import COPYING_ALPHA, LONG_COPY_WORDS

    reviews = pd.read_csv(FIXTURE_CSV)
    holdout = reviews.iloc[:200].assign(review_id=[f"h{i}" for i in range(200)])
    rnd = random.Random(1)
    shuffled = [" ".join(rnd.sample(words(t), len(words(t)))) for t in reviews.text.iloc[200:]]
    control = leakage.copy_control(holdout, shuffled)
    assert control == (0, len(shuffled))
    copier = _copier(holdout, 40, 0.45)
    found = leakage.copied_span_leaks(copier, holdout, shuffled)
    assert found["synthetic_id"].nunique() == 18 and found["span_words"].max() < LONG_COPY_WORDS
    assert leakage.copying_excess_p_value(18, 40, *control) < COPYING_ALPHA
    # what the check calls: both at once, the holdout and training reviews tokenized once
    together, together_control = leakage.copied_spans_and_control(copier, holdout, shuffled)
    pd.testing.assert_frame_equal(together, found)
    assert together_control == control
    assert leakage.copying_excess_p_value(0, 40, *control) == 1.0
