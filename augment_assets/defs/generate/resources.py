"""The base language model (`BASE_MODEL`, default: the embedded SmolLM2-135M) and where models live."""

import contextlib
import functools
import inspect
import tempfile
import time
from pathlib import Path

import dagster as dg

from augment_assets.defs.resources import env_or
from augment_assets.lib.errors import InputError
from augment_assets.lib.machine_lock import held_exclusively
from augment_assets.lib.memory import release_freed_memory
from augment_assets.lib.model import EMBEDDED_MODEL, resolve_base_model
from augment_assets.lib.saved_classifier import ModelAccess


class LanguageModelResource(dg.ConfigurableResource):
    """Which causal LM to fine-tune, where fine-tuned models and generation chunks are kept."""

    base_model: str = EMBEDDED_MODEL
    models_dir: str = "data/models"
    work_dir: str = "data/work"
    device: str = "auto"
    # The machine's lock on its cores: host-local (the temporary directory unless set), not under models_dir, which
    # several hosts may share; the `language_model` pool decides how many hosts compute at once.
    lock_dir: str = ""

    def resolve(self) -> tuple[Path | str, dict]:
        return resolve_base_model(self.base_model, Path(self.models_dir))

    @property
    def lock_path(self) -> Path:
        return Path(self.lock_dir or tempfile.gettempdir()) / "augment-assets-language-model.lock"

    @contextlib.contextmanager
    def exclusive(self, log):
        """The machine's model lock, held for the block (lib/machine_lock.py says why beside the pool).
        Logs `MODEL_LOCK_HELD` and `MODEL_LOCK_RELEASED`, which scripts/celery_demo.py reads."""
        with contextlib.ExitStack() as stack:
            try:  # only taking the lock: an OSError of the block itself stays the block's
                waited = stack.enter_context(held_exclusively(self.lock_path, on_wait=log.info))
            except OSError as error:
                raise InputError(
                    f"Cannot create the language-model lock {self.lock_path} ({error.strerror or error}): point "
                    "AUGMENT_LOCK_DIR at a writable folder on this machine, or unset it for the temporary directory."
                ) from error
            held_at = time.monotonic()
            log.info(f"{MODEL_LOCK_HELD} (waited {waited:.1f} s): {self.lock_path}")
            try:
                yield
            finally:
                # the step's freed tensors back to the system, not carried into the process's next step
                resident = release_freed_memory()
                freed = f"; resident memory {resident[0]:.1f} -> {resident[1]:.1f} GB" if resident else ""
                log.info(f"{MODEL_LOCK_RELEASED} after {time.monotonic() - held_at:.1f} s{freed}")

    def access(self, progress=None) -> ModelAccess:
        """What a saved embedding or generative classifier reads reviews through."""
        path, info = self.resolve()
        return ModelAccess(info["base_model"], Path(path), Path(self.work_dir), self.device, progress)


MODEL_LOCK_HELD = "holding the language-model lock"
MODEL_LOCK_RELEASED = "released the language-model lock"


def holds_model_lock(fn):
    """Wraps a `language_model`-pool asset: its body runs under `LanguageModelResource.exclusive`."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        context, language_model = bound.arguments["context"], bound.arguments["language_model"]
        with language_model.exclusive(context.log):
            return fn(*args, **kwargs)

    return wrapper


def language_model_resource() -> LanguageModelResource:
    return LanguageModelResource(
        base_model=env_or("BASE_MODEL", EMBEDDED_MODEL),
        models_dir=env_or("AUGMENT_MODELS_DIR", "data/models"),
        work_dir=env_or("AUGMENT_WORK_DIR", "data/work"),
        lock_dir=env_or("AUGMENT_LOCK_DIR", ""),
    )
