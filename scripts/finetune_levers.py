"""Fine-tuning levers beside the default, on the same reviews and seed: tokens/s and validation perplexity.

The reviews are bench/finetune.py's (the shared CSV's positive reviews, or a fixed fallback); each run is
`lib/finetune.finetune` with one lever changed:
- default: `FinetuneConfig()` at the bench's `max_length` 192, batch 8, one epoch;
- masked: the default before 2026-12-07 (the padding mask in attention, the head in chunks of 64 rows in training, a step in one pass);
- bs16: 16 reviews per optimizer step, learning rate x sqrt(2);
- lora: `method="lora"`;
- compile: the decoder under `torch.compile(dynamic=True)` (compile time counts: it is paid by every fine-tune);
- bf16: the weights in bfloat16 with no autocast, AdamW on a float32 master copy (each step: the bfloat16
  gradients to float32, the updated master back to bfloat16), so no weight or activation is cast inside the step;
- regional: each decoder layer under `torch.compile(dynamic=True)` on its own (one graph for all 30 layers);
  bf16-regional: that and the bf16 lever;
- head256, head1024: the vocabulary projection in chunks of 256 or 1,024 rows (`model.HEAD_CHUNK_ROWS`, 64);
- math, math-head256, math-head1024: attention's `math` SDPA backend in training (not the flash kernel), alone or
  with those chunks;
- freezeK (K = 0, 10, 15, 20): the embedding (tied to the head) and the first K decoder layers frozen; `-bf16`: the
  frozen part kept in bfloat16; `-lr2`: and the learning rate x2; lr2: the learning rate x2 alone.
docs/results.md ("Tokens per forward pass") has the figures.

Usage: python scripts/finetune_levers.py [VARIANT ...] [--n-train 96]   (each VARIANT in its own process)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

VARIANTS = (
    "default",
    "masked",
    "bs16",
    "lora",
    "compile",
    "bf16",
    "regional",
    "bf16-regional",
    "head256",
    "head1024",
    "math",
    "math-head256",
    "math-head1024",
    "freeze0",
    "freeze10",
    "freeze15",
    "freeze20",
    "freeze15-bf16",
    "freeze20-bf16",
    "freeze10-lr2",
    "freeze15-lr2",
    "freeze0-lr2",
    "lr2",
)


def run(variant: str, n_train: int) -> dict:
    from finetune import reviews  # bench/finetune.py

    import augment_assets.lib.finetune as ft
    from augment_assets.lib.model import EMBEDDED_MODEL, resolve_base_model

    levers = {"epochs": 1.0, "max_length": 192, "batch_size": 8, "seed": 0}
    if variant == "bs16":
        levers.update(batch_size=16, learning_rate=ft.FinetuneConfig().learning_rate * 2**0.5)
    if variant == "lora":
        levers.update(method="lora")
    if variant == "compile":
        load = ft.load_model

        def compiled(*args, **kwargs):
            model, tokenizer = load(*args, **kwargs)
            model.base_model.compile(dynamic=True)
            return model, tokenizer

        ft.load_model = compiled
    if variant.endswith("regional"):
        load = ft.load_model

        def layers_compiled(*args, **kwargs):
            model, tokenizer = load(*args, **kwargs)
            for layer in model.base_model.layers:  # one graph, reused by every layer (its weights are inputs)
                layer.compile(dynamic=True)
            return model, tokenizer

        ft.load_model = layers_compiled
    if "head" in variant:
        import augment_assets.lib.model as model_lib

        model_lib.HEAD_CHUNK_ROWS = int(variant.split("head")[1])
    if variant.startswith("math"):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        flash_train = ft._train

        def math_attention(*args, **kwargs):
            with sdpa_kernel(SDPBackend.MATH):
                return flash_train(*args, **kwargs)

        ft._train = math_attention
    if variant == "masked":  # the path before 2026-12-07: the padding mask, and 64-row head chunks in training
        from _today_paths import use_today_path  # bench/_today_paths.py

        use_today_path()  # for the rest of this process
    if variant.endswith("lr2"):
        levers.update(learning_rate=ft.FinetuneConfig().learning_rate * 2)
    if variant.startswith("freeze"):
        load = ft.load_model
        k = int(variant.split("-")[0][len("freeze") :])

        def frozen(*args, **kwargs):
            import torch

            model, tokenizer = load(*args, **kwargs)
            lower = [model.base_model.embed_tokens, *model.base_model.layers[:k]]
            for module in lower:
                module.requires_grad_(False)
                if "bf16" in variant:
                    module.to(torch.bfloat16)
            return model, tokenizer

        ft.load_model = frozen
    if variant.startswith("bf16"):
        ft._train = _train_bfloat16_weights
    train, validation = reviews(n_train)
    path, _ = resolve_base_model(EMBEDDED_MODEL, REPO / "data" / "models")
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        report = ft.finetune(path, train, "positive", Path(out) / "model", ft.FinetuneConfig(**levers), validation)
        wall = time.perf_counter() - started
    return {
        "variant": variant,
        "tokens_per_s": report["tokens_per_s"],
        "train_s": report["train_s"],
        "wall_s": round(wall, 1),
        "perplexity": [round(report["perplexity_before"], 2), round(report["perplexity_after"], 2)],
        "steps": report["steps"],
    }


def _train_bfloat16_weights(model, tokenizer, run, progress, on_epoch_end):
    """lib/finetune._train with bfloat16 weights and a float32 master copy in the optimizer (the `bf16` lever)."""
    import torch

    import augment_assets.lib.finetune as ft

    config = run.config
    model.to(torch.bfloat16)
    run.amp_dtype = None  # the weights are bfloat16 already: no autocast, in training or in the perplexity after
    epoch_plan = ft._epoch_plan(run.train, config)
    steps = sum(len(b) for b in epoch_plan)
    params = [p for p in model.parameters() if p.requires_grad]
    master = [p.detach().float().clone().requires_grad_(True) for p in params]
    optimizer, scheduler = ft._optimizer(master, config, steps)
    losses, n_tokens, step = [], 0, 0
    started = time.perf_counter()
    for batches in epoch_plan:
        for batch in batches:
            input_ids, attn, labels = ft.collate_reviews([run.train[i] for i in batch], run.pad_id, run.device)
            loss = -ft.label_log_probs(model, input_ids, attn, labels)[0].float().mean()
            loss.backward()
            for m, p in zip(master, params):
                m.grad, p.grad = p.grad.float(), None
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(master, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                for m, p in zip(master, params):
                    p.copy_(m)
            losses.append(round(float(loss.detach()), 5))
            n_tokens += int(attn.sum())
            step += 1
    return losses, n_tokens, time.perf_counter() - started, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variants", nargs="*", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--n-train", type=int, default=96)
    args = parser.parse_args()
    if len(args.variants) == 1:
        print(json.dumps(run(args.variants[0], args.n_train)), flush=True)
        return
    for variant in args.variants:  # one process each: a compiled or patched model must not reach the next
        done = subprocess.run(
            [sys.executable, __file__, variant, "--n-train", str(args.n_train)], capture_output=True, text=True
        )
        print(
            done.stdout.strip().splitlines()[-1]
            if done.returncode == 0
            else f"{variant}: failed\n{done.stderr[-2000:]}"
        )


if __name__ == "__main__":
    main()
