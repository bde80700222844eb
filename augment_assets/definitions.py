"""The code location: every module under defs/ is loaded by Dagster (`dg.load_from_defs_folder`),
so a domain's assets, checks, jobs, schedules and sensors are picked up where they are defined,
without a hand-kept list here. What is added here applies to all of them: the owner, domain tag and
automation of every asset, the executor, and the resources, which read the environment when the
definitions load (so a test or `--config`'s `env:` block can point them elsewhere)."""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg

from augment_assets.defs.automation.conditions import follows_inputs
from augment_assets.defs.automation.freshness import with_freshness
from augment_assets.defs.deploy.resources import deliverables_resource
from augment_assets.defs.evaluate.assets import evaluation_resource
from augment_assets.defs.executors import executor_from_environment
from augment_assets.defs.generate.resources import language_model_resource
from augment_assets.defs.ingest.resources import review_source_resource
from augment_assets.defs.resources import experiment_resource, warehouse_resource
from augment_assets.defs.share.assets import export_resource

OWNER = "team:augment-assets"  # who to ask about any asset of this code location
PROJECT_ROOT = Path(__file__).resolve().parent


def _owned(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Every asset: its owner, its domain (the group) as a tag to filter the catalog by, whether it
    follows its inputs (defs/automation/conditions.py) and how fresh it must be (freshness.py)."""
    spec = spec.replace_attributes(owners=[OWNER], tags={**spec.tags, "domain": spec.group_name or "external"})
    return with_freshness(follows_inputs(spec))


def build_definitions() -> dg.Definitions:
    """Definitions with resources and the executor read from the environment at load time."""
    with (
        warnings.catch_warnings()
    ):  # Definitions.map_asset_specs is marked preview; its behaviour is pinned by the tests
        warnings.simplefilter("ignore", dg.PreviewWarning)
        from_folder = dg.load_from_defs_folder(path_within_project=PROJECT_ROOT).map_asset_specs(func=_owned)
    return dg.Definitions.merge(
        from_folder,
        dg.Definitions(
            executor=executor_from_environment(),
            resources={
                "warehouse": warehouse_resource(),
                "source": review_source_resource(),
                "language_model": language_model_resource(),
                "experiment": experiment_resource(),
                "evaluation": evaluation_resource(),
                "exports": export_resource(),
                "deliverables": deliverables_resource(),
            },
        ),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
