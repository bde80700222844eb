"""The fine-tuning settings (`FinetuneConfig`, saved with each generator) and the training format they define.

The training format (`training_text`) is what generation must reproduce: a short
conditioning prefix (default ``"Review, 1-2 stars:"`` for negative, ``"Review, 4-5 stars:"``
for positive: domain-neutral, as the reviews may be of anything; `prefix_template` names
a domain, e.g. ``"Hotel review, {stars} stars:"``) followed by the review and the
end-of-text token.
Generation prompts are ``generation_prefix(...) + " " + <opening words>``, so the
model continues a review exactly as it was trained to.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from .settings import setting

CONFIG_FILE = "finetune_config.json"
# Domain-neutral: nothing here may assume what a user's CSV reviews (the prefix is one
# constant per generator; what the reviews are about is learned from the reviews).
DEFAULT_TEMPLATE = "Review, {stars} stars:"
TEMPLATE_FIELDS = ("stars", "sentiment")
STARS = {"negative": "1-2", "positive": "4-5"}
PROMPT_FORMATS = ("prefix", "chat", "none")
METHODS = ("lora", "full")
MIXED_PRECISION = ("bf16", "off")
LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class FinetuneConfig:
    """Fine-tuning settings; defaults chosen by measurement on the 2-core CPU (docs/results.md).

    Full fine-tuning, not LoRA: on a CPU the activation backward dominates, so LoRA saves almost
    no time here, and full fine-tuning reaches a lower validation perplexity at equal cost
    (docs/results.md, "Fine-tuning: full or LoRA").

    Whole reviews: `max_length` null (the default) trains on a length that covers the
    training reviews' length distribution: the `length_quantile` (0.95) of their tokenized
    lengths (prefix and end-of-text included), at most `max_length_cap` (512). A review longer
    than that is cut without its end-of-text, so the generator learns how the reviews it sees
    end. The former fixed 128 cut many real reviews and ended few generated reviews as reviews
    end (docs/results.md, "The fine-tuning length (whole reviews)"). Generation's default cap is
    this length (lib/generate.py).

    Speed: bfloat16 autocast with float32 master weights plus the fused AdamW kernel
    (`mixed_precision`, `fused_optimizer`) trains much faster than the float32 loop at the same
    validation perplexity, and the loss's vocabulary projection and float32 log-softmax run on the
    review tokens' rows only, in chunks (`model.label_log_probs`, the same mean as the model's own
    loss) (docs/results.md, "Fine-tuning speed").

    Format, epochs and learning rate, judged on generated reviews (`scripts/generator_sweep.py`;
    docs/results.md, "Fine-tuning: format, epochs and learning rate"):
    - format: the prefix ranked ahead of a chat template and of none, and is the shortest
      conditioning to train on.
    - epochs: more epochs lift positive fidelity but raise held-out perplexity and copying, and
      move no downstream validation accuracy; 2 epochs stay the default: the lowest held-out
      perplexity at half the cost.
    - learning rate: a higher one gave a worse perplexity and no gain.
    """

    method: str = setting("full", description="'full' or 'lora'.")
    epochs: float = setting(2.0, description="Passes over the generator's reviews.", gt=0)
    learning_rate: float = setting(1e-4, description="Learning rate of full fine-tuning.", gt=0)
    lora_learning_rate: float = 1e-3  # LoRA (used when method == "lora")
    batch_size: int = setting(8, description="Reviews per optimizer step.", ge=1)
    max_length: int | None = setting(
        None,
        description=(
            "Training length in tokens; null: the length_quantile of the generator's reviews' lengths, at most "
            "max_length_cap (whole reviews)."
        ),
        ge=8,
    )
    length_quantile: float = setting(
        0.95, description="The share of the reviews' token lengths the training length covers.", gt=0, le=1
    )
    max_length_cap: int = setting(512, description="The longest training length null max_length may choose.", ge=8)
    seed: int = 0
    prompt_format: str = "prefix"
    prefix_template: str = setting(
        DEFAULT_TEMPLATE,
        description=(
            "The conditioning prefix each review is fine-tuned behind, with {stars} (1-2 or 4-5) and/or {sentiment}; "
            "name your domain if you like: 'Hotel review, {stars} stars:'."
        ),
    )
    chat_instruction: str = "Write a {sentiment} review."
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = LLAMA_TARGETS
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    max_grad_norm: float = 1.0
    min_train_reviews: int = 8
    eval_batch_size: int = 16
    # "bf16": forward and backward under bfloat16 autocast with float32 master weights and
    # optimizer state, where the device computes bfloat16 natively (CUDA with bf16, a CPU
    # with AVX-512 BF16 or AMX); elsewhere it falls back to float32 with a logged reason.
    # "off": float32 throughout.
    mixed_precision: str = "bf16"
    # One fused kernel for the AdamW update of all parameters (torch >= 2.4 on CPU and CUDA): a much shorter optimizer
    # step (docs/results.md, "Fine-tuning speed"). Same update rule as the loop version.
    fused_optimizer: bool = True

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}")
        if self.prompt_format not in PROMPT_FORMATS:
            raise ValueError(f"prompt_format must be one of {PROMPT_FORMATS}, got {self.prompt_format!r}")
        if not self.epochs > 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")
        for name in ("prefix_template", "chat_instruction"):
            problem = template_problem(getattr(self, name))
            if problem:
                raise ValueError(f"{name} {getattr(self, name)!r}: {problem}")
        if not self.learning_rate > 0 or not self.lora_learning_rate > 0:
            raise ValueError("learning rates must be > 0")
        if self.batch_size < 1 or (self.max_length is not None and self.max_length < 8) or self.max_length_cap < 8:
            raise ValueError(
                f"batch_size must be >= 1 and max_length (or max_length_cap) >= 8, got {self.batch_size}, "
                f"{self.max_length}, {self.max_length_cap}"
            )
        if not 0 < self.length_quantile <= 1:
            raise ValueError(f"length_quantile must be in (0, 1], got {self.length_quantile}")
        self.target_modules = tuple(self.target_modules)

    @property
    def effective_learning_rate(self) -> float:
        return self.lora_learning_rate if self.method == "lora" else self.learning_rate

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["target_modules"] = list(self.target_modules)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FinetuneConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def template_problem(template: str) -> str | None:
    """Why `template` cannot be a prefix template or chat instruction, or None when it can."""
    if not isinstance(template, str):
        return f"must be text, got {type(template).__name__}"
    try:
        template.format(**{name: "x" for name in TEMPLATE_FIELDS})
    except (KeyError, IndexError) as exc:
        return f"unknown placeholder {{{exc.args[0]}}}; use only {{stars}} and {{sentiment}}"
    except ValueError as exc:
        return f"not a valid template ({exc}); write a literal brace as {{{{ or }}}}"
    return None


def generation_prefix(sentiment: str, config: FinetuneConfig | None, tokenizer=None) -> str:
    """The conditioning text that precedes a review (training) or a prompt (generation)."""
    if config is None or config.prompt_format == "none":
        return ""
    if config.prompt_format == "prefix":
        return config.prefix_template.format(stars=STARS.get(sentiment, sentiment), sentiment=sentiment)
    instruction = config.chat_instruction.format(sentiment=sentiment, stars=STARS.get(sentiment, sentiment))
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        return (
            tokenizer.apply_chat_template(
                [{"role": "user", "content": instruction}], tokenize=False, add_generation_prompt=True
            ).rstrip("\n")
            + "\n"
        )
    return f"<|im_start|>user\n{instruction}<|im_end|>\n<|im_start|>assistant\n"


def join_prefix(prefix: str, text: str) -> str:
    """prefix + text with one separating space (none after a newline or an empty prefix)."""
    if not prefix:
        return text
    return prefix + text if prefix.endswith("\n") else f"{prefix} {text}"


def training_text(review_text: str, sentiment: str, config: FinetuneConfig, tokenizer=None) -> str:
    """The exact text trained on (the end-of-text token is appended at tokenization)."""
    return join_prefix(generation_prefix(sentiment, config, tokenizer), " ".join(str(review_text).split()))


def read_finetune_config(model_dir: Path | str) -> tuple[FinetuneConfig | None, str | None]:
    """(config, sentiment) saved by `finetune`, or (None, None) for a plain base model."""
    path = Path(model_dir) / CONFIG_FILE
    if not path.exists():
        return None, None
    data = json.loads(path.read_text())
    return FinetuneConfig.from_dict(data["finetune_config"]), data.get("sentiment")
