"""Fine-tuning one causal LM per sentiment (LoRA through peft, or full), and perplexity.

The training format (`training_text`) is what generation must reproduce: a short
conditioning prefix (default ``"Review, 1-2 stars:"`` for negative, ``"Review, 4-5 stars:"``
for positive: domain-neutral, as the reviews may be of anything; `prefix_template` names
a domain, e.g. ``"Hotel review, {stars} stars:"``) followed by the review and the
end-of-text token.
Generation prompts are ``generation_prefix(...) + " " + <opening words>``, so the
model continues a review exactly as it was trained to.

Loss and perplexity count the review tokens only (the conditioning prefix is masked):
the prefix is constant and would otherwise flatter the after-training perplexity.

Determinism: `torch.manual_seed(seed)`, a seeded batch order (length-grouped within
seeded mega-batches) and single-process data: the same inputs and seed give the
same losses and weights on the same machine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from augment_assets.lib.errors import InputError
from augment_assets.lib.model import choose_device_dtype, dtype_name, label_log_probs, load_model, native_bf16_cpu
from augment_assets.lib.processes import process_alive

log = logging.getLogger(__name__)

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
    """Fine-tuning settings; defaults chosen by measurement on the 2-core CPU.

    Full fine-tuning (lr 1e-4) vs LoRA (r=16 on every attention and MLP projection, lr 1e-3),
    same reviews and seed (`python bench/finetune.py`: 96 positive reviews, max_length 192,
    1 epoch): 154 vs 160 tokens/s, peak RSS 7.2 vs 8.5 GB, validation perplexity
    39.3 -> 29.4 (full) vs 39.3 -> 30.3 (LoRA). 64 negative reviews, 2 epochs: 45.7 -> 34.1
    (full) vs 45.7 -> 34.7 (LoRA). On a CPU the activation backward dominates, so LoRA
    saves almost no time here; full fine-tuning is the default for its lower perplexity at
    equal cost.

    Whole reviews: `max_length` null (the default) trains on a length that covers the
    training reviews' length distribution: the `length_quantile` (0.95) of their tokenized
    lengths (prefix and end-of-text included), at most `max_length_cap` (512). A review longer
    than that is cut without its end-of-text, so the generator learns how the reviews it sees
    end. On the 606 pizza reviews: median 104 tokens, 0.95 quantile 344, and 40% are longer
    than the former fixed 128 (which ended few generated reviews as reviews end); on the
    demo sample the quantile is 143. Generation's default cap is this length (lib/generate.py).

    Speed (`python bench/finetune.py`: 96 positive pizza reviews, max_length 192, 1 epoch,
    2 cores with AVX-512 BF16): the float32 loop 118 tokens/s; bfloat16 autocast with
    float32 master weights plus the fused AdamW kernel 248 tokens/s (2.09x), validation
    perplexity 29.42 vs 29.51 (+0.3%). The loss's vocabulary projection and float32
    log-softmax on the review tokens' rows only, in chunks (`model.label_log_probs`, the same
    mean as the model's own loss): the demo's fine-tune of 104 negative reviews 252 -> 346
    tokens/s, 91 -> 66 s of training (one `make demo` each, quiet cores).

    Format, epochs and learning rate (`python scripts/generator_sweep.py --csv
    pizza_reviews.csv`: 162 fit reviews per class, 48 generations per point at T 0.9, top_p
    0.95, judged on the training reviews' validation split; +-0.05 per figure; measured when
    the prefix read "Yelp pizza review, {stars} stars:" and on-topic used a fixed pizza noun
    list, both since replaced by domain-neutral ones):
    - format: prefix > chat template > none. Positive label fidelity 0.88 / 0.81 / 0.74,
      on-topic 0.85 / 0.90 / 0.83; negative fidelity 0.98 / 1.00 / 0.96, on-topic
      0.98 / 0.98 / 0.875. The prefix is also the shortest conditioning to train on.
    - epochs: 4 epochs lift positive fidelity (0.79, 0.85, 0.93, 0.91 after epochs 1-4 of
      a 4-epoch run) but raise validation perplexity (32.9 -> 39.5 negative, 33.2 -> 40.4
      positive versus 2 epochs) and the 8-word copy rate (0 -> 0.02); the downstream
      validation accuracy moves by none of it. 2 epochs stay the default: the lowest
      held-out perplexity at half the cost.
    - learning rate 3e-4 instead of 1e-4: perplexity 37.4 vs 32.9 (negative), no gain.
    """

    method: str = "full"
    epochs: float = 2.0
    learning_rate: float = 1e-4  # full fine-tuning
    lora_learning_rate: float = 1e-3  # LoRA (used when method == "lora")
    batch_size: int = 8
    max_length: int | None = None  # null: the length covering the reviews (covering_length)
    length_quantile: float = 0.95
    max_length_cap: int = 512
    seed: int = 0
    prompt_format: str = "prefix"
    prefix_template: str = DEFAULT_TEMPLATE
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
    # One fused kernel for the AdamW update of all parameters (torch >= 2.4 on CPU and CUDA):
    # 0.4 -> 0.1 s a step on the 135M model, 2 cores. Same update rule as the loop version.
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


def training_lengths(tokenizer, texts: list[str], sentiment: str, config: FinetuneConfig) -> list[int]:
    """Each review's tokenized training length, prefix and end-of-text included."""
    return [
        len(tokenizer(training_text(t, sentiment, config, tokenizer), add_special_tokens=False)["input_ids"]) + 1
        for t in texts
    ]


def covering_length(lengths: list[int], config: FinetuneConfig) -> int:
    """The training length: `max_length` when set, else the `length_quantile` of the reviews' lengths (rounded
    up to a multiple of 8), at most `max_length_cap`."""
    if config.max_length is not None:
        return int(config.max_length)
    if not lengths:
        return int(config.max_length_cap)
    q = float(np.quantile(np.asarray(lengths), config.length_quantile))
    return int(min(config.max_length_cap, max(8, 8 * math.ceil(q / 8))))


def encode_reviews(tokenizer, texts: list[str], sentiment: str, config: FinetuneConfig) -> list[tuple[list[int], int]]:
    """(token ids incl. eos, number of prefix tokens to mask) per text, truncated to max_length (the
    covering length of these texts when it is null)."""
    prefix = generation_prefix(sentiment, config, tokenizer)
    n_prefix = len(tokenizer(prefix, add_special_tokens=False)["input_ids"]) if prefix else 0
    if config.max_length is None:
        config = dataclasses.replace(
            config, max_length=covering_length(training_lengths(tokenizer, texts, sentiment, config), config)
        )
    out = []
    for t in texts:
        ids = tokenizer(training_text(t, sentiment, config, tokenizer), add_special_tokens=False)["input_ids"]
        if len(ids) < config.max_length:
            ids = ids + [tokenizer.eos_token_id]
        else:  # truncated: no end-of-text, so the model does not learn to stop mid-sentence
            ids = ids[: config.max_length]
        out.append((ids, n_prefix))
    return out


def collate_reviews(items: list[tuple[list[int], int]], pad_id: int, device: str):
    width = max(len(ids) for ids, _ in items)
    input_ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), -100, dtype=torch.long)
    attn = torch.zeros((len(items), width), dtype=torch.long)
    for r, (ids, n_prefix) in enumerate(items):
        input_ids[r, : len(ids)] = torch.tensor(ids)
        attn[r, : len(ids)] = 1
        labels[r, n_prefix : len(ids)] = torch.tensor(ids[n_prefix:])
    return input_ids.to(device), attn.to(device), labels.to(device)


def _batches(n: int, batch_size: int, lengths: list[int], generator: torch.Generator) -> list[list[int]]:
    """Seeded shuffle, then length-sorted inside mega-batches of 16 batches (less padding)."""
    order = torch.randperm(n, generator=generator).tolist()
    mega = batch_size * 16
    batches = []
    for start in range(0, n, mega):
        block = sorted(order[start : start + mega], key=lambda i: lengths[i])
        batches.extend(block[i : i + batch_size] for i in range(0, len(block), batch_size))
    perm = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in perm]


@torch.inference_mode()
def _perplexity_encoded(model, encoded, pad_id: int, device: str, batch_size: int) -> float:
    was_training = model.training
    model.eval()
    total_nll, total_tokens = 0.0, 0
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    for start in range(0, len(order), batch_size):
        items = [encoded[i] for i in order[start : start + batch_size]]
        input_ids, attn, labels = collate_reviews(items, pad_id, device)
        log_probs, mask = label_log_probs(model, input_ids, attn, labels)
        total_nll -= float(log_probs.sum())
        total_tokens += int(mask.sum())
    if was_training:
        model.train()
    return math.exp(total_nll / total_tokens) if total_tokens else float("nan")


def perplexity(
    model,
    tokenizer,
    texts: list[str],
    sentiment: str = "positive",
    config: FinetuneConfig | None = None,
    batch_size: int = 16,
) -> float:
    """Perplexity of the review tokens of `texts` in the training format of `config`."""
    config = config or FinetuneConfig()
    device = next(model.parameters()).device.type
    encoded = encode_reviews(tokenizer, texts, sentiment, config)
    return _perplexity_encoded(model, encoded, tokenizer.pad_token_id, device, batch_size)


def autocast_dtype(device: str, mixed_precision: str) -> torch.dtype | None:
    """bfloat16 when asked for and the device computes it natively, else None (float32), logged."""
    if mixed_precision == "off":
        return None
    if device == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        log.info("mixed_precision=bf16 asked, but this GPU has no bfloat16: training in float32")
        return None
    if device == "cpu":
        if native_bf16_cpu():
            return torch.bfloat16
        log.info(
            "mixed_precision=bf16 asked, but this CPU has no native bfloat16 (AVX-512 BF16/AMX): training in float32"
        )
    return None


def _count_params(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def finetune(
    base_path: Path | str,
    train_texts: list[str],
    sentiment: str,
    out_dir: Path,
    config: FinetuneConfig | None = None,
    validation_texts: list[str] | None = None,
    progress: Callable[[dict], None] | None = None,
    device: str | None = None,
    on_epoch_end: Callable[[int, object, object], None] | None = None,
) -> dict:
    """Fine-tune the base model on one sentiment's reviews; save a plain model folder to out_dir.

    LoRA adapters are merged into the weights before saving, so generation loads a plain
    model either way. Writes `finetune_config.json` (config + sentiment + report) next to
    the weights. Returns the report (see module docstring of the assets for the keys).
    """
    config = config or FinetuneConfig()
    train_texts = [t for t in train_texts if isinstance(t, str) and t.strip()]
    validation_texts = [t for t in (validation_texts or []) if isinstance(t, str) and t.strip()]
    if len(train_texts) < config.min_train_reviews:
        raise InputError(
            f"sentiment '{sentiment}': {len(train_texts)} training reviews, fewer than the minimum "
            f"{config.min_train_reviews} needed to fine-tune a generator"
        )
    t_start = time.perf_counter()
    if device is None:
        device, _ = choose_device_dtype(for_training=True)
    dtype = torch.float32
    torch.manual_seed(config.seed)
    model, tokenizer = load_model(base_path, device, dtype, for_training=True)
    pad_id = tokenizer.pad_token_id

    # whole reviews: the training length is resolved once, from the training reviews, and saved with the model
    train_lengths = training_lengths(tokenizer, train_texts, sentiment, config)
    config = dataclasses.replace(config, max_length=covering_length(train_lengths, config))
    train_enc = encode_reviews(tokenizer, train_texts, sentiment, config)
    val_enc = encode_reviews(tokenizer, validation_texts, sentiment, config) if validation_texts else []
    amp_dtype = autocast_dtype(device, config.mixed_precision)
    autocast = (
        (lambda: torch.autocast(device_type=device, dtype=amp_dtype))
        if amp_dtype is not None
        else contextlib.nullcontext
    )
    # Perplexity in the precision the generator trains in and is used in (generation and the generative classifier
    # load it in the same bfloat16 where the device has it): faster, and the figure of the model as it runs. The
    # demo's 26 negative validation reviews: 7.4 s in float32, 3.4 s under bfloat16 autocast; perplexity of the
    # base model 104.38 vs 104.40, after 9 steps 36.42 vs 37.57 (float32 keeps updates that bfloat16 rounds off).
    with autocast():
        ppl_before = _perplexity_encoded(model, val_enc, pad_id, device, config.eval_batch_size) if val_enc else None

    if config.method == "lora":
        from peft import LoraConfig, get_peft_model

        present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        targets = [t for t in config.target_modules if t in present] or None
        if targets is None:  # another architecture (e.g. GPT-2's c_attn): peft's default mapping
            log.info("LoRA targets %s not in %s; using peft's defaults", config.target_modules, base_path)
        model = get_peft_model(
            model,
            LoraConfig(
                r=config.lora_r,
                lora_alpha=config.lora_alpha,
                lora_dropout=config.lora_dropout,
                target_modules=targets,
                task_type="CAUSAL_LM",
                bias="none",
            ),
        )
    trainable, total = _count_params(model)
    model.train()

    gen = torch.Generator().manual_seed(config.seed)
    lengths = [len(ids) for ids, _ in train_enc]
    full_epochs = int(math.floor(config.epochs))
    epoch_plan: list[list[list[int]]] = []
    for _ in range(full_epochs):
        epoch_plan.append(_batches(len(train_enc), config.batch_size, lengths, gen))
    frac = config.epochs - full_epochs
    if frac > 1e-9:
        batches = _batches(len(train_enc), config.batch_size, lengths, gen)
        epoch_plan.append(batches[: max(1, int(round(len(batches) * frac)))])
    steps = sum(len(b) for b in epoch_plan)

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params,
        lr=config.effective_learning_rate,
        weight_decay=config.weight_decay,
        **({"fused": True} if config.fused_optimizer else {}),
    )
    warmup = max(1, int(steps * config.warmup_ratio))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )

    losses: list[float] = []
    n_tokens = 0
    t_train = time.perf_counter()
    step = 0
    for epoch, batches in enumerate(epoch_plan):
        for batch in batches:
            input_ids, attn, labels = collate_reviews([train_enc[i] for i in batch], pad_id, device)
            with (
                autocast()
            ):  # the mean over review tokens, as model(..., labels=labels).loss, computed on their rows only
                loss = -label_log_probs(model, input_ids, attn, labels)[0].mean()
            loss.backward()
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(round(float(loss.detach()), 5))
            n_tokens += int(attn.sum())
            step += 1
            if progress is not None:
                elapsed = time.perf_counter() - t_train
                progress(
                    {
                        "step": step,
                        "steps": steps,
                        "epoch": epoch + 1,
                        "loss": losses[-1],
                        "tokens_per_s": n_tokens / elapsed if elapsed else 0.0,
                        "eta_s": elapsed / step * (steps - step),
                    }
                )
        if on_epoch_end is not None:  # experiments: inspect the model after each epoch
            t_pause = time.perf_counter()
            on_epoch_end(epoch + 1, model, tokenizer)
            model.train()
            t_train += time.perf_counter() - t_pause
    train_s = time.perf_counter() - t_train

    if config.method == "lora":
        model = model.merge_and_unload()
    model.eval()
    with autocast():
        ppl_after = _perplexity_encoded(model, val_enc, pad_id, device, config.eval_batch_size) if val_enc else None

    report = {
        "losses": losses,
        "perplexity_before": ppl_before,
        "perplexity_after": ppl_after,
        "tokens_per_s": round(n_tokens / train_s, 1) if train_s else None,
        "train_tokens": n_tokens,
        "steps": steps,
        "wall_s": None,
        "train_s": round(train_s, 2),
        "trainable_params": trainable,
        "total_params": total,
        "device": device,
        "dtype": dtype_name(dtype),
        "autocast": dtype_name(amp_dtype) if amp_dtype is not None else None,
        "method": config.method,
        "epochs": config.epochs,
        "learning_rate": config.effective_learning_rate,
        "n_train": len(train_texts),
        "n_validation": len(validation_texts),
        "max_length": int(config.max_length),
        "reviews_cut_share": round(float(np.mean([n > config.max_length for n in train_lengths])), 4),
        "sentiment": sentiment,
    }

    out_dir = Path(out_dir)
    remove_dead_temp_dirs(out_dir)
    tmp = out_dir.with_name(out_dir.name + f".tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(tmp)
    report["wall_s"] = round(time.perf_counter() - t_start, 2)
    (tmp / CONFIG_FILE).write_text(
        json.dumps(
            {
                "finetune_config": config.to_dict(),
                "sentiment": sentiment,
                "base_path": str(base_path),
                "report": {k: v for k, v in report.items() if k != "losses"},
            },
            indent=2,
        )
    )
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out_dir)
    return report


def remove_dead_temp_dirs(out_dir: Path) -> list[Path]:
    """Remove `<out_dir>.tmp-<pid>` folders of processes that no longer run (a fine-tuning killed
    before its rename leaves a whole model behind); a live process's folder is left alone."""
    removed = []
    for candidate in Path(out_dir).parent.glob(Path(out_dir).name + ".tmp-*"):
        pid = candidate.name.rsplit("-", 1)[-1]
        if candidate.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


def read_finetune_config(model_dir: Path | str) -> tuple[FinetuneConfig | None, str | None]:
    """(config, sentiment) saved by `finetune`, or (None, None) for a plain base model."""
    path = Path(model_dir) / CONFIG_FILE
    if not path.exists():
        return None, None
    data = json.loads(path.read_text())
    return FinetuneConfig.from_dict(data["finetune_config"]), data.get("sentiment")
