"""Inputs follow the model's device, with bfloat16 autocast on CUDA only."""

from __future__ import annotations

import torch

from react_assets.models.device import model_autocast, model_device, to_model_device


class _Probe(torch.nn.Module):
    """Records the device and autocast state each encode call sees."""

    def __init__(self, device: str) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(2, device=device))
        self.seen: list[tuple[str, bool]] = []

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((x.device.type, torch.is_autocast_enabled(x.device.type)))
        return x


def test_inputs_move_to_the_models_device() -> None:
    model = _Probe("meta")
    moved = to_model_device(model, torch.ones(3))
    assert model_device(model).type == "meta" and moved.device.type == "meta"
    assert model_device(torch.nn.ReLU()).type == "cpu"  # no parameters: the CPU


def test_autocast_is_off_on_the_cpu_and_bfloat16_on_cuda() -> None:
    cpu = _Probe("cpu")
    with model_autocast(cpu):
        cpu.encode_image(to_model_device(cpu, torch.ones(3)))
    assert cpu.seen == [("cpu", False)]
    if torch.cuda.is_available():
        gpu = _Probe("cuda")
        with model_autocast(gpu):
            gpu.encode_image(to_model_device(gpu, torch.ones(3)))
            assert torch.get_autocast_dtype("cuda") == torch.bfloat16
        assert gpu.seen == [("cuda", True)]
