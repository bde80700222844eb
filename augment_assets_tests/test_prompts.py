"""The prompt table on a hand-made corpus: exact counts, ranks, prefixes, user prompts."""

import pandas as pd
import pytest

from augment_assets.lib.errors import InputError
from augment_assets.lib.prompts import (
    build_prompt_table,
    domain_words,
    opening,
    prompts_for_generation,
    topic_words,
)

CORPUS = [
    "The pizza was great. Great crust, great cheese!",
    "The pizza was cold and the crust was soggy.",
    "The Pizza WAS amazing; the cheese pizza is not bad.",
    "Best pizza in town.",
    "Ok",
]


def rows(table, kind):
    part = table[table["kind"] == kind].sort_values("rank")
    return list(zip(part["text"], part["count"], part["rank"]))


def test_word_counts_exact_with_stop_words_out():
    table = build_prompt_table(CORPUS, "positive", top_k=5)
    assert list(table.columns) == ["sentiment", "kind", "text", "count", "rank"]
    assert set(table["sentiment"]) == {"positive"}
    # pizza: 1+1+2+1 = 5; great: 3; cheese: 2; crust: 2; then alphabetical among count 1
    assert rows(table, "word") == [
        ("pizza", 5, 1),
        ("great", 3, 2),
        ("cheese", 2, 3),
        ("crust", 2, 4),
        ("amazing", 1, 5),
    ]


def test_bigram_and_trigram_counts_exact():
    table = build_prompt_table(CORPUS, "positive", top_k=3)
    # content words per review: [pizza great great crust great cheese], [pizza cold crust soggy],
    # [pizza amazing cheese pizza not bad], [best pizza town], [ok]
    assert rows(table, "bigram") == [
        ("amazing cheese", 1, 1),
        ("best pizza", 1, 2),
        ("cheese pizza", 1, 3),
    ]
    table = build_prompt_table(CORPUS, "positive", top_k=50)
    bigrams = dict(zip(table[table.kind == "bigram"].text, table[table.kind == "bigram"]["count"]))
    assert bigrams["great great"] == 1 and bigrams["pizza great"] == 1 and bigrams["pizza not"] == 1
    assert len(bigrams) == 5 + 3 + 5 + 2
    trigrams = table[table.kind == "trigram"]
    assert len(trigrams) == 4 + 2 + 4 + 1
    assert set(trigrams["count"]) == {1}
    assert "pizza not bad" in set(trigrams["text"])  # negations are kept


def test_prefixes_are_most_frequent_openings_in_original_spelling():
    table = build_prompt_table(CORPUS, "negative", prefix_words=3, n_prefixes=2)
    assert rows(table, "prefix") == [("The pizza was", 3, 1), ("Best pizza in", 1, 2)]
    assert opening("Ok", 3) is None
    assert opening("Great crust, great cheese", 3) == "Great crust, great"


def test_user_prompts_appended_and_used_for_generation():
    table = build_prompt_table(CORPUS, "positive", prefix_words=2, extra_prompts=["My favourite slice", " "])
    users = rows(table, "user")
    assert users == [("My favourite slice", 0, 1)]
    prompts = prompts_for_generation(table)
    assert prompts[-1] == "My favourite slice"
    assert prompts[0] == "The pizza"
    assert len(prompts) == len(table[table.kind.isin(["prefix", "user"])])
    assert "pizza" in topic_words(table)


def test_no_texts_no_prompts_is_an_input_error():
    with pytest.raises(InputError, match="negative"):
        build_prompt_table([], "negative")
    with pytest.raises(InputError, match="no prefix or user prompts"):
        prompts_for_generation(build_prompt_table(["Too short"], "negative", prefix_words=4))
    with pytest.raises(InputError):
        prompts_for_generation(pd.DataFrame(columns=["sentiment", "kind", "text", "count", "rank"]))


def test_domain_words_are_what_both_sentiments_talk_about():
    negative = [
        "The room was dirty and the bed was hard.",
        "Rude staff at the desk, a dirty room.",
        "The breakfast was cold; the room smelled. Just awful.",
    ]
    positive = [
        "A lovely room, a soft bed and friendly staff.",
        "Great breakfast and a quiet room.",
        "The staff at the desk were lovely. Really great.",
    ]
    words_ = domain_words({"negative": negative, "positive": positive})
    # room: 3/3 and 2/3 -> 2/3; staff, bed, breakfast, desk: 1/3 in one sentiment at least -> 1/3 each,
    # ties broken by the total count (staff 3) then alphabetically; sentiment words (dirty, lovely)
    # and generic ones (great, just, really, awful) are not the domain's.
    assert words_ == [("room", 5), ("staff", 3), ("bed", 2), ("breakfast", 2), ("desk", 2)]
    table = build_prompt_table(negative, "negative", domain_texts={"negative": negative, "positive": positive})
    assert topic_words(table) == ["room", "staff", "bed", "breakfast", "desk"]
    assert topic_words(table, n=2) == ["room", "staff"]
    # one sentiment alone: its own frequent content words, sentiment words included
    assert [w for w, _ in domain_words({"negative": negative})][:2] == ["room", "dirty"]
    assert domain_words({"negative": ["Dirty room."], "positive": ["Lovely view."]}) == []
    assert domain_words({}) == []
