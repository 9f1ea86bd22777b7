"""Launchpad configs over library dataclasses: the library holds every default.

A field that overrides a library setting defaults to None (the launchpad shows the library's
default in its description); :func:`library_config` merges the fields that were set into the
library's dataclass with ``dataclasses.replace``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import dagster as dg
from pydantic import Field

T = TypeVar("T")


def override(library_type: type, name: str, description: str, **bounds: Any) -> Any:
    """A Config field that overrides ``library_type.name``: None unless set, with the library's
    default in its description and ``bounds`` (pydantic ``ge``/``gt``/``le``/``lt``)."""
    default = {f.name: f.default for f in dataclasses.fields(library_type)}[name]
    return Field(default=None, description=f"{description} (default: {default!r})", **bounds)


def library_config(config: dg.Config, defaults: T) -> T:
    """``defaults`` with every field of ``config`` that was set (not None) and that it has."""
    names = {f.name for f in dataclasses.fields(defaults)}
    chosen = {k: v for k, v in config.model_dump().items() if v is not None and k in names}
    return dataclasses.replace(defaults, **chosen)
