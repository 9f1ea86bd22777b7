"""Inputs follow the model's device, with bfloat16 autocast where the bf16 setting resolves to on:
"auto" on CUDA and on CPUs with native bf16 units."""

from __future__ import annotations

import torch

from react_assets.models.device import model_autocast, model_device, to_model_device
from react_assets.models.hardware import cpu_has_native_bf16


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


def test_cpu_autocast_follows_the_bf16_setting_and_cuda_autocast_is_bfloat16() -> None:
    # "auto" depends on this machine's CPU flags (machines of this kind have had bf16 units or not)
    for mode, expected in (("auto", cpu_has_native_bf16()), ("on", True), ("off", False)):
        cpu = _Probe("cpu")
        with model_autocast(cpu, mode):
            cpu.encode_image(to_model_device(cpu, torch.ones(3)))
        assert cpu.seen == [("cpu", expected)], mode
    if torch.cuda.is_available():
        gpu = _Probe("cuda")
        with model_autocast(gpu):
            gpu.encode_image(to_model_device(gpu, torch.ones(3)))
            assert torch.get_autocast_dtype("cuda") == torch.bfloat16
        assert gpu.seen == [("cuda", True)]
