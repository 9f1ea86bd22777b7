"""REACT gated blocks (Gated-Image) and the customization variants of a CLIP model.

For each of the last ``k`` blocks of the vision transformer a ``GatedResidualAttentionBlock`` runs
*before* the frozen block. The frozen open_clip block is wrapped, never
edited: ``GatedResblock`` adopts the frozen block's children under their own names and adds
``gated_attn_block``, so the state-dict keys are exactly the official REACT ones:
``visual.transformer.resblocks.{i}.{ln_1, attn, mlp...}`` (frozen, unchanged) and
``visual.transformer.resblocks.{i}.gated_attn_block.{ln_1, attn, ln_2, mlp.c_fc, mlp.c_proj,
alpha_attn, alpha_dense}`` (trainable).
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from react_assets.domains.settings import VARIANTS

logger = logging.getLogger(__name__)



class GatedResidualAttentionBlock(nn.Module):
    """A pre-norm transformer block whose branches are scaled by ``tanh(alpha)``, alpha = 0 at init.

    ``x = x + tanh(alpha_attn) * attn(ln_1(x)); x = x + tanh(alpha_dense) * mlp(ln_2(x))``, so at
    initialisation the block is the identity and the customized model computes what the base does.
    """

    def __init__(
        self,
        *,
        d_model: int,
        n_head: int,
        mlp_ratio: float = 4.0,
        act_layer: Callable[[], nn.Module] = nn.GELU,
        norm_layer: Callable[[int], nn.Module] = nn.LayerNorm,
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        mlp_width = int(d_model * mlp_ratio)
        self.ln_1 = norm_layer(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_head, batch_first=batch_first)
        self.ln_2 = norm_layer(d_model)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(d_model, mlp_width)),
                    ("gelu", act_layer()),
                    ("c_proj", nn.Linear(mlp_width, d_model)),
                ]
            )
        )
        self.alpha_attn = nn.Parameter(torch.tensor(0.0))
        self.alpha_dense = nn.Parameter(torch.tensor(0.0))
        # As in the official code, the new block keeps PyTorch's default init (no re-init):
        # nn.Linear draws weights and biases from U(+-1/sqrt(fan_in)) (c_fc, c_proj: non-zero
        # biases), nn.MultiheadAttention draws in_proj Xavier-uniform and zeroes both in_proj and
        # out_proj biases; out_proj's weight keeps U(+-1/sqrt(d_model)), std 1/sqrt(3 d_model)
        # (0.0208 at width 768, measured). With the gates at 0 the init does not change the
        # model's output, only where training starts.

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Apply the gated attention and MLP branches to ``x`` (N, L, D) or (L, N, D)."""
        h = self.ln_1(x)
        mask = attn_mask.to(x.dtype) if attn_mask is not None else None
        attn_out = self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        x = x + torch.tanh(self.alpha_attn).to(x.dtype) * attn_out
        x = x + torch.tanh(self.alpha_dense).to(x.dtype) * self.mlp(self.ln_2(x))
        return x


class GatedResblock(nn.Module):
    """A frozen open_clip residual block preceded by a gated block, with unchanged state-dict keys.

    The frozen block's children are registered on this wrapper under their own names (so
    ``resblocks.{i}.ln_1`` stays ``resblocks.{i}.ln_1``); the frozen block object itself is kept
    outside the module tree and its own ``forward`` runs after the gated block.
    """

    def __init__(
        self, *, frozen_block: nn.Module, gated_block: GatedResidualAttentionBlock
    ) -> None:
        super().__init__()
        own = list(frozen_block.named_parameters(recurse=False))
        own += list(frozen_block.named_buffers(recurse=False))
        if own:
            raise ValueError(
                f"cannot wrap {type(frozen_block).__name__}: it holds tensors directly "
                f"({[name for name, _ in own]}); only blocks made of sub-modules can be wrapped"
            )
        for name, child in frozen_block.named_children():
            self.add_module(name, child)
        self.gated_attn_block = gated_block
        self._frozen = (frozen_block,)  # a tuple keeps it out of the module tree (no key prefix)
        self.train(frozen_block.training)  # a new block must not flip an eval-mode model's path

    @property
    def frozen_block(self) -> nn.Module:
        """The wrapped open_clip block (its parameters are this wrapper's children)."""
        return self._frozen[0]

    def forward(
        self,
        q_x: torch.Tensor,
        k_x: torch.Tensor | None = None,
        v_x: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run the gated block, then the frozen block (same signature as open_clip's blocks)."""
        x = self.gated_attn_block(q_x, attn_mask=attn_mask)
        return self.frozen_block(x, k_x, v_x, attn_mask=attn_mask)

    def train(self, mode: bool = True) -> GatedResblock:
        """Set training mode here and on the (unregistered) frozen block object."""
        super().train(mode)
        self.frozen_block.training = mode
        return self


@dataclass(frozen=True)
class CustomizationConfig:
    """How a base CLIP is customized: which weights train and where gated blocks go."""

    variant: str = "gated-image"  # "gated-image" | "locked-text" | "full"
    num_gated_blocks: int = 6
    gate_text_tower: bool = False
    init_seed: int = 0  # seeds the new blocks' weights: the same config gives the same model
    train_logit_scale: bool = False  # the official recipe trains it (clamped at ln 100)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(
                f"CustomizationConfig.variant={self.variant!r}: expected one of {VARIANTS}"
            )
        if self.variant == "gated-image" and self.num_gated_blocks < 1:
            raise ValueError(
                f"CustomizationConfig.num_gated_blocks={self.num_gated_blocks}: must be >= 1"
            )
        if self.gate_text_tower and self.variant != "gated-image":
            raise ValueError("CustomizationConfig.gate_text_tower needs variant='gated-image'")


def _resblocks(model: nn.Module, tower: str) -> nn.ModuleList:
    """The residual blocks of open_clip's own image or text transformer, loudly."""
    owner = model.visual if tower == "image" else model
    transformer = getattr(owner, "transformer", None)
    blocks = getattr(transformer, "resblocks", None)
    if not isinstance(blocks, nn.ModuleList):
        kind = type(owner.visual if tower == "image" else getattr(model, "text", model)).__name__
        raise ValueError(
            f"gated blocks need open_clip's own {tower} transformer (resblocks); "
            f"this model's {tower} tower is {kind}"
        )
    return blocks


def _gated_block_like(block: nn.Module) -> GatedResidualAttentionBlock:
    """A new gated block with the width, heads, norm and activation of ``block``."""
    width = block.attn.embed_dim
    norm = block.ln_1
    gated = GatedResidualAttentionBlock(
        d_model=width,
        n_head=block.attn.num_heads,
        mlp_ratio=4.0,
        act_layer=type(block.mlp.gelu),
        norm_layer=functools.partial(type(norm), eps=norm.eps),
        batch_first=block.attn.batch_first,
    )
    reference = block.mlp.c_fc.weight
    return gated.to(device=reference.device, dtype=reference.dtype)


def _insert_gated_blocks(model: nn.Module, tower: str, k: int) -> list[GatedResidualAttentionBlock]:
    """Wrap the last ``k`` blocks of ``tower`` with gated blocks; returns the new gated blocks."""
    blocks = _resblocks(model, tower)
    if k > len(blocks):
        raise ValueError(
            f"num_gated_blocks={k} but the {tower} transformer has {len(blocks)} blocks"
        )
    added = []
    for i in range(len(blocks) - k, len(blocks)):
        if isinstance(blocks[i], GatedResblock):
            raise ValueError(
                f"{tower} block {i} already has a gated block: model customized twice?"
            )
        gated = _gated_block_like(blocks[i])
        blocks[i] = GatedResblock(frozen_block=blocks[i], gated_block=gated)
        added.append(gated)
    return added


def customize_model(model: nn.Module, config: CustomizationConfig) -> nn.Module:
    """Freeze every original weight once and make only the variant's modules trainable (in place).

    gated-image: gated blocks before the last ``k`` vision blocks (and text blocks when
    ``gate_text_tower``) train; locked-text: the whole image tower trains; full: everything trains.
    """
    for param in model.parameters():
        param.requires_grad_(False)
    if config.variant == "gated-image":
        with torch.random.fork_rng(devices=[]):  # seeded, and the caller's RNG is left alone
            torch.manual_seed(config.init_seed)
            trainable: list[nn.Module] = list(
                _insert_gated_blocks(model, "image", config.num_gated_blocks)
            )
            if config.gate_text_tower:
                trainable += _insert_gated_blocks(model, "text", config.num_gated_blocks)
    elif config.variant == "locked-text":
        trainable = [model.visual]
    else:
        trainable = [model]
    for module in trainable:
        for param in module.parameters():
            param.requires_grad_(True)
    if config.train_logit_scale:
        model.logit_scale.requires_grad_(True)
    count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info("customized model (%s): %d trainable parameters", config.variant, count)
    return model


def gated_blocks(model: nn.Module) -> dict[str, GatedResidualAttentionBlock]:
    """Every gated block of ``model`` by its state-dict prefix (found by type, not by name)."""
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, GatedResidualAttentionBlock)
    }


def gate_values(model: nn.Module) -> dict[str, float]:
    """The raw ``alpha_attn`` / ``alpha_dense`` value of every gated block, by parameter name."""
    values = {}
    for prefix, block in gated_blocks(model).items():
        values[f"{prefix}.alpha_attn"] = float(block.alpha_attn.detach())
        values[f"{prefix}.alpha_dense"] = float(block.alpha_dense.detach())
    return values


def trainable_state_dict(model: nn.Module, config: CustomizationConfig) -> dict[str, torch.Tensor]:
    """The tensors a customization owns: gated blocks, the image tower, or the whole model (and
    ``logit_scale`` when it trains)."""
    if config.variant == "gated-image":
        modules = gated_blocks(model)
    elif config.variant == "locked-text":
        modules = {"visual": model.visual}
    else:
        modules = {"": model}
    if not modules:
        raise ValueError("model has no gated blocks: call customize_model before saving it")
    state = {}
    for prefix, module in modules.items():
        for key, tensor in module.state_dict().items():
            state[f"{prefix}.{key}" if prefix else key] = tensor
    if config.train_logit_scale:
        state["logit_scale"] = model.logit_scale
    return state
