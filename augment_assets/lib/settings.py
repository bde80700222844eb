"""A setting declared once: its default, its bounds and its description live on the library's dataclass field.

`setting(...)` is a `dataclasses.field` whose metadata carries the bounds and the description. The Dagster
`Config` classes build their fields from it (`defs/settings.py: config_field`), and a test holds the library's
own validation (`__post_init__`) to the same bounds, so an asset and the library cannot drift apart.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Bounds:
    description: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def limits(self) -> dict:
        """The bounds that are set, as pydantic's `Field` takes them."""
        return {k: v for k, v in (("ge", self.ge), ("gt", self.gt), ("le", self.le), ("lt", self.lt)) if v is not None}


def setting(default=dataclasses.MISSING, *, description: str, default_factory=dataclasses.MISSING, **bounds):
    """A dataclass field that is a user-facing setting: `ge`, `gt`, `le`, `lt` bound a number (or each number of
    a tuple); `None` as a value always passes (null: the documented automatic choice)."""
    metadata = {"setting": Bounds(description, **bounds)}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def declared(cls) -> dict[str, tuple[object, Bounds]]:
    """{name: (default, bounds)} of every setting a dataclass declares."""
    out = {}
    for f in dataclasses.fields(cls):
        if "setting" in f.metadata:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            out[f.name] = (default, f.metadata["setting"])
    return out
