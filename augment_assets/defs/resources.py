"""Resources shared by every domain: where the warehouse lives, read from the environment."""

import os

import dagster as dg
from pydantic import Field

from augment_assets.lib.errors import InputError
from augment_assets.lib.generative_margins import ScoringConfig
from augment_assets.lib.settings import declared
from augment_assets.lib.warehouse import DEFAULT_WAREHOUSE, Warehouse


def env_or(name: str, default=None):
    """An `EnvVar` when the variable is set (the UI then shows which variable configured it),
    else the default — so an unset optional variable selects the embedded default instead of failing."""
    return dg.EnvVar(name) if os.environ.get(name) else default


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse every table asset is written to (`AUGMENT_WAREHOUSE`)."""

    path: str = DEFAULT_WAREHOUSE

    def get(self) -> Warehouse:
        return Warehouse(self.path)


def warehouse_resource() -> WarehouseResource:
    return WarehouseResource(path=env_or("AUGMENT_WAREHOUSE", DEFAULT_WAREHOUSE))


# the run-wide scoring length: its default, bound and description are the library's (lib/generative_margins.py)
_SCORING_TOKENS_DEFAULT, _SCORING_TOKENS = declared(ScoringConfig)["max_review_tokens"]


class ExperimentResource(dg.ConfigurableResource):
    """Settings every stage of one experiment shares: the seed of every draw, the share of each data size's
    pool held out as its validation fold (lib/folds.py), and the review tokens the generators read to score a
    review (training_set's generative teacher and classifier_metrics' generative classifier read the same)."""

    seed: int = 0
    validation_share: float = 0.2
    generative_max_review_tokens: int = Field(
        default=_SCORING_TOKENS_DEFAULT,
        # no pydantic bounds: Dagster validates the EnvVar placeholder against them; experiment_resource checks
        # the variable against the library's bound instead
        description=_SCORING_TOKENS.description,
    )


def _whole_number(name: str, example: str, minimum: int | None = None) -> bool:
    """Whether the variable is set; an error naming it when it is set to anything but a whole number >= minimum."""
    value = os.environ.get(name, "").strip()
    if not value:
        return False
    try:
        number = int(value)
    except ValueError:
        raise InputError(f"{name}={value!r} is not a whole number; unset it or give e.g. {name}={example}") from None
    if minimum is not None and number < minimum:
        raise InputError(f"{name}={value!r} must be at least {minimum}; unset it or give e.g. {name}={example}")
    return True


def experiment_resource() -> ExperimentResource:
    settings = {}
    if _whole_number("AUGMENT_SEED", "1"):
        settings["seed"] = dg.EnvVar.int("AUGMENT_SEED")
    if _whole_number("GENERATIVE_MAX_REVIEW_TOKENS", "128", int(_SCORING_TOKENS.ge)):
        settings["generative_max_review_tokens"] = dg.EnvVar.int("GENERATIVE_MAX_REVIEW_TOKENS")
    return ExperimentResource(**settings)
