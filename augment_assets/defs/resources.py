"""Resources shared by every domain: where the warehouse lives, read from the environment."""


import os

import dagster as dg

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


class ExperimentResource(dg.ConfigurableResource):
    """Settings that generation and evaluation must share to stay honest.

    The generators are fine-tuned on the *fit* part of `validation_split(training_reviews,
    validation_share, seed)`, and the evaluation makes every choice on its *validation*
    part, so no synthetic review can have been learned from a validation review.
    """

    seed: int = 0
    validation_share: float = 0.2
    # Low-data mode of the evaluation (genuine training capped per class); None turns it off.
    low_data_per_class: int | None = 50
    # Fine-tune the generators on the low-data subset only, so their synthetic reviews are a
    # fair low-data candidate (a generator that saw more reviews would smuggle them in).
    generators_on_low_data: bool = False

    def generator_train_per_class(self) -> int | None:
        return self.low_data_per_class if self.generators_on_low_data else None


def experiment_resource() -> ExperimentResource:
    low_data = os.environ.get("LOW_DATA_PER_CLASS", "50")
    return ExperimentResource(
        seed=dg.EnvVar.int("AUGMENT_SEED") if os.environ.get("AUGMENT_SEED") else 0,
        # LOW_DATA_PER_CLASS=0 (or "off") turns the low-data comparison off.
        low_data_per_class=None if low_data.strip().lower() in ("0", "off", "none", "") else int(low_data),
        generators_on_low_data=os.environ.get("GENERATORS_ON_LOW_DATA", "0").strip().lower() in ("1", "true", "yes"),
    )
