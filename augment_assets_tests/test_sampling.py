"""SamplingProcessor draws from exactly the distribution HF's own sampling warpers define.

Reference: HF's RepetitionPenalty -> MinNewTokens -> Temperature -> TopK -> TopP processors,
then softmax. The processor must never draw a token outside that support, and its draw
frequencies must match those probabilities, on both of its paths (top-candidates and the
rejection draw for flat rows).
"""

from __future__ import annotations

import pytest
import torch
from transformers import (
    LogitsProcessorList,
    MinNewTokensLengthLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from augment_assets.lib.sampling import SamplingProcessor, draw_by_cdf, draw_from_nucleus, nucleus_mask

VOCAB = 40
EOS = 3


def hf_distribution(input_ids, scores, temperature, top_p=1.0, top_k=0, penalty=1.0, min_new=0, prompt_len=0):
    procs = LogitsProcessorList()
    if penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(penalty))
    if min_new:
        procs.append(MinNewTokensLengthLogitsProcessor(prompt_len, min_new, EOS))
    procs.append(TemperatureLogitsWarper(temperature))
    if top_k:
        procs.append(TopKLogitsWarper(top_k))
    if top_p < 1.0:
        procs.append(TopPLogitsWarper(top_p))
    return procs(input_ids, scores.clone()).softmax(-1)


def draw_frequencies(sampler: SamplingProcessor, input_ids, scores, draws: int) -> torch.Tensor:
    """Empirical distribution of the processor's draws for each row of `scores`."""
    rows = scores.shape[0]
    ids = input_ids.repeat_interleave(draws, 0)
    out = sampler(ids, scores.repeat_interleave(draws, 0))
    # exactly one finite entry per row, and it is 0
    assert torch.equal(torch.isfinite(out).sum(-1), torch.ones(rows * draws, dtype=torch.long))
    chosen = out.argmax(-1).view(rows, draws)
    return torch.stack([torch.bincount(c, minlength=VOCAB) for c in chosen]).float() / draws


def mixed_logits(seed: int = 0) -> torch.Tensor:
    """Rows from flat to peaked, so both sampling paths are exercised."""
    g = torch.Generator().manual_seed(seed)
    scales = torch.tensor([0.3, 1.0, 2.5, 6.0]).unsqueeze(1)
    return torch.randn(4, VOCAB, generator=g) * scales


@pytest.mark.parametrize("method, candidates", [("candidates", 4), ("candidates", 1024), ("cdf", 1024)])
@pytest.mark.parametrize(
    "settings",
    [
        dict(temperature=0.9, top_p=0.95),
        dict(temperature=1.3, top_p=0.8, penalty=1.3),
        dict(temperature=0.7, top_p=0.9, top_k=12),
        dict(temperature=1.1),
        dict(temperature=0.8, top_k=5),
    ],
)
def test_draws_follow_hf_distribution(settings, method, candidates):
    """candidates=4: flat rows go through the rejection draw; "cdf": the sort-free inverse-CDF draw."""
    torch.manual_seed(1)
    scores = mixed_logits()
    input_ids = torch.tensor([[5, 6, 7, 5]] * scores.shape[0])
    expected = hf_distribution(input_ids, scores, **settings)
    sampler = SamplingProcessor(
        temperature=settings["temperature"],
        top_p=settings.get("top_p", 1.0),
        top_k=settings.get("top_k", 0),
        repetition_penalty=settings.get("penalty", 1.0),
        candidates=candidates,
        method=method,
    )
    freq = draw_frequencies(sampler, input_ids, scores.clone(), draws=20_000)
    outside = freq[expected == 0].sum().item()
    assert outside == 0, f"drew tokens outside HF's support (share {outside})"
    assert (freq - expected).abs().max().item() < 0.015
    if method == "candidates" and candidates == 4 and settings.get("top_p", 1.0) < 1.0 and not settings.get("top_k"):
        assert sampler.rejection_rows > 0, "the flat rows should have needed the rejection draw"


def test_repetition_penalty_matters_and_is_matched():
    """A planted repeated token: HF's penalty lowers it; so must the processor's draws."""
    scores = torch.zeros(1, VOCAB)
    scores[0, 9] = 3.0
    input_ids = torch.tensor([[9, 9, 1]])
    plain = hf_distribution(input_ids, scores, 1.0)[0, 9].item()
    penalized = hf_distribution(input_ids, scores, 1.0, penalty=2.0)[0, 9].item()
    assert penalized < plain - 0.2
    torch.manual_seed(0)
    freq = draw_frequencies(SamplingProcessor(1.0, repetition_penalty=2.0), input_ids, scores, draws=20_000)
    assert abs(freq[0, 9].item() - penalized) < 0.015


def test_min_new_tokens_blocks_end_of_text_until_reached():
    scores = torch.full((1, VOCAB), -5.0)
    scores[0, EOS] = 10.0  # end-of-text would win almost always
    sampler = SamplingProcessor(1.0, top_p=0.9, min_new_tokens=3, prompt_length=2, eos_token_id=EOS)
    early = sampler(torch.tensor([[1, 2, 8]]), scores.clone())  # 1 new token so far
    assert early[0, EOS] == float("-inf")
    late = sampler(torch.tensor([[1, 2, 8, 8, 8]]), scores.clone())  # 3 new tokens: allowed again
    assert late.argmax().item() == EOS


def test_nucleus_mask_matches_hf_top_p():
    g = torch.Generator().manual_seed(3)
    for scale in (0.5, 2.0, 5.0):
        scores = torch.randn(64, 5000, generator=g) * scale
        hf_keep = torch.isfinite(TopPLogitsWarper(0.95)(None, scores.clone()))
        probs, order = scores.softmax(-1).sort(-1, descending=True)
        ours = torch.zeros_like(hf_keep).scatter_(1, order, nucleus_mask(probs, 0.95))
        # float32 cumsums in opposite directions may disagree on a token whose mass sits
        # within rounding of the boundary; anything else is a real difference
        diff = (ours != hf_keep).sum(-1)
        assert diff.max().item() <= 1
        assert (diff > 0).float().mean().item() < 0.05


def test_rejection_draw_stays_in_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]]).repeat(20_000, 1)
    g = torch.Generator().manual_seed(0)
    chosen = draw_from_nucleus(probs, 0.8, g).squeeze(1)
    freq = torch.bincount(chosen, minlength=4).float() / len(chosen)
    assert freq[2:].sum().item() == 0  # 0.5 + 0.3 already reach 0.8
    assert abs(freq[0].item() - 0.5 / 0.8) < 0.015


def test_seeded_generator_is_reproducible():
    scores = mixed_logits(5).repeat(50, 1)
    ids = torch.zeros(scores.shape[0], 1, dtype=torch.long)
    a = SamplingProcessor(1.0, top_p=0.9, candidates=4, generator=torch.Generator().manual_seed(7))(ids, scores.clone())
    b = SamplingProcessor(1.0, top_p=0.9, candidates=4, generator=torch.Generator().manual_seed(7))(ids, scores.clone())
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "kw",
    [
        dict(temperature=0.0),
        dict(temperature=1.0, top_p=0.0),
        dict(temperature=1.0, top_p=1.5),
        dict(temperature=1.0, method="sorted"),
    ],
)
def test_rejects_out_of_range(kw):
    with pytest.raises(ValueError):
        SamplingProcessor(**kw)


# ---------------------------------------------------------------- the decode loop's entry point: draw


@pytest.mark.parametrize("method, candidates", [("candidates", 4), ("candidates", 1024), ("cdf", 1024)])
def test_per_row_generators_follow_hf_distribution(method, candidates):
    """Row r drawing from its own generator (the continuous-batching loop) keeps HF's distribution,
    on every path."""
    settings = dict(temperature=0.9, top_p=0.95, penalty=1.2)
    scores = mixed_logits(2)
    input_ids = torch.tensor([[5, 6, 7, 5]] * scores.shape[0])
    expected = hf_distribution(input_ids, scores, **settings)
    draws = 6000
    sampler = SamplingProcessor(0.9, top_p=0.95, repetition_penalty=1.2, candidates=candidates, method=method)
    gens = [torch.Generator().manual_seed(10_000 + i) for i in range(scores.shape[0] * draws)]
    chosen = sampler.draw(input_ids.repeat_interleave(draws, 0), scores.repeat_interleave(draws, 0), None, gens)
    freq = torch.stack([torch.bincount(c, minlength=VOCAB) for c in chosen.view(-1, draws)]).float() / draws
    assert freq[expected == 0].sum().item() == 0
    assert (freq - expected).abs().max().item() < 0.025
    if method == "candidates" and candidates == 4:
        assert sampler.rejection_rows > 0


@pytest.mark.parametrize("method", ["candidates", "cdf"])
def test_per_row_draws_do_not_depend_on_the_other_rows(method):
    scores = mixed_logits(4)
    ids = torch.zeros(scores.shape[0], 1, dtype=torch.long)
    sampler = SamplingProcessor(1.0, top_p=0.9, candidates=4, method=method)
    together = sampler.draw(ids, scores.clone(), None, [torch.Generator().manual_seed(s) for s in range(4)])
    alone = [
        sampler.draw(ids[r : r + 1], scores[r : r + 1].clone(), None, [torch.Generator().manual_seed(r)])
        for r in (3, 0, 2, 1)
    ]
    assert together[[3, 0, 2, 1]].squeeze(1).tolist() == [a.item() for a in alone]
    with pytest.raises(ValueError, match="generators"):
        sampler.draw(ids, scores.clone(), None, [torch.Generator()])


@pytest.mark.parametrize("method", ["candidates", "cdf"])
def test_per_row_temperatures_draw_at_each_rows_own_temperature(method):
    """One batch of rows at 0.5 and 1.6 (several temperatures of a generator decoded together): each row follows
    HF's distribution at its own temperature, and draws what a sampler at that temperature draws from its seed."""
    scores = mixed_logits(5)[2:3]  # a middling row: the two temperatures give clearly different distributions
    ids = torch.tensor([[5, 6, 7]])
    draws = 6000
    temperatures = torch.tensor([0.5, 1.6]).repeat_interleave(draws).unsqueeze(1)
    sampler = SamplingProcessor(0.5, top_p=0.9, repetition_penalty=1.2, candidates=4, method=method)
    gens = [torch.Generator().manual_seed(20_000 + i) for i in range(2 * draws)]
    chosen = sampler.draw(ids.repeat(2 * draws, 1), scores.repeat(2 * draws, 1), None, gens, temperatures)
    for half, temperature in enumerate((0.5, 1.6)):
        expected = hf_distribution(ids, scores, temperature, top_p=0.9, penalty=1.2)[0]
        freq = torch.bincount(chosen[half * draws : (half + 1) * draws, 0], minlength=VOCAB).float() / draws
        assert freq[expected == 0].sum().item() == 0
        assert (freq - expected).abs().max().item() < 0.025
    alone = SamplingProcessor(1.6, top_p=0.9, repetition_penalty=1.2, candidates=4, method=method)
    for r in (draws, draws + 1, 2 * draws - 1):
        own = alone.draw(ids, scores.clone(), None, [torch.Generator().manual_seed(20_000 + r)])
        assert own.item() == chosen[r].item()
    with pytest.raises(ValueError, match="temperatures of shape"):
        sampler.draw(ids, scores.clone(), None, None, torch.tensor([1.0, 2.0]))


def test_draw_counts_new_tokens_per_row():
    """Rows that joined the batch later are younger: end-of-text stays blocked for them alone."""
    scores = torch.full((3, VOCAB), -5.0)
    scores[:, EOS] = 10.0
    sampler = SamplingProcessor(1.0, top_p=0.9, min_new_tokens=3, eos_token_id=EOS)
    chosen = sampler.draw(torch.ones(3, 4, dtype=torch.long), scores, torch.tensor([0, 3, 2]))
    assert chosen[1].item() == EOS and chosen[0].item() != EOS and chosen[2].item() != EOS


def test_cdf_draw_rejects_outside_the_nucleus_and_skips_zero_mass():
    """0.5 + 0.3 reach top_p 0.8: the third and fourth tokens are rejected; a zero-probability
    token is never the binary search's answer."""
    probs = torch.tensor([[0.5, 0.0, 0.3, 0.15, 0.05]]).repeat(20_000, 1)
    g = torch.Generator().manual_seed(0)
    calls = []

    def uniforms(rows):
        calls.append(len(rows))
        return torch.rand(len(rows), generator=g)

    chosen = draw_by_cdf(probs, 0.8, uniforms).squeeze(1)
    freq = torch.bincount(chosen, minlength=5).float() / len(chosen)
    assert freq[1].item() == 0 and freq[3:].sum().item() == 0
    assert abs(freq[0].item() - 0.5 / 0.8) < 0.015
    assert len(calls) > 1 and calls[1] < 0.3 * calls[0]  # about a fifth of the rows redraw
