"""Gated blocks: identity at init, official keys, trainables, save/load."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from react_assets.customize.gated import (
    CustomizationConfig,
    GatedResidualAttentionBlock,
    customize_model,
    gated_blocks,
    trainable_state_dict,
)
from react_assets.customize.saved import load_customized_model, save_customization
from react_assets.models.factory import BaseModelConfig, create_base_model

TINY = BaseModelConfig(arch="react-tiny", init_seed=1)
GATED_SUFFIXES = {
    "ln_1.weight",
    "ln_1.bias",
    "attn.in_proj_weight",
    "attn.in_proj_bias",
    "attn.out_proj.weight",
    "attn.out_proj.bias",
    "ln_2.weight",
    "ln_2.bias",
    "mlp.c_fc.weight",
    "mlp.c_fc.bias",
    "mlp.c_proj.weight",
    "mlp.c_proj.bias",
    "alpha_attn",
    "alpha_dense",
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _embed(model: torch.nn.Module, tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    pixels = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    tokens = tokenizer(["a red square", "a blue circle", "two dogs", "clip art of a tree"])
    with torch.no_grad():
        return model.encode_image(pixels, normalize=True), model.encode_text(tokens, normalize=True)


def _customized(config: CustomizationConfig):
    bundle = create_base_model(TINY)
    return bundle, customize_model(bundle.model, config)


def _open_gates(model: torch.nn.Module, value: float = 0.5) -> None:
    with torch.no_grad():
        for block in gated_blocks(model).values():
            block.alpha_attn.fill_(value)
            block.alpha_dense.fill_(-value)


def test_gated_block_is_identity_at_init_and_keyword_only() -> None:
    block = GatedResidualAttentionBlock(d_model=64, n_head=2)
    x = torch.randn(2, 5, 64)
    assert torch.equal(block(x), x)
    assert block.alpha_attn.item() == 0.0 and block.alpha_dense.item() == 0.0
    assert block.alpha_attn.ndim == 0
    _open_gates(torch.nn.ModuleList([block]))
    assert not torch.allclose(block(x), x)
    with pytest.raises(TypeError):
        GatedResidualAttentionBlock(64, 2)


def test_vit_b32_gated_parameter_count() -> None:
    bundle = create_base_model(BaseModelConfig(arch="ViT-B-32"))
    model = customize_model(
        bundle.model, CustomizationConfig(variant="gated-image", num_gated_blocks=6)
    )
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 42_527_244
    per_block = {
        name: sum(p.numel() for p in b.parameters()) for name, b in gated_blocks(model).items()
    }
    assert set(per_block) == {
        f"visual.transformer.resblocks.{i}.gated_attn_block" for i in range(6, 12)
    }
    assert set(per_block.values()) == {7_087_874}


def test_gated_image_equals_base_at_init_and_keeps_official_keys() -> None:
    base = create_base_model(TINY)
    bundle, model = _customized(CustomizationConfig(num_gated_blocks=2))
    for ours, theirs in zip(
        _embed(model, bundle.tokenizer), _embed(base.model, base.tokenizer), strict=True
    ):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    base_keys, keys = set(base.model.state_dict()), set(model.state_dict())
    assert base_keys <= keys  # frozen keys unchanged
    expected_new = {
        f"visual.transformer.resblocks.{i}.gated_attn_block.{s}"
        for i in (0, 1)
        for s in GATED_SUFFIXES
    }
    assert keys - base_keys == expected_new
    _open_gates(model)
    image_f, text_f = _embed(model, bundle.tokenizer)
    assert not torch.allclose(image_f, _embed(base.model, base.tokenizer)[0], atol=1e-3)
    torch.testing.assert_close(text_f, _embed(base.model, base.tokenizer)[1], rtol=0, atol=1e-6)


def test_gated_image_trains_only_gated_blocks() -> None:
    bundle, model = _customized(CustomizationConfig(num_gated_blocks=1))
    gated_ids = {id(p) for block in gated_blocks(model).values() for p in block.parameters()}
    trainable_ids = {id(p) for p in model.parameters() if p.requires_grad}
    assert trainable_ids == gated_ids and len(gated_ids) == len(GATED_SUFFIXES)
    _open_gates(model)
    pixels = torch.randn(2, 3, 32, 32)
    model.encode_image(pixels, normalize=True).sum().backward()
    for name, param in model.named_parameters():
        assert (param.grad is not None) == (id(param) in gated_ids), name
    with pytest.raises(ValueError, match="customized twice"):
        customize_model(model, CustomizationConfig(num_gated_blocks=1))
    with pytest.raises(ValueError, match="num_gated_blocks=3"):
        customize_model(create_base_model(TINY).model, CustomizationConfig(num_gated_blocks=3))


def test_gate_text_tower_adds_blocks_to_the_text_transformer() -> None:
    bundle, model = _customized(CustomizationConfig(num_gated_blocks=1, gate_text_tower=True))
    assert sorted(gated_blocks(model)) == [
        "transformer.resblocks.1.gated_attn_block",
        "visual.transformer.resblocks.1.gated_attn_block",
    ]
    base = create_base_model(TINY)
    torch.testing.assert_close(
        _embed(model, bundle.tokenizer)[1], _embed(base.model, base.tokenizer)[1], rtol=0, atol=1e-6
    )


def test_locked_text_and_full_variants() -> None:
    _, locked = _customized(CustomizationConfig(variant="locked-text"))
    visual_ids = {id(p) for p in locked.visual.parameters()}
    assert {id(p) for p in locked.parameters() if p.requires_grad} == visual_ids
    assert not gated_blocks(locked)
    _, full = _customized(CustomizationConfig(variant="full"))
    assert all(p.requires_grad for p in full.parameters())
    with pytest.raises(ValueError, match="variant"):
        CustomizationConfig(variant="lora")


@pytest.mark.parametrize("variant", ["gated-image", "locked-text"])
def test_save_and_reload_reproduces_outputs(tmp_path: Path, variant: str) -> None:
    config = CustomizationConfig(variant=variant, num_gated_blocks=2)
    bundle, model = _customized(config)
    with torch.no_grad():  # stand-in for training: move every trainable tensor
        for param in model.parameters():
            if param.requires_grad:
                param.add_(0.05 * torch.randn_like(param))
    folder = tmp_path / "custom"
    model_id = save_customization(model, config, TINY, folder, name=f"react-birds-{variant}")
    saved = load_file(str(folder / "customization.safetensors"))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(saved) == trainable  # only the trainable tensors, no copy of the frozen base
    meta = json.loads((folder / "customization.json").read_text())
    assert (
        meta["base_model"]["arch"] == "react-tiny" and meta["customization"]["variant"] == variant
    )
    reloaded = load_customized_model(folder)
    for ours, theirs in zip(
        _embed(model, bundle.tokenizer), _embed(reloaded.model, reloaded.tokenizer), strict=True
    ):
        assert torch.equal(ours, theirs)
    assert reloaded.model_id == model_id  # one id, saved or reloaded
    assert re.fullmatch(rf"react-birds-{variant}@sha256:[0-9a-f]{{12}}", model_id)
    with torch.no_grad():
        next(p for p in model.parameters() if p.requires_grad).add_(1.0)
    save_file({k: v.detach().contiguous() for k, v in trainable_state_dict(model, config).items()},
              str(folder / "customization.safetensors"))  # weights swapped behind the id's back
    with pytest.raises(ValueError, match="not the one its model id"):
        load_customized_model(folder)
    meta["format"] = "react-customization/1"  # saved by an older version
    (folder / "customization.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="re-materialize react_model"):
        load_customized_model(folder)


def test_customization_is_seeded() -> None:
    def gated_state(seed: int) -> dict[str, torch.Tensor]:
        _, model = _customized(CustomizationConfig(num_gated_blocks=1, init_seed=seed))
        return {k: v for k, v in model.state_dict().items() if "gated_attn_block" in k}

    first, again, other = gated_state(0), gated_state(0), gated_state(1)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(
        first["visual.transformer.resblocks.1.gated_attn_block.mlp.c_fc.weight"],
        other["visual.transformer.resblocks.1.gated_attn_block.mlp.c_fc.weight"],
    )
