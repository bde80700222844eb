"""Fine-tuning one causal LM per sentiment (LoRA through peft, or full), and perplexity.

The settings and the training format (what generation must reproduce) are in lib/finetune_config.py.

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
from augment_assets.lib.finetune_config import (  # noqa: F401 - the settings and the format, imported from here too
    CONFIG_FILE,
    FinetuneConfig,
    generation_prefix,
    join_prefix,
    read_finetune_config,
    template_problem,
    training_text,
)
from augment_assets.lib.model import (
    choose_device_dtype,
    dtype_name,
    label_log_probs,
    length_batches,
    load_model,
    native_bf16_cpu,
)
from augment_assets.lib.processes import process_alive

log = logging.getLogger(__name__)


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
    for batch in length_batches([len(ids) for ids, _ in encoded], batch_size):
        items = [encoded[i] for i in batch]
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
    train_texts, validation_texts = _usable_reviews(train_texts, validation_texts, sentiment, config)
    t_start = time.perf_counter()
    if device is None:
        device, _ = choose_device_dtype(for_training=True)
    dtype = torch.float32
    torch.manual_seed(config.seed)
    model, tokenizer = load_model(base_path, device, dtype, for_training=True)
    run = _encoded_run(tokenizer, train_texts, validation_texts, sentiment, config, device)
    config = run.config
    ppl_before = run.validation_perplexity(model)

    if config.method == "lora":
        model = _with_lora(model, config, base_path)
    trainable, total = _count_params(model)
    model.train()
    losses, n_tokens, train_s, steps = _train(model, tokenizer, run, progress, on_epoch_end)

    if config.method == "lora":
        model = model.merge_and_unload()
    model.eval()
    ppl_after = run.validation_perplexity(model)

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
        "autocast": dtype_name(run.amp_dtype) if run.amp_dtype is not None else None,
        "method": config.method,
        "epochs": config.epochs,
        "learning_rate": config.effective_learning_rate,
        "n_train": len(train_texts),
        "n_validation": len(validation_texts),
        "max_length": int(config.max_length),
        "reviews_cut_share": round(float(np.mean([n > config.max_length for n in run.train_lengths])), 4),
        "sentiment": sentiment,
    }
    _save(model, tokenizer, Path(out_dir), report, config, sentiment, base_path, t_start)
    return report


def _usable_reviews(
    train_texts: list[str], validation_texts: list[str] | None, sentiment: str, config: FinetuneConfig
) -> tuple[list[str], list[str]]:
    """The non-blank training and validation texts; fewer than `min_train_reviews` to train on is an input error."""
    train_texts = [t for t in train_texts if isinstance(t, str) and t.strip()]
    validation_texts = [t for t in (validation_texts or []) if isinstance(t, str) and t.strip()]
    if len(train_texts) < config.min_train_reviews:
        raise InputError(
            f"sentiment '{sentiment}': {len(train_texts)} training reviews, fewer than the minimum "
            f"{config.min_train_reviews} needed to fine-tune a generator"
        )
    return train_texts, validation_texts


@dataclass
class _Run:
    """One fine-tuning's settings with the training length resolved, its encoded reviews and its precision."""

    config: FinetuneConfig
    device: str
    amp_dtype: torch.dtype | None  # bfloat16 autocast, or None: float32
    pad_id: int
    train_lengths: list[int]  # each training review's whole length, before the cut to max_length
    train: list[tuple[list[int], int]]
    validation: list[tuple[list[int], int]]

    def autocast(self):
        if self.amp_dtype is not None:
            return torch.autocast(device_type=self.device, dtype=self.amp_dtype)
        return contextlib.nullcontext()

    def validation_perplexity(self, model) -> float | None:
        # Perplexity in the precision the generator trains in and is used in (generation and the generative classifier
        # load it in the same bfloat16 where the device has it): faster, and the figure of the model as it runs; float32
        # would keep updates that bfloat16 rounds off (docs/results.md, "Fine-tuning speed").
        with self.autocast():
            return (
                _perplexity_encoded(model, self.validation, self.pad_id, self.device, self.config.eval_batch_size)
                if self.validation
                else None
            )


def _encoded_run(
    tokenizer, train_texts: list[str], validation_texts: list[str], sentiment: str, config: FinetuneConfig, device: str
) -> _Run:
    # whole reviews: the training length is resolved once, from the training reviews, and saved with the model
    train_lengths = training_lengths(tokenizer, train_texts, sentiment, config)
    config = dataclasses.replace(config, max_length=covering_length(train_lengths, config))
    train_enc = encode_reviews(tokenizer, train_texts, sentiment, config)
    val_enc = encode_reviews(tokenizer, validation_texts, sentiment, config) if validation_texts else []
    amp_dtype = autocast_dtype(device, config.mixed_precision)
    return _Run(config, device, amp_dtype, tokenizer.pad_token_id, train_lengths, train_enc, val_enc)


def _with_lora(model, config: FinetuneConfig, base_path: Path | str):
    """`model` with LoRA adapters on `config.target_modules` (those it has; else peft's defaults)."""
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in config.target_modules if t in present] or None
    if targets is None:  # another architecture (e.g. GPT-2's c_attn): peft's default mapping
        log.info("LoRA targets %s not in %s; using peft's defaults", config.target_modules, base_path)
    return get_peft_model(
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


def _epoch_plan(train: list[tuple[list[int], int]], config: FinetuneConfig) -> list[list[list[int]]]:
    """Each epoch's batches (indices into `train`) in a seeded order; a fractional epoch is that share of one more."""
    gen = torch.Generator().manual_seed(config.seed)
    lengths = [len(ids) for ids, _ in train]
    full_epochs = int(math.floor(config.epochs))
    epoch_plan: list[list[list[int]]] = []
    for _ in range(full_epochs):
        epoch_plan.append(_batches(len(train), config.batch_size, lengths, gen))
    frac = config.epochs - full_epochs
    if frac > 1e-9:
        batches = _batches(len(train), config.batch_size, lengths, gen)
        epoch_plan.append(batches[: max(1, int(round(len(batches) * frac)))])
    return epoch_plan


# Padded tokens one forward and backward pass of a training step holds at most: a step of 8 reviews of 512 tokens
# runs as two passes of 4, with the same gradient (the parts' sums over the step's review tokens). The real run's
# fine-tunes peaked at 11.6 GB in one pass; in parts such steps took 2.7 GB less and ran 1.23-1.30x faster
# (docs/results.md, "Fine-tuning in parts"). Steps within it run as one pass, as before.
STEP_TOKENS = 2048


def _step_parts(batch: list[int], train: list[tuple[list[int], int]]) -> list[list[int]]:
    """A step's reviews (indices into `train`) in parts of at most `STEP_TOKENS` padded tokens (`length_batches`)."""
    parts = length_batches([len(train[i][0]) for i in batch], len(batch), STEP_TOKENS)
    return [[batch[j] for j in part] for part in parts]


def _optimizer(params: list, config: FinetuneConfig, steps: int):
    """AdamW and its schedule: a linear warmup over `warmup_ratio` of the steps, then a linear decay to 0."""
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
    return optimizer, scheduler


def _train(model, tokenizer, run: _Run, progress, on_epoch_end) -> tuple[list[float], int, float, int]:
    """Train `model` on `run.train`. -> (loss of each step, training tokens, seconds of training, steps)."""
    config = run.config
    epoch_plan = _epoch_plan(run.train, config)
    steps = sum(len(b) for b in epoch_plan)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer, scheduler = _optimizer(params, config, steps)

    losses: list[float] = []
    n_tokens = 0
    t_train = time.perf_counter()
    step = 0
    for epoch, batches in enumerate(epoch_plan):
        for batch in batches:
            parts = [
                collate_reviews([run.train[i] for i in part], run.pad_id, run.device)
                for part in _step_parts(batch, run.train)
            ]
            scored = sum(int((labels[:, 1:] != -100).sum()) for _, _, labels in parts)
            # the mean over the step's review tokens, as model(..., labels=labels).loss, computed on their rows only;
            # each part adds its share of the gradient, so only one part's activations are held at a time
            loss = torch.zeros(())
            for input_ids, attn, labels in parts:
                with run.autocast():
                    part_loss = -label_log_probs(model, input_ids, attn, labels)[0].sum() / max(1, scored)
                part_loss.backward()
                loss += part_loss.detach().float()
                n_tokens += int(attn.sum())
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(round(float(loss), 5))
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
    return losses, n_tokens, time.perf_counter() - t_train, steps


def _save(
    model, tokenizer, out_dir: Path, report: dict, config: FinetuneConfig, sentiment: str, base_path, t_start: float
) -> None:
    """Write the model, its tokenizer and `CONFIG_FILE` (with the report, its `wall_s` set now) to `out_dir`, whole
    or not at all: into a `.tmp-<pid>` sibling first, renamed over `out_dir` when complete."""
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
