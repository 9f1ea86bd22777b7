"""The outcome of a data contract (an asset check's body lives in its stage, as a function)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckOutcome:
    """Whether a rule held, and the figures that show it (plain values: numbers, text, lists
    and dicts)."""

    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)


def all_of(outcomes: Mapping[str, CheckOutcome], part: str = "shard") -> CheckOutcome:
    """One outcome for a rule checked on several ``part``s (a run's shards): it holds when it
    held for each. One part: that part's outcome as it is. Several: the parts checked, those that
    failed, and each part's figures under its name."""
    if not outcomes:
        raise ValueError(f"all_of: no {part} was checked")
    if len(outcomes) == 1:
        return next(iter(outcomes.values()))
    failed = [name for name, outcome in outcomes.items() if not outcome.passed]
    return CheckOutcome(passed=not failed, metadata={
        f"{part}s": list(outcomes), f"failed_{part}s": failed,
        f"by_{part}": {name: outcome.metadata for name, outcome in outcomes.items()},
    })
