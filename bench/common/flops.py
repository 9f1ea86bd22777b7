"""Shared by the stage and GPU benches: matmul rates of this machine and FLOPs of a call."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


def count_flops(fn: Callable[[], object]) -> int:
    """Floating-point operations (a multiply-add = 2) of the matmuls/convs/attention ``fn`` runs,
    backward passes inside it included (torch's FlopCounterMode)."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_rate(dtype: torch.dtype, device: str | torch.device = "cpu", n: int = 1024,
                seconds: float = 1.0) -> dict[str, float]:
    """Measured square-matmul rate in GFLOP/s: per wall second and per CPU second of this process
    (on a shared machine the second says what the cores do when this process has them)."""
    device = torch.device(device)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    torch.matmul(a, b)  # warm-up: kernels chosen, memory touched
    _sync(device)
    runs, wall, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < seconds or runs < 2:
        torch.matmul(a, b)
        runs += 1
    _sync(device)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    flops = 2.0 * n**3 * runs
    return {"gflops_wall": round(flops / wall / 1e9, 2),
            "gflops_per_cpu_s": round(flops / max(cpu, 1e-9) / 1e9, 2), "n": n, "runs": runs}
