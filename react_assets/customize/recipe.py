"""The recipe a domain's customizations are trained with: one dataclass, its defaults the demo's.

The official REACT recipe (lr 5e-4 for 32 epochs of millions of pairs, thousands of steps) is
scaled here to a few thousand retrieved pairs (a few hundred steps): with Adam a gate moves at
most ~lr per step, so 5e-4 leaves the gates nearly shut (|alpha| 0.04 after 160 steps on the
demo world), hence lr 2e-3.
"""

from __future__ import annotations

from dataclasses import dataclass

from react_assets.customize.gated import CustomizationConfig
from react_assets.customize.train import TrainConfig


@dataclass(frozen=True)
class CustomizationRecipe:
    """Which blocks train, for how long and how fast; locked-text has its own learning rate."""

    num_gated_blocks: int = 2
    epochs: int = 20
    # A budget in optimizer steps: the run stops at min(epochs x steps per epoch, max_steps) and
    # its lr schedule spans that many steps. None: epochs alone decide.
    max_steps: int | None = None
    batch_size: int = 128
    lr: float = 2e-3
    locked_text_lr: float = 1e-4
    weight_decay: float = 0.1
    warmup_steps: int = 20
    seed: int = 0
    checkpoint_every: int = 50
    log_every: int = 10

    def customization(self, variant: str) -> CustomizationConfig:
        """The model ``variant`` of this recipe."""
        return CustomizationConfig(variant=variant, num_gated_blocks=self.num_gated_blocks,
                                   init_seed=self.seed)

    def train(self, variant: str) -> TrainConfig:
        """The training settings of ``variant``."""
        return TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, max_steps=self.max_steps,
            lr=self.locked_text_lr if variant == "locked-text" else self.lr,
            weight_decay=self.weight_decay, warmup_steps=self.warmup_steps, seed=self.seed,
            checkpoint_every=self.checkpoint_every, log_every=self.log_every,
        )
