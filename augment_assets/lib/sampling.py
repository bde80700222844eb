"""Next-token sampling for `model.generate` that never sorts or copies the whole vocabulary twice.

Why: on a 2-core CPU, profiling `generate(do_sample=True, top_p=0.95, repetition_penalty=1.1)`
with the 49k-token SmolLM2 vocabulary showed a large share of each decoding step outside the
model: the top-p warper sorts the whole batch x vocabulary, the repetition penalty pads and
scatters into fresh vocabulary-sized copies, and sampling draws an exponential for every
vocabulary entry (docs/results.md, "Where a decode step's time goes").

`SamplingProcessor` does the same arithmetic in HF's order -- repetition penalty, end-of-text
suppression until ``min_new_tokens``, temperature, top-k, top-p, then a draw -- on the small
set of candidates that can be drawn, and returns scores that are 0 at the drawn token and
-inf elsewhere. `generate` then runs with ``do_sample=False``, so its greedy step picks that
token; the KV cache, padding, end-of-text handling and stopping criteria stay HF's.

Top-p without a full sort, exactly:
- The ``candidates`` most likely tokens come from `topk`. When their probability mass reaches
  ``top_p`` the nucleus lies inside them (HF keeps a token iff the mass ranked strictly above
  it is < top_p, which is what `nucleus_mask` computes), so the draw is made among them.
- Rows whose top candidates hold less than ``top_p`` (flat distributions, high temperature)
  are drawn by rejection: draw from the whole distribution and accept a token iff the mass
  strictly above it is < top_p. The accepted token then follows the nucleus distribution
  exactly; a draw is accepted with probability >= top_p, so about one try per row.

Own decode loops (`generate_decoding._continuous_generate`, where rows join and leave the batch) call
`SamplingProcessor.draw` instead: each row counts its own new tokens for ``min_new_tokens``,
and may draw from its own `torch.Generator`, so a row's tokens do not depend on which rows
share its batch (same distribution, one small draw per row).
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

NEG_INF = float("-inf")


def nucleus_mask(sorted_probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep mask over probabilities sorted high to low: the mass ranked strictly above < top_p."""
    above = sorted_probs.cumsum(-1) - sorted_probs
    keep = above < top_p
    keep[..., 0] = True
    return keep


def draw_from_nucleus(probs: torch.Tensor, top_p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row from the top-p nucleus of `probs` (rows sum to 1), by rejection. -> (rows, 1)."""
    chosen = torch.empty(probs.shape[0], 1, dtype=torch.long, device=probs.device)
    todo = torch.arange(probs.shape[0], device=probs.device)
    while len(todo):
        rows = probs[todo]
        draw = torch.multinomial(rows, 1, generator=generator)
        p_draw = rows.gather(1, draw)
        above = (rows * (rows > p_draw)).sum(-1)
        ok = above < top_p
        chosen[todo[ok]] = draw[ok]
        todo = todo[~ok]
    return chosen


def draw_by_cdf(probs: torch.Tensor, top_p: float, uniforms) -> torch.Tensor:
    """One token per row of `probs` (rows sum to 1) from its top-p nucleus, without sorting. -> (rows, 1).

    Inverse CDF over the whole vocabulary (a cumulative sum and a binary search per row, where
    `topk` and `multinomial` would each cost several times more), accepted iff the mass ranked
    strictly above the token is < top_p (HF's keep rule); rejected rows draw again. The accepted
    token follows the nucleus distribution exactly, accepted with probability >= top_p.
    `uniforms(rows)` gives one U[0, 1) per row index.
    """
    cdf = probs.cumsum(-1)  # CPU cumsum accumulates in double
    chosen = torch.empty(probs.shape[0], 1, dtype=torch.long, device=probs.device)
    todo = torch.arange(probs.shape[0], device=probs.device)
    first = True
    while len(todo):
        # the first round takes every row: no copies of vocabulary-wide rows
        rows, rows_cdf = (probs, cdf) if first else (probs[todo], cdf[todo])
        first = False
        target = (uniforms(todo).to(rows_cdf.dtype) * rows_cdf[:, -1]).unsqueeze(1)
        # first token whose cumulative mass exceeds the target: zero-probability tokens never are
        draw = torch.searchsorted(rows_cdf, target, right=True).clamp_(max=probs.shape[1] - 1)
        if top_p < 1.0:
            ok = rows.masked_fill(rows <= rows.gather(1, draw), 0.0).sum(-1) < top_p
        else:
            ok = torch.ones(len(todo), dtype=torch.bool, device=probs.device)
        chosen[todo[ok]] = draw[ok]
        todo = todo[~ok]
    return chosen


class SamplingProcessor(LogitsProcessor):
    """Repetition penalty, min-new-tokens, temperature, top-k and top-p sampling in one step.

    Use with ``generate(do_sample=False, ...)`` and no other sampling settings: the returned
    scores are 0 at the sampled token and -inf elsewhere. Draws use the global torch RNG (or
    `generator`), so a seeded run is reproducible.

    `method`: "candidates" (top candidates by `topk`, rejection for flat rows) or "cdf"
    (`draw_by_cdf`, no `topk`: in the decode loop on 2 CPU cores, `topk` and the per-row draws
    took longer than the whole cdf draw; docs/results.md, "Where a decode step's time goes". A
    top-k setting still goes through the candidates).
    """

    def __init__(
        self,
        temperature: float,
        top_p: float = 1.0,
        top_k: int = 0,
        repetition_penalty: float = 1.0,
        min_new_tokens: int = 0,
        prompt_length: int = 0,
        eos_token_id: int | list[int] | None = None,
        candidates: int = 1024,
        generator: torch.Generator | None = None,
        method: str = "candidates",
    ):
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
        if method not in ("candidates", "cdf"):
            raise ValueError(f"method must be 'candidates' or 'cdf', got {method!r}")
        self.method = method
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.top_k = int(top_k or 0)
        self.repetition_penalty = float(repetition_penalty)
        self.min_new_tokens = int(min_new_tokens or 0)
        self.prompt_length = int(prompt_length)
        eos = [] if eos_token_id is None else [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
        self.eos_token_ids = eos
        self.candidates = max(1, int(candidates))
        self.generator = generator
        self.rejection_rows = 0  # rows drawn by rejection (diagnostics)
        self.rows = 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        # `generate` hands over a fresh float32 copy of the last logits: safe to edit in place.
        chosen = self.draw(input_ids, scores)
        out = torch.full_like(scores, NEG_INF)
        out.scatter_(1, chosen, 0.0)
        return out

    def draw(
        self,
        input_ids: torch.Tensor,
        scores: torch.Tensor,
        new_tokens: torch.Tensor | None = None,
        generators: list[torch.Generator] | None = None,
        temperatures: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Token ids (rows, 1): penalty, end-of-text suppression, then `sample`; edits `scores` in place.

        `input_ids` is each row's history (the repetition penalty is a set operation, so a
        left-padded row may repeat one of its own tokens as padding). `new_tokens` (rows,):
        tokens each row has generated so far; default: all rows ``input_ids.shape[1] -
        prompt_length``. `generators`: one RNG per row; `temperatures`: one per row (see `sample`).
        """
        if self.repetition_penalty != 1.0:
            seen = scores.gather(1, input_ids)
            scores.scatter_(
                1, input_ids, torch.where(seen < 0, seen * self.repetition_penalty, seen / self.repetition_penalty)
            )
        if self.eos_token_ids and self.min_new_tokens:
            if new_tokens is None:
                if input_ids.shape[1] - self.prompt_length < self.min_new_tokens:
                    scores[:, self.eos_token_ids] = NEG_INF
            else:
                early = (new_tokens < self.min_new_tokens).nonzero().squeeze(1)
                if len(early):
                    eos = torch.tensor(self.eos_token_ids, device=scores.device)
                    scores[early.unsqueeze(1), eos] = NEG_INF
        return self.sample(scores, generators, temperatures)

    def sample(
        self,
        scores: torch.Tensor,
        generators: list[torch.Generator] | None = None,
        temperatures: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Token ids (rows, 1) drawn from temperature/top-k/top-p-processed `scores`.

        With `generators` (one per row) row r draws only from ``generators[r]``; otherwise all
        rows draw from `self.generator` (or the global RNG) in one call. `temperatures` (rows, 1),
        each > 0, replaces `self.temperature` row by row: one batch decodes several temperatures.
        """
        vocab = scores.shape[-1]
        self.rows += scores.shape[0]
        if generators is not None and len(generators) != scores.shape[0]:
            raise ValueError(f"{len(generators)} generators for {scores.shape[0]} rows")
        if temperatures is not None and tuple(temperatures.shape) != (scores.shape[0], 1):
            raise ValueError(f"temperatures of shape {tuple(temperatures.shape)} for {scores.shape[0]} rows")
        temperature = self.temperature if temperatures is None else temperatures.to(scores.dtype)
        if self.method == "cdf" and not self.top_k:
            return draw_by_cdf(scores.div_(temperature).softmax(-1), self.top_p, self._uniforms(generators))
        if not self.top_k and self.top_p >= 1.0:
            return self._multinomial((scores / temperature).softmax(-1), generators)
        k = min(self.top_k or self.candidates, vocab)
        top, idx = scores.topk(k, dim=-1)  # high to low; dividing by temperature > 0 keeps the order
        top = top / temperature
        # top-k renormalizes over its k tokens; otherwise probabilities are over the whole vocabulary
        norm = torch.logsumexp(top if self.top_k else scores / temperature, -1, keepdim=True)
        probs = (top - norm).exp()
        keep = nucleus_mask(probs, self.top_p) if self.top_p < 1.0 else torch.ones_like(probs, dtype=torch.bool)
        chosen = idx.gather(1, self._multinomial(probs * keep, generators))
        if not self.top_k and self.top_p < 1.0 and k < vocab:
            short = probs.sum(-1) < self.top_p  # nucleus reaches past the candidates
            if bool(short.any()):
                rows = short.nonzero().squeeze(1)
                self.rejection_rows += len(rows)
                full = (scores[rows] / (temperature if temperatures is None else temperature[rows])).softmax(-1)
                if generators is None:
                    chosen[rows] = draw_from_nucleus(full, self.top_p, self.generator)
                else:
                    for j, r in enumerate(rows.tolist()):
                        chosen[r] = draw_from_nucleus(full[j : j + 1], self.top_p, generators[r])[0]
        return chosen

    def _uniforms(self, generators: list[torch.Generator] | None):
        """rows -> one U[0, 1) per row in `rows`: from its own generator, or all from `self.generator`."""

        def draw(rows: torch.Tensor) -> torch.Tensor:
            if generators is None:
                return torch.rand(len(rows), generator=self.generator, device=rows.device)
            return torch.cat([torch.rand(1, generator=generators[r], device=rows.device) for r in rows.tolist()])

        return draw

    def _multinomial(self, weights: torch.Tensor, generators: list[torch.Generator] | None) -> torch.Tensor:
        """One index per row of `weights` (rows, 1): from `self.generator`, or row r from `generators[r]`."""
        if generators is None:
            return torch.multinomial(weights, 1, generator=self.generator)
        return torch.stack([torch.multinomial(w, 1, generator=g) for w, g in zip(weights, generators)])
