"""Launchpad configs over library dataclasses: the library holds every default.

A field that overrides a library setting defaults to None (the launchpad shows the library's
default in its description); :func:`library_config` merges the fields that were set into the
library's dataclass with ``dataclasses.replace``.

Bounds are enforced at launch, not when a step starts. Dagster turns a pydantic ``Config``
class into a config schema of plain ``Int``/``Float``/``String`` fields and checks pydantic's
``ge``/``le`` only when the step builds the object, after the run has started. So an asset
declares ``config_schema=launch_schema(TheConfig)`` instead: every bounded number becomes a
:class:`BoundedNumber` config type (its post-processing runs while Dagster resolves the run
config, before a run exists: the launchpad, ``dagster job launch`` and ``execute_in_process``
all refuse the launch), and every field with ``choices`` becomes a Dagster ``Enum`` (red in the
launchpad as soon as it is typed). The body rebuilds the pydantic object with
:func:`launch_config`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from typing import Any, TypeVar

import annotated_types
import dagster as dg
from pydantic import Field

from dagster_project.private_api import ConfigScalar, ConfigScalarKind, PostProcessingError

T = TypeVar("T")
C = TypeVar("C", bound=dg.Config)


def override(library_type: type, name: str, description: str, *,
             choices: tuple[str, ...] | None = None, **bounds: Any) -> Any:
    """A Config field that overrides ``library_type.name``: None unless set, with the library's
    default in its description, ``bounds`` (pydantic ``ge``/``gt``/``le``/``lt``) and, for a
    string, its allowed ``choices``; :func:`launch_schema` turns both into the config schema."""
    default = {f.name: f.default for f in dataclasses.fields(library_type)}[name]
    return Field(default=None, description=f"{description} (default: {default!r})",
                 json_schema_extra={"choices": list(choices)} if choices else None, **bounds)


def library_config(config: dg.Config, defaults: T) -> T:
    """``defaults`` with every field of ``config`` that was set (not None) and that it has."""
    names = {f.name for f in dataclasses.fields(defaults)}
    chosen = {k: v for k, v in config.model_dump().items() if v is not None and k in names}
    return dataclasses.replace(defaults, **chosen)


class BoundedNumber(ConfigScalar):
    """An Int or Float config type whose bounds Dagster checks while it resolves the run config."""

    def __init__(self, kind: type, bounds: tuple[tuple[str, float], ...]) -> None:
        self.python_kind = kind
        self.bounds = bounds
        text = " and ".join(f"{_SYMBOLS[op]} {_number(v)}" for op, v in bounds)
        name = f"{kind.__name__.capitalize()}_" + "_".join(
            f"{op}_{re.sub(r'[^0-9A-Za-z]', 'p', _number(v))}" for op, v in bounds)
        super().__init__(key=name, given_name=name,
                         scalar_kind=ConfigScalarKind.INT if kind is int else ConfigScalarKind.FLOAT,
                         description=f"a number {text}")

    def post_process(self, value: Any) -> Any:
        """Refuse a value outside the bounds (Dagster reports it as a config error)."""
        number = float(value) if self.python_kind is float else value
        if isinstance(number, float) and not math.isfinite(number):
            raise PostProcessingError(f"{value!r} is not a finite number")
        for op, bound in self.bounds:
            if not _CHECKS[op](number, bound):
                raise PostProcessingError(f"{value!r} must be {_SYMBOLS[op]} {_number(bound)}")
        return number


_SYMBOLS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
_CHECKS = {"ge": lambda v, b: v >= b, "gt": lambda v, b: v > b,
           "le": lambda v, b: v <= b, "lt": lambda v, b: v < b}
_BOUND_TYPES = {annotated_types.Ge: "ge", annotated_types.Gt: "gt",
                annotated_types.Le: "le", annotated_types.Lt: "lt"}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@functools.cache
def bounded_number(kind: type, bounds: tuple[tuple[str, float], ...]) -> BoundedNumber:
    """One config type per (kind, bounds): Dagster requires distinct types to have distinct names."""
    return BoundedNumber(kind, bounds)


@functools.cache
def _choice_enum(name: str, choices: tuple[str, ...]) -> dg.Enum:
    return dg.Enum(name, [dg.EnumValue(c) for c in choices])


def _plain_type(annotation: Any) -> tuple[Any, bool]:
    """(the annotation without ``| None``, whether None is allowed)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], len(args) < len(typing.get_args(annotation))
    return annotation, False


def _config_type(name: str, info: Any) -> Any:
    kind, optional = _plain_type(info.annotation)
    bounds = tuple(sorted((op, float(getattr(m, op))) for m in info.metadata
                          for t, op in _BOUND_TYPES.items() if isinstance(m, t)))
    choices = (info.json_schema_extra or {}).get("choices") if isinstance(
        info.json_schema_extra, dict) else None
    if choices:
        enum = _choice_enum(f"{name}_choice", tuple(choices))
        inner: Any = [enum] if typing.get_origin(kind) is list else enum
    elif bounds and kind in (int, float):
        inner = bounded_number(kind, bounds)
    elif typing.get_origin(kind) is list:
        inner = [typing.get_args(kind)[0]]
    else:
        inner = kind
    return dg.Noneable(inner) if optional else inner


def launch_schema(config_class: type[dg.Config]) -> dict[str, dg.Field]:
    """The Dagster config schema of a pydantic ``Config`` class, with its bounds and choices."""
    schema = {}
    for name, info in config_class.model_fields.items():
        default = info.get_default(call_default_factory=True)
        schema[name] = dg.Field(_config_type(name, info), is_required=False,
                                default_value=default, description=info.description)
    return schema


def launch_config(context: Any, config_class: type[C]) -> C:
    """The step's config (already checked at launch) as the pydantic object."""
    op_context = getattr(context, "op_execution_context", context)
    return config_class(**op_context.op_config)
