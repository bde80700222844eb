"""Which warehouse tables each asset and asset check actually reads, recorded during real runs.

`ReadLog` wraps `Warehouse.read` / `Warehouse.has_table` and attributes every table a
query names to the asset or check whose Dagster step is executing (runs are in-process, so
the step's context is on the call stack). Tables that are not assets belong to the asset
that writes them.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict

import dagster as dg

from augment_assets.lib.warehouse import Warehouse

# tables an asset writes besides its own
TABLE_OWNER = {
    "fine_tuning_corpus": "sentiment_generator",
    "training_set_configs": "training_set",
    "perturbed_reviews": "training_set",
    "relabelled_reviews": "training_set",
    "reference_decision": "training_set",
    "classifier_metrics_curve": "classifier_metrics",
    "generative_scores": "classifier_metrics",
    "candidate_gains": "headline",
    "strategy_comparison": "recommendation",
    "classifier_registry": "sentiment_classifier",
    "latest_predictions": "review_predictions",
    # the shared views belong to the asset that creates them
    "synthetic_reviews_with_lineage": "warehouse_views",
    "generator_registry": "warehouse_views",
    "latest_headline": "warehouse_views",
    "selected_metrics": "warehouse_views",
}
_TABLES = re.compile(r'\b(?:FROM|JOIN)\s+"?([A-Za-z_][A-Za-z0-9_]*)"?', re.IGNORECASE)


class ReadLog:
    def __init__(self, defs: dg.Definitions):
        graph = defs.resolve_asset_graph()
        self.allowed: dict[str, set[str]] = {}
        self.by_op: dict[str, str] = {}  # op name (= step key) -> reader label
        for assets_def in defs.assets:
            if not isinstance(assets_def, dg.AssetsDefinition) or not assets_def.is_executable:
                continue
            keys = [k.to_user_string() for k in assets_def.keys]
            label = "+".join(keys)
            parents = {p.to_user_string() for k in assets_def.keys for p in graph.get(k).parent_keys}
            self.allowed[label] = parents | set(keys)
            self.by_op[assets_def.op.name] = label
        for checks_def in defs.asset_checks or []:
            (spec,) = checks_def.check_specs
            label = f"{spec.asset_key.to_user_string()}:{spec.name}"
            self.allowed[label] = {d.asset_key.to_user_string() for d in spec.additional_deps} | {
                spec.asset_key.to_user_string()
            }
            self.by_op[checks_def.node_def.name] = label
        self.reads: dict[str, set[str]] = defaultdict(set)

    def _reader(self) -> str | None:
        frame = sys._getframe(2)
        while frame is not None:
            step_context = frame.f_locals.get("step_context")
            step = getattr(step_context, "step", None)
            if step is not None:
                return self.by_op.get(step.key)
            frame = frame.f_back
        return None

    def record(self, tables) -> None:
        reader = self._reader()
        if reader is not None:
            self.reads[reader].update(TABLE_OWNER.get(t, t) for t in tables)

    def install(self, monkeypatch) -> ReadLog:
        log, read, has_table = self, Warehouse.read, Warehouse.has_table

        def logged_read(store, sql, params=None):
            log.record(_TABLES.findall(sql))
            return read(store, sql, params)

        def logged_has_table(store, name):
            log.record([name])
            return has_table(store, name)

        monkeypatch.setattr(Warehouse, "read", logged_read)
        monkeypatch.setattr(Warehouse, "has_table", logged_has_table)
        return self

    def undeclared(self) -> dict[str, set[str]]:
        """Reader -> tables it read without declaring them (information_schema and CTEs aside)."""
        known = set().union(*self.allowed.values()) | set(TABLE_OWNER.values())
        return {
            reader: bad
            for reader, tables in self.reads.items()
            if (bad := {t for t in tables if t in known or t in TABLE_OWNER} - self.allowed[reader])
        }
