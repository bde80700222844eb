"""Each setting is declared once: on the library's dataclass (lib/settings.py), with its default, bounds and
description. The Dagster config classes and resources that expose it must say the same, and the library's own
validation must enforce the bounds it declares."""

from __future__ import annotations

import dataclasses

import dagster as dg
import pytest

from augment_assets.definitions import build_definitions
from augment_assets.defs.resources import ExperimentResource, experiment_resource
from augment_assets.lib.embedding_fits import EmbeddingConfig
from augment_assets.lib.errors import InputError
from augment_assets.lib.finetune_config import FinetuneConfig
from augment_assets.lib.generate import GenerationConfig
from augment_assets.lib.generative_margins import ScoringConfig
from augment_assets.lib.settings import declared
from augment_assets.lib.variants import EvaluationConfig

LIBRARY_SETTINGS = (EvaluationConfig, ScoringConfig, EmbeddingConfig, GenerationConfig, FinetuneConfig)
# The library dataclass whose settings each Dagster config class exposes under the same names (None: it exposes
# none by name), and the fields exposed under another name: (config class, field) -> (library class, setting).
# Every Config class and resource of defs/ must be listed, so a new one is held to this test.
LIBRARY_OF = {
    "TrainingSetSettings": EvaluationConfig,
    "MetricsSettings": EvaluationConfig,
    "GenerationSettings": GenerationConfig,
    "FinetuneSettings": FinetuneConfig,
    "ExperimentResource": None,
}
RENAMED = {
    ("MetricsSettings", "embedding_max_tokens"): (EmbeddingConfig, "max_tokens"),
    ("ExperimentResource", "generative_max_review_tokens"): (ScoringConfig, "max_review_tokens"),
}
NOT_LIBRARY_SETTINGS = {  # config of the platform itself, declared once where it is used
    "WarehouseResource",
    "EvaluationResource",
    "ExportResource",
    "ReviewSourceResource",
    "LanguageModelResource",
    "RefreshConfig",
    "SplitConfig",
    "PromptTableConfig",
    "DeliverablesResource",
    "PredictionSettings",
}


def _config_classes() -> dict[str, type]:
    build_definitions()  # loads every module of defs/, so every Config class exists
    found, todo = {}, [dg.Config, dg.ConfigurableResource]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("augment_assets."):
                found[sub.__name__] = sub  # the latest class of a name (tests reload defs/)
    return found


def _exposed() -> list[tuple[type, str, type, str]]:
    """(config class, field, library class, setting) of every Dagster field that exposes a library setting."""
    classes = _config_classes()
    assert set(classes) <= set(LIBRARY_OF) | NOT_LIBRARY_SETTINGS, "a new Config class: list it in LIBRARY_OF"
    out = []
    for name, library in LIBRARY_OF.items():
        config = classes[name]
        for field in config.model_fields:
            if (name, field) in RENAMED:
                out.append((config, field, *RENAMED[(name, field)]))
            elif library is not None and field in declared(library):
                out.append((config, field, library, field))
    return out


def _bounds_of(field_info) -> dict:
    return {k: getattr(m, k) for m in field_info.metadata for k in ("ge", "gt", "le", "lt") if hasattr(m, k)}


def test_every_exposed_setting_has_the_librarys_default_bounds_and_description():
    exposed = _exposed()
    assert {(c.__name__, f) for c, f, _, _ in exposed} >= {
        ("TrainingSetSettings", "draws"),
        ("TrainingSetSettings", "ratios"),
        ("MetricsSettings", "bootstrap"),
        ("MetricsSettings", "embedding_max_tokens"),
        ("ExperimentResource", "generative_max_review_tokens"),
        ("GenerationSettings", "max_new_tokens"),
        ("FinetuneSettings", "max_length"),
    }
    for config, field, library, name in exposed:
        info = config.model_fields[field]
        default, bounds = declared(library)[name]
        where = f"{config.__name__}.{field} vs {library.__name__}.{name}"
        value = info.default_factory() if info.default_factory else info.default
        if isinstance(default, tuple):
            assert tuple(value) == default, where
        else:
            assert value in (default, None), where  # None: null keeps the library's default
            if not issubclass(config, dg.ConfigurableResource):  # a resource's variable is checked when read (below)
                assert _bounds_of(info) == bounds.limits(), where
        assert (info.description or "").startswith(bounds.description), where


def _just_outside(bound: str, limit: float, integer: bool) -> float:
    step = 1 if integer else 1e-6
    return {"ge": limit - step, "gt": limit, "le": limit + step, "lt": limit}[bound]


@pytest.mark.parametrize("library", LIBRARY_SETTINGS, ids=lambda c: c.__name__)
def test_the_library_enforces_the_bounds_it_declares(library):
    types = {f.name: f.type for f in dataclasses.fields(library)}
    for name, (default, bounds) in declared(library).items():
        for bound, limit in bounds.limits().items():
            integer = "int" in str(types[name])
            outside = _just_outside(bound, limit, integer)
            value = (*default, outside) if isinstance(default, tuple) else (int(outside) if integer else outside)
            with pytest.raises((ValueError, InputError)):
                library(**{name: value})
            if bound in ("ge", "le"):  # the bound itself is allowed
                library(**{name: (*default, limit) if isinstance(default, tuple) else limit})


def test_the_run_wide_scoring_length_is_read_from_its_variable_and_checked(monkeypatch):
    monkeypatch.delenv("GENERATIVE_MAX_REVIEW_TOKENS", raising=False)
    assert experiment_resource().generative_max_review_tokens == ScoringConfig().max_review_tokens
    monkeypatch.setenv("GENERATIVE_MAX_REVIEW_TOKENS", "128")
    assert (
        dg.build_resources({"experiment": experiment_resource()}).__enter__().experiment.generative_max_review_tokens
        == 128
    )
    for bad, why in (("many", "is not a whole number"), ("4", "must be at least 8")):
        monkeypatch.setenv("GENERATIVE_MAX_REVIEW_TOKENS", bad)
        with pytest.raises(InputError, match=f"GENERATIVE_MAX_REVIEW_TOKENS='{bad}' {why}"):
            experiment_resource()
    assert ExperimentResource().generative_max_review_tokens == ScoringConfig().max_review_tokens
