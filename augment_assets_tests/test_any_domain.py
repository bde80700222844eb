"""Any review domain: the graph on a small CSV of hotel reviews, written for this test.

Nothing on the path of a user's CSV may assume pizza: the fine-tuning prefix is
domain-neutral, and the on-topic measure of the synthetic reviews uses the domain's own
topic words from the prompt table of the training reviews. With a tiny random model the
synthetic text itself is noise, so the measure is checked where it means something: on
the genuine holdout reviews (on-topic under the hotel words, off-topic under the old
pizza list), on off-domain text, and in what the synthetic partitions record.
"""

import csv
import sys
from pathlib import Path

import dagster as dg
import pytest

from augment_assets.lib.finetune import CONFIG_FILE, generation_prefix, read_finetune_config
from augment_assets.lib.synthetic_quality import on_topic_rate
from augment_assets.lib.warehouse import Warehouse

from .test_dagster_graph import TINY_FINETUNE, TINY_GENERATION, project, run, step_errors  # noqa: F401, F811

# The on-topic list this project used before any domain: the pizza nouns. A hotel review
# names none of them, so a measure still tied to pizza reads ~0 on hotel reviews.
PIZZA_WORDS = set(
    """pizza pizzas pie pies crust crusts cheese cheesy slice slices sauce toppings topping
    pepperoni mozzarella delivery delivered deliver order ordered ordering dough wings
    calzone pizzeria margherita oven thin deep dish pasta salad garlic knots sausage
    mushrooms basil marinara stromboli takeout pickup""".split()
)

NEGATIVE = [
    (
        1,
        "The room smelled of smoke and the bed sheets had stains. We asked the front desk for another room and they said the hotel was full.",
    ),
    (
        2,
        "Check in took forty minutes because only one clerk was at the desk. The room itself was small and the air conditioner rattled all night.",
    ),
    (
        1,
        "Our bathroom had mold around the shower and the towels were damp. Housekeeping never came by during a three night stay.",
    ),
    (
        2,
        "The hotel pool was closed for repairs, which nobody mentioned when we booked. The gym was two broken treadmills in a basement.",
    ),
    (
        1,
        "Paper thin walls. The couple in the next room argued until three and the staff shrugged when I complained at the desk.",
    ),
    (
        2,
        "Breakfast was stale pastries and watery coffee, and it ran out by eight. For this price the hotel should do much better.",
    ),
    (
        1,
        "They charged a resort fee that covered nothing: the wifi dropped every ten minutes and the pool towels cost extra.",
    ),
    (
        2,
        "The elevator was out of service on both days, so we carried our luggage up six floors. The staff offered no help at all.",
    ),
    (
        1,
        "Found hair in the bathtub and crumbs under the pillows. The manager promised a refund for the night and it never arrived.",
    ),
    (
        2,
        "The parking garage charged forty dollars a night and the valet scratched our car. The front desk denied everything.",
    ),
    (
        1,
        "Street noise all night through a window that would not close. We barely slept and checkout was rushed and rude.",
    ),
    (
        2,
        "The room photos online show a view of the bay; our window faced a brick wall and an air vent. Disappointing stay.",
    ),
    (1, "Bedbugs. I woke up with bites on my arms and the hotel only offered to move us to a room across the hall."),
    (
        2,
        "The shower had no hot water on the second morning and the maintenance man never showed up. The lobby smelled like bleach.",
    ),
    (
        1,
        "Our reservation was lost and the clerk at the desk gave us a smoking room on the ground floor next to the ice machine.",
    ),
    (
        2,
        "Tired carpet, a sagging mattress and a television that only played two channels. The room needs a full renovation.",
    ),
    (1, "The staff were rude from check in to checkout and the housekeeper walked in on us twice without knocking."),
    (
        2,
        "The location looked central on the map, but the hotel sits beside a highway and the walk downtown felt unsafe at night.",
    ),
    (
        1,
        "A cockroach ran across the bathroom floor on our first night. We asked to switch rooms and the desk had nothing else.",
    ),
    (2, "The minibar charged us for drinks we never touched, and fixing the bill at checkout took half an hour."),
    (
        1,
        "Booked a king bed and got two narrow twins pushed together. The front desk said the booking site was to blame.",
    ),
    (2, "The hotel restaurant closed at eight and room service took ninety minutes to bring a cold sandwich."),
    (1, "The heater blew dusty air and the thermostat in the room was locked. We froze under one thin blanket."),
    (2, "Our key cards stopped working three times, and each time we had to go down to the lobby and wait in line."),
    (
        1,
        "Construction started at seven every morning right outside our window. Nobody at the desk warned us when we checked in.",
    ),
    (2, "The pool area was dirty, with leaves in the water and broken loungers, and the hot tub was lukewarm at best."),
    (1, "Stained carpet, a cracked sink and a door that did not lock properly. I did not feel safe in that room."),
    (
        2,
        "The shuttle to the airport never came, so we paid for a taxi and nearly missed our flight. The hotel would not refund it.",
    ),
    (
        1,
        "The bed creaked with every move and the pillows were flat as pancakes. Worst night of sleep on the whole trip.",
    ),
    (2, "Checkout at ten and check in at four leaves little time, and they refused a late checkout even for a fee."),
    (1, "The bathroom fan roared and the toilet ran all night. Maintenance said it was normal for this building."),
    (2, "Wifi only worked in the lobby. Upstairs in the room I could not even load my email for work."),
    (
        1,
        "The hallway smelled of cigarettes and the carpet in our room was sticky. We left a day early and lost the deposit.",
    ),
    (2, "A tiny room with no desk, no closet and no place to put a suitcase. It felt like sleeping in a corridor."),
    (1, "The front desk gave our room key to a stranger who walked in while my wife was changing. Unacceptable hotel."),
    (2, "The breakfast buffet had cold eggs and a long line, and the staff kept running out of clean plates and cups."),
]

POSITIVE = [
    (
        5,
        "Spotless room with a huge bed and soft pillows. The staff at the front desk remembered our names by the second day.",
    ),
    (
        4,
        "Great location two blocks from the station, and the room was quiet even though the hotel faces a busy street.",
    ),
    (
        5,
        "The rooftop pool has a view over the whole city and the towels were fresh every afternoon. We loved this stay.",
    ),
    (5, "Breakfast was excellent: fresh fruit, eggs cooked to order and real coffee. The hotel kitchen clearly cares."),
    (4, "Check in was quick and friendly, and they upgraded us to a corner room with windows on two sides."),
    (
        5,
        "The bathroom had a rain shower, thick robes and lovely soaps. Housekeeping kept everything perfect for our week.",
    ),
    (4, "Comfortable bed, blackout curtains and a thermostat that actually worked. I slept better here than at home."),
    (
        5,
        "The concierge booked us a dinner table and a boat tour, and the desk staff printed our boarding passes for free.",
    ),
    (4, "A calm, clean hotel with fast wifi in every room. Perfect for a work trip with a lot of video calls."),
    (
        5,
        "Our kids loved the indoor pool and the game room, and the staff brought extra pillows and a crib without asking twice.",
    ),
    (
        4,
        "The room was small but smartly designed, with hooks, shelves and a desk by the window. Good value for the area.",
    ),
    (5, "Late checkout at two was no problem, and they stored our luggage in the lobby until our evening train."),
    (
        5,
        "Friendly valet, free parking for guests and a shuttle to the beach every hour. Everything about this stay was easy.",
    ),
    (4, "The lobby bar makes a fine cocktail and the bartender gave us great tips for the neighbourhood."),
    (5, "Quiet floor, crisp sheets and a view of the mountains from the balcony. We will book this hotel again."),
    (
        4,
        "Room service arrived in twenty minutes, hot and exactly what we ordered, and the tray was collected promptly.",
    ),
    (5, "The spa was worth every penny and the sauna and steam room were spotless. The staff made us feel pampered."),
    (
        4,
        "Our flight was delayed and we arrived after midnight; the night clerk had our room ready and a snack waiting.",
    ),
    (
        5,
        "A charming old building with modern bathrooms, creaky floors full of character and the warmest staff in town.",
    ),
    (4, "The gym had new machines and free weights, open all night. Rare for a hotel of this size."),
    (5, "Housekeeping folded our clothes and left a note with a weather report each evening. Lovely little touches."),
    (4, "The bed was firm in the best way and the pillow menu let me pick a thin one. No back pain for once."),
    (
        5,
        "We celebrated our anniversary and the hotel left champagne and rose petals in the room. Truly thoughtful staff.",
    ),
    (4, "The location is perfect for museums, and the front desk lent us umbrellas when it started to pour."),
    (
        5,
        "The breakfast terrace in the sun, with fresh pastries and strong espresso, was the highlight of every morning.",
    ),
    (4, "Clean pool, plenty of loungers and a poolside bar with fair prices. A relaxing weekend stay."),
    (5, "Check in online, a digital key on my phone and no lines at the desk. The smoothest hotel stay I have had."),
    (4, "Big windows, lots of light and a bathtub deep enough to soak in. The room felt like a small apartment."),
    (5, "When our shower drain clogged, maintenance fixed it within ten minutes and the manager sent up dessert."),
    (4, "The hotel is pet friendly and the staff had treats and a bed ready for our dog. He loved it."),
    (5, "Soundproof windows kept the city quiet, and the mattress was so comfortable we asked where to buy one."),
    (4, "Free bikes at the lobby and a map of cycling routes. We explored the whole riverside from the hotel."),
    (5, "The suite had a kitchenette and a washing machine, which made a two week stay with children so much easier."),
    (4, "Helpful staff at the desk recommended a local bakery and a quiet beach. Both were wonderful."),
    (5, "Every corner of the room was spotless, the towels were soft and the air smelled faintly of lavender."),
    (4, "Parking was easy, the elevator was fast and our room on the top floor had a view of the harbour lights."),
]

# Reviews of another domain (pizza), for the contrast: the hotel's topic words should not
# call them on-topic.
OFF_DOMAIN = [
    "The crust was thin and crisp and the pepperoni had a nice kick to it.",
    "Cold slices with rubbery cheese and far too much sauce. Never again.",
    "Best margherita in town, with fresh basil and a charred, chewy base.",
    "Garlic knots were soggy and the wings tasted reheated.",
    "A thick deep dish with sausage and mushrooms, baked for forty minutes.",
]


def write_hotel_csv(path: Path) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "stars"])
        for stars, text in NEGATIVE + POSITIVE:
            writer.writerow([text, stars])
    return path


# The split's holdout must fit 36 reviews per class (at least 20 of each stay for training).
HOTEL_SPLIT = {"ops": {"ingest_reviews": {"config": {"holdout_size": 20}}}}


@pytest.fixture
def definitions_read_afresh():
    """The partitions (DATA_SIZES, SYNTHETIC_TEMPERATURES) are read when the defs modules are
    imported: drop them before this test, so they follow its environment, and after it, so no
    later test in this process inherits its one-size graph."""

    def drop():
        for name in list(sys.modules):
            if name == "augment_assets.definitions" or name.startswith("augment_assets.defs"):
                del sys.modules[name]

    drop()
    yield
    drop()


def test_the_graph_on_hotel_reviews_measures_on_topic_by_the_hotel_words(
    project,  # noqa: F811 - the fixture
    monkeypatch,
    tiny_model_dir,
    definitions_read_afresh,
):
    monkeypatch.setenv("REVIEWS_CSV", str(write_hotel_csv(project / "hotel_reviews.csv")))
    monkeypatch.setenv("BASE_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("DATA_SIZES", "all")
    monkeypatch.setenv("LEARNING_CURVE_SIZES", "")
    monkeypatch.setenv("SYNTHETIC_TEMPERATURES", "0.9")
    result = run(dg.AssetSelection.groups("ingest"), None, HOTEL_SPLIT)
    assert result.success, step_errors(result)
    generators = ("negative_all_r1", "positive_all_r1")
    for key in generators:
        result = run(dg.AssetSelection.assets("prompt_table", "sentiment_generator"), key, TINY_FINETUNE)
        assert result.success, step_errors(result)
        result = run(dg.AssetSelection.assets("synthetic_reviews"), f"{key}|0.9", TINY_GENERATION)
        assert result.success, step_errors(result)

    store = Warehouse(project / "warehouse.duckdb")
    tables = store.read_table("prompt_table")
    topic = tables[tables["kind"] == "topic"]
    words = {key: topic[topic["generator"] == key].sort_values("rank")["text"].tolist() for key in generators}
    # One list for the domain, from both sentiments of the fit fold: the hotel's words, no pizza.
    assert words["negative_all_r1"] == words["positive_all_r1"]
    domain = words["negative_all_r1"]
    assert {"room", "hotel", "staff", "desk"} <= set(domain), domain
    assert not set(domain) & PIZZA_WORDS, domain
    # ... and not the words of one sentiment (they say how a stay felt, not what it was)
    assert not set(domain) & {"rude", "dirty", "lovely", "spotless", "friendly", "great"}, domain

    # Meaningful on the genuine reviews nothing upstream saw: the holdout is on-topic under
    # the hotel's words and would be off-topic under the pizza list; pizza text is off-topic here.
    holdout = store.read_table("holdout_reviews")["text"].tolist()
    assert len(holdout) == 20
    assert on_topic_rate(holdout, domain) >= 0.9
    # (the pizza list's few words that are not pizza's alone, "order", "thin", still reach a hotel review or two)
    assert on_topic_rate(holdout, PIZZA_WORDS) <= 0.25
    assert on_topic_rate(OFF_DOMAIN, domain) <= 0.2

    # Each synthetic partition measured its reviews against that same list, and says so.
    with dg.DagsterInstance.get() as instance:
        for key in generators:
            record = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("synthetic_reviews"), asset_partitions=[f"{key}|0.9"]),
                limit=1,
            ).records[0]
            metadata = record.asset_materialization.metadata
            assert metadata["quality_topic_words"].value == ", ".join(domain)
            kept = store.read("SELECT text FROM synthetic_reviews WHERE generator = ?", [key])["text"].tolist()
            assert kept, key
            assert metadata["quality_on_topic"].value == pytest.approx(round(on_topic_rate(kept, domain), 4))

    # The generators were fine-tuned behind a prefix that names no pizza and no Yelp.
    for row in store.read_table("sentiment_generator").itertuples():
        config, sentiment = read_finetune_config(row.path)
        assert sentiment == row.sentiment
        prefix = generation_prefix(row.sentiment, config)
        assert prefix == {"negative": "Review, 1-2 stars:", "positive": "Review, 4-5 stars:"}[row.sentiment]
        saved = (Path(row.path) / CONFIG_FILE).read_text().lower()
        assert "pizza" not in saved and "yelp" not in saved


@pytest.mark.parametrize(
    ("template", "message"),
    [("Hotel review, {rating} stars:", "unknown placeholder {rating}"), ("Hotel {review", "not a valid template")],
)
def test_a_bad_prefix_template_is_refused_before_any_run(template, message):
    from augment_assets.cli import check_run_config
    from augment_assets.definitions import build_definitions

    problems = check_run_config(
        build_definitions(), {"ops": {"sentiment_generator": {"config": {"prefix_template": template}}}}
    )
    assert len(problems) == 1 and "prefix_template" in problems[0] and message in problems[0], problems
    assert (
        check_run_config(
            build_definitions(),
            {"ops": {"sentiment_generator": {"config": {"prefix_template": "Hotel review, {stars} stars:"}}}},
        )
        == []
    )
