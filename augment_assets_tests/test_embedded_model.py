"""The real embedded model (SmolLM2-135M): fine-tune on a handful of reviews, then generate.

Slow (a few minutes on 2 CPU cores; converts the GGUF once into data/models/base/ when
the cache is missing). Run with `pytest -m slow`. Never touches the network.
"""

import time
from pathlib import Path

import pytest

from augment_assets.lib.finetune import FinetuneConfig, finetune
from augment_assets.lib.generate import GenerationConfig, generate_reviews
from augment_assets.lib.model import EMBEDDED_MODEL, resolve_base_model
from augment_assets.lib.synthetic_quality import filter_synthetic

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]

REVIEWS = [
    "The pizza was cold when it arrived and the crust tasted like cardboard. Never again.",
    "Waited over an hour for delivery and they forgot half of our order. Terrible service.",
    "The cheese was rubbery and the sauce was way too sweet. Overpriced for what you get.",
    "Rude staff, dirty tables, and a soggy pizza. I would not recommend this place.",
    "They burned the crust and the toppings were sparse. Very disappointing pizza.",
    "Ordered wings and a large pizza, both were greasy and bland. Save your money.",
    "The worst pizza I have had in years. The dough was raw in the middle.",
    "Called to complain about the late delivery and the manager hung up on me.",
    "Stale crust, cheap cheese, and the pepperoni was burnt. Will not be back.",
    "My order was wrong twice and the pizza was lukewarm. Awful experience.",
]
VALIDATION = [
    "The pizza arrived late and cold, and the crust was soggy. Not worth it.",
    "Bland sauce, burnt cheese and a rude cashier. Disappointing.",
]


def test_finetune_and_generate_with_the_embedded_model(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    base, info = resolve_base_model(EMBEDDED_MODEL, REPO / "data" / "models")
    assert info["source"] == "embedded" and info["network_needed"] is False
    # The GGUF is converted once; later resolutions reuse the plain model folder.
    started = time.perf_counter()
    again, _ = resolve_base_model(EMBEDDED_MODEL, REPO / "data" / "models")
    assert Path(again) == Path(base) and (Path(base) / "augment_assets_conversion.json").exists()
    assert time.perf_counter() - started < 5

    cfg = FinetuneConfig(method="full", epochs=2, batch_size=5, max_length=64, seed=0)
    report = finetune(base, REVIEWS, "negative", tmp_path / "model", cfg, validation_texts=VALIDATION)
    losses = report["losses"]
    assert len(losses) == 4
    assert sum(losses[-2:]) < sum(losses[:2])
    assert report["perplexity_after"] < report["perplexity_before"]
    assert report["total_params"] > 100_000_000

    gcfg = GenerationConfig(n=4, temperature=0.7, max_new_tokens=32, batch_size=4, seed=0)
    out = generate_reviews(
        tmp_path / "model",
        ["The pizza was", "Waited over an"],
        "negative",
        gcfg,
        tmp_path / "chunks",
        "embedded-test",
        show_progress=False,
    )
    assert len(out) == 4 and out["synthetic_id"].is_unique
    assert all(isinstance(t, str) and len(t.split()) > 3 for t in out["text"])
    assert not any("1-2 stars:" in t for t in out["text"])  # the conditioning prefix is removed
    assert out.attrs["stats"]["dtype"] in ("bfloat16", "float32")
    kept, counts = filter_synthetic(out, min_words=4)
    assert sum(counts.values()) + len(kept) == 4
