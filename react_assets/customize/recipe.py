"""The recipes a domain's customizations are trained with: named presets of one dataclass.

``demo`` (the default) is tuned for the offline demo world: the official REACT recipe (lr 5e-4
for 32 epochs of millions of pairs, thousands of steps) scaled to a few thousand retrieved pairs
and a budget in steps, the same for every domain whatever its set's size: 500 steps of 64 pairs,
at most 12 epochs (more epochs overfit a small set of 8 px digits and cost the general set).
With Adam a gate moves at most ~lr per step, so 5e-4 would leave the gates nearly shut in a few
hundred steps, hence lr 5e-3 (5e-4 for locked-text, which trains the whole image tower);
open_clip's light crop; the logit scale frozen.

``official`` is the REACT paper's recipe: timm's train augmentation (random resized crop 0.08-1,
flip, RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25; :func:`official_train_transform`),
the logit scale trained and clamped at ln 100 in both variants, 5000 warmup steps, lr 5e-4 for
gated-image and 5e-5 for locked-text, 32 epochs of batches of 4096, mixed precision. How many
blocks get a gated block depends on the architecture, so it keeps ``num_gated_blocks`` of the
default (set it per model: the demo's mini-CLIP has 4 image blocks, ViT-B 12).
"""

from __future__ import annotations

from dataclasses import dataclass

from react_assets.customize.data import AUGMENTATIONS
from react_assets.customize.gated import CustomizationConfig
from react_assets.customize.train import AMP_MODES, TrainConfig


@dataclass(frozen=True)
class CustomizationRecipe:
    """Which blocks train, for how long and how fast; locked-text has its own learning rate."""

    num_gated_blocks: int = 2
    epochs: int = 12
    # A budget in optimizer steps: the run stops at min(epochs x steps per epoch, max_steps) and
    # its lr schedule spans that many steps. None: epochs alone decide.
    max_steps: int | None = 500
    batch_size: int = 64
    lr: float = 5e-3
    locked_text_lr: float = 5e-4
    weight_decay: float = 0.1
    warmup_steps: int = 20
    seed: int = 0
    checkpoint_every: int = 50
    log_every: int = 10
    augmentation: str = "open_clip"  # "open_clip" (the base's light crop) | "official" (timm)
    train_logit_scale: bool = False  # trained and clamped at ln 100 when True
    amp: str = "auto"  # see TrainConfig.amp

    def __post_init__(self) -> None:
        if self.augmentation not in AUGMENTATIONS:
            raise ValueError(f"CustomizationRecipe.augmentation={self.augmentation!r}: "
                             f"expected one of {AUGMENTATIONS}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"CustomizationRecipe.amp={self.amp!r}: expected one of {AMP_MODES}")

    def customization(self, variant: str) -> CustomizationConfig:
        """The model ``variant`` of this recipe."""
        return CustomizationConfig(variant=variant, num_gated_blocks=self.num_gated_blocks,
                                   init_seed=self.seed, train_logit_scale=self.train_logit_scale)

    def train(self, variant: str) -> TrainConfig:
        """The training settings of ``variant``."""
        return TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, max_steps=self.max_steps,
            lr=self.locked_text_lr if variant == "locked-text" else self.lr,
            weight_decay=self.weight_decay, warmup_steps=self.warmup_steps, seed=self.seed,
            checkpoint_every=self.checkpoint_every, log_every=self.log_every, amp=self.amp,
        )


PRESETS: dict[str, CustomizationRecipe] = {
    "demo": CustomizationRecipe(),
    "official": CustomizationRecipe(
        epochs=32, max_steps=None, batch_size=4096, lr=5e-4, locked_text_lr=5e-5,
        weight_decay=0.1, warmup_steps=5000, checkpoint_every=500, augmentation="official",
        train_logit_scale=True, amp="on",
    ),
}


def recipe_preset(name: str) -> CustomizationRecipe:
    """The recipe named ``name`` (``demo`` or ``official``)."""
    if name not in PRESETS:
        raise ValueError(f"recipe preset {name!r}: expected one of {sorted(PRESETS)}")
    return PRESETS[name]
