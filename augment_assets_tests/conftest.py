"""Fixtures shared by the tests: each test's own language-model lock, the embedded tokenizer and a tiny random Llama."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONVERTED = REPO / "data" / "models" / "base" / "smollm2-135m-instruct"


@pytest.fixture(autouse=True)
def own_model_lock(tmp_path_factory, monkeypatch):
    """Each test's model steps take a lock of their own (AUGMENT_LOCK_DIR): a process a failed test left
    behind cannot make the next tests wait for the machine's lock, nor a `make demo` beside the suite."""
    monkeypatch.setenv("AUGMENT_LOCK_DIR", str(tmp_path_factory.mktemp("locks")))


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    """The embedded tokenizer: from the converted cache when present, else from the GGUF once per session."""
    if (CONVERTED / "tokenizer.json").exists():
        return CONVERTED
    from transformers import AutoTokenizer

    from augment_assets.lib.model import embedded_gguf_path

    gguf = embedded_gguf_path()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    out = tmp_path_factory.mktemp("embedded-tokenizer")
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer_dir) -> Path:
    """A randomly initialised 2-layer Llama with the embedded tokenizer: real code paths in seconds."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    out = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out
