"""The library's layering: only the modules that run a model import torch.

The statistics, the evaluation and the table helpers are used by the assets that read the warehouse;
importing them must not pay for torch (seconds, and hundreds of MB) or tie them to a model.
"""

import subprocess
import sys
from pathlib import Path

import augment_assets.lib

# The modules that run a language model. Everything else in lib/ works on tables, texts and numbers.
MODEL_MODULES = {
    "model",
    "finetune",
    "generate",
    "generate_decoding",
    "generate_kept",
    "generative",
    "embedding",
    "sampling",
    "ceiling",
}
LIB = Path(augment_assets.lib.__file__).parent


def _loaded_after_import(modules: list[str]) -> set[str]:
    code = (
        "import sys\n"
        + "".join(f"import augment_assets.lib.{m}\n" for m in modules)
        + "print(','.join(sorted(n for n in ('torch', 'transformers', 'peft') if n in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    return set(filter(None, out.split(",")))


def test_importing_the_evaluation_leaves_torch_unloaded():
    assert _loaded_after_import(["evaluation"]) == set()


def test_only_the_model_modules_import_torch():
    modules = sorted(p.stem for p in LIB.glob("*.py") if p.stem != "__init__")
    assert MODEL_MODULES <= set(modules), "a model module was renamed: update MODEL_MODULES"
    assert _loaded_after_import([m for m in modules if m not in MODEL_MODULES]) == set()
    # and the check can fail: a model module does load torch
    assert "torch" in _loaded_after_import(["model"])
