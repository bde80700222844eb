"""Resources shared by every domain: where the warehouse lives, read from the environment."""

import os

import dagster as dg

from augment_assets.lib.errors import InputError
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
    """Settings every stage of one experiment shares: the seed of every draw, and the share of each
    data size's pool held out as its validation fold (lib/folds.py)."""

    seed: int = 0
    validation_share: float = 0.2


def experiment_resource() -> ExperimentResource:
    seed = os.environ.get("AUGMENT_SEED", "0").strip() or "0"
    try:
        int(seed)
    except ValueError:
        raise InputError(f"AUGMENT_SEED={seed!r} is not a whole number; unset it or give e.g. AUGMENT_SEED=1") from None
    return ExperimentResource(seed=dg.EnvVar.int("AUGMENT_SEED") if os.environ.get("AUGMENT_SEED", "").strip() else 0)
