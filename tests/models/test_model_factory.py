"""The base-model factory: random init, local checkpoints (safetensors, .pt, local-dir), safety."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from react_assets.models.factory import BaseModelConfig, UnsafeCheckpointError, create_base_model

TINY = BaseModelConfig(arch="react-tiny", init_seed=3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _outputs(bundle) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    pixels = torch.randn(3, 3, 32, 32, generator=gen)
    tokens = bundle.tokenizer(["a red square", "a blue circle", "a green star"])
    with torch.no_grad():
        return (
            bundle.model.encode_image(pixels, normalize=True),
            bundle.model.encode_text(tokens, normalize=True),
        )


@pytest.fixture(scope="module")
def tiny():
    return create_base_model(TINY)


def test_random_init_is_seeded_frozen_and_described(tiny) -> None:
    again = create_base_model(TINY)
    other = create_base_model(BaseModelConfig(arch="react-tiny", init_seed=4))
    state, state_again = tiny.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(state[k], state_again[k]) for k in state)
    assert not torch.equal(state["visual.proj"], other.model.state_dict()["visual.proj"])
    assert not any(p.requires_grad for p in tiny.model.parameters())
    assert not tiny.model.training
    assert tiny.embed_dim == 32
    assert tiny.model_id == "react-tiny@random-seed3"
    image_f, text_f = _outputs(tiny)
    assert image_f.shape == (3, 32) and text_f.shape == (3, 32)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_local_checkpoint_round_trip(tiny, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"weights{suffix}"
    state = {k: v.contiguous() for k, v in tiny.model.state_dict().items()}
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    loaded = create_base_model(
        BaseModelConfig(arch="react-tiny", pretrained=str(path), init_seed=99)
    )
    for ours, theirs in zip(_outputs(tiny), _outputs(loaded), strict=True):
        assert torch.equal(ours, theirs)
    assert loaded.model_id.startswith("react-tiny@sha256:")


def test_local_dir_round_trip(tiny, tmp_path: Path) -> None:
    folder = tmp_path / "tiny-model"
    folder.mkdir()
    config = json.loads(
        (Path(__file__).parents[2] / "react_assets/models/configs/react-tiny.json").read_text()
    )
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": config}))
    save_file(
        {k: v.contiguous() for k, v in tiny.model.state_dict().items()},
        str(folder / "open_clip_model.safetensors"),
    )
    loaded = create_base_model(BaseModelConfig(arch="react-tiny", pretrained=f"local-dir:{folder}"))
    for ours, theirs in zip(_outputs(tiny), _outputs(loaded), strict=True):
        assert torch.equal(ours, theirs)
    assert loaded.model_id.startswith("tiny-model@sha256:")


class _Exploit:
    """A pickle payload that creates a folder when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"visual.proj": _Exploit(marker)}, path)
    with pytest.raises(UnsafeCheckpointError, match="evil.pt"):
        create_base_model(BaseModelConfig(arch="react-tiny", pretrained=str(path)))
    assert not marker.exists()


def test_bad_inputs_fail_loudly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        create_base_model(
            BaseModelConfig(arch="react-tiny", pretrained=str(tmp_path / "missing.safetensors"))
        )
    with pytest.raises(ValueError, match="not-an-arch"):
        create_base_model(BaseModelConfig(arch="not-an-arch"))
    with pytest.raises(ValueError, match="precision"):
        BaseModelConfig(arch="react-tiny", precision="fp8")
    wrong = tmp_path / "wrong.safetensors"
    save_file({"visual.proj": torch.zeros(2, 2)}, str(wrong))
    with pytest.raises(RuntimeError, match="wrong.safetensors"):
        create_base_model(BaseModelConfig(arch="react-tiny", pretrained=str(wrong)))
