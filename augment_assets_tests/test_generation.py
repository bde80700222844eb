"""Fast tests of the generation library with a tiny randomly initialised Llama and the embedded tokenizer."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import pandas as pd
import pytest
import torch

from augment_assets.lib import generate as gen_mod
from augment_assets.lib import generate_decoding as decoding
from augment_assets.lib.errors import InputError
from augment_assets.lib.finetune import (
    CONFIG_FILE,
    FinetuneConfig,
    finetune,
    generation_prefix,
    perplexity,
    read_finetune_config,
    training_text,
)
from augment_assets.lib.generate import (
    COLUMNS,
    GenerationConfig,
    generate_reviews,
    generate_reviews_together,
    synthetic_id,
)
from augment_assets.lib.generate_kept import generate_kept, generate_kept_together
from augment_assets.lib.model import choose_device_dtype, load_model, resolve_base_model
from augment_assets.lib.synthetic_quality import (
    REASONS,
    filter_synthetic,
    label_fidelity,
    on_topic_rate,
    quality_report,
)
from augment_assets.lib.text import text_key

PROMPTS = ["The pizza was", "Best slice in", "I ordered a", "Terrible service and", "My family loves"]
REVIEWS = [
    "The pizza was great and the crust was crisp. We will be back for more.",
    "Best slice in town, the cheese and sauce are perfect every time.",
    "I ordered a large pepperoni and it arrived hot and fast. Friendly driver too.",
    "My family loves the garlic knots and the thin crust margherita pizza.",
    "Great toppings, fair prices, and the staff were kind to our kids.",
    "The wings were crispy and the pizza had plenty of fresh basil on top.",
    "Delivery was quick, the pie was hot, and the sauce tasted homemade.",
    "A solid neighborhood pizzeria with a great lunch special and salads.",
    "Everything we tried was fresh and tasty, especially the white pizza.",
    "Good pizza, good beer, good music, and a patio in the summer.",
]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny matrices gain nothing from threads, and on a shared CPU extra threads spin-wait."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def small_config(**kw) -> GenerationConfig:
    base = dict(
        n=10, temperature=0.9, max_new_tokens=12, top_p=0.95, top_k=0, repetition_penalty=1.1, batch_size=4, seed=3
    )
    base.update(kw)
    return GenerationConfig(**base)


def run(model_dir, chunk_dir, cfg=None, **kw):
    return generate_reviews(
        model_dir,
        PROMPTS,
        "positive",
        cfg or small_config(),
        chunk_dir,
        "gen-v1",
        device="cpu",
        dtype=torch.float32,
        show_progress=False,
        **kw,
    )


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(temperature=0), "temperature must be > 0"),
        (dict(temperature=-0.5), "temperature must be > 0"),
        (dict(top_p=0), r"top_p must be in \(0, 1\]"),
        (dict(top_p=1.2), r"top_p must be in \(0, 1\]"),
        (dict(n=0), "n must be an integer >= 1"),
        (dict(max_new_tokens=0), "max_new_tokens"),
        (dict(batch_size=0), "batch_size"),
        (dict(top_k=-1), "top_k"),
        (dict(repetition_penalty=0), "repetition_penalty"),
        (dict(decoder="paged"), "decoder must be one of"),
    ],
)
def test_generation_config_rejects_out_of_range(kw, message):
    with pytest.raises(ValueError, match=message):
        small_config(**kw)


def test_finetune_config_rejects_bad_values():
    with pytest.raises(ValueError, match="method"):
        FinetuneConfig(method="qlora")
    with pytest.raises(ValueError, match="prompt_format"):
        FinetuneConfig(prompt_format="xml")
    with pytest.raises(ValueError, match="epochs"):
        FinetuneConfig(epochs=0)
    with pytest.raises(ValueError, match=r"prefix_template 'Hotel \{domain\}': unknown placeholder \{domain\}"):
        FinetuneConfig(prefix_template="Hotel {domain}")
    with pytest.raises(ValueError, match="chat_instruction .*not a valid template"):
        FinetuneConfig(chat_instruction="Write a {sentiment review")


# ---------------------------------------------------------------- model resolution


def test_resolve_missing_local_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = tmp_path / "no-such-model"
    with pytest.raises(InputError) as err:
        resolve_base_model(str(missing), tmp_path / "models")
    assert str(missing) in str(err.value) and "no network" in str(err.value)


def test_resolve_folder_without_config(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="config.json"):
        resolve_base_model(str(tmp_path / "empty"), tmp_path / "models")


def test_resolve_folder_with_only_a_config_names_what_is_missing(tmp_path, tiny_model_dir):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(InputError, match=r"has a config.json but no weights .* and no tokenizer .*save_pretrained"):
        resolve_base_model(str(fake), tmp_path / "models")
    path, info = resolve_base_model(str(tiny_model_dir), tmp_path / "models")  # a complete folder passes
    assert info["source"] == "local" and path == tiny_model_dir.resolve()


def test_resolve_unknown_hub_id_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # an empty cache
    with pytest.raises(InputError) as err:
        resolve_base_model("nobody-org/surely-not-a-model-xyz", tmp_path / "models")
    msg = str(err.value)
    assert "nobody-org/surely-not-a-model-xyz" in msg
    assert "network is needed" in msg and "not tried" in msg


def test_resolve_unknown_embedded_name(tmp_path):
    with pytest.raises(InputError, match="embedded:nope"):
        resolve_base_model("embedded:nope", tmp_path)


def test_resolve_local_folder_as_is(tiny_model_dir, tmp_path):
    path, info = resolve_base_model(str(tiny_model_dir), tmp_path)
    assert Path(path) == tiny_model_dir.resolve()
    assert info == {"base_model": str(tiny_model_dir), "source": "local", "network_needed": False}


def test_choose_device_dtype_cpu():
    device, dtype = choose_device_dtype("cpu")
    assert device == "cpu" and dtype in (torch.bfloat16, torch.float32)
    assert choose_device_dtype("cpu", for_training=True) == ("cpu", torch.float32)
    with pytest.raises(ValueError):
        choose_device_dtype("tpu")


def test_inference_on_a_cpu_without_native_bf16_runs_in_float32(monkeypatch):
    from augment_assets.lib import model

    monkeypatch.delenv("AUGMENT_CPU_DTYPE", raising=False)
    monkeypatch.setattr(model, "native_bf16_cpu", lambda: False)
    assert choose_device_dtype("cpu") == ("cpu", torch.float32)  # emulated bfloat16 is slower than float32
    monkeypatch.setattr(model, "native_bf16_cpu", lambda: True)
    assert choose_device_dtype("cpu") == ("cpu", torch.bfloat16)


@pytest.mark.parametrize("native", [True, False])
def test_a_requested_cpu_dtype_the_cpu_cannot_serve_falls_back_with_a_logged_reason(monkeypatch, caplog, native):
    from augment_assets.lib import model

    monkeypatch.setattr(model, "native_bf16_cpu", lambda: native)
    default = torch.bfloat16 if native else torch.float32
    for requested, expected, reason in [
        ("float32", torch.float32, None),
        ("bf16", torch.bfloat16 if native else torch.float32, None if native else "no native bfloat16"),
        ("float16", default, "float16 is not a CPU dtype"),  # never silent float16 on a CPU
        ("int3", default, "not a dtype this project runs"),
    ]:
        monkeypatch.setenv("AUGMENT_CPU_DTYPE", requested)
        caplog.clear()
        with caplog.at_level("WARNING", logger="augment_assets.lib.model"):
            assert choose_device_dtype("cpu") == ("cpu", expected), requested
        if reason is None:
            assert not caplog.records, requested
        else:
            assert reason in caplog.text and "AUGMENT_CPU_DTYPE" in caplog.text, requested
    assert choose_device_dtype("cpu", for_training=True) == ("cpu", torch.float32)  # training: autocast decides


def test_the_gpu_path_is_chosen_with_bfloat16_where_cuda_has_it(monkeypatch):
    """The device choice on a CUDA machine, checked on this CPU by faking what CUDA reports."""
    from augment_assets.lib import finetune

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert choose_device_dtype() == ("cuda", torch.bfloat16)
    assert choose_device_dtype("cuda", for_training=True) == ("cuda", torch.bfloat16)
    assert choose_device_dtype("cpu")[0] == "cpu"  # an explicit CPU stays on the CPU
    assert finetune.autocast_dtype("cuda", "bf16") == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)  # an older GPU
    assert choose_device_dtype() == ("cuda", torch.float16)
    assert choose_device_dtype(for_training=True) == ("cuda", torch.float32)
    assert finetune.autocast_dtype("cuda", "bf16") is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device_dtype()[0] == "cpu"
    with pytest.raises(InputError, match="CUDA is not available"):
        choose_device_dtype("cuda")


def test_load_model_pads_left(tiny_model_dir):
    model, tok = load_model(tiny_model_dir, "cpu", torch.float32)
    assert tok.pad_token is not None and tok.padding_side == "left"
    assert not model.training


@pytest.mark.parametrize("scaled", [False, True])
def test_label_log_probs_are_the_models_own_loss_on_the_scored_rows(tiny_model_dir, scaled):
    """The projection on the scored rows only gives the model's own loss; a model whose forward does more than
    project the last hidden state (here: it halves its logits) keeps its own forward, so the answer holds too."""
    from augment_assets.lib.finetune import collate_reviews, encode_reviews
    from augment_assets.lib.model import _decoder_and_head, label_log_probs

    model, tok = load_model(tiny_model_dir, "cpu", torch.float32, for_training=True)
    if scaled:
        forward = model.forward

        def halved(*args, **kwargs):
            out = forward(*args, **kwargs)
            out.logits = out.logits / 2
            return out

        model.forward = halved
    texts = ["Great crust, fresh sauce.", "Cold and late, never again, and the driver was rude to us.", "Fine."]
    input_ids, attention, labels = collate_reviews(
        encode_reviews(tok, texts, "negative", FinetuneConfig()), tok.pad_token_id, "cpu"
    )
    log_probs, mask = label_log_probs(model, input_ids, attention, labels)
    assert (_decoder_and_head(model) is None) == scaled
    assert mask.sum() == len(log_probs) == int((labels[:, 1:] != -100).sum())
    logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1].float()
    expected = torch.log_softmax(logits, dim=-1).gather(-1, labels[:, 1:].clamp(min=0).unsqueeze(-1)).squeeze(-1)[mask]
    torch.testing.assert_close(log_probs, expected, rtol=1e-5, atol=1e-5)
    if not scaled:  # the mean is what the model's own loss says, and gradients flow for fine-tuning
        torch.testing.assert_close(
            -log_probs.mean(), model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        )
        (-log_probs.mean()).backward()
        assert model.get_output_embeddings().weight.grad is not None


def test_right_padded_rows_run_without_the_padding_mask_and_any_other_keeps_it(tiny_model_dir):
    """Right padding (real tokens first) needs no mask in a causal decoder: the real tokens' outputs are the same
    with plain causal attention. Left padding or a hole keeps its mask."""
    from augment_assets.lib.embedding import last_hidden_state
    from augment_assets.lib.model import causal_only

    right = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0]])
    left, hole = torch.tensor([[1, 1, 1], [0, 1, 1]]), torch.tensor([[1, 0, 1]])
    assert causal_only(right) is None and causal_only(torch.ones(2, 1, dtype=torch.long)) is None
    assert causal_only(left) is left and causal_only(hole) is hole
    assert causal_only(torch.zeros(1, 1, dtype=torch.long)) is not None
    model, tok = load_model(tiny_model_dir, "cpu", torch.float32)
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0]])
    attention = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    masked = model.base_model(input_ids=ids, attention_mask=attention).last_hidden_state
    unmasked = last_hidden_state(model, ids, attention)
    real = attention.bool()
    torch.testing.assert_close(unmasked[real], masked[real], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(unmasked[~real], masked[~real])  # the padding's own states did change: no mask ran


# ---------------------------------------------------------------- generation


def test_generate_columns_ids_and_prefix_removed(tiny_model_dir, tmp_path):
    out = run(tiny_model_dir, tmp_path / "chunks")
    assert list(out.columns) == COLUMNS
    assert len(out) == 10 and out["synthetic_id"].is_unique
    assert out["synthetic_id"].tolist() == [synthetic_id("gen-v1", "positive", 0.9, 3, i) for i in range(10)]
    assert set(out["sentiment"]) == {"positive"} and set(out["temperature"]) == {0.9}
    assert set(out["seed"]) == {3} and set(out["generator_version"]) == {"gen-v1"}
    assert set(out["prompt"]) <= set(PROMPTS)
    assert out["prompt"].nunique() == len(PROMPTS)  # prompts cycled: each used
    for prompt, text in zip(out["prompt"], out["text"]):
        assert text.startswith(prompt.split()[0])
        assert "stars:" not in text  # no conditioning prefix left in a review
    assert out["created_at"].notna().all()
    stats = out.attrs["stats"]
    assert stats["generated"] == 10 and stats["new_tokens"] > 0 and stats["dtype"] == "float32"
    assert len(list((tmp_path / "chunks").glob("*.parquet"))) == 3  # chunks of 4, 4, 2


def test_generate_is_deterministic_for_a_seed(tiny_model_dir, tmp_path):
    a = run(tiny_model_dir, tmp_path / "a")
    b = run(tiny_model_dir, tmp_path / "b")
    pd.testing.assert_frame_equal(a.drop(columns="created_at"), b.drop(columns="created_at"))
    c = run(tiny_model_dir, tmp_path / "c", small_config(seed=4))
    assert set(c["synthetic_id"]).isdisjoint(a["synthetic_id"])
    d = run(tiny_model_dir, tmp_path / "d", small_config(temperature=1.1))
    assert set(d["synthetic_id"]).isdisjoint(a["synthetic_id"])


def test_resume_after_interruption_no_duplicates_no_loss(tiny_model_dir, tmp_path):
    reference = run(tiny_model_dir, tmp_path / "reference")
    chunk_dir = tmp_path / "interrupted"
    calls = []

    def stop_after_two(info):
        calls.append(info)
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated interruption")

    with pytest.raises(KeyboardInterrupt):
        run(tiny_model_dir, chunk_dir, progress=stop_after_two)
    assert [c["done"] for c in calls] == [4, 8]
    assert len(list(chunk_dir.glob("*.parquet"))) == 2
    assert not list(chunk_dir.glob(".*tmp*"))

    seen = []
    resumed = run(tiny_model_dir, chunk_dir, progress=seen.append)
    assert [s["done"] for s in seen] == [10]  # only the missing chunk was made
    assert resumed.attrs["stats"]["resumed"] == 8 and resumed.attrs["stats"]["generated"] == 2
    assert resumed["synthetic_id"].is_unique and len(resumed) == 10
    pd.testing.assert_frame_equal(resumed.drop(columns="created_at"), reference.drop(columns="created_at"))
    # a complete rerun generates nothing
    again = run(tiny_model_dir, chunk_dir)
    assert again.attrs["stats"]["generated"] == 0 and len(again) == 10


def test_growing_n_reuses_finished_chunks(tiny_model_dir, tmp_path):
    small = run(tiny_model_dir, tmp_path / "grow", small_config(n=6))
    big = run(tiny_model_dir, tmp_path / "grow", small_config(n=10))
    assert big.attrs["stats"]["resumed"] == 4  # chunk 0 reused; the short chunk 1 is remade
    assert big["synthetic_id"].tolist()[:6] == small["synthetic_id"].tolist()


def keep_even_slots(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """A stand-in for the quality filters that drops every odd review slot (whatever its text)."""
    slot = {synthetic_id("gen-v1", "positive", 0.9, 3, i): i for i in range(200)}
    even = frame["synthetic_id"].map(slot) % 2 == 0
    return frame[even].sort_values("synthetic_id"), {"degenerate": int((~even).sum())}


def make_kept(model_dir, chunk_dir, keep, cfg=None, **kw):
    return generate_kept(
        model_dir,
        PROMPTS,
        "positive",
        cfg or small_config(n=6),
        chunk_dir,
        "gen-v1",
        keep,
        device="cpu",
        dtype=torch.float32,
        show_progress=False,
        **kw,
    )


def test_n_counts_kept_reviews_drawing_further_slots(tiny_model_dir, tmp_path):
    """Asked for 6 with a filter that drops half, generation draws slots 6, 7, ... until 6 are kept: the first six
    kept slots (0, 2, ..., 10), their ids and text those of a plain run of those slots; a rerun makes nothing."""
    made = make_kept(tiny_model_dir, tmp_path / "c", keep_even_slots)
    assert len(made.kept) == 6 and made.short_by == 0 and made.shortfall() is None
    assert made.kept["synthetic_id"].tolist() == [
        synthetic_id("gen-v1", "positive", 0.9, 3, i) for i in range(0, 12, 2)
    ]
    assert made.attempted == 14 and made.stats["rounds"] == 2  # 6, then 3 missing at a keep rate of 1/2 (x 1.25)
    assert made.dropped == {"degenerate": 7} and made.surplus == 1 and made.max_attempts == 18
    plain = run(tiny_model_dir, tmp_path / "plain", small_config(n=14)).set_index("synthetic_id")
    pd.testing.assert_frame_equal(
        made.kept.drop(columns="created_at").set_index("synthetic_id"),
        plain.loc[made.kept["synthetic_id"]].drop(columns="created_at"),
    )
    again = make_kept(tiny_model_dir, tmp_path / "c", keep_even_slots)
    assert again.stats["generated"] == 0 and again.stats["resumed"] == 6
    pd.testing.assert_frame_equal(again.kept.drop(columns="created_at"), made.kept.drop(columns="created_at"))


def test_temperatures_decoded_together_give_the_rows_each_gives_alone(tiny_model_dir, tmp_path):
    """Three temperatures in one batch (the continuous decoder): each one's ids, text and chunk files are those
    of its run alone (float32, so bit-identical), the batch holds rows of all three, and a run alone afterwards
    resumes every chunk the shared decode wrote."""
    temperatures = (0.7, 0.9, 1.1)
    configs = [small_config(n=n, temperature=t, batch_size=16) for n, t in zip((6, 10, 3), temperatures)]
    updates = []
    together = generate_reviews_together(
        tiny_model_dir,
        PROMPTS,
        "positive",
        configs,
        tmp_path / "together",
        "gen-v1",
        progress=updates.append,
        device="cpu",
        dtype=torch.float32,
        show_progress=False,
    )
    assert [len(f) for f in together] == [6, 10, 3]
    assert {u["temperature"] for u in updates} == {"0.7", "0.9", "1.1"}
    for config, frame in zip(configs, together):
        assert frame.attrs["stats"]["together"] == 3 and set(frame["temperature"]) == {config.temperature}
        alone = run(tiny_model_dir, tmp_path / f"alone-{config.temperature}", config)
        pd.testing.assert_frame_equal(frame.drop(columns="created_at"), alone.drop(columns="created_at"))
        resumed = run(tiny_model_dir, tmp_path / "together", config)
        assert resumed.attrs["stats"]["generated"] == 0 and resumed.attrs["stats"]["resumed"] == config.n
    # rows of different temperatures really shared the batch: the texts differ from one temperature to the next
    assert together[0]["text"].tolist()[:3] != together[2]["text"].tolist()


def test_temperatures_decoded_together_must_share_every_other_setting(tiny_model_dir, tmp_path):
    for second, problem in (
        (small_config(temperature=1.1, top_p=0.8), "differ in top_p"),
        (small_config(), "temperatures decoded together must differ"),
    ):
        with pytest.raises(ValueError, match=problem):
            generate_reviews_together(
                tiny_model_dir, PROMPTS, "positive", [small_config(), second], tmp_path / "c", "gen-v1", device="cpu"
            )


def test_kept_reviews_of_temperatures_together_equal_each_alone(tiny_model_dir, tmp_path):
    """Each temperature keeps and draws further slots on its own in the shared rounds: the slot-parity filter
    needs a second round at 0.9, and a filter keyed to 0.7's ids keeps 0.7's first round."""
    keep_09_even = keep_even_slots  # drops 0.9's odd slots; keeps no slot of 0.7 (its ids differ) ...
    ids_07 = {synthetic_id("gen-v1", "positive", 0.7, 3, i) for i in range(200)}

    def keep(frame):  # ... so 0.7's rows are kept by id instead
        if frame["synthetic_id"].isin(ids_07).all():
            return frame, {}
        return keep_09_even(frame)

    configs = [small_config(n=6, temperature=0.7), small_config(n=6, temperature=0.9)]
    made = generate_kept_together(
        tiny_model_dir,
        PROMPTS,
        "positive",
        configs,
        tmp_path / "c",
        "gen-v1",
        keep,
        device="cpu",
        dtype=torch.float32,
        show_progress=False,
    )
    assert [m.attempted for m in made] == [6, 14] and [m.stats["rounds"] for m in made] == [1, 2]
    for config, kept in zip(configs, made):
        alone = make_kept(tiny_model_dir, tmp_path / f"alone-{config.temperature}", keep, config)
        assert (alone.attempted, alone.dropped) == (kept.attempted, kept.dropped)
        pd.testing.assert_frame_equal(kept.kept.drop(columns="created_at"), alone.kept.drop(columns="created_at"))


def test_a_filter_that_keeps_nothing_stops_at_the_attempt_bound_and_says_why(tiny_model_dir, tmp_path):
    reject_all = lambda frame: (frame.iloc[:0], {"too_short": len(frame)})
    made = make_kept(tiny_model_dir, tmp_path / "c", reject_all, small_config(n=4), max_attempts=10)
    assert made.kept.empty and made.attempted == 10 and made.short_by == 4
    assert made.shortfall() == (
        "kept 0 of the 4 reviews asked for: stopped at max_attempts=10 attempts; the quality filters dropped 10 "
        "(too_short 10). Raise max_attempts, or look at the generator (a generator that loops or echoes its prompt "
        "keeps few reviews)"
    )


def test_an_attempt_bound_below_the_reviews_to_keep_is_refused_before_any_work(tiny_model_dir, tmp_path):
    with pytest.raises(
        InputError,
        match=r"max_attempts must be an integer >= the 6 reviews to keep \(n x over_generation\), "
        r"got 5; leave it unset for 18",
    ):
        make_kept(tiny_model_dir, tmp_path / "c", keep_even_slots, max_attempts=5)
    assert not (tmp_path / "c").exists()


def test_progress_reports_rate_and_eta(tiny_model_dir, tmp_path):
    seen = []
    run(tiny_model_dir, tmp_path / "p", progress=seen.append)
    assert [s["done"] for s in seen] == [4, 8, 10]
    assert all(s["total"] == 10 and s["reviews_per_s"] > 0 for s in seen)
    assert seen[-1]["eta_s"] == 0


def test_out_of_memory_halves_the_batch(tiny_model_dir, tmp_path, monkeypatch, caplog):
    """The static decoder (model.generate batches, today's path kept as decoder="static")."""
    real = decoding._generate_batch

    def picky(model, tokenizer, texts, config, device):
        if len(texts) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")
        return real(model, tokenizer, texts, config, device)

    monkeypatch.setattr(decoding, "_generate_batch", picky)
    with caplog.at_level(logging.WARNING, logger="augment_assets.lib.generate_decoding"):
        out = run(tiny_model_dir, tmp_path / "oom", small_config(decoder="static"))
    assert len(out) == 10 and out.attrs["stats"]["batch_size"] == 2
    assert "out of memory at batch size 4; retrying with 2" in caplog.text


def test_static_decoder_still_runs_and_differs_in_fingerprint(tiny_model_dir, tmp_path):
    static = run(tiny_model_dir, tmp_path / "s", small_config(decoder="static"))
    assert len(static) == 10 and static.attrs["stats"]["decoder"] == "static"
    assert static["synthetic_id"].tolist() == [synthetic_id("gen-v1", "positive", 0.9, 3, i) for i in range(10)]
    cont = run(tiny_model_dir, tmp_path / "s")  # same folder: its chunks are not the static decoder's
    assert cont.attrs["stats"]["resumed"] == 0 and cont.attrs["stats"]["decoder"] == "continuous"
    assert len(list((tmp_path / "s").glob("*.parquet"))) == 6


# ---------------------------------------------------------------- continuous batching


class Steered(torch.nn.Module):
    """The tiny model with `steer(next_positions, last_logits)` editing each step's logits in place
    (next_positions: each row's count of real tokens before the one being predicted)."""

    def __init__(self, model, steer):
        super().__init__()
        self.model, self.steer, self.config = model, steer, model.config

    def forward(self, position_ids, **kw):
        out = self.model(position_ids=position_ids, **kw)
        self.steer(position_ids[:, -1] + 1, out.logits[:, -1])
        return out


def eos_from(model, position: int, eos: int) -> Steered:
    """End-of-text wins (+1e4) at absolute position >= `position`: a row with a k-token prompt stops
    after position - k new tokens, so rows of different prompt lengths leave at different steps."""

    def steer(next_pos, logits):
        logits[:, eos] = torch.where(next_pos >= position, torch.full_like(logits[:, eos], 1e4), logits[:, eos])

    return Steered(model, steer)


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(tiny_model_dir, "cpu", torch.float32)


MIXED = [
    "Hi",
    "The pizza was",
    "Best slice in town, really",
    "Terrible service and cold food at the",
    "We came here for a birthday party last",
    "Ok so",
    "My family loves",
    "x",
]


def continuous(model, tok, prompts, cfg, batch_size):
    """{prompt index: (continuation, new tokens, ended)} from `_continuous_generate`."""
    got = {}
    jobs = [(i, p, 1000 + i, cfg.temperature) for i, p in enumerate(prompts)]
    decoding._continuous_generate(model, tok, jobs, cfg, "cpu", batch_size, got.__setitem__)
    assert sorted(got) == list(range(len(prompts)))  # every row reported exactly once
    return got


def n_tokens(tok, text):
    return len(tok(text, add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_continuous_rows_stop_at_end_of_text(tiny, batch_size):
    model, tok = tiny
    cfg = small_config(max_new_tokens=30, repetition_penalty=1.1)
    got = continuous(eos_from(model, 10, tok.eos_token_id), tok, MIXED, cfg, batch_size)
    for i, p in enumerate(MIXED):
        text, n_new, ended = got[i]
        assert ended and n_new == max(0, 10 - n_tokens(tok, p)), (p, got[i])
    assert len({n for _, n, _ in got.values()}) >= 4  # rows really left at different steps


def test_continuous_respects_max_and_min_new_tokens(tiny):
    model, tok = tiny
    never = continuous(model, tok, MIXED, small_config(max_new_tokens=7), 3)
    assert all(n == 7 and not ended for _, n, ended in never.values())
    # end-of-text wins from position 10 on, but not before min_new_tokens new tokens
    early = continuous(
        eos_from(model, 10, tok.eos_token_id), tok, MIXED, small_config(max_new_tokens=30, min_new_tokens=6), 3
    )
    for i, p in enumerate(MIXED):
        assert early[i][1:] == (max(6, 10 - n_tokens(tok, p)), True), (p, early[i])


@pytest.mark.parametrize("spare", [64, 1])  # 1: the cache buffers reallocate every other step
def test_continuous_greedy_matches_hf_generate(tiny, monkeypatch, spare):
    """Greedy (top_k=1) with rows leaving and joining: every row's tokens equal HF's batch-1 greedy
    tokens up to the step the row was stopped (cache merging, padding and positions are exact)."""
    monkeypatch.setattr(decoding._GrowingLayer, "SPARE", spare)
    model, tok = tiny
    cfg = small_config(temperature=1.0, top_k=1, top_p=1.0, repetition_penalty=1.3, max_new_tokens=14)
    got = continuous(eos_from(model, 12, tok.eos_token_id), tok, MIXED, cfg, 3)
    for i, p in enumerate(MIXED):
        enc = tok(p, return_tensors="pt", add_special_tokens=False)
        out = model.generate(
            **enc, do_sample=False, repetition_penalty=1.3, max_new_tokens=14, pad_token_id=tok.pad_token_id
        )
        row = out[0, enc["input_ids"].shape[1] :].tolist()[: got[i][1]]
        assert got[i][0] == tok.decode(row, skip_special_tokens=True), p


def test_continuous_first_token_matches_hf_sampling(tiny):
    """Draw frequencies of the loop's first token vs the distribution HF's warpers (penalty,
    temperature, top-p) give the same logits. Six planted tokens carry the mass (one of them a
    prompt token, so the penalty matters, and the last outside the nucleus), so a few thousand
    rows estimate it; the rest of the vocabulary keeps the tiny model's logits."""
    from transformers import (
        LogitsProcessorList,
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopPLogitsWarper,
    )

    model, tok = tiny
    prompt = "The pizza was"
    enc = tok(prompt, return_tensors="pt", add_special_tokens=False)
    planted = torch.tensor(
        [
            tok(w, add_special_tokens=False)["input_ids"][0]
            for w in (" pizza", " great", " cold", " crust", " slice", " sauce")
        ]
    )
    boosts = torch.tensor([14.0, 13.6, 13.0, 12.5, 12.0, 11.0])

    def steer(next_pos, logits):
        logits[:, planted] += boosts

    steered = Steered(model, steer)
    with torch.no_grad():
        logits = (
            steered(input_ids=enc["input_ids"], position_ids=torch.arange(enc["input_ids"].shape[1])[None])
            .logits[:, -1, :]
            .float()
        )
    warpers = LogitsProcessorList(
        [RepetitionPenaltyLogitsProcessor(1.1), TemperatureLogitsWarper(0.9), TopPLogitsWarper(0.95)]
    )
    expected = warpers(enc["input_ids"], logits.clone()).softmax(-1)[0]
    assert 2 < (expected > 0).sum() < len(planted)  # top-p cuts planted tokens too
    assert expected[planted[0]] < expected[planted[1]]  # the penalty reorders the prompt token
    draws = 4000
    cfg = small_config(temperature=0.9, top_p=0.95, repetition_penalty=1.1, max_new_tokens=1)
    got = continuous(steered, tok, [prompt] * draws, cfg, 1000)
    words = [tok.decode([t]) for t in planted.tolist()]
    drawn = [text for text, _, _ in got.values()]
    assert set(drawn) <= {w for w, t in zip(words, planted) if expected[t] > 0}, "drew outside HF's support"
    freq = torch.tensor([drawn.count(w) / draws for w in words])
    assert (freq - expected[planted]).abs().max().item() < 0.03  # 4 standard errors at p = 0.5


def test_continuous_output_does_not_depend_on_batch_size(tiny_model_dir, tmp_path):
    """Each review slot draws from its own seeded generator: batch 1, 3 and 4 give the same reviews."""
    frames = [run(tiny_model_dir, tmp_path / f"b{b}", small_config(batch_size=b, chunk_size=4)) for b in (1, 3, 4)]
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0].drop(columns="created_at"), other.drop(columns="created_at"))
    assert [len(list((tmp_path / f"b{b}").glob("*.parquet"))) for b in (1, 3, 4)] == [3, 3, 3]


def test_continuous_out_of_memory_halves_the_batch(tiny_model_dir, tmp_path, monkeypatch, caplog):
    """The promise after a halving: every review is still made, from the same prompt and seed, and equals an
    uninterrupted run at the batch size it fell back to. Not an uninterrupted run at the first batch size: on
    these cores a matmul's rounding depends on the batch's shape (oneDNN, AMX), in float32 as in bfloat16, and
    a near-tie between two tokens can then sample another one (seen: 1 of 10 reviews differs)."""
    first_try = run(tiny_model_dir, tmp_path / "ref")
    reference = run(tiny_model_dir, tmp_path / "ref2", small_config(batch_size=2))
    real = decoding._decode_step

    def picky(model, sampler, live):
        if len(live.jobs) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")
        return real(model, sampler, live)

    monkeypatch.setattr(decoding, "_decode_step", picky)
    with caplog.at_level(logging.WARNING, logger="augment_assets.lib.generate_decoding"):
        out = run(tiny_model_dir, tmp_path / "oom")
    assert len(out) == 10 and out.attrs["stats"]["batch_size"] == 2
    assert "out of memory at batch size 4; retrying with 2" in caplog.text
    pd.testing.assert_frame_equal(out.drop(columns="created_at"), reference.drop(columns="created_at"))
    same_but_text = [c for c in out.columns if c not in ("created_at", "text")]
    pd.testing.assert_frame_equal(out[same_but_text], first_try[same_but_text])


def test_no_prompts_is_an_input_error(tiny_model_dir, tmp_path):
    with pytest.raises(InputError, match="no prompts for sentiment 'negative'"):
        generate_reviews(
            tiny_model_dir,
            [" "],
            "negative",
            small_config(),
            tmp_path,
            "v",
            device="cpu",
            dtype=torch.float32,
            show_progress=False,
        )


# ---------------------------------------------------------------- fine-tuning


def test_training_text_and_generation_prefix_agree():
    cfg = FinetuneConfig(prompt_format="prefix")
    assert training_text("  Great   pie. ", "positive", cfg) == "Review, 4-5 stars: Great pie."
    assert generation_prefix("negative", cfg) == "Review, 1-2 stars:"
    hotel = FinetuneConfig(prefix_template="Hotel review ({sentiment}), {stars} stars:")
    assert generation_prefix("positive", hotel) == "Hotel review (positive), 4-5 stars:"
    assert training_text("Great pie.", "positive", FinetuneConfig(prompt_format="none")) == "Great pie."
    chat = training_text("Great pie.", "positive", FinetuneConfig(prompt_format="chat"))
    assert chat.endswith("assistant\nGreat pie.") and "positive" in chat


@pytest.mark.parametrize("method", ["full", "lora"])
def test_finetune_tiny_model(tiny_model_dir, tmp_path, method):
    cfg = FinetuneConfig(
        method=method,
        epochs=2,
        batch_size=4,
        max_length=48,
        seed=1,
        learning_rate=5e-3,
        lora_learning_rate=5e-2,
        lora_r=4,
        lora_alpha=8,
    )
    steps = []
    report = finetune(
        tiny_model_dir, REVIEWS, "positive", tmp_path / "m1", cfg, validation_texts=REVIEWS[:3], progress=steps.append
    )
    for key in (
        "losses",
        "perplexity_before",
        "perplexity_after",
        "tokens_per_s",
        "wall_s",
        "trainable_params",
        "total_params",
        "device",
        "dtype",
        "method",
        "epochs",
        "n_train",
        "n_validation",
    ):
        assert key in report
    assert len(report["losses"]) == 6 == len(steps)  # 10 reviews / batch 4 -> 3 steps x 2 epochs
    assert report["method"] == method and report["n_train"] == 10 and report["n_validation"] == 3
    assert report["perplexity_after"] < report["perplexity_before"]
    assert 0 < report["trainable_params"] <= report["total_params"]
    if method == "lora":
        assert report["trainable_params"] < report["total_params"] / 2
    # a plain model folder (LoRA merged) with its tokenizer and config
    saved_cfg, sentiment = read_finetune_config(tmp_path / "m1")
    assert saved_cfg == cfg and sentiment == "positive"
    assert json.loads((tmp_path / "m1" / CONFIG_FILE).read_text())["report"]["method"] == method
    assert not (tmp_path / "m1" / "adapter_config.json").exists()
    model, tok = load_model(tmp_path / "m1", "cpu", torch.float32)
    # The report's perplexity was computed under the autocast the model trained in (bfloat16 where the CPU has
    # it). The saved float32 weights under that same autocast and batch shape repeat the same arithmetic: equal
    # to summation order. Read in plain float32 it is the same model at another precision: bfloat16 keeps 8
    # mantissa bits (relative error 2^-8 per product), which moves a perplexity of ~2e4 by parts in 1e4 (seen:
    # 22,651.56 vs 22,647.51 on AMX cores), far less than fine-tuning moved it (perplexity_before).
    amp = getattr(torch, report["autocast"]) if report["autocast"] else None
    with torch.autocast("cpu", dtype=amp) if amp is not None else contextlib.nullcontext():
        ppl = perplexity(model, tok, REVIEWS[:3], "positive", cfg)
    assert ppl == pytest.approx(report["perplexity_after"], rel=1e-4)
    ppl_float32 = perplexity(model, tok, REVIEWS[:3], "positive", cfg)
    assert ppl_float32 == pytest.approx(report["perplexity_after"], rel=1e-2 if amp is not None else 1e-4)
    assert (
        abs(ppl_float32 - report["perplexity_after"])
        < abs(report["perplexity_before"] - report["perplexity_after"]) / 10
    )
    # deterministic for a seed
    again = finetune(tiny_model_dir, REVIEWS, "positive", tmp_path / "m2", cfg, validation_texts=REVIEWS[:3])
    assert again["losses"] == report["losses"]
    # generation reads the saved training format
    out = generate_reviews(
        tmp_path / "m1",
        PROMPTS,
        "positive",
        small_config(n=4),
        tmp_path / "c",
        "v",
        device="cpu",
        dtype=torch.float32,
        show_progress=False,
    )
    assert len(out) == 4


def test_a_training_step_in_parts_gives_the_same_losses_and_weights(tiny_model_dir, tmp_path, monkeypatch):
    """A step whose padded tokens exceed STEP_TOKENS runs in parts, each adding its share of the gradient: the same
    losses and weights as one pass (float32), so only memory changes."""
    from safetensors.torch import load_file

    import augment_assets.lib.finetune as ft

    monkeypatch.setattr(ft, "STEP_TOKENS", 24)
    train = [([0] * n, 0) for n in (40, 10, 12, 10)]
    assert ft._step_parts([0, 1, 2, 3], train) == [[1, 3], [2], [0]]  # a long review is a part of its own
    monkeypatch.setattr(ft, "STEP_TOKENS", 2048)
    assert ft._step_parts([0, 1, 2, 3], train) == [[1, 3, 2, 0]]
    monkeypatch.undo()
    cfg = FinetuneConfig(epochs=1, batch_size=4, max_length=48, seed=1, learning_rate=5e-3, mixed_precision="off")
    reports, weights = {}, {}
    for label, budget in (("whole", 10_000), ("parts", 48)):
        monkeypatch.setattr(ft, "STEP_TOKENS", budget)
        passes = []
        monkeypatch.setattr(ft, "label_log_probs", lambda *a, _f=ft.label_log_probs, _p=passes: _p.append(1) or _f(*a))
        reports[label] = finetune(tiny_model_dir, REVIEWS, "positive", tmp_path / label, cfg)
        reports[label]["passes"] = len(passes)
        weights[label] = load_file(str(next((tmp_path / label).glob("*.safetensors"))))
        monkeypatch.undo()
    assert reports["whole"]["passes"] == 3 < reports["parts"]["passes"]  # 3 steps; in parts, more passes
    assert reports["parts"]["train_tokens"] == reports["whole"]["train_tokens"]
    assert reports["parts"]["losses"] == pytest.approx(reports["whole"]["losses"], rel=1e-5)
    for name, tensor in weights["whole"].items():
        torch.testing.assert_close(weights["parts"][name], tensor, rtol=1e-4, atol=1e-5)


def test_finetune_too_few_reviews(tiny_model_dir, tmp_path):
    with pytest.raises(InputError, match="fewer than the minimum 8"):
        finetune(tiny_model_dir, REVIEWS[:3], "negative", tmp_path / "m", FinetuneConfig())


# ---------------------------------------------------------------- filters and quality


def test_filter_counts_each_reason():
    good = "The crust was thin and crisp, the sauce bright, and the cheese pulled in long strings."
    frame = pd.DataFrame(
        {
            "synthetic_id": [f"id{i:02d}" for i in range(9)],
            "prompt": ["The crust was", "A", "B", "Best pizza in", "The crust was", "X", "The crust was", "Y", "Z"],
            "text": [
                good,  # kept
                "",  # empty
                "Too short to count.",  # too_short
                "Best pizza in town ever ok.",  # too_short (6 words)
                "the CRUST was... great, good, fine and nice",  # kept: 8 words, 5 new
                "pizza pizza pizza pizza pizza pizza pizza pizza pizza pizza",  # degenerate
                "The crust was, " + good.lower(),  # kept (new text)
                "It was good it was good it was good it was good it was good",  # degenerate (repeated trigram)
                good.upper(),  # duplicate of row 0 after normalization
            ],
        }
    )
    kept, counts = filter_synthetic(frame)
    assert set(counts) == set(REASONS)
    assert counts == {"empty": 1, "too_short": 2, "prompt_echo": 0, "degenerate": 2, "duplicate": 1}
    assert kept["synthetic_id"].tolist() == ["id00", "id04", "id06"]
    assert kept["text_key"].tolist() == [
        text_key(good),
        text_key("the crust was great good fine and nice"),
        text_key("The crust was, " + good),
    ]


def test_filter_prompt_echo():
    frame = pd.DataFrame(
        {
            "synthetic_id": ["a", "b"],
            "prompt": ["I ordered a large pepperoni pizza for", "I ordered a"],
            "text": ["I ordered a large pepperoni pizza for delivery.", "I ordered a large pie and it was hot."],
        }
    )
    kept, counts = filter_synthetic(frame, min_words=5)
    assert counts["prompt_echo"] == 1 and kept["synthetic_id"].tolist() == ["b"]


def test_quality_measures():
    train = [
        "great pizza amazing crust love it",
        "best pizza great cheese friendly staff",
        "terrible pizza cold and soggy",
        "awful service rude staff never again",
    ]
    sents = ["positive", "positive", "negative", "negative"]
    texts = ["great crust and amazing cheese", "love the friendly staff", "we flew to paris"]
    assert label_fidelity(texts[:2], "positive", train, sents) == 1.0
    assert on_topic_rate(texts, {"crust", "cheese"}) == pytest.approx(1 / 3)
    assert on_topic_rate(texts, {"paris"}) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="at least one topic word"):
        on_topic_rate(texts, [])
    # Without topic words: the training reviews' own domain words, those both sentiments use
    # ("pizza", "staff"); "great" and "terrible" are one sentiment's and not the domain's.
    q = quality_report(texts, "positive", train, sents, None)
    assert set(q) >= {"label_fidelity", "on_topic", "distinct_1", "distinct_2", "copy_rate_8", "mean_words"}
    assert q["on_topic"] == pytest.approx(round(1 / 3, 4))  # only "love the friendly staff" names one
    assert quality_report(texts, "positive", train, sents, ["crust"])["on_topic"] == pytest.approx(round(1 / 3, 4))
    # Training reviews that share no content word give no topic words: no on-topic rate, not a rate of 0.
    assert "on_topic" not in quality_report(texts, "positive", ["alpha beta", "gamma delta"], sents[1:3])
    assert q["copy_rate_8"] == 0.0 and q["mean_words"] == pytest.approx(13 / 3, abs=0.01)
    assert quality_report(["x " + train[0] + " y z w"], "positive", train, sents)["copy_rate_8"] == 0.0
    long_train = ["one two three four five six seven eight nine"]
    assert (
        quality_report(
            ["zero one two three four five six seven eight"], "positive", long_train + train, ["positive"] + sents
        )["copy_rate_8"]
        == 1.0
    )


def test_covering_length():
    from augment_assets.lib.finetune import covering_length

    lengths = list(range(1, 101))
    assert covering_length(lengths, FinetuneConfig()) == 96  # 0.95 quantile 95.05, rounded up to a multiple of 8
    assert covering_length(lengths, FinetuneConfig(length_quantile=0.5)) == 56
    assert covering_length(lengths, FinetuneConfig(max_length_cap=64)) == 64
    assert covering_length(lengths, FinetuneConfig(max_length=40)) == 40  # a fixed length wins
    with pytest.raises(ValueError, match="length_quantile"):
        FinetuneConfig(length_quantile=0)


def test_whole_reviews_train_and_generate_at_the_covering_length(tiny_model_dir, tmp_path):
    """A null max_length trains on the length covering the reviews (saved with the model), and a null
    max_new_tokens caps generation at that length: the generator can end what it learned to write."""
    from augment_assets.lib.finetune import covering_length, training_lengths

    cfg = FinetuneConfig(epochs=1, batch_size=4, seed=1, length_quantile=0.5, learning_rate=5e-3)
    long_review = " ".join(REVIEWS)  # far longer than the median review: cut, without its end-of-text
    report = finetune(tiny_model_dir, [*REVIEWS, long_review], "positive", tmp_path / "m", cfg)
    _, tok = load_model(tiny_model_dir, "cpu", torch.float32)
    lengths = training_lengths(tok, [*REVIEWS, long_review], "positive", cfg)
    expected = covering_length(lengths, cfg)
    assert expected < max(lengths) and report["max_length"] == expected
    assert report["reviews_cut_share"] == pytest.approx(sum(n > expected for n in lengths) / len(lengths), abs=1e-4)
    saved, _ = read_finetune_config(tmp_path / "m")
    assert saved.max_length == expected
    assert gen_mod.new_token_cap(GenerationConfig(), saved) == expected
    assert gen_mod.new_token_cap(GenerationConfig(max_new_tokens=20), saved) == 20
    assert gen_mod.new_token_cap(GenerationConfig(), None) == gen_mod.DEFAULT_MAX_NEW_TOKENS
    out = generate_reviews(
        tmp_path / "m",
        PROMPTS,
        "positive",
        small_config(n=6, max_new_tokens=None),
        tmp_path / "c",
        "v",
        device="cpu",
        dtype=torch.float32,
        show_progress=False,
    )
    stats = out.attrs["stats"]
    # the random tiny model rarely ends a review: without the cap's resolution each would run to 128 tokens
    assert stats["generated"] == 6 and 0 < stats["new_tokens"] <= 6 * expected < 6 * gen_mod.DEFAULT_MAX_NEW_TOKENS
