"""The demo base model's pre-training: the mini-CLIP image tower trained locked-text (LiT-style)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from react_assets.customize.gated import CustomizationConfig, customize_model
from react_assets.customize.train import TrainConfig, TrainResult, train_contrastive
from react_assets.models.caption_features import (
    CAPTION_FEATURES_FILE,
    CaptionFeatures,
    encode_caption_features,
)
from react_assets.models.factory import BaseModelConfig, create_base_model
from react_assets.models.mini_clip import (
    MiniClipConfig,
    mini_clip_model_config,
    register_mini_clip,
    write_local_dir,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainResult:
    """What ``pretrain_mini_clip`` produced: the base-model config to load it, and the run."""

    base_config: BaseModelConfig  # loads the written local-dir model
    train_result: TrainResult


def pretrain_mini_clip(
    images: Sequence[bytes],
    captions: Sequence[str],
    output_dir: Path,
    train_config: TrainConfig,
    *,
    mini_config: MiniClipConfig | None = None,
    init_seed: int = 0,
    on_log: Callable[[int, float, float], None] | None = None,
) -> PretrainResult:
    """Locked-text (LiT) contrastive pre-training of the mini-CLIP image tower on the general split.

    ``images`` are encoded PNG/JPEG bytes aligned with ``captions``. Only the image tower and the
    temperature train; the captions' text features are computed once (kept in ``output_dir`` for
    a resumed run) and saved in the model folder too, where the embedding stage finds them
    (:mod:`react_assets.models.caption_features`). Writes a ``local-dir:`` model folder under
    ``output_dir/<arch>`` and returns the ``BaseModelConfig`` that loads it.
    """
    mini_config = mini_config or MiniClipConfig()
    arch = register_mini_clip(mini_config)
    bundle = create_base_model(BaseModelConfig(arch=arch, init_seed=init_seed))
    model = customize_model(bundle.model, CustomizationConfig(variant="locked-text"))
    model.logit_scale.requires_grad_(True)  # LiT learns its temperature with the image tower
    text = _caption_features(model, bundle.tokenizer, captions, train_config,
                             output_dir / CAPTION_FEATURES_FILE)
    result = train_contrastive(
        model,
        images,
        captions,
        bundle.tokenizer,
        bundle.preprocess_train,
        train_config,
        checkpoint_dir=output_dir / "train",
        on_log=on_log,
        text_features=text.known(captions)[1],
    )
    model.eval()
    location = write_local_dir(model, mini_clip_model_config(mini_config), output_dir / arch)
    text.save(output_dir / arch / CAPTION_FEATURES_FILE)
    logger.info(
        "mini-CLIP pre-trained: %d steps, final loss %.4f -> %s",
        result.steps,
        result.losses[-1] if result.losses else float("nan"),
        location,
    )
    return PretrainResult(base_config=BaseModelConfig(arch=location), train_result=result)


def _caption_features(model: nn.Module, tokenizer: Callable, captions: Sequence[str],
                      config: TrainConfig, path: Path) -> CaptionFeatures:
    """The captions' features from ``path`` (a killed run's) when they cover them and this tower
    made them; else encoded and saved there."""
    saved = CaptionFeatures.load(path)
    if saved is not None and saved.known(captions)[0].all() and saved.made_by(model, tokenizer):
        return saved
    features = encode_caption_features(model, tokenizer, captions, config.text_batch_size)
    features.save(path)
    return features
