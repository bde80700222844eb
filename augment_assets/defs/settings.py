"""Dagster config fields built from the library's settings (lib/settings.py): the default, the bounds and the
description are declared once, on the library dataclass, and every `dg.Config` that exposes a setting reads
them from there."""

from __future__ import annotations

from pydantic import Field

from augment_assets.lib.settings import declared


def config_field(cls, name: str, *, nullable: bool = False, description: str | None = None):
    """The pydantic field of setting `name` of library dataclass `cls`.

    `nullable`: the field defaults to null, which keeps the library's default (or its documented automatic
    choice); a value is still held to the library's bounds. A tuple setting becomes a list field, its elements
    checked by the library (a validator of the Config, or the dataclass itself)."""
    default, bounds = declared(cls)[name]
    text = description or bounds.description
    if isinstance(default, tuple):
        return Field(default_factory=lambda: list(default), description=text)
    if nullable:
        shown = "automatic" if default is None else default
        return Field(default=None, description=f"{text} Null: {shown}.", **bounds.limits())
    return Field(default=default, description=text, **bounds.limits())
