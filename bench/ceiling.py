"""The machine's matmul ceiling at the base model's own layer shapes: float32 against bfloat16 (AMX where the CPU
has it), across tokens per matmul.

For each linear layer shape of the base model (read from its config: attention projections, the gated MLP, the
vocabulary head) and each number of tokens per matmul, the median time of a (tokens x in) @ (in x out) matmul,
as GFLOP/s; then the forward pass's ceiling (`lib/ceiling.forward_ceiling`: the FLOPs of all its linears over
their time) at each size. It also says which oneDNN kernel runs a bfloat16 matmul (ONEDNN_VERBOSE): an `amx`
implementation means the matrix units are used. The model benches print their share of this ceiling at the
tokens per matmul they run at.

Usage:
    python bench/ceiling.py           # 256 ... 16,384 tokens per matmul
    python bench/ceiling.py --quick   # < 1 min: 256, 2,048, 8,192
The last line is `ratio: X`: the bfloat16 forward ceiling over the float32 one at 2,048 tokens per matmul (what
feeding the matrix units large matmuls is worth on this machine).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from transformers import AutoConfig  # noqa: E402

from augment_assets.lib.ceiling import forward_gflops, onednn_kernels, shape_gflops, shape_seconds  # noqa: E402
from augment_assets.lib.model import EMBEDDED_MODEL, dtype_name, resolve_base_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--model", default=EMBEDDED_MODEL, help="BASE_MODEL value or folder (default: the embedded model)")
    args = ap.parse_args()
    tokens = (256, 2048, 8192) if args.quick else (256, 512, 1024, 2048, 4096, 8192, 16384)
    min_seconds = 0.1 if args.quick else 0.3
    path, _ = resolve_base_model(args.model, Path(os.environ.get("AUGMENT_MODELS_DIR", REPO / "data" / "models")))
    config = AutoConfig.from_pretrained(path)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"model {args.model} | torch {torch.__version__} | threads {torch.get_num_threads()} | load avg {load:.2f}")
    kernels = onednn_kernels(torch.bfloat16)
    amx = any("amx" in k for k in kernels)
    print(f"oneDNN bfloat16 matmul kernel: {', '.join(kernels) or 'none (not routed through oneDNN)'} -> AMX {amx}")
    ceilings = {}
    for dtype in (torch.float32, torch.bfloat16):
        name = dtype_name(dtype)
        seconds = {t: shape_seconds(config, t, dtype, min_seconds) for t in tokens}  # each matmul timed once
        print(f"\n{name}: GFLOP/s of one matmul, by tokens per matmul")
        print(f"{'layer (in x out)':<36}" + "".join(f"{t:>9,}" for t in tokens))
        for shape in seconds[tokens[0]]:
            label = f"{shape.name} ({shape.in_features} x {shape.out_features})"
            print(f"{label:<36}" + "".join(f"{shape_gflops(t, shape, seconds[t][shape]):>9.0f}" for t in tokens))
        ceilings[name] = {t: forward_gflops(t, seconds[t]) for t in tokens}
        print(f"{'forward pass (all its linears)':<36}" + "".join(f"{ceilings[name][t]:>9.0f}" for t in tokens))
    at = 2048
    print(
        f"\nat {at:,} tokens per matmul: float32 {ceilings['float32'][at]:.0f} GFLOP/s, bfloat16 "
        f"{ceilings['bfloat16'][at]:.0f} GFLOP/s; bfloat16 at {tokens[-1]:,}: {ceilings['bfloat16'][tokens[-1]]:.0f}"
    )
    print(f"ratio: {ceilings['bfloat16'][at] / ceilings['float32'][at]:.2f}")


if __name__ == "__main__":
    main()
