"""The machine's measured compute ceiling at the base model's own matmul shapes.

A CPU with matrix units (Intel AMX, used by oneDNN for bfloat16 matmuls) runs large matmuls several times faster
than small ones, so "the ceiling" is not one number: it is the throughput of the model's own linear layers at
the tokens per matmul a step runs at. `forward_ceiling` times every linear layer shape of one forward pass
(each decoder layer's projections and the vocabulary head) at a number of tokens, and gives the FLOPs of the
forward's linears over the time they took: what a forward pass could reach if nothing but its matmuls cost time.
The benches print their share of it at the tokens per matmul they run at, and the ceiling at more tokens.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

import torch

from .model import dtype_name


@dataclass(frozen=True)
class LinearShape:
    name: str
    in_features: int
    out_features: int
    per_forward: int  # how many of it one forward pass runs (one per decoder layer, one head)


def linear_shapes(config) -> list[LinearShape]:
    """The linear layers of one forward pass of a Llama-style decoder (a Hugging Face config): attention's
    q/k/v/o projections, the gated MLP's gate/up/down, and the vocabulary head."""
    hidden, layers = config.hidden_size, config.num_hidden_layers
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    intermediate = config.intermediate_size
    return [
        LinearShape("q_proj, o_proj", hidden, heads * head_dim, 2 * layers),
        LinearShape("k_proj, v_proj", hidden, kv_heads * head_dim, 2 * layers),
        LinearShape("gate_proj, up_proj", hidden, intermediate, 2 * layers),
        LinearShape("down_proj", intermediate, hidden, layers),
        LinearShape("lm_head", hidden, config.vocab_size, 1),
    ]


def matmul_seconds(tokens: int, in_features: int, out_features: int, dtype: torch.dtype, min_seconds: float) -> float:
    """Seconds of one (tokens x in) @ (in x out) matmul in `dtype`, the median of repeats over `min_seconds`."""
    x = torch.randn(tokens, in_features).to(dtype)
    w = torch.randn(in_features, out_features).to(dtype)
    with torch.inference_mode():
        for _ in range(2):  # the first calls choose the kernel and fill the caches
            x @ w
        times, spent = [], 0.0
        while spent < min_seconds or len(times) < 3:
            started = time.perf_counter()
            x @ w
            times.append(time.perf_counter() - started)
            spent += times[-1]
    return sorted(times)[len(times) // 2]


def shape_seconds(
    config, tokens: int, dtype: torch.dtype, min_seconds: float = 0.3, head: bool = True
) -> dict[LinearShape, float]:
    """Seconds of one matmul of each linear layer shape of the model at `tokens` per matmul (`head=False`: without
    the vocabulary head, for a pass that reads hidden states only)."""
    return {
        shape: matmul_seconds(tokens, shape.in_features, shape.out_features, dtype, min_seconds)
        for shape in linear_shapes(config)
        if head or shape.name != "lm_head"
    }


def shape_gflops(tokens: int, shape: LinearShape, seconds: float) -> float:
    return 2 * tokens * shape.in_features * shape.out_features / seconds / 1e9


def forward_gflops(tokens: int, seconds: dict[LinearShape, float]) -> float:
    """GFLOP/s of one forward pass's linear layers, from each shape's matmul time: their FLOPs over their time."""
    flops = sum(s.per_forward * 2 * tokens * s.in_features * s.out_features for s in seconds)
    return flops / sum(s.per_forward * t for s, t in seconds.items()) / 1e9


def forward_ceiling(config, tokens: int, dtype: torch.dtype, min_seconds: float = 0.3, head: bool = True) -> float:
    """GFLOP/s of one forward pass's linear layers at `tokens` per matmul: their FLOPs over the time they take."""
    return forward_gflops(tokens, shape_seconds(config, tokens, dtype, min_seconds, head))


def onednn_kernels(dtype: torch.dtype = torch.bfloat16) -> list[str]:
    """The oneDNN implementations a matmul in `dtype` runs (e.g. `brg_matmul:avx10_1_512_amx`: AMX), read from
    ONEDNN_VERBOSE in a fresh process (the variable is read when oneDNN loads); empty when torch does not route
    the matmul through oneDNN (float32 goes to its own BLAS)."""
    name = dtype_name(dtype)
    code = f"import torch\na = torch.randn(512, 576).to(torch.{name})\nb = torch.randn(576, 1536).to(torch.{name})\na @ b\n"
    env = {**os.environ, "ONEDNN_VERBOSE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120).stdout
    kernels = [line.split(",")[6] for line in out.splitlines() if line.startswith("onednn_verbose,v1,primitive,exec")]
    return sorted(set(kernels))
