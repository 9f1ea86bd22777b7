"""CLIP models for REACT: the base-model factory, the demo mini-CLIP and the gated customization."""

from react_assets.models.factory import (
    BaseModelConfig,
    ClipBundle,
    UnsafeCheckpointError,
    create_base_model,
)
from react_assets.models.gated import (
    CustomizationConfig,
    GatedResblock,
    GatedResidualAttentionBlock,
    customize_model,
    gate_values,
    gated_blocks,
    trainable_state_dict,
)
from react_assets.models.mini_clip import (
    MINI_CLIP_ARCH,
    MiniClipConfig,
    PretrainResult,
    minilm_folder,
    pretrain_mini_clip,
    register_mini_clip,
)
from react_assets.models.saved import load_customized_model, save_customization

__all__ = [
    "MINI_CLIP_ARCH",
    "BaseModelConfig",
    "ClipBundle",
    "CustomizationConfig",
    "GatedResblock",
    "GatedResidualAttentionBlock",
    "MiniClipConfig",
    "PretrainResult",
    "UnsafeCheckpointError",
    "create_base_model",
    "customize_model",
    "gate_values",
    "gated_blocks",
    "load_customized_model",
    "minilm_folder",
    "pretrain_mini_clip",
    "register_mini_clip",
    "save_customization",
    "trainable_state_dict",
]
