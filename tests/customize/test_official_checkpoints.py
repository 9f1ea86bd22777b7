"""Official-layout checkpoints: imported strictly, registered as imported, exported unchanged."""

from __future__ import annotations

import json

import pytest
import torch
from react_assets.metadata.sql import select_latest_domain_models
from safetensors.torch import save_file
from tiny_world import TINY_BASE, register_tiny_base

from react_assets.customize.gated import (
    CustomizationConfig,
    customize_model,
    trainable_state_dict,
)
from react_assets.customize.model_lineage import model_lineage
from react_assets.customize.official import (
    export_official_checkpoint,
    import_official_checkpoint,
    main,
    read_official_state_dict,
)
from react_assets.customize.saved import load_customized_model
from react_assets.files.paths import ReactPaths
from react_assets.metadata import open_store
from react_assets.models.base import current_base
from react_assets.models.factory import create_base_model

TINY = TINY_BASE


@pytest.fixture
def home(tmp_path):
    paths = ReactPaths(tmp_path / "home")
    store = open_store(paths.root)
    store.apply_schema()
    register_tiny_base(store)
    return store, paths


def official_model(variant: str, k: int = 1, seed: int = 7, scale: float | None = None):
    """A customization as the official code would have trained it: weights and gates moved."""
    model = customize_model(create_base_model(TINY).model,
                            CustomizationConfig(variant=variant, num_gated_blocks=k))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.3 * torch.randn(p.shape, generator=generator))
        if scale is not None:
            model.logit_scale.fill_(scale)
    return model.eval()


def embeddings(model) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    tokens = create_base_model(TINY).tokenizer(["a red circle", "a cat", "two dots", "x"])
    with torch.no_grad():
        return model.encode_image(images, normalize=True), model.encode_text(tokens, normalize=True)


@pytest.mark.parametrize("variant", ["gated-image", "locked-text"])
def test_an_official_state_dict_round_trips_with_the_same_tensors_and_embeddings(
        home, tmp_path, variant):
    store, paths = home
    theirs = official_model(variant)
    source = tmp_path / "official.pt"
    torch.save({"epoch": 32, "state_dict": {f"module.{k}": v for k, v in
                                            theirs.state_dict().items()}}, source)
    imported = import_official_checkpoint(store, paths, current_base(store), source,
                                          domain="shapes", variant=variant)
    ours = load_customized_model(imported.folder).model
    for mine, reference in zip(embeddings(ours), embeddings(theirs), strict=True):
        assert torch.equal(mine, reference)
    out = export_official_checkpoint(imported.folder, tmp_path / "exported.pt")
    back = read_official_state_dict(out)
    original = theirs.state_dict()
    assert set(back) == set(original)
    assert all(torch.equal(back[k], original[k]) for k in original)
    only = read_official_state_dict(export_official_checkpoint(
        imported.folder, tmp_path / "own.pt", full=False))
    assert set(only) == set(trainable_state_dict(theirs, imported.customization))
    if variant == "gated-image":
        assert all(".gated_attn_block." in k for k in only)
    else:
        assert all(k.startswith("visual.") for k in only)
    # registered like ours: the domain's newest model of its kind, lineage marked imported
    latest = store.fetch(select_latest_domain_models, {"domain": "shapes"})
    assert [(r["model_id"], r["kind"]) for r in latest] == [(imported.model_id, variant)]
    lineage = model_lineage(store, imported.model_id)
    assert lineage.imported and lineage.retrieval_digest is None and lineage.pair_ids == ()
    assert lineage.source["sha256"] == imported.source_sha256
    assert lineage.parent_model_id == current_base(store).model_id


def test_only_the_gated_tensors_with_a_trained_logit_scale_import_too(home, tmp_path):
    store, paths = home
    theirs = official_model("gated-image", k=2, scale=4.0)
    tensors = {k: v.contiguous() for k, v in theirs.state_dict().items()
               if ".gated_attn_block." in k or k == "logit_scale"}
    save_file(tensors, str(tmp_path / "gated.safetensors"))
    imported = import_official_checkpoint(store, paths, current_base(store),
                                          tmp_path / "gated.safetensors", domain="shapes")
    assert (imported.customization.num_gated_blocks, imported.customization.train_logit_scale) == (
        2, True)
    ours = load_customized_model(imported.folder).model
    assert float(ours.logit_scale.detach()) == 4.0
    for mine, reference in zip(embeddings(ours), embeddings(theirs), strict=True):
        assert torch.equal(mine, reference)


def test_keys_are_checked_strictly_and_the_error_lists_missing_and_unexpected(home, tmp_path):
    store, paths = home
    state = official_model("gated-image").state_dict()
    gated = {k: v for k, v in state.items() if ".gated_attn_block." in k}
    dropped = "visual.transformer.resblocks.1.gated_attn_block.alpha_attn"
    broken = {k: v for k, v in gated.items() if k != dropped}
    broken["visual.transformer.resblocks.1.gated_attn_block.extra"] = torch.zeros(1)
    torch.save(broken, tmp_path / "broken.pt")
    with pytest.raises(ValueError, match="missing keys") as err:
        import_official_checkpoint(store, paths, current_base(store), tmp_path / "broken.pt",
                                   domain="shapes")
    assert dropped in str(err.value) and "gated_attn_block.extra" in str(err.value)
    assert "unexpected keys" in str(err.value)
    other_base = dict(state)
    other_base["visual.conv1.weight"] = other_base["visual.conv1.weight"] + 1
    torch.save(other_base, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="differ from the base"):
        import_official_checkpoint(store, paths, current_base(store), tmp_path / "other.pt",
                                   domain="shapes")
    first_block = {k.replace("resblocks.1.", "resblocks.0."): v for k, v in gated.items()}
    torch.save(first_block, tmp_path / "first.pt")
    with pytest.raises(ValueError, match="last 1"):
        import_official_checkpoint(store, paths, current_base(store), tmp_path / "first.pt",
                                   domain="shapes")
    assert store.fetch(select_latest_domain_models, {"domain": "shapes"}) == []


def test_the_command_line_imports_and_exports(home, tmp_path, capsys):
    _, paths = home
    theirs = official_model("gated-image")
    torch.save({"state_dict": theirs.state_dict()}, tmp_path / "official.pt")
    assert main(["import", str(tmp_path / "official.pt"), "--home", str(paths.root),
                 "--domain", "shapes"]) == 0
    folder = json.loads(capsys.readouterr().out)["folder"]
    assert main(["export", folder, str(tmp_path / "out.pt"), "--only-customization"]) == 0
    back = read_official_state_dict(tmp_path / "out.pt")
    assert all(torch.equal(v, theirs.state_dict()[k]) for k, v in back.items()) and back
