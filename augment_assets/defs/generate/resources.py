"""The base language model (`BASE_MODEL`, default: the embedded SmolLM2-135M) and where models live."""

from pathlib import Path

import dagster as dg

from augment_assets.defs.resources import env_or
from augment_assets.lib.model import EMBEDDED_MODEL, resolve_base_model
from augment_assets.lib.saved_classifier import ModelAccess


class LanguageModelResource(dg.ConfigurableResource):
    """Which causal LM to fine-tune, where fine-tuned models and generation chunks are kept."""

    base_model: str = EMBEDDED_MODEL
    models_dir: str = "data/models"
    work_dir: str = "data/work"
    device: str = "auto"

    def resolve(self) -> tuple[Path | str, dict]:
        return resolve_base_model(self.base_model, Path(self.models_dir))

    def access(self, progress=None) -> ModelAccess:
        """What a saved embedding or generative classifier reads reviews through."""
        path, info = self.resolve()
        return ModelAccess(info["base_model"], Path(path), Path(self.work_dir), self.device, progress)


def language_model_resource() -> LanguageModelResource:
    return LanguageModelResource(
        base_model=env_or("BASE_MODEL", EMBEDDED_MODEL),
        models_dir=env_or("AUGMENT_MODELS_DIR", "data/models"),
        work_dir=env_or("AUGMENT_WORK_DIR", "data/work"),
    )
