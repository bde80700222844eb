"""Sources (Yelp JSON pair, CSV, embedded sample), category matching, labelling and dedup."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from augment_assets.lib.errors import InputError
from augment_assets.lib.reviews import label_reviews
from augment_assets.lib.text import text_key
from augment_assets.lib.yelp import (
    BUSINESS_FILE,
    RAW_COLUMNS,
    REVIEW_FILE,
    SAMPLE_DIR,
    category_matches,
    read_reviews_csv,
    read_sample_reviews,
    read_yelp_reviews,
)

REPO = Path(__file__).resolve().parents[1]
SHARED_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "yelp_pizza" / "pizza_reviews.csv"
# invented reviews in the shared CSV's format (`stars,text`), kept in the repository: fixtures/make_fixtures.py
FIXTURE_CSV = Path(__file__).resolve().parent / "fixtures" / "pizza_reviews.csv"

PIZZA = "pizzaBusiness000000001"
PIZZA2 = "pizzaBusiness000000002"
SUPPLY = "supplyBusiness00000001"
COFFEE = "coffeeBusiness00000001"
NULLCAT = "nullCatBusiness0000001"


def business_lines() -> list[str]:
    rows = [
        {
            "business_id": PIZZA,
            "name": "Tony's",
            "categories": "Pizza, Italian, Restaurants",
            "attributes": {"Ambience": {"casual": True}, "WiFi": "u'free'"},
            "hours": {"Monday": "9:0-17:0"},
        },
        {
            "business_id": PIZZA2,
            "name": "Sal's",
            "categories": "restaurants,  PIZZA ",
            "attributes": None,
            "hours": None,
        },
        {
            "business_id": SUPPLY,
            "name": "Supply",
            "categories": "Pizzeria Supplies, Shopping",
            "attributes": {"x": [1, 2]},
        },
        {"business_id": COFFEE, "name": "Beans", "categories": "Coffee & Tea", "hours": {"Tuesday": "7:0-12:0"}},
        {"business_id": NULLCAT, "name": "Unknown", "categories": None},
    ]
    return [json.dumps(r) for r in rows]


def review(i: int, business: str, stars, text: str | None = None) -> str:
    return json.dumps(
        {
            "review_id": f"review{i:016d}",
            "user_id": "u" * 22,
            "business_id": business,
            "stars": stars,
            "useful": 0,
            "funny": 0,
            "cool": 0,
            "text": text
            if text is not None
            else f'Review number {i} with a "quote",\nnewline and emoji \U0001f355 {i}',
            "date": "2020-01-02 03:04:05",
        }
    )


def write_dataset(folder: Path, review_lines: list[str | bytes], trailing_newline: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BUSINESS_FILE).write_text("\n".join(business_lines()) + "\n", encoding="utf-8")
    data = b"\n".join(line if isinstance(line, bytes) else line.encode("utf-8") for line in review_lines)
    (folder / REVIEW_FILE).write_bytes(data + (b"\n" if trailing_newline else b""))
    return folder


def standard_reviews(n: int = 40) -> list[str]:
    businesses = [PIZZA, PIZZA2, SUPPLY, COFFEE, NULLCAT]
    return [review(i, businesses[i % 5], float(1 + i % 5)) for i in range(n)]


# ---- category matching -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("categories", "wanted", "expected"),
    [
        ("Pizza, Italian, Restaurants", ["Pizza"], True),
        ("Restaurants, pizza", ["Pizza"], True),
        ("  PIZZA  ", ["pizza"], True),
        ("Pizzeria Supplies, Shopping", ["Pizza"], False),
        ("Pizza Ovens & Equipment", ["Pizza"], False),
        ("Italian, Restaurants", ["Pizza"], False),
        ("Coffee & Tea", ["Coffee & Tea"], True),
        ("Coffee & Tea", ["Pizza", "coffee & tea"], True),
        (None, ["Pizza"], False),
        ("", ["Pizza"], False),
        (float("nan"), ["Pizza"], False),
        # a JSON list, as text (what json_extract_string gives) or as a list
        ('["Restaurants", "Pizza"]', ["Pizza"], True),
        ('["Pizzeria Supplies"]', ["Pizza"], False),
        (["Italian", " pizza "], ["Pizza"], True),
        ("[not json, Pizza", ["Pizza"], True),
    ],
)
def test_category_matches_whole_items_case_insensitive(categories, wanted, expected):
    assert category_matches(categories, wanted) is expected


# ---- Yelp JSON ---------------------------------------------------------------------------


def test_read_yelp_reviews_filters_pizza_and_reads_fields(tmp_path):
    folder = write_dataset(tmp_path / "yelp", standard_reviews(40))
    raw, report = read_yelp_reviews(folder)
    assert list(raw.columns) == RAW_COLUMNS
    assert set(raw["business_id"]) == {PIZZA, PIZZA2}  # not the supplies store, coffee shop or null category
    assert len(raw) == 16
    assert report.businesses_matched == 2
    assert report.source == "yelp_json" and report.bad_line_count == 0 and report.bad_lines == []
    assert report.lines_read == 5 + 40
    first = raw.sort_values("review_id").iloc[0]
    assert first["review_id"] == "review0000000000000000"
    assert first["stars"] == 1.0 and first["sentiment"] is None
    assert first["text"] == 'Review number 0 with a "quote",\nnewline and emoji \U0001f355 0'
    assert first["date"] == "2020-01-02 03:04:05"


def test_categories_written_as_json_lists_match(tmp_path):
    folder = write_dataset(tmp_path / "yelp", standard_reviews(40))
    rows = [json.loads(line) for line in business_lines()]
    for row in rows:
        if isinstance(row["categories"], str):
            row["categories"] = [c.strip() for c in row["categories"].split(",")]
    (folder / BUSINESS_FILE).write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    raw, report = read_yelp_reviews(folder)
    assert set(raw["business_id"]) == {PIZZA, PIZZA2} and report.businesses_matched == 2


@pytest.mark.parametrize("kind", ["gzip", "bz2"])
def test_a_compressed_file_under_the_json_name_says_decompress(tmp_path, kind):
    import bz2
    import gzip

    folder = write_dataset(tmp_path / "yelp", standard_reviews(40))
    path = folder / REVIEW_FILE
    path.write_bytes((gzip if kind == "gzip" else bz2).compress(path.read_bytes()))
    name = "gzip" if kind == "gzip" else "bzip2"
    with pytest.raises(InputError, match=f"{REVIEW_FILE} is {name}-compressed, not JSON lines: decompress it first"):
        read_yelp_reviews(folder)


def test_other_categories_can_be_selected(tmp_path):
    folder = write_dataset(tmp_path / "yelp", standard_reviews(40))
    raw, report = read_yelp_reviews(folder, categories=["coffee & tea"])
    assert set(raw["business_id"]) == {COFFEE}
    assert report.businesses_matched == 1


def test_missing_dataset_dir_names_path_and_variable(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(InputError) as error:
        read_yelp_reviews(missing)
    assert str(missing) in str(error.value) and "YELP_DATASET_DIR" in str(error.value)


@pytest.mark.parametrize("missing_file", [BUSINESS_FILE, REVIEW_FILE])
def test_missing_file_names_path_and_variable(tmp_path, missing_file):
    folder = write_dataset(tmp_path / "yelp", standard_reviews(10))
    (folder / missing_file).unlink()
    with pytest.raises(InputError) as error:
        read_yelp_reviews(folder)
    assert str(folder / missing_file) in str(error.value) and "YELP_DATASET_DIR" in str(error.value)


def test_malformed_lines_counted_with_line_numbers(tmp_path):
    lines = standard_reviews(2000)
    lines[4] = '{"review_id": "broken", "business_id": '  # line 5
    lines[1499] = "not json at all"  # line 1500
    folder = write_dataset(tmp_path / "yelp", lines)
    raw, report = read_yelp_reviews(folder, max_bad_line_share=0.01)
    assert report.bad_line_count == 2
    assert [(f, n) for f, n, _ in report.bad_lines] == [(REVIEW_FILE, 5), (REVIEW_FILE, 1500)]
    assert all(reason == "malformed JSON" for _, _, reason in report.bad_lines)
    assert len(raw) == 800  # both broken lines belonged to the null-category business
    assert "broken" not in set(raw["review_id"])


def test_truncated_last_line_alone_does_not_fail(tmp_path):
    lines = standard_reviews(20) + [review(99, PIZZA, 5.0)[:37]]  # a download cut off mid-line
    folder = write_dataset(tmp_path / "yelp", lines, trailing_newline=False)
    raw, report = read_yelp_reviews(folder)  # 1 bad line of 21 is far above 0.1%, yet no error
    assert report.bad_line_count == 1
    assert report.bad_lines == [(REVIEW_FILE, 21, "truncated last line (no newline at end of file)")]
    assert len(raw) == 8


def test_too_many_bad_lines_fail_with_line_numbers(tmp_path):
    lines = standard_reviews(100)
    for i in (9, 19, 29):
        lines[i] = "{oops"
    folder = write_dataset(tmp_path / "yelp", lines)
    with pytest.raises(InputError) as error:
        read_yelp_reviews(folder, max_bad_line_share=0.01)
    message = str(error.value)
    assert str(folder / REVIEW_FILE) in message and "10, 20, 30" in message and "3 of 100" in message


def test_bad_share_is_configurable(tmp_path):
    lines = standard_reviews(100)
    lines[9] = "{oops"
    folder = write_dataset(tmp_path / "yelp", lines)
    with pytest.raises(InputError):
        read_yelp_reviews(folder)  # 1% > 0.1%
    raw, report = read_yelp_reviews(folder, max_bad_line_share=0.05)
    assert report.bad_lines == [(REVIEW_FILE, 10, "malformed JSON")]


def test_non_utf8_lines_rejected_and_counted_and_line_numbers_stay_right(tmp_path):
    lines: list[str | bytes] = standard_reviews(30)
    lines[0] = review(0, PIZZA, 5.0).encode("utf-8").replace(b"Review number", b"Review \xff\xfe number")
    lines[5] = review(5, PIZZA, 4.0).encode("utf-8").replace(b"Review number", b"Caf\xe9 number")  # latin-1
    lines[20] = "{broken"  # line 21: its number must not shift because lines 1 and 6 were rejected
    folder = write_dataset(tmp_path / "yelp", lines)
    raw, report = read_yelp_reviews(folder, max_bad_line_share=0.05)
    assert report.rejected == {"invalid UTF-8": 2}
    assert report.bad_lines == [(REVIEW_FILE, 21, "malformed JSON")]
    assert "review0000000000000000" not in set(raw["review_id"])
    assert "review0000000000000005" not in set(raw["review_id"])
    assert report.lines_read == 5 + 30


def test_filter_leaving_nothing_names_categories_and_counts(tmp_path):
    folder = write_dataset(tmp_path / "yelp", standard_reviews(20))
    with pytest.raises(InputError) as error:
        read_yelp_reviews(folder, categories=["Sushi Bars"])
    message = str(error.value)
    assert "'Sushi Bars'" in message and "5 businesses scanned" in message and "20 review lines" in message


def test_matching_business_without_reviews_is_an_error(tmp_path):
    folder = write_dataset(tmp_path / "yelp", [review(i, COFFEE, 5.0) for i in range(5)])
    with pytest.raises(InputError, match="2 matched"):
        read_yelp_reviews(folder)


def test_stars_outside_range_and_empty_text_rejected_by_reason(tmp_path):
    lines = [
        review(0, PIZZA, 7.0),
        review(1, PIZZA, 0.0),
        review(2, PIZZA, 5.0, text="   "),
        review(3, PIZZA, 4.0, text=""),
        review(4, PIZZA, 1.0),
        review(5, PIZZA, 3.0),
        review(6, PIZZA2, "5"),
    ]
    folder = write_dataset(tmp_path / "yelp", lines)
    raw, _ = read_yelp_reviews(folder)
    reviews, rejected, duplicates = label_reviews(raw)
    assert rejected == {"stars outside 1-5": 2, "empty text": 2, "3 stars (neutral)": 1}
    assert sorted(reviews["review_id"]) == ["review0000000000000004", "review0000000000000006"]
    assert duplicates == {}


def test_embedded_sample_reads_and_is_balanced_enough():
    assert (SAMPLE_DIR / BUSINESS_FILE).is_file() and (SAMPLE_DIR / REVIEW_FILE).is_file()
    assert (SAMPLE_DIR / REVIEW_FILE).stat().st_size < 1_000_000
    raw, report = read_sample_reviews()
    assert report.source == "sample" and report.bad_line_count == 0
    reviews, rejected, duplicates = label_reviews(raw)
    counts = reviews["sentiment"].value_counts()
    assert counts["negative"] >= 220 and counts["positive"] >= 220
    assert rejected.get("3 stars (neutral)", 0) > 0
    assert duplicates == {"duplicate text or review_id": 2}
    words = reviews["text"].str.split().str.len()
    assert words.min() >= 40 and words.max() <= 120


# ---- CSV ---------------------------------------------------------------------------------


def test_read_reviews_csv_with_stars(tmp_path):
    path = tmp_path / "reviews.csv"
    pd.DataFrame({"Stars": [1, 5, 3], "Text": ["Cold, soggy pizza.", "Great crust!", "Fine."]}).to_csv(
        path, index=False
    )
    raw, report = read_reviews_csv(path)
    assert list(raw.columns) == RAW_COLUMNS
    assert raw["stars"].tolist() == [1.0, 5.0, 3.0]
    assert raw["review_id"].isna().all() and raw["business_id"].isna().all()
    assert report.source == "csv" and report.lines_read == 3
    reviews, rejected, _ = label_reviews(raw)
    assert reviews["sentiment"].tolist() == ["negative", "positive"]
    assert reviews["review_id"].tolist() == ["csv-" + text_key("Cold, soggy pizza."), "csv-" + text_key("Great crust!")]
    assert rejected == {"3 stars (neutral)": 1}


def test_read_reviews_csv_with_sentiment_and_optional_columns(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(
        "review_id,business_id,sentiment,text,date\n"
        "a1,b1,Positive,Lovely pie,2020-01-01\n"
        "a2,,NEGATIVE,Awful service,\n"
        "a3,b2,mixed,Meh,\n"
        "a4,b3,,No label here,\n",
        encoding="utf-8",
    )
    raw, _ = read_reviews_csv(path)
    reviews, rejected, _ = label_reviews(raw)
    assert reviews[["review_id", "business_id", "sentiment"]].values.tolist() == [
        ["a1", "b1", "positive"],
        ["a2", None, "negative"],
    ]
    assert reviews["stars"].isna().all()
    assert rejected == {"unknown sentiment label": 1, "no stars or sentiment": 1}


def test_csv_missing_names_path_and_variable(tmp_path):
    with pytest.raises(InputError) as error:
        read_reviews_csv(tmp_path / "nope.csv")
    assert str(tmp_path / "nope.csv") in str(error.value) and "REVIEWS_CSV" in str(error.value)


@pytest.mark.parametrize("header", ["stars,body", "review,sentiment_score", "text,rating"])
def test_csv_without_text_or_label_lists_found_columns(tmp_path, header):
    path = tmp_path / "bad.csv"
    path.write_text(header + "\n1,hello\n", encoding="utf-8")
    with pytest.raises(InputError) as error:
        read_reviews_csv(path)
    message = str(error.value)
    assert "found columns: " + ", ".join(header.split(",")) in message and str(path) in message


def test_csv_non_utf8_and_bad_stars_rejected(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_bytes(b"stars,text\n1,Terrible\n5,Caf\xe9 was lovely\nfive,Great\n9,Weird\n4,\n")
    raw, report = read_reviews_csv(path)
    assert report.rejected == {"invalid UTF-8": 1, "stars not a number": 1}
    reviews, rejected, _ = label_reviews(raw)
    assert reviews["text"].tolist() == ["Terrible"]
    assert rejected == {"stars outside 1-5": 1, "empty text": 1}


def test_a_latin1_csv_says_which_encoding_and_how_to_convert(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes('text,stars\n"Caf\u00e9 pizza was great",5\n"Terrible cr\u00e8me",1\n'.encode("latin-1"))
    with pytest.raises(InputError, match=r"latin.csv: 2 of 2 rows are not valid UTF-8.*iconv -f latin1 -t utf-8"):
        read_reviews_csv(path)


def test_csv_rows_with_wrong_field_count_counted_then_fail_above_share(tmp_path):
    path = tmp_path / "reviews.csv"
    rows = ["stars,text"] + [f"5,Good pizza {i}" for i in range(50)]
    rows[11] = "1,unquoted, comma"  # file line 12
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    raw, report = read_reviews_csv(path, max_bad_line_share=0.05)
    assert report.bad_line_count == 1 and report.bad_lines == [("reviews.csv", 12, "wrong number of fields")]
    assert len(raw) == 49
    with pytest.raises(InputError, match="first bad lines: 12"):
        read_reviews_csv(path)


@pytest.mark.parametrize(
    ("path", "min_rows", "min_per_class"),
    [
        pytest.param(FIXTURE_CSV, 280, 140, id="fixture"),
        pytest.param(
            SHARED_CSV,
            501,
            201,
            id="shared",
            marks=pytest.mark.skipif(not SHARED_CSV.is_file(), reason=f"shared pizza CSV not present at {SHARED_CSV}"),
        ),
    ],
)
def test_integration_pizza_csv(path, min_rows, min_per_class):
    raw, report = read_reviews_csv(path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))  # the same file read another way
    texts = [row["text"] for row in rows]
    # the file has the cases a CSV reader can get wrong: quoted line breaks, doubled quotes, non-ASCII letters
    assert any("\n" in t for t in texts) and any('"' in t for t in texts) and any(not t.isascii() for t in texts)
    assert report.bad_line_count == 0 and len(raw) == len(rows) >= min_rows
    assert raw["text"].tolist() == texts and raw["stars"].tolist() == [float(row["stars"]) for row in rows]
    reviews, rejected, duplicates = label_reviews(raw)
    counts = reviews["sentiment"].value_counts()
    assert counts["negative"] >= min_per_class and counts["positive"] >= min_per_class
    assert reviews["review_id"].str.startswith("csv-").all() and reviews["review_id"].is_unique
    assert len(reviews) + sum(rejected.values()) + sum(duplicates.values()) == len(raw)


# ---- labels and dedup --------------------------------------------------------------------


def test_labels_from_stars():
    raw = pd.DataFrame(
        {"review_id": list("abcdef"), "stars": [1, 2, 3, 4, 5, 2.5], "text": [f"text {i}" for i in range(6)]}
    )
    reviews, rejected, _ = label_reviews(raw)
    assert dict(zip(reviews["review_id"], reviews["sentiment"])) == {
        "a": "negative",
        "b": "negative",
        "d": "positive",
        "e": "positive",
    }
    assert rejected == {"3 stars (neutral)": 1, "stars not a whole number": 1}
    assert list(reviews.columns) == ["review_id", "business_id", "stars", "sentiment", "text", "date"]


def test_stars_win_over_sentiment_and_nan_stars_fall_back():
    raw = pd.DataFrame({"stars": [1.0, float("nan")], "sentiment": ["positive", "Positive "], "text": ["x y", "z w"]})
    reviews, _, _ = label_reviews(raw)
    assert reviews["sentiment"].tolist() == ["negative", "positive"]


def test_exact_duplicates_by_normalized_text_removed_keeping_first():
    raw = pd.DataFrame(
        {
            "review_id": ["r1", "r2", "r3", "r4", "r1"],
            "stars": [5, 5, 1, 4, 2],
            "text": [
                "Great pizza, great crust!",
                "great PIZZA great crust",
                "Awful.",
                "Great pizza; great crust!!",
                "another text with a reused id",
            ],
        }
    )
    reviews, _, duplicates = label_reviews(raw)
    assert reviews["review_id"].tolist() == ["r1", "r3"]
    assert duplicates == {"duplicate text or review_id": 3}  # none kept under another label
    assert reviews["text"].iloc[0] == "Great pizza, great crust!"  # the original text is kept, not the normalized


def test_csv_review_ids_are_stable_content_hashes():
    first, _, _ = label_reviews(pd.DataFrame({"stars": [5, 1], "text": ["Nice pie", "Bad pie"]}))
    again, _, _ = label_reviews(pd.DataFrame({"stars": [1, 5], "text": ["BAD pie!", "nice  pie"]}))
    assert set(first["review_id"]) == set(again["review_id"])


def test_label_reviews_without_text_column_is_an_input_error():
    with pytest.raises(InputError, match="found: stars, body"):
        label_reviews(pd.DataFrame({"stars": [5], "body": ["x"]}))


def test_line_by_line_path_reads_exactly_what_the_fast_path_reads(tmp_path):
    lines = standard_reviews(60) + [
        review(60, PIZZA, "4"),
        review(61, PIZZA2, None),
        review(62, PIZZA, 5.0, text="\u00e9\u00e8 \\ / \t tab"),
    ]
    clean_raw, _ = read_yelp_reviews(write_dataset(tmp_path / "clean", lines))  # all lines valid: read_json path
    broken = list(lines)
    broken.insert(5, '{"review_id": "cut", "business_id": "pizzaBusiness000000001", "text": ')  # unterminated object
    broken_raw, report = read_yelp_reviews(write_dataset(tmp_path / "broken", broken), max_bad_line_share=0.05)
    assert report.bad_lines == [(REVIEW_FILE, 6, "malformed JSON")]
    # the good pizza review right after the unterminated object (line 7) must not be swallowed
    key = lambda f: f.sort_values("review_id").reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(key(clean_raw), key(broken_raw))
    assert len(clean_raw) == 24 + 3


def test_business_id_probe_never_drops_a_matching_review(tmp_path):
    """Oddly written lines (compact, nested or escaped keys, escaped ids) are read by their JSON."""
    tail = '"stars": 5.0, "text": "Great pie", "date": "2020-01-02 03:04:05"}'
    odd = [
        f'{{"review_id":"c1","business_id":"{PIZZA}","stars":5.0,"text":"Great pie","date":"2020-01-02 03:04:05"}}',
        f'{{"review_id": "c2", "meta": {{"business_id": "{COFFEE}"}}, "business_id": "{PIZZA}", {tail}',
        f'{{"review_id": "c3", "business\\u005fid": "{PIZZA}", {tail}',
        f'{{"review_id": "c4", "business_id": "{PIZZA[:-1]}\\u0031", {tail}',
        f'{{"review_id": "c5", "note": "business_id", "business_id" :\t"{PIZZA2}", {tail}',
        f'{{"review_id": "c6", "business_id": "{COFFEE}", "meta": {{"business_id": "{PIZZA}"}}, {tail}',
        f'{{"review_id": "c7", {tail}',  # no business at all
    ]
    for line in odd:
        json.loads(line)  # all valid JSON
    folder = write_dataset(tmp_path / "yelp", standard_reviews(10) + odd)
    raw, report = read_yelp_reviews(folder)
    assert report.bad_line_count == 0
    odd_ids = sorted(r for r in raw["review_id"] if r.startswith("c"))
    assert odd_ids == ["c1", "c2", "c3", "c4", "c5"]
    assert raw.set_index("review_id").loc["c4", "business_id"] == PIZZA


def test_reviews_come_back_in_file_order(tmp_path):
    lines = standard_reviews(3000)
    folder = write_dataset(tmp_path / "yelp", lines)
    raw, _ = read_yelp_reviews(folder, threads=2)
    assert raw["review_id"].is_monotonic_increasing  # dedup keeps the first in the file: order must hold


def test_fast_normalizer_equals_its_plain_definition():
    """`text.words` takes shortcuts for speed; it must equal NFKC -> apostrophes -> casefold -> word regex."""
    import random
    import re
    import unicodedata

    from augment_assets.lib.text import normalize_text

    table = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})

    def plain(text):
        folded = unicodedata.normalize("NFKC", text).translate(table).casefold()
        return " ".join(re.findall(r"[0-9a-z]+(?:'[0-9a-z]+)*", folded))

    texts = [
        "Don\u2019t \u2018go\u2019 `here` \u00b4ok\u00b4 -- it's JOE'S pizza!!",
        "\uff30\uff29\uff3a\uff3a\uff21 \ufb01ne",
        "Stra\u00dfe STRASSE \u0130stanbul \u212a",
        "caf\u00e9 cafe\u0301 na\u00efve \u00bd \u2460 x\u00b2",
        "a''b 'c' d'' ''",
        "\U0001f355 emoji\u200bzero width",
        "tab\tnew\nline\r\nend",
        "",
        "   ",
        "!!!",
        "ÅNGSTRÖM \u00c5ngstr\u00f6m",
    ]
    rnd = random.Random(0)
    alphabet = "aZ9 '`\u2019\u2018\u00b4.-\u00e9\u00df\ufb01\uff21\u0130\u212a\u00bd\U0001f355\u0301"
    texts += ["".join(rnd.choices(alphabet, k=rnd.randint(0, 30))) for _ in range(3000)]
    raw, _ = read_sample_reviews()
    texts += raw["text"].tolist()
    if SHARED_CSV.is_file():
        texts += pd.read_csv(SHARED_CSV, dtype=str, keep_default_na=False)["text"].tolist()
    assert [normalize_text(t) for t in texts] == [plain(t) for t in texts]


def test_dedup_shortcut_finds_exactly_the_normalized_text_duplicates():
    """Every text that normalizes equal is a duplicate, whatever its case, width, apostrophes or spacing."""
    import random

    rnd = random.Random(3)
    bases = ["Don't order the pizza", "Straße pizza was fine", "café crust", "Joe's ﬁne pie", "ok", "5 stars"]
    variants = [
        lambda t: t,
        str.upper,
        lambda t: t.replace("'", "\u2019"),
        lambda t: t + "!!!",
        lambda t: "".join(chr(ord(c) + 0xFEE0) if "a" <= c <= "z" else c for c in t),  # fullwidth letters
        lambda t: t.replace("ß", "ss"),
        lambda t: t.replace("é", "e\u0301"),
        lambda t: t.replace(" ", "  \n"),
        lambda t: t.replace("o", "0"),
        lambda t: t + " \U0001f355",
    ]
    texts = [rnd.choice(variants)(rnd.choice(bases)) for _ in range(400)]
    texts += [
        " ".join(rnd.choices(["pizza", "crust", "sauce", "late", "cold"], k=rnd.randint(1, 6))) for _ in range(400)
    ]
    rnd.shuffle(texts)
    raw = pd.DataFrame({"review_id": [f"r{i:04d}" for i in range(len(texts))], "stars": 5.0, "text": texts})
    reviews, _, duplicates = label_reviews(raw)
    expected = raw.assign(key=raw["text"].map(text_key)).drop_duplicates("key", keep="first")
    assert reviews["review_id"].tolist() == expected["review_id"].tolist()
    assert sum(duplicates.values()) == len(raw) - len(expected) > 300
