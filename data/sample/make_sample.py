"""Write the embedded demonstration sample: fictional businesses and reviews in the Yelp JSON format.

Deterministic (a fixed seed): running it again rewrites the same two files byte for byte.

    python data/sample/make_sample.py

Everything here is invented for this project - names, addresses, reviews.

The review texts are generated from a small grammar rather than from fixed sentences: every
sentence is a template whose slots (`{pool}`) and inline choices (`[a|b|c]`) are filled at
random from large pools of words and phrases (dishes, toppings, crust/sauce/cheese remarks,
service, prices, waits, people, times, neighbourhoods, numbers), the topics and their order
vary per review, and positive/negative reviews borrow mild remarks from the other side. The
aim is a fixture whose reviews are about as unlike each other as real ones: two generated
reviews rarely share a three-word sequence beyond stock phrases, so near-duplicate checks
(Jaccard of word 3-shingles) only fire on the planted cases below.

Planted cases: two exact duplicates (case/spacing changed) and one lightly edited repost
(about a tenth of its words changed) posted to another pizza place.
"""

from __future__ import annotations

import json
import random
import re
import string
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20240611
ID_CHARS = string.ascii_letters + string.digits + "-_"
N_PIZZA_REVIEWS = 552
N_OTHER_REVIEWS = 140
MIN_WORDS, MAX_WORDS = 40, 120
REPOST_SOURCE = 20  # index of the pizza review that gets reposted (lightly edited)
REPOST_TARGET = 5  # the repost goes to the first pizza place from this index that is not the original's
HARD_SHARE = 0.2  # share of 1-2 and 4-5 star reviews whose text mostly argues the other way

PIZZA_CATEGORIES = [
    "Pizza, Italian, Restaurants",
    "Restaurants, Pizza",
    "Pizza, Restaurants, Food Delivery Services",
    "Italian, Pizza, Wine Bars, Bars, Nightlife, Restaurants",
    "Pizza, Chicken Wings, Restaurants",
    "Sandwiches, Pizza, Salad, Restaurants",
]
OTHER_CATEGORIES = [
    "Pizzeria Supplies, Wholesale Stores, Shopping",  # a trap: not the whole item "Pizza"
    "Coffee & Tea, Food, Bakeries",
    "Coffee & Tea, Cafes, Restaurants",
    "Italian, Restaurants",
    "Mexican, Restaurants",
    "Pizza Ovens & Equipment, Home Services",  # another trap
    None,
    None,
]
NAME_FIRST = ["Tony's", "Bella", "Sal's", "Golden", "Brick", "Luigi's", "Corner", "Fire", "Marco's", "Old Town",
              "Nonna's", "Slice of", "Crust &", "Village", "Uncle Joe's", "Red Door", "Hearth", "Via", "Napoli",
              "Big Al's"]
NAME_SECOND = ["Pizzeria", "Pizza Co.", "Pizza Kitchen", "Slice Shop", "Pie House", "Pizza & Pasta", "Brick Oven",
               "Pizza Bar"]
CITIES = [("Tucson", "AZ"), ("Reno", "NV"), ("Tampa", "FL"), ("Boise", "ID"), ("Nashville", "TN"),
          ("Indianapolis", "IN"), ("Philadelphia", "PA"), ("New Orleans", "LA")]
OWNERS = ["Sal", "Maria", "Tony", "Gina", "Vince", "Rosa", "Frankie", "Lou", "Angela", "Dom", "Carmela", "Nick",
          "Teresa", "Paulie", "Lena", "Marco", "Joey", "Donna", "Rocco", "Sofia", "Eddie", "Bianca", "Ray", "Nina",
          "Gus", "Lucia", "Benny", "Dina"]

# ---- the grammar ------------------------------------------------------------------------
# A pool is a list of alternatives; an alternative may use {other_pool} and [x|y|z] (nestable).
P: dict[str, list[str]] = {
    # people, times, places
    "person": ["my wife", "my husband", "my girlfriend", "my boyfriend", "my partner", "my roommate", "my brother",
               "my sister", "my parents", "my mom", "my dad", "the kids", "my two boys", "my daughter", "my son",
               "my in-laws", "a buddy from work", "three coworkers", "my neighbor", "a couple of friends",
               "my fiancee", "my best friend", "my grandmother", "the whole soccer team", "my book club",
               "my cousin", "our babysitter", "two college friends", "my stepdad", "the crew from the shop"],
    "when": ["on a Tuesday night", "last Saturday", "after a Little League game", "for a late lunch",
             "around nine at night", "during the big game", "on my birthday", "before a concert",
             "right after we moved in", "on a rainy Sunday", "at about six thirty", "during a snowstorm",
             "on our anniversary", "after a double shift", "on a slow Monday", "the night before a flight",
             "over the holiday weekend", "after a hike", "on a school night", "after the farmers market",
             "during a power outage at home", "for a Friday movie night", "on a weekday around noon",
             "after a funeral, honestly", "between errands", "right before closing", "on New Year's Eve",
             "during spring break", "after bowling", "for a graduation party", "on a scorching afternoon"],
    "hood": ["downtown", "the east side", "midtown", "the college district", "the west side", "the riverfront",
             "the old mill district", "the north end", "the strip by the interstate", "the arts district",
             "the south side", "the historic district", "the neighborhood by the hospital", "the lake side",
             "the warehouse district", "the suburbs", "the square", "the corridor near the stadium"],
    "spot": ["next to a laundromat", "in a strip mall by the grocery store", "across from the library",
             "by the train station", "on the corner near the bank", "behind the gas station",
             "tucked next to a nail salon", "in an old brick building", "across the street from the high school",
             "near the hardware store", "in the food hall", "under the old theater sign", "next to a tattoo shop",
             "by the dog park", "on the main drag"],
    "found": ["a coworker swore by it", "it kept popping up on the app", "a local food blog raved about it",
              "our usual place closed", "a neighbor left a menu on our door", "we saw the line out the door",
              "it was the only place still open", "someone on a forum recommended it", "my sister worked there once",
              "we had a coupon", "it won some readers' poll", "the smell hit us walking past",
              "a friend brought a box to a party once", "we were bored of the chains"],
    # food
    "size": ["small", "medium", "large", "extra large", "twelve inch", "fourteen inch", "sixteen inch",
             "eighteen inch", "personal", "family size", "ten inch", "half sheet"],
    "style": ["Neapolitan", "New York style", "thin crust", "Detroit style", "Sicilian", "grandma", "deep dish",
              "tavern style", "wood fired", "pan", "hand tossed", "New Haven style", "Roman", "stuffed crust",
              "bar style", "coal oven", "sourdough", "cauliflower crust", "gluten free", "square cut"],
    "topping": ["pepperoni", "cup and char pepperoni", "sweet sausage", "hot sausage", "fennel sausage",
                "mushrooms", "roasted mushrooms", "green peppers", "roasted red peppers", "banana peppers",
                "jalapenos", "black olives", "kalamata olives", "red onion", "caramelized onions", "fresh basil",
                "arugula", "prosciutto", "soppressata", "salami", "ham", "pineapple", "bacon", "meatballs",
                "spinach", "artichoke hearts", "sun dried tomatoes", "sliced tomato", "ricotta", "goat cheese",
                "gorgonzola", "anchovies", "clams", "roasted garlic", "hot honey", "pesto", "broccoli rabe",
                "eggplant", "grilled chicken", "buffalo chicken", "capers", "feta", "zucchini", "burrata",
                "calabrian chilies", "shishito peppers", "thin potato", "rosemary", "sweet corn",
                "pickled onions", "chorizo", "pulled pork", "brussels sprouts", "fig jam", "pistachio",
                "egg", "smoked mozzarella", "pancetta", "cherry peppers", "mortadella"],
    "pie_name": ["Godfather", "Vesuvio", "Bianca", "Diavola", "Quattro Formaggi", "Capricciosa", "Hot Mess",
                 "Grandpa", "Garden Party", "Meat Sweats", "Firecracker", "Funghi", "Carbonara", "Boss",
                 "Piccante", "Sweet Heat", "Bronx Bomber", "Volcano", "Nonna Special", "Forager", "Smokehouse",
                 "Green Monster", "Kitchen Sink", "Little Italy", "Sunday Gravy", "Fig and Pig", "Hellfire",
                 "Margo", "Salsiccia", "Popeye", "Bee Sting", "Truffle Shuffle"],
    "pie": ["a {size} {topping} pie", "a {style} pie with {topping} and {topping}", "the {pie_name}",
            "two {style} slices with {topping}", "a {size} half {topping}, half {topping}", "a plain cheese {size}",
            "a {size} margherita", "a white pie with {topping}", "the {pie_name} [pie|pizza]",
            "a {style} {topping} and {topping}", "a {size} {style} with {topping}", "a {topping} calzone",
            "a {size} [pie|pizza] with {topping}, {topping} and {topping}", "a {style} margherita",
            "a couple of {topping} slices", "the {pie_name} on a {style} crust", "a {topping} stromboli"],
    "side": ["garlic knots", "hot wings", "honey garlic wings", "dry rub wings", "a caesar salad",
             "an antipasto salad", "mozzarella sticks", "fried calamari", "a meatball sub", "garlic bread",
             "zeppole", "cannoli", "tiramisu", "arancini", "a house salad", "baked ziti", "fries", "rice balls",
             "cheesy bread", "breadsticks", "a burrata appetizer", "eggplant rollatini", "a chopped salad",
             "fried zucchini", "a chicken parm hero", "a side of meatballs", "stuffed mushrooms",
             "a lemon ice", "a rainbow cookie", "a bottle of lambrusco", "a pitcher of IPA", "a Caprese salad"],
    "side_short": ["knots", "wings", "salad", "calamari", "cannoli", "garlic bread", "meatballs", "zeppole",
                   "fries", "rice balls", "breadsticks", "tiramisu", "ziti", "arancini"],
    "num_small": ["two", "three", "four", "five", "six", "seven", "eight", "a dozen"],
    "minutes": ["twenty", "twenty five", "thirty", "thirty five", "forty", "forty five", "fifty", "fifty five",
                "sixty", "seventy", "seventy five", "ninety"],
    "dollars": ["{d1}", "{d1}", "{d1} plus tip", "about {d1}", "almost {d1}", "just over {d1}"],
    "d1": ["$14", "$16", "$18", "$19", "$21", "$23", "$24", "$26", "$27", "$29", "$31", "$33", "$35", "$38",
           "$41", "$44", "$47", "$52", "$56", "$61", "$64", "$72"],
    # openings
    "opening": [
        "[We|I] [ordered from|picked up from|stopped into|finally tried|ate at] {name} {when}.",
        "{name} is [a few blocks|a short walk|ten minutes|a quick drive] from [our apartment|my office|the gym|"
        "my mother's house|our new place] in {hood}, so [we|I] [gave it a shot|tried it|finally went] {when}.",
        "[Went|Headed] [here|over here|to {name}] with {person} {when}.",
        "[This|{name}] is the [little|tiny|cramped|bright|busy] place {spot} [in|over in|out in] {hood}.",
        "[We|I] tried {name} because {found}.",
        "[First|Second|Third] [visit|time here|order] [for me|for us], [this time|]{when}.",
        "[I have|We have|My family has] been [ordering|coming here|getting pies] from {name} "
        "[for years|since they opened|off and on for a while|since {year}].",
        "[Ordered|Got] delivery from {name} {when}, [for|to feed] {person} and me.",
        "[Dropped|Stopped] in [alone|solo|by myself|with {person}] {when} [on the way home|after work|"
        "to kill time|while the car was in the shop].",
        "[Quick|Short|Honest] [review|take|write up] of {name} [over in|in] {hood}.",
        "{person_cap} [picked|chose|insisted on] {name} {when}[, since {found}|].",
        "[Last|This past] [week|weekend|month] [we|I] [did takeout|ate in|got carryout] at {name} {spot}.",
        "[So|OK so|Alright,] {name}. [We|I] [went|ordered] {when}.",
        "[After|Following] [a long day|a brutal week|a road trip|a move] [we|I] [wanted|needed|craved] "
        "[pizza|a pie|something greasy|a few slices], and {name} was [closest|open|on the way].",
    ],
    "year": ["2012", "2014", "2015", "2016", "2017", "2018", "the pandemic", "college", "high school"],
    # what was ordered
    "order": [
        "[We|I] [ordered|got|went with|split|shared|picked up] {pie} [and|plus|along with] {side}.",
        "{pie_cap} [and|plus] {side} [for the table|to share|on the side|for {person}].",
        "[My|Our|The] [order was|haul was|order came to|bag had] {pie}, {pie} and {side}.",
        "[I|We] [asked for|got] {pie}[ well done| extra crispy| light on the cheese| with extra sauce|].",
        "{person_cap} [had|got|ordered] {pie} and I [had|got|tried] {pie}.",
        "[Between|For|Feeding] {num_small} [of us|people|hungry adults] we [got|ordered|split] {pie} and {side}.",
        "[We started with|Starter was|First came] {side}, then {pie}.",
        "[Went|Stuck] with {pie}[ since it is their {sig}| on the server's suggestion| like always|].",
    ],
    "sig": ["signature", "best seller", "special this month", "house pie", "most popular", "weekend special"],
    # topics, positive
    "crust_pos": [
        "the crust was {cp_adj} and {cp_adj}[, with {cp_detail}|]",
        "[great|excellent|really nice|serious] crust[ here|], {cp_adj} [at the edge|on the rim|underneath] and "
        "{cp_adj} [inside|in the middle]",
        "[you can tell|it is obvious|clearly] the dough [ferments|rests|proofs] for [a couple of days|two "
        "days|three days|a long time], "
        "[it had|there was] {cp_detail}",
        "[honestly|genuinely|easily] the [best|nicest|standout] part was the [crust|edge|bottom], {cp_adj} with "
        "{cp_detail}",
        "the [bottom|underside] had {cp_detail} and [held up|stayed firm|never flopped] [even with|under] "
        "[the {topping}|all the toppings|a pile of {topping}]",
        "I [usually|normally|always] leave the [crusts|bones|edges] but [ate every one|finished every crust] this time",
        "the [dough|crust] [tasted|was] {cp_adj}, [almost like good bread|like a proper bakery loaf|"
        "with real flavor on its own]",
    ],
    "cp_adj": ["crisp", "airy", "chewy", "light", "blistered", "crackly", "tender", "puffy", "golden",
               "well browned", "bubbly", "springy", "sturdy", "thin", "flaky", "crunchy", "nicely charred",
               "fluffy", "toasty", "feather light"],
    "cp_detail": ["nice leopard spotting", "a little char", "a good salty bite", "big open bubbles",
                  "a faint sourdough tang", "that cracker snap", "a buttery edge", "a caramelized cheese frico",
                  "crunchy cornmeal underneath", "a smoky note from the oven", "a bit of olive oil richness",
                  "the right amount of chew"],
    "sauce_pos": [
        "the sauce was {sp_adj} and {sp_adj}",
        "[loved|really liked|appreciated] the sauce, [{sp_adj} and not too sweet|{sp_adj} with {sp_detail}]",
        "[their|the] [red sauce|tomato sauce|gravy] [has|had] {sp_detail}",
        "[just enough|a good amount of|plenty of] sauce, {sp_adj} [and clearly made in house|like real tomatoes|"
        "with {sp_detail}]",
        "the [vodka sauce|pesto base|white garlic sauce|spicy arrabbiata] on the {pie_name} was {sp_adj}",
    ],
    "sp_adj": ["bright", "fresh", "tangy", "garlicky", "herby", "rich", "balanced", "zesty", "vibrant", "peppery",
               "chunky", "silky", "savory", "lively"],
    "sp_detail": ["a hint of oregano", "a little heat at the end", "a nice basil note", "real garlic in it",
                  "a sweet tomato flavor", "a slow cooked depth", "chunks of crushed tomato", "a touch of chili",
                  "a clean acidity"],
    "cheese_pos": [
        "the [cheese|mozzarella] was {ip}{ch_pos} and [pulled|stretched] [for days|like in a commercial|nicely]",
        "[good|great|real] [whole milk|fresh|house made] mozzarella, {ch_pos} [with browned spots|and not greasy|"
        "in every bite]",
        "[they|the kitchen|whoever made it] [did not|didn't|never] [skimp|go light|hold back] on [the "
        "cheese|the mozz|the {topping}|anything]",
        "the [ricotta|burrata|pecorino] [dollops|on top|finish] [was|were] {ch_pos}",
    ],
    "ch_pos": ["creamy", "milky", "gooey", "rich", "melty", "stretchy", "golden", "perfectly melted", "buttery"],
    "top_pos": [
        "the {topping} was {tp_adj}[ and there was plenty of it| and spread to the edge|]",
        "[generous|plenty of|loads of] {topping}, [all|and it was] {tp_adj}",
        "the {topping} and {topping} [went|worked|played] [really|surprisingly|] well together",
        "[every|each] slice had [real|fresh|good] {topping} [on it|], [not a sad sprinkle|not just {num_small} "
        "lonely pieces|edge to edge|all the way out]",
        "the {topping} [curled|crisped|caramelized] [up|] [nicely|perfectly|into little cups]",
    ],
    "tp_adj": ["fresh", "flavorful", "high quality", "well seasoned", "crispy", "tender", "smoky", "spicy",
               "salty in a good way", "clearly not from a can", "juicy", "sweet"],
    "side_pos": [
        "[our|the] {side_short} [were|was] [a highlight|the sleeper hit|worth ordering again|excellent|{tp_adj}]",
        "[do not|don't] skip {side}, [they were|it was] {tp_adj}",
        "[we|I] [also|] [loved|inhaled|fought over] {side}",
        "[bonus points|extra credit|a shout out] for {side}, [which were|which was] {ip}{tp_adj}",
    ],
    "service_pos": [
        "[the|our] [server|cashier|guy at the counter|woman at the register|delivery driver] was "
        "[{sv_pos}|{sv_pos} and {sv_pos}]",
        "{owner} [came by|stopped at our table|chatted with us|waved from the oven] and [was|seemed] {sv_pos}",
        "[staff|everyone working|the team|the kitchen crew] [were|was|seemed] {ip}{sv_pos}[ even on a packed "
        "night| despite the rush|]",
        "[they|the staff] [remembered|knew] [our order|my name|that {person} likes extra {topping}]",
        "[our|the] [drinks|waters] [got refilled|never ran empty] [without asking|all night]",
    ],
    "sv_pos": ["friendly", "warm", "quick", "attentive", "patient", "funny", "welcoming", "on top of things",
               "genuinely nice", "helpful", "sweet with the kids", "efficient"],
    "wait_pos": [
        "[the food|our pie|everything] [came out|arrived|was ready] in [about|under|maybe] {minutes_small} minutes",
        "delivery [showed up|arrived|landed] [early|ahead of the estimate|in {minutes_small} minutes] and "
        "[still hot|piping hot|steaming]",
        "[pickup|carryout] was [ready|boxed] [right on time|when promised|before I even parked]",
    ],
    "minutes_small": ["ten", "twelve", "fifteen", "eighteen", "twenty", "twenty five"],
    "price_pos": [
        "[it came to|the bill was|we paid] {dollars} for [all of that|everything|the two of us|{num_small} people], "
        "which [felt|seemed|is] [fair|reasonable|like a steal]",
        "[prices are|pricing is|it is] [fair|reasonable|honest] for the [size|quality|portion]",
        "[we had|there were|plenty of] leftovers [for lunch|the next day|for breakfast]",
        "[the|a] [lunch special|two slice deal|Tuesday deal|happy hour slice] is [a bargain|hard to beat|great value]",
    ],
    "amb_pos": [
        "the [dining room|place|room|patio] [is|was] [cozy|clean|bright|charming|lively] [with {decor}|]",
        "[nice|fun|relaxed|easy] [vibe|atmosphere|feel][, {decor}|]",
        "[we sat|they seated us|we grabbed a seat] [on the patio|by the window|at the counter|near the oven|"
        "in a booth] [and watched|to watch|so we could see] [the pizzaiolo|the cooks toss dough|the oven "
        "flames|{owner} work]",
    ],
    "decor": ["old family photos", "checkered tablecloths", "a jukebox", "a big wood oven in the back",
              "records on the wall", "string lights", "a chalkboard menu", "vintage soda signs",
              "a game on the TV", "candles in wine bottles"],
    # topics, negative
    "crust_neg": [
        "the crust was {cn_adj} and {cn_adj}",
        "the [middle|center] was [soggy|wet|raw|gummy] while the [edges|rim] [were|was] [burnt|black|rock hard]",
        "the dough tasted [like cardboard|of nothing|store bought|stale|like it came frozen]",
        "the [bottom|underside] was [pale|floppy|greasy|undercooked] and [sagged|folded|fell apart] "
        "[the second|as soon as] [I|we] [picked up|lifted] a slice",
        "[I|we] [left|tossed] [most of|every one of] the [crusts|edges] because they were {cn_adj}",
    ],
    "cn_adj": ["soggy", "gummy", "dense", "bready", "pale", "burnt", "tough", "limp", "doughy", "dry",
               "leathery", "stale", "flavorless", "cracker dry", "underbaked", "chewy in a bad way"],
    "sauce_neg": [
        "the sauce was {sn_adj} and {sn_adj}",
        "[barely any|way too much|a thin smear of] sauce, [and what there was|and it|and the little there was] "
        "[tasted|came across|was] {in}{sn_adj}",
        "the [red sauce|tomato sauce|marinara] [tasted|was] [like ketchup|straight out of a can|{sn_adj}]",
        "the [sauce|garlic butter|ranch] [pooled|puddled|ran] [in the middle|onto the box|everywhere]",
    ],
    "sn_adj": ["bland", "watery", "sugary", "sour", "metallic", "flat", "oversalted", "gluey", "pasty", "cloying",
               "tinny"],
    "cheese_neg": [
        "the cheese was {chn} and [slid off|peeled off in a sheet|came off in one piece]",
        "[they were|someone was] [stingy|cheap] with the [cheese|mozz|{topping}]",
        "[a layer of|puddles of|an orange slick of|a sheen of] [grease|oil] [sat|floated|pooled|collected] "
        "[on|across|over] [the cheese|every slice|the {topping}|the whole {pie_ref}]",
        "the [cheese|mozzarella] [tasted|was] {chn}[, like the shredded bag kind|]",
    ],
    "chn": ["rubbery", "plasticky", "greasy", "congealed", "bland", "burnt", "cold", "chewy", "oily"],
    "top_neg": [
        "the {topping} [was|tasted] {tn_adj}",
        "[maybe|literally|I counted] {num_small} [pieces|bits|slices] of {topping} on the whole [pie|pizza]",
        "[they|the kitchen] [forgot|left off|swapped out] the {topping} [entirely|and used {topping} instead]",
        "[the|our] {topping} [was|were] [piled|dumped|bunched up] in [the middle|one spot|a clump] [and the "
        "rest was bare|leaving the rest [naked|empty]|with nothing anywhere else]",
    ],
    "tn_adj": ["mushy", "dried out", "slimy", "canned", "overcooked", "freezer burned", "gristly", "tasteless",
               "way too salty", "wilted", "soggy", "cold in the middle"],
    "side_neg": [
        "[the|our] {side_short} [were|was] {tn_adj}",
        "[they|the kitchen] [forgot|never sent|shorted us on] {side}",
        "[skip|avoid|do not bother with] {side}, [they were|it was] {tn_adj}",
        "[we paid|it was] {d1} for {side} that [tasted|looked] {tn_adj}",
    ],
    "service_neg": [
        "[the|our] [server|cashier|guy at the counter|woman at the register|delivery driver] was {sv_neg}",
        "[nobody|no one] [greeted us|came by|refilled our drinks] for [about|almost|a good] {minutes} minutes",
        "[when I|I] [called|called back|tried to call] about [it|the order|the mistake], [they|someone] "
        "[hung up|put me on hold forever|argued with me|blamed the driver]",
        "[staff|the crew] [were|was] [on their phones|yelling in the kitchen|arguing behind the counter] "
        "[the whole time|while we waited]",
        "[we|I] [had to|needed to] [flag someone down|ask twice|go to the counter] [for|to get] "
        "[napkins|the check|plates|our {side_short}]",
    ],
    "sv_neg": ["rude", "dismissive", "short with us", "clearly annoyed", "checked out", "condescending",
               "unhelpful", "slow", "careless", "cold"],
    "wait_neg": [
        "[it|delivery|the order] took [over|almost|nearly] {minutes} minutes[ even though the app said {minutes_small}|"
        " on a quiet night|]",
        "[the food|our pie|the pizza] [showed up|arrived|came] [lukewarm|stone cold|cold|barely warm]"
        "[ after {minutes} minutes| and the box was soaked|]",
        "[we|I] [waited|sat|stood around] {minutes} minutes [for|on] [a pickup|our carryout|a simple] [order|pie|box] "
        "[they had quoted at|promised in|the app said would take] {minutes_small}",
        "[the|our] [order|pie] was [wrong|missing half of it|for someone else]",
    ],
    "price_neg": [
        "{dollars} for [this|that|what we got] [is|was|felt like] [a rip off|way too much|highway robbery]",
        "[they|it|the receipt] [charged|billed|rang] [us|me] [for|up as] a {size} but [it was|we got|what came "
        "was] [clearly|obviously|plainly] a [small|medium|personal]",
        "[prices|the menu] [went up|jumped|crept up] [again|a lot|twice this year] and [the quality|the "
        "portions|the pies|the size] [did not|didn't|never] [follow|keep up|improve to match]",
        "[the|a] [delivery fee|service charge|card fee] [of|for] {d1} [showed up|appeared] [at checkout|on the bill]",
    ],
    "amb_neg": [
        "the [table|floor|counter|bathroom] was [sticky|filthy|not clean|gross]",
        "[the music was|the TVs were|it was] [deafening|way too loud|blaring][, could not hear {person}|]",
        "[flies|a fly|a stale fryer smell|a garbage smell] [near|around|by|hovered over] [the counter|our "
        "table|the door|the drinks]",
        "[the|our] [booth|chairs|table] [wobbled|was broken|had gum under it]",
    ],
    # mild remarks that cross the sentiment line
    "minor_issue": [
        "the [parking lot|lot out front|street parking] is [tiny|a nightmare|always full]",
        "the {side_short} could have been [crispier|hotter|saucier|bigger]",
        "[it|pickup|the food] took [a bit|ten minutes|a little] longer than [quoted|promised|the app said]",
        "the [music|TV|kitchen noise] was [a little|slightly|kind of] [loud|much]",
        "they [were|had run] out of {side_short}[ by seven| again|]",
        "the [salad|side salad|dressing] was [forgettable|overdressed|an afterthought]",
        "the [booths|tables|seats] are [cramped|wobbly|tight]",
        "the {side_short} [were|felt] a [touch|tad|bit] [salty|dry|heavy]",
        "[prices|the prices|slices] [went up|crept up|jumped] [a dollar or two|since last year|recently]",
        "the [crust|bottom] [got|went] [a little|slightly|a tad] [soft|limp] [on the drive home|in the box|by the end]",
        "the {topping} was [slightly|a bit|a tad] [overdone|skimpy|salty]",
        "the [online ordering|app|website] is [clunky|slow|confusing]",
        "[it gets|the room gets|the front is] [warm|hot|stuffy] [near|by|next to] the oven",
        "the [center|middle] [was|got] [a bit|slightly|a little] [wet|soupy|floppy]",
        "they only take cards over {d1}",
        "the [line|wait] on [weekends|Fridays|game nights] is [long|brutal|no joke]",
    ],
    "minor_pos": [
        "[my only|the one|a small] [complaint|gripe|quibble] [is|was] that {minor_issue}",
        "{minor_issue}, but [that is|that was|honestly that is] [nitpicking|a small thing|easy to forgive]",
        "[not perfect|not flawless|a few small misses], {minor_issue}[, but still|]",
        "if I [had to|have to] [nitpick|complain], {minor_issue}",
    ],
    "small_plus": ["the guy at the register was [friendly|polite|apologetic]", "the {side_short} were [decent|fine|"
                   "actually good]", "the dining room was clean", "the delivery driver was nice",
                   "the price was [reasonable|fair]", "the {topping} was [fresh|tasty|fine]",
                   "the sauce had some flavor", "the crust edge was [crisp|nicely browned]",
                   "it arrived [hot|on time]", "{owner} [seemed|was] [nice|kind|apologetic]",
                   "the portions are [big|generous]", "the patio is [pleasant|nice]"],
    "minor_neg": [
        "[to be fair|in fairness|I will say|credit where due], {small_plus}",
        "{small_plus}, [but|though] that [does not|didn't|can't] [make up for|fix|save|redeem] [the pie|the "
        "rest of it|the pizza itself|a bad {pie_ref}]",
        "[the one|one] [bright spot|upside|good thing]: {small_plus}",
        "{small_plus}, [so|and] [not a total loss|that is something|at least there's that]",
    ],
    # asides with no sentiment
    "aside": [
        "{person_cap} [had never had|hadn't tried|was curious about] {style} [pizza|pies] before",
        "[parking|finding parking] [was|is] [easy|a pain|around back|on the street]",
        "[they|the kitchen] [only|mostly|also] [do|make|bake] {style} [pies|pizza], plus {side_short} and [a "
        "few|some] [salads|subs|desserts]",
        "the menu [has|had] [about|maybe|over] {num_small} [specialty pies|combos|options] [on a chalkboard|online|]",
        "it was [busy|packed|half empty|quiet|dead] [for a {weekday}|when we got there|at that hour]",
        "[we|I] [paid|tipped] [cash|by card|through the app]",
        "[they have|it has|the menu has] [a gluten free option|a vegan cheese option|a kids menu|beer on tap]",
        "{owner} [runs|owns|opened] the place[ with family| with a brother| after years in another shop|]",
    ],
    "weekday": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    # closers
    "close_pos": [
        "[We'll|I'll|We will|I will] [definitely|absolutely|for sure|happily] be [back|ordering again|back soon]"
        "[ for the {pie_name}| with {person}| next week|]",
        "{name} is [now|officially|easily] [our|my] [go to|favorite|regular] [pizza spot|pie place|Friday order]"
        "[ in {hood}| in town|]",
        "[Highly|Strongly|Totally|Very much] recommend[ the {topping} pie| the {side_short}|ing it|]",
        "[Already|Still|Honestly] [craving|thinking about|dreaming of] [that crust|those {side_short}|the {pie_name}]",
        "[Worth the drive|Worth the wait|Worth every penny][ from {hood}| for sure|]",
        "[Five|5] stars[ from {person}| from the whole table|, no question]",
        "[Go|Get there|Order from them] [before it gets too popular|and thank me later|soon]",
    ],
    "close_neg": [
        "[We|I] [won't|will not|am not going to|do not plan to] be [ordering again|going back|back|returning][ "
        "anytime soon| any time soon| after this|]",
        "[Save your money|Skip this one|Go somewhere else|Pass][ and try anywhere else in {hood}|]",
        "[Really|Very|Deeply|Pretty] [disappointing|disappointed|let down]",
        "[There are|You can find] [much|far|way] better [options|pies|slices] [nearby|in {hood}|on the same block]",
        "[Not worth|Definitely not worth] [it|the money|the {d1}|the calories]",
        "[I wanted|We wanted|I really wanted] to like [this place|{name}|it], but [no|nope|not again]",
        "[Back to|Going back to|We'll stick with] [our old spot|the chain place|frozen pizza] [I guess|from now on|]",
    ],
    "close_mid": [
        "[It was|Overall it was|All in all] [fine|okay|decent|alright][, nothing special|, I guess|]",
        "[Might|May|Could] [give it|try it] [another shot|again] [sometime|if we are nearby|on a better night]",
        "[Average|Middle of the road|Solidly average|Meh], [nothing special either way|not bad, not great|fine "
        "for a weeknight|a pass or a fail depending on the day]",
        "[Decent|Not bad], but [I have|we have] had better [in {hood}|elsewhere|for less]",
        "[Three|3] stars[ feels right| seems fair|]",
    ],
}

P.update({
    "ip": ["", "", "", "", "really ", "super ", "very ", "so ", "pretty ", "incredibly ", "properly ",
           "wonderfully ", "genuinely ", "seriously ", "perfectly ", "nicely ", "remarkably ", "deeply "],
    "in": ["", "", "", "", "really ", "way too ", "totally ", "kind of ", "weirdly ", "completely ", "pretty ",
           "oddly ", "sadly ", "just ", "somehow ", "noticeably ", "super ", "borderline "],
    "pre": ["Also, ", "Plus, ", "On top of that, ", "Oh, and ", "For the record, ", "Honestly, ", "Frankly, ",
            "I have to say ", "Funny enough, ", "Side note: ", "Then again, ", "To be honest, ", "As for the food, ",
            "First off, ", "And ", "Notably, ", "I'd add that ", "Again, ", "Surprisingly, ", "As expected, ",
            "Of course, ", "Meanwhile, ", "Worth saying that ", "For what it's worth, ", "Believe it or not, ",
            "Not gonna lie, ", "In any case, ", "Anyway, ", "Still, ", "Mind you, ", "Weirdly enough, ",
            "If it matters, ", "Now, ", "Also worth noting, ", "Then ", "After that, ", "Right away, "],
    "was": ["was", "was", "was", "came out", "tasted", "seemed", "turned out", "ended up", "felt", "looked",
            "showed up", "honestly was", "really was", "was just", "was basically"],
    "crust_subj": ["the crust", "the dough", "the base", "the edge", "the rim", "the bottom", "the crust on the "
                   "{pie_ref}", "the {style} crust", "the outer crust", "that crust", "the cornicione",
                   "the underside of the {pie_ref}"],
    "sauce_subj": ["the sauce", "the tomato sauce", "the red sauce", "the marinara", "the gravy", "the sauce on "
                   "the {pie_ref}", "their sauce", "the sauce layer", "the tomato", "the pizza sauce"],
    "cheese_subj": ["the cheese", "the mozzarella", "the mozz", "the cheese blend", "the melted cheese",
                    "the cheese on the {pie_ref}", "the {topping} and cheese", "the cheese pull", "the pecorino"],
    "pie_ref": ["pie", "pizza", "{topping} pie", "{pie_name}", "first pie", "second pie", "white pie", "slices",
                "{style} pie", "kids' pie", "half with {topping}", "leftover slices"],
    "with_ppl": ["{person}", "everyone", "the table", "both of us", "all of us", "the kids", "my crew"],
})
P["crust_pos"] += [
    "{crust_subj} {was} {ip}{cp_adj} [and|but also|yet] {ip}{cp_adj}",
    "{crust_subj} {was} {ip}{cp_adj}, [with|showing|and had] {cp_detail}",
    "{with_ppl} [kept|could not stop|would not stop] [talking about|raving about|picking at] {crust_subj}",
    "[what a|such a|a] {ip}{cp_adj} [crust|base|bottom][ on that {pie_ref}|, too|]",
]
P["crust_neg"] += [
    "{crust_subj} {was} {in}{cn_adj} [and|plus|and also] {in}{cn_adj}",
    "{crust_subj} {was} {in}{cn_adj}[ for a {d1} pie| after {minutes} minutes| by the time it got to us|]",
    "{with_ppl} [complained about|gave up on|could not chew through] {crust_subj}",
]
P["sauce_pos"] += [
    "{sauce_subj} {was} {ip}{sp_adj}[ with {sp_detail}| and {ip}{sp_adj}|]",
    "{with_ppl} [loved|noticed|commented on] {sauce_subj}, {ip}{sp_adj} [and|with] {sp_detail}",
]
P["sauce_neg"] += [
    "{sauce_subj} {was} {in}{sn_adj}[ and {in}{sn_adj}|, almost like {sn_like}|]",
    "{with_ppl} [thought|said|agreed] {sauce_subj} tasted [{sn_adj}|like {sn_like}]",
]
P["sn_like"] = ["ketchup", "paste from a tube", "canned soup", "sweet jam", "nothing at all", "cafeteria pizza",
                "a frozen pie", "spaghettios"]
P["cheese_pos"] += [
    "{cheese_subj} {was} {ip}{ch_pos}[ and {ip}{ch_pos}| with {cheese_detail}|]",
    "[good|nice|lovely] {cheese_detail} [on|across] the {pie_ref}",
]
P["cheese_detail"] = ["browned spots", "crispy edges", "little pools of olive oil", "real stretch",
                      "a sharp parmesan finish", "that lacy frico edge", "a fresh milky taste"]
P["cheese_neg"] += [
    "{cheese_subj} {was} {in}{chn}[ and {in}{chn}| within {minutes_small} minutes|]",
    "{with_ppl} [scraped off|picked off|complained about] {cheese_subj}",
]
P["top_pos"] += [
    "the {topping} on the {pie_ref} {was} {ip}{tp_adj}",
    "{with_ppl} [loved|went nuts for|could not get enough of] the {topping}",
]
P["top_neg"] += [
    "the {topping} on the {pie_ref} {was} {in}{tn_adj}",
    "{with_ppl} [picked off|would not eat|complained about] the {topping}",
]
P["service_pos"] += [
    "[whoever|the person who] [took our order|answered the phone|boxed it up] {was} {ip}{sv_pos}",
    "{owner} [himself|herself|personally|] [brought out|dropped off|boxed up] the {pie_ref}",
]
P["service_neg"] += [
    "[whoever|the person who] [took our order|answered the phone|boxed it up] {was} {in}{sv_neg}",
    "[we|I] [asked about|mentioned] the [wait|mix up|missing {side_short}] and [got|received] [an eye roll|a shrug|"
    "attitude|silence]",
]
P["price_pos"] += [
    "{d1} for [a {size} and {side}|two pies|dinner for {num_small}] [is|felt] {ip}[fair|reasonable|generous]",
]
P["price_neg"] += [
    "{d1} for [a {size} and {side}|two pies|dinner for {num_small}] [is|felt] {in}[steep|overpriced|ridiculous]",
]
P["wait_pos"] += [
    "[the|our] {pie_ref} [hit the table|came out|was ready] [fast|quickly|in no time][, still bubbling|]",
]
P["wait_neg"] += [
    "[the|our] {pie_ref} [took forever|sat under a heat lamp|came out last][, about {minutes} minutes|]",
]

P["hard_pos"] = [
    "[still|even so|despite all that|and yet], {hp_reason}, so [four|4|five] stars [anyway|regardless|from me]",
    "[all of that|none of that|the rest] [aside|matters less|is forgivable], [because|since] {hp_reason}",
    "[a rough night|an off night|a bad night|not their best], but {hp_fix} and [we|I] [trust|still like|keep "
    "rooting for] [them|the place|{owner}]",
    "{hp_fix}, [which|and that] [says a lot|earned them the stars|is why this is not a complaint]",
]
P["hp_reason"] = ["the {pie_ref} itself is [the best in {hood}|worth the hassle|still great]",
                  "{person} [loves|adores|will only eat] their {pie_ref}", "{owner} [treats us like family|always "
                  "remembers us|is a sweetheart]", "we have [ordered here|come here] [for years|since {year}]",
                  "nothing else [nearby|in {hood}|on this side of town] [comes close|compares]"]
P["hp_fix"] = ["{owner} [made it right|comped the {side_short}|refunded us|called to apologize]",
               "they [sent a fresh {pie_ref}|knocked {d1} off|threw in free {side_short}]",
               "the manager [fixed it|apologized|gave us a credit] [right away|without arguing|the next day]"]
P["hard_neg"] = [
    "[but|sadly|except] {hn_event}, so [one star|1 star|that is it for me|I am done]",
    "[and then|but then|then] {hn_event}[, which ruined the night|, and that ended it|]",
    "none of that [matters|counts for much|makes up for it] when {hn_event}",
    "[whatever|honestly whatever] the food is like, {hn_event}[ and nobody cared| and {owner} shrugged|]",
]
P["hn_event"] = ["[they|the card reader] [charged|billed] [my card|us] [twice|for someone else's order] and "
                 "[never|still have not] [refunded|fixed] it",
                 "[I|we|{person}] found [a hair|a bandage|a piece of plastic|a twist tie] in the {pie_ref}",
                 "[the|our] [order|delivery] [never showed up|got cancelled after {minutes} minutes|went to the "
                 "wrong address]", "[the|a] [manager|cook] [yelled at|swore at|mocked] [a|the] "
                 "[server|cashier|kid on shift]",
                 "[{person}|I] [got sick|felt awful|was up all night] [afterwards|that night|the next day]",
                 "they [refused|would not] [to honor|take] [the coupon|our reservation|a {d1} gift card]"]

SYNONYMS = {  # for the lightly edited repost
    "was": "seemed", "and": "plus", "pizza": "pie", "pie": "pizza", "very": "really", "really": "very",
    "good": "nice", "great": "excellent", "crust": "dough", "came": "arrived", "got": "had", "ordered": "got",
    "the": "that", "we": "we all", "place": "spot", "but": "though", "with": "plus", "so": "and so",
}

_BRACKET_RE = re.compile(r"\[([^\[\]]*)\]")
_SLOT_RE = re.compile(r"\{([a-z_0-9]+)\}")


def expand(rnd: random.Random, text: str, context: dict[str, str]) -> str:
    """Fill a template: innermost [a|b] choices first, then {slots}, until nothing is left."""
    for _ in range(1000):
        changed = False
        while True:
            m = _BRACKET_RE.search(text)
            if not m:
                break
            text = text[: m.start()] + rnd.choice(m.group(1).split("|")) + text[m.end():]
            changed = True
        m = _SLOT_RE.search(text)
        if m:
            key = m.group(1)
            if key in context:
                value = context[key]
            elif key.endswith("_cap"):
                inner = expand(rnd, "{" + key[:-4] + "}", context)
                value = inner[:1].upper() + inner[1:]
            else:
                value = rnd.choice(P[key])
            text = text[: m.start()] + value + text[m.end():]
            changed = True
        if not changed:
            break
    return text


def sentence(rnd: random.Random, pool: str, context: dict[str, str], pre: float = 0.0) -> str:
    s = expand(rnd, "{" + pool + "}", context).strip()
    if rnd.random() < pre:
        s = rnd.choice(P["pre"]) + s
    s = re.sub(r"\b([Aa]) ([aeiouAEIOU])", lambda m: m.group(1) + "n " + m.group(2), s)
    s = re.sub(r"\s+", " ", s).replace(" ,", ",")
    s = s[:1].upper() + s[1:]
    return s if s[-1] in ".!?" else s + rnd.choice([".", ".", ".", ".", "!"])


POS_TOPICS = ["crust_pos", "sauce_pos", "cheese_pos", "top_pos", "side_pos", "service_pos", "wait_pos",
              "price_pos", "amb_pos"]
NEG_TOPICS = ["crust_neg", "sauce_neg", "cheese_neg", "top_neg", "side_neg", "service_neg", "wait_neg",
              "price_neg", "amb_neg"]


def pizza_review_text(rnd: random.Random, business: dict, owner: str, stars: int) -> str:
    context = {"name": business["name"], "owner": owner}
    n_body = rnd.choice([3, 4, 4, 5, 5, 5, 6])
    hard = rnd.random() < HARD_SHARE  # the stars hinge on one thing; most of the text leans the other way
    if stars >= 4:
        if hard:
            body = [(t, 0) for t in rnd.sample(NEG_TOPICS, 2)] + [(t, 0) for t in rnd.sample(POS_TOPICS, 1)]
            rnd.shuffle(body)
            body.append(("hard_pos", 0))
        else:
            body = [(t, 0) for t in rnd.sample(POS_TOPICS, n_body)]
            if stars == 4 and rnd.random() < 0.6 or stars == 5 and rnd.random() < 0.4:
                body.insert(rnd.randrange(1, len(body) + 1), ("minor_pos", 0))
            if stars == 4 and rnd.random() < 0.6:
                body.insert(rnd.randrange(len(body) + 1), (rnd.choice(NEG_TOPICS), 0))
        closer = "close_pos" if rnd.random() < 0.8 else "close_mid"
    elif stars <= 2:
        if hard:
            body = [(t, 0) for t in rnd.sample(POS_TOPICS, 2)] + [(t, 0) for t in rnd.sample(NEG_TOPICS, 1)]
            rnd.shuffle(body)
            body.append(("hard_neg", 0))
        else:
            body = [(t, 0) for t in rnd.sample(NEG_TOPICS, n_body)]
            if stars == 2 and rnd.random() < 0.6 or stars == 1 and rnd.random() < 0.4:
                body.insert(rnd.randrange(len(body) + 1), ("minor_neg", 0))
            if stars == 2 and rnd.random() < 0.6:
                body.insert(rnd.randrange(len(body) + 1), (rnd.choice(POS_TOPICS), 0))
        closer = "close_neg" if rnd.random() < 0.8 else "close_mid"
    else:
        k = max(3, n_body)
        pos = rnd.sample(POS_TOPICS, k // 2)
        neg = rnd.sample([t for t in NEG_TOPICS if t.replace("_neg", "_pos") not in pos], k - k // 2)
        body = [(t, 0) for t in pos + neg]
        rnd.shuffle(body)
        if rnd.random() < 0.5:
            body.append((rnd.choice(["minor_pos", "minor_neg"]), 0))
        closer = "close_mid" if rnd.random() < 0.8 else rnd.choice(["close_pos", "close_neg"])
    parts = []
    if rnd.random() < 0.9:
        parts.append(sentence(rnd, "opening", context))
    if rnd.random() < 0.85:
        parts.append(sentence(rnd, "order", context))
    if rnd.random() < 0.5:
        parts.insert(rnd.randrange(len(parts) + 1), sentence(rnd, "aside", context))
    parts += [sentence(rnd, t, context, pre=0.35) for t, _ in body]
    if rnd.random() < 0.8:
        parts.append(sentence(rnd, closer, context))
    spare = POS_TOPICS if stars >= 4 else NEG_TOPICS if stars <= 2 else POS_TOPICS + NEG_TOPICS
    used = {t for t, _ in body}
    text = " ".join(parts)
    while len(text.split()) < MIN_WORDS:  # too short: one more topic, consistent with the stars
        topic = rnd.choice([t for t in spare if t not in used] or ["aside"])
        used.add(topic)
        parts.insert(len(parts) - 1, sentence(rnd, topic, context))
        text = " ".join(parts)
    while len(text.split()) > MAX_WORDS and len(parts) > 3:  # too long: drop a middle sentence
        parts.pop(rnd.randrange(1, len(parts) - 1))
        text = " ".join(parts)
    return text


OTHER_REVIEW_TOPICS = {
    "Pizzeria Supplies, Wholesale Stores, Shopping": [
        "[Bought|Picked up] [a case of pizza boxes|a dough scraper|two aluminum peels|a proofing tray] for "
        "[our food truck|the restaurant|a pop up].",
        "They carry [flour|canned tomatoes|peels|screens|cutters] at [wholesale|fair|decent] prices.",
        "[The staff|A guy named {owner}] helped me pick the right [pizza stone|steel|dough box] for my home oven.",
    ],
    "Coffee & Tea, Food, Bakeries": [
        "The [croissants|scones|cinnamon rolls] were [flaky|fresh|warm] and the [latte|cortado] was [lovely|strong].",
        "[Great|Solid] [cold brew|drip coffee|chai] and a [cozy|quiet] place to [get some work done|read].",
        "Tried the [blueberry muffin|banana bread|almond tart] and a [chai|flat white], both were [good|fine].",
    ],
    "Coffee & Tea, Cafes, Restaurants": [
        "The [espresso|americano] was [strong|smooth] and the barista was [friendly|quick].",
        "[Nice|Tasty] [breakfast sandwiches|bagels|omelets] and plenty of outlets for laptops.",
    ],
    "Italian, Restaurants": [
        "The [lasagna|carbonara|osso buco] was [rich|hearty] and the [tiramisu|panna cotta] was even better.",
        "Fresh pasta, [generous|big] portions and a [good|long] wine list.",
    ],
    "Mexican, Restaurants": [
        "The [carnitas|al pastor|birria] tacos were [juicy|great] and the salsa bar had plenty of choice.",
        "[Solid|Big] burritos and [quick|friendly] service at lunch.",
    ],
    "Pizza Ovens & Equipment, Home Services": [
        "They installed a [wood fired|gas|brick] oven in our backyard in [two|three] days.",
        "Good advice on [venting|placement|permits] and a fair quote for the [brick oven|dome oven].",
    ],
    None: [
        "[Friendly|Helpful] people and [quick|easy] service.",
        "Not sure what to say, it was an ordinary visit.",
        "[Clean|Bright], easy to find and the staff were helpful.",
    ],
}


def make_id(rnd: random.Random) -> str:
    return "".join(rnd.choice(ID_CHARS) for _ in range(22))


def make_businesses(rnd: random.Random) -> list[dict]:
    businesses = []
    names = set()
    for i in range(40):
        pizza = i < 28
        if pizza:
            categories = PIZZA_CATEGORIES[i % len(PIZZA_CATEGORIES)]
            while True:
                name = f"{rnd.choice(NAME_FIRST)} {rnd.choice(NAME_SECOND)}"
                if name not in names:
                    names.add(name)
                    break
        else:
            categories = OTHER_CATEGORIES[(i - 28) % len(OTHER_CATEGORIES)]
            name = {
                "Pizzeria Supplies, Wholesale Stores, Shopping": "Pizzeria Supply Depot",
                "Coffee & Tea, Food, Bakeries": "Morning Crumb Bakery",
                "Coffee & Tea, Cafes, Restaurants": "Bean There Cafe",
                "Italian, Restaurants": "Trattoria Verde",
                "Mexican, Restaurants": "Casa Azul",
                "Pizza Ovens & Equipment, Home Services": "Backyard Oven Builders",
                None: f"Unlisted Shop {i}",
            }[categories]
        city, state = rnd.choice(CITIES)
        attributes = None
        if i % 4 != 3:
            attributes = {
                "RestaurantsTakeOut": "True",
                "WiFi": rnd.choice(["u'free'", "'no'", "u'paid'"]),
                "BusinessParking": "{'garage': False, 'street': True, 'lot': False}",
                "Ambience": {"casual": True, "romantic": False} if i % 2 else None,
                "RestaurantsPriceRange2": str(rnd.randint(1, 3)),
            }
        hours = None if i % 5 == 4 else {day: "11:0-22:0" for day in ("Monday", "Tuesday", "Friday", "Saturday")}
        businesses.append(
            {
                "business_id": make_id(rnd),
                "name": name,
                "address": f"{rnd.randint(10, 9999)} {rnd.choice(['Main', 'Oak', 'Elm', 'Pine', '2nd'])} St",
                "city": city,
                "state": state,
                "postal_code": f"{rnd.randint(10000, 99999)}",
                "latitude": round(rnd.uniform(25, 48), 6),
                "longitude": round(rnd.uniform(-120, -75), 6),
                "stars": rnd.choice([2.0, 2.5, 3.0, 3.5, 4.0, 4.5]),
                "review_count": 0,
                "is_open": rnd.choice([0, 1, 1, 1]),
                "attributes": attributes,
                "categories": categories,
                "hours": hours,
            }
        )
    return businesses


def lightly_edit(rnd: random.Random, text: str, share: float = 0.1) -> str:
    """The same review reposted with about `share` of its words changed (synonyms, a new last sentence)."""
    words = text.split()
    n_changes = max(1, round(share * len(words)))
    candidates = [k for k, w in enumerate(words) if w.strip(".,!?").lower() in SYNONYMS]
    for pos in sorted(rnd.sample(candidates, min(n_changes, len(candidates)))):
        word = words[pos]
        core = word.strip(".,!?")
        replacement = SYNONYMS[core.lower()]
        if core[:1].isupper():
            replacement = replacement[:1].upper() + replacement[1:]
        words[pos] = replacement + word[len(word.rstrip(".,!?")):]
    return " ".join(words).rstrip(".!") + "! Still thinking about it."


def make_reviews(rnd: random.Random, businesses: list[dict]) -> list[dict]:
    reviews = []
    star_weights = [1, 1, 1, 2, 2, 2, 3, 4, 4, 4, 5, 5, 5]  # 1-2 and 4-5 about equally common, some 3s
    pizza = [b for b in businesses if b["categories"] in PIZZA_CATEGORIES]
    others = [b for b in businesses if b["categories"] not in PIZZA_CATEGORIES]
    owners = {b["business_id"]: OWNERS[i % len(OWNERS)] for i, b in enumerate(businesses)}

    def review(business: dict, stars: int, text: str) -> dict:
        return {
            "review_id": make_id(rnd),
            "user_id": make_id(rnd),
            "business_id": business["business_id"],
            "stars": float(stars),  # some releases store stars as floats
            "useful": rnd.randint(0, 5),
            "funny": rnd.randint(0, 2),
            "cool": rnd.randint(0, 3),
            "text": text,
            "date": f"{rnd.randint(2015, 2022)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d} "
            f"{rnd.randint(0, 23):02d}:{rnd.randint(0, 59):02d}:{rnd.randint(0, 59):02d}",
        }

    for i in range(N_PIZZA_REVIEWS):
        business = pizza[i % len(pizza)] if i < len(pizza) * 2 else rnd.choice(pizza)
        stars = rnd.choice(star_weights)
        reviews.append(review(business, stars, pizza_review_text(rnd, business, owners[business["business_id"]],
                                                                 stars)))
    for i in range(N_OTHER_REVIEWS):
        business = others[i % len(others)]
        topic = OTHER_REVIEW_TOPICS[business["categories"]]
        context = {"owner": owners[business["business_id"]]}
        text = " ".join(expand(rnd, t, context) for t in rnd.sample(topic, min(2, len(topic)))) + " " + rnd.choice(
            ["Would come back.", "Fine experience.", "Recommended.", "Okay overall."]
        )
        reviews.append(review(business, rnd.randint(1, 5), text))

    # two exact duplicates (the same review posted again, case and spacing changed) ...
    for k, source in enumerate([r for r in reviews[:N_PIZZA_REVIEWS] if r["stars"] != 3.0][:2]):
        copy = review(next(b for b in businesses if b["business_id"] == source["business_id"]), int(source["stars"]),
                      source["text"].upper() if k == 0 else "  " + source["text"] + "  ")
        reviews.append(copy)
    # ... and one near-duplicate: lightly edited (about 10% of words), posted to another pizza place
    source = next(r for r in reviews[REPOST_SOURCE:] if r["stars"] != 3.0)
    other_business = next(b for b in pizza[REPOST_TARGET:] if b["business_id"] != source["business_id"])
    reviews.append(review(other_business, int(source["stars"]), lightly_edit(rnd, source["text"])))

    rnd.shuffle(reviews)
    return reviews


def main() -> None:
    rnd = random.Random(SEED)
    businesses = make_businesses(rnd)
    reviews = make_reviews(rnd, businesses)
    counts = {b["business_id"]: 0 for b in businesses}
    for r in reviews:
        counts[r["business_id"]] += 1
    for b in businesses:
        b["review_count"] = counts[b["business_id"]]
    with open(HERE / "yelp_academic_dataset_business.json", "w", encoding="utf-8", newline="\n") as f:
        for b in businesses:
            f.write(json.dumps(b, ensure_ascii=False) + "\n")
    with open(HERE / "yelp_academic_dataset_review.json", "w", encoding="utf-8", newline="\n") as f:
        for r in reviews:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(businesses)} businesses and {len(reviews)} reviews to {HERE}")


if __name__ == "__main__":
    main()
