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


VERSUS_CHAMPION = ("not-worse", "better")


@dataclass(frozen=True)
class PromotionPolicy:
    """When a new version of a domain's model becomes its champion (the project's defaults; a
    spec's ``promotion:`` overrides them).

    - ``significance``: each of the domain's own datasets must show a gain over the base with a
      paired p-value below it; the evaluation's intervals are at ``1 - significance``.
    - ``max_general_loss``: points (x100); on each general set (classification) and each
      image-text retrieval set (R@1, both ways), the difference from the base at its interval's
      lower bound must not fall below ``-max_general_loss``.
    - ``versus_champion``: ``not-worse``: on the domain's datasets the new version must not be
      significantly worse than the current champion; ``better``: it must be significantly better.
    """

    significance: float = 0.05
    max_general_loss: float = 5.0
    versus_champion: Literal["not-worse", "better"] = "not-worse"

    def __post_init__(self) -> None:
        if not 0.0 < self.significance <= 0.5:
            raise ValueError(f"PromotionPolicy.significance must be in (0, 0.5], "
                             f"got {self.significance}")
        if not 0.0 <= self.max_general_loss <= 100.0:
            raise ValueError(f"PromotionPolicy.max_general_loss must be in [0, 100] points, "
                             f"got {self.max_general_loss}")
        if self.versus_champion not in VERSUS_CHAMPION:
            raise ValueError(f"PromotionPolicy.versus_champion must be one of {VERSUS_CHAMPION}, "
                             f"got {self.versus_champion!r}")

    @property
    def level(self) -> float:
        """The two-sided level of the evaluation's intervals."""
        return 1.0 - self.significance
