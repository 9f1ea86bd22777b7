"""What a domain asks of the later stages: how its pairs are retrieved, which models it gets.

Plain dataclasses and names, no heavy imports, so a domain spec parses without torch or faiss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Mode = Literal["text-to-image", "text-to-text", "image-to-image"]
MODES = ("text-to-image", "text-to-text", "image-to-image")
VARIANTS = ("gated-image", "locked-text", "full")  # customizations a domain may ask for
# The cheap baselines of REAL (Parashar et al., CVPR 2024) a domain may ask for beside them.
BASELINES = ("real-prompt", "real-linear")


@dataclass(frozen=True)
class RetrievalConfig:
    """How many pairs each query brings and how the union is cleaned."""

    k_per_query: int = 50
    mode: Mode = "text-to-image"
    max_per_class: int | None = None
    near_duplicate_threshold: float = 0.95
    dedupe_by_image_hash: bool = True
    # A uniform random sample of the rest of the corpus, this fraction of the class-retrieved
    # pairs' count, trained on with them (class_index GENERAL_CLASS): it keeps the new blocks
    # from forgetting what the base model knew when the retrieved pairs are narrow. 0 (the
    # paper's recipe) adds none.
    general_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"RetrievalConfig.mode must be one of {MODES}, got {self.mode!r}")
        if self.k_per_query < 1:
            raise ValueError(f"RetrievalConfig.k_per_query must be >= 1, got {self.k_per_query}")
        if self.max_per_class is not None and self.max_per_class < 1:
            raise ValueError(f"RetrievalConfig.max_per_class must be >= 1 or None, "
                             f"got {self.max_per_class}")
        if not 0.0 <= self.general_fraction < math.inf:
            raise ValueError(f"RetrievalConfig.general_fraction must be finite and >= 0, "
                             f"got {self.general_fraction}")
        if not 0.0 < self.near_duplicate_threshold <= 1.0:
            raise ValueError(f"RetrievalConfig.near_duplicate_threshold must be in (0, 1], "
                             f"got {self.near_duplicate_threshold}")
