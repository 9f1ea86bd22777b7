"""The outcome of a data contract (an asset check's body lives in its stage, as a function)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckOutcome:
    """Whether a rule held, and the figures that show it (plain values: numbers, text, lists
    and dicts)."""

    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)
